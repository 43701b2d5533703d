//! Character device majors from /proc/devices. The NVIDIA UVM, caps and AMD KFD majors are
//! allocated dynamically, so they are always read, never assumed.

use std::collections::HashMap;
use std::path::Path;

/// The fixed majors: the NVIDIA GPU/control nodes and DRM.
pub const NVIDIA: u32 = 195;
pub const DRM: u32 = 226;

#[derive(Debug, Clone, Default)]
pub struct Majors {
    by_name: HashMap<String, u32>,
}

impl Majors {
    pub fn read(proc_root: &Path) -> std::io::Result<Majors> {
        Ok(Majors::parse(&std::fs::read_to_string(
            proc_root.join("devices"),
        )?))
    }

    /// Parses the "Character devices:" section ("195 nvidia").
    pub fn parse(text: &str) -> Majors {
        let mut by_name = HashMap::new();
        let mut in_char = false;
        for line in text.lines() {
            let line = line.trim();
            if line.ends_with(':') {
                in_char = line == "Character devices:";
                continue;
            }
            if !in_char {
                continue;
            }
            if let Some((num, name)) = line.split_once(char::is_whitespace) {
                if let Ok(n) = num.parse() {
                    by_name.entry(name.trim().to_string()).or_insert(n);
                }
            }
        }
        Majors { by_name }
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The NVIDIA GPU major: `nvidia` or (older drivers) `nvidia-frontend`; 195 when the
    /// module is not listed (the major is fixed by the driver).
    pub fn nvidia(&self) -> u32 {
        self.get("nvidia")
            .or_else(|| self.get("nvidia-frontend"))
            .unwrap_or(NVIDIA)
    }
    pub fn nvidia_uvm(&self) -> Option<u32> {
        self.get("nvidia-uvm")
    }
    pub fn nvidia_caps(&self) -> Option<u32> {
        self.get("nvidia-caps")
    }
    pub fn kfd(&self) -> Option<u32> {
        self.get("kfd")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICES: &str = "Character devices:\n  1 mem\n  4 /dev/vc/0\n195 nvidia-frontend\n226 drm\n234 nvidia-uvm\n235 nvidia-caps\n507 kfd\n\nBlock devices:\n  8 sd\n259 blkext\n";

    #[test]
    fn reads_dynamic_majors_from_the_character_section() {
        let m = Majors::parse(DEVICES);
        assert_eq!(m.nvidia(), 195);
        assert_eq!(m.nvidia_uvm(), Some(234));
        assert_eq!(m.nvidia_caps(), Some(235));
        assert_eq!(m.kfd(), Some(507));
        assert_eq!(m.get("sd"), None, "block majors are not character majors");
    }

    #[test]
    fn missing_modules_have_no_major() {
        let m = Majors::parse("Character devices:\n  1 mem\n");
        assert_eq!(m.nvidia_uvm(), None);
        assert_eq!(m.nvidia(), 195);
    }
}
