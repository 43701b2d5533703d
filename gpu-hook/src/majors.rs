//! Character device majors from /proc/devices. The NVIDIA UVM, caps and AMD KFD majors are
//! allocated dynamically, so they are always read, never assumed.

use std::collections::HashMap;
use std::path::Path;

use crate::node::{Node, Refused};
use crate::roots::Roots;

/// The fixed majors: the NVIDIA GPU/control nodes and DRM.
pub const NVIDIA: u32 = 195;
pub const DRM: u32 = 226;

#[derive(Debug, Clone, Default)]
pub struct Majors {
    by_name: HashMap<String, u32>,
    /// Whether /proc/devices was read: without it no node can be checked.
    known: bool,
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
        Majors {
            by_name,
            known: true,
        }
    }

    /// Checks a node found under the dev root against the major /proc/devices gives the
    /// module `name` (`nvidia` and `drm` have fixed majors when unlisted) and the `minor` its
    /// name implies (/dev/nvidia1 is minor 1, /dev/dri/renderD129 129). A node whose numbers
    /// disagree, or whose module is not listed at all, is some other device or a stale node
    /// of an unloaded module: refused, never injected (the bind mount would hand over one
    /// device while the cgroup rule allows another). The minor is checked even without
    /// /proc/devices: it comes from the name.
    pub fn check(&self, node: &Node, name: &str, minor: u32) -> Result<(), Refused> {
        let want = match name {
            "nvidia" => Some(self.nvidia()),
            "drm" => Some(self.get("drm").unwrap_or(DRM)),
            _ => self.get(name),
        };
        let found = format!("{}:{}", node.major, node.minor);
        let why = match want {
            _ if !self.known && node.minor == minor => return Ok(()),
            _ if !self.known => format!("is {found}, expected minor {minor} (from its name)"),
            Some(w) if w == node.major && node.minor == minor => return Ok(()),
            Some(w) if w == node.major => {
                format!("is {found}, expected {w}:{minor} (the minor its name gives)")
            }
            Some(w) => {
                format!("is {found} but /proc/devices gives {name} major {w}: expected {w}:{minor}")
            }
            None => format!("is {found} but /proc/devices lists no {name} (module not loaded)"),
        };
        Err(Refused {
            path: node.path.clone(),
            why,
        })
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

impl Node {
    /// `find`, then checked against /proc/devices (see `Majors::check`): `Ok(None)` when
    /// the node is not there.
    pub fn find_checked(
        roots: &Roots,
        majors: &Majors,
        path: impl AsRef<Path>,
        module: &str,
        minor: u32,
    ) -> Result<Option<Node>, Refused> {
        match Node::find(roots, path) {
            Some(n) => majors.check(&n, module, minor).map(|()| Some(n)),
            None => Ok(None),
        }
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
    fn a_node_with_another_major_is_refused() {
        let m = Majors::parse(DEVICES);
        let node = |major| Node {
            path: "/dev/nvidia-uvm".into(),
            major,
            minor: 0,
        };
        assert!(m.check(&node(234), "nvidia-uvm", 0).is_ok());
        let e = m
            .check(&node(240), "nvidia-uvm", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/nvidia-uvm is 240:0"), "{e}");
        assert!(e.contains("nvidia-uvm major 234: expected 234:0"), "{e}");
        let e = Majors::parse("Character devices:\n195 nvidia\n")
            .check(&node(234), "nvidia-uvm", 0)
            .unwrap_err();
        assert!(e.why.contains("module not loaded"), "{e}");
        assert!(m.check(&node(195), "nvidia", 0).is_ok());
        assert!(
            Majors::default().check(&node(1), "kfd", 0).is_ok(),
            "unknown without /proc/devices"
        );
        // The minor is the name's: another one is another device, /proc/devices or not.
        let e = m
            .check(&node(234), "nvidia-uvm", 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 234:0, expected 234:1"), "{e}");
        assert!(Majors::default().check(&node(1), "kfd", 3).is_err());
    }

    #[test]
    fn drm_nodes_are_checked_against_drm_or_226() {
        let card = |major, minor| Node {
            path: "/dev/dri/card1".into(),
            major,
            minor,
        };
        let m = Majors::parse(DEVICES);
        assert!(m.check(&card(226, 1), "drm", 1).is_ok());
        let e = m.check(&card(227, 1), "drm", 1).unwrap_err().to_string();
        assert_eq!(
            e,
            "/dev/dri/card1 is 227:1 but /proc/devices gives drm major 226: expected 226:1"
        );
        let unlisted = Majors::parse("Character devices:\n  1 mem\n");
        assert!(unlisted.check(&card(226, 1), "drm", 1).is_ok());
        assert!(unlisted.check(&card(227, 1), "drm", 1).is_err());
    }

    #[test]
    fn missing_modules_have_no_major() {
        let m = Majors::parse("Character devices:\n  1 mem\n");
        assert_eq!(m.nvidia_uvm(), None);
        assert_eq!(m.nvidia(), 195);
    }
}
