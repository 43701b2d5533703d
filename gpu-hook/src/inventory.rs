//! What discovery finds: GPUs of every vendor, their device nodes, and the NVIDIA driver.

use serde::Serialize;

pub use crate::node::{Node, Refused};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Nvidia,
    Amd,
    Intel,
}

impl Vendor {
    pub fn parse(s: &str) -> Option<Vendor> {
        match s.to_ascii_lowercase().as_str() {
            "nvidia" => Some(Vendor::Nvidia),
            "amd" => Some(Vendor::Amd),
            "intel" => Some(Vendor::Intel),
            _ => None,
        }
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Mig {
    /// The index among its GPU's MIG devices (the `M` of `GPU:M`).
    pub index: u32,
    pub uuid: Option<String>,
    pub gpu_instance: u32,
    pub compute_instance: u32,
    /// The nvidia-caps access nodes of its GPU and compute instance.
    pub nodes: Vec<Node>,
    /// Its caps nodes that /proc/devices (or their names) contradict: selecting it is an
    /// error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gpu {
    pub vendor: Vendor,
    /// The index among this vendor's GPUs (NVML order for NVIDIA, KFD topology order for
    /// AMD, DRM card order for Intel).
    pub index: u32,
    pub uuid: Option<String>,
    pub name: String,
    pub pci_bus_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<String>,
    /// The GPU's own nodes (/dev/nvidiaN; /dev/dri/cardN and renderDN).
    pub nodes: Vec<Node>,
    pub mig_enabled: bool,
    pub migs: Vec<Mig>,
    /// Its nodes that /proc/devices contradicts: selecting the GPU is then an error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NvidiaDriver {
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_version: Option<String>,
    /// "nvml" or "procfs".
    pub source: &'static str,
    /// nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset: whichever exist.
    pub control: Vec<Node>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvidia: Option<NvidiaDriver>,
    /// AMD's /dev/kfd, shared by every AMD GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amd_kfd: Option<Node>,
    pub gpus: Vec<Gpu>,
    /// Control nodes (nvidiactl, nvidia-uvm, ..., /dev/kfd) that /proc/devices contradicts:
    /// a container that needs one is refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refused>,
    /// What discovery could not do (NVML missing, a node absent): said, never fatal.
    pub notes: Vec<String>,
    /// /proc/devices as discovery read it, for the nodes the plan looks up later (DRM).
    #[serde(skip)]
    pub majors: crate::majors::Majors,
}

impl Gpu {
    /// The minor of its own node: /dev/nvidiaN's, or its DRM card's.
    pub fn minor(&self) -> Option<u32> {
        self.nodes.first().map(|n| n.minor)
    }
}

impl Inventory {
    /// `gantry-gpu info`'s table: one line per GPU (MINOR of /dev/nvidiaN or the DRM card;
    /// MIG mode on/off for NVIDIA, `-` for others; the number of MIG devices), then one per
    /// MIG device.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<7} {:<5} {:<5} {:<14} {:<42} {:<4} {:<5} NAME",
            "VENDOR", "INDEX", "MINOR", "PCI", "UUID", "MIG", "MIGS"
        );
        for g in &self.gpus {
            let mig = match g.vendor {
                Vendor::Nvidia if g.mig_enabled => "on",
                Vendor::Nvidia => "off",
                _ => "-",
            };
            let _ = writeln!(
                s,
                "{:<7} {:<5} {:<5} {:<14} {:<42} {:<4} {:<5} {}",
                g.vendor.to_string(),
                g.index,
                g.minor().map_or("-".into(), |m| m.to_string()),
                g.pci_bus_id,
                g.uuid.as_deref().unwrap_or("-"),
                mig,
                g.migs.len(),
                g.name
            );
            for m in &g.migs {
                let _ = writeln!(
                    s,
                    "{:<7} {:<5} {:<5} {:<14} {:<42} {:<4} {:<5} MIG gi {} ci {}",
                    "",
                    format!("{}:{}", g.index, m.index),
                    "",
                    "",
                    m.uuid.as_deref().unwrap_or("-"),
                    "",
                    "",
                    m.gpu_instance,
                    m.compute_instance
                );
            }
        }
        for r in &self.refused {
            let _ = writeln!(s, "refused {r}");
        }
        for g in &self.gpus {
            for r in g
                .refused
                .iter()
                .chain(g.migs.iter().flat_map(|m| &m.refused))
            {
                let _ = writeln!(s, "refused {r}");
            }
        }
        s
    }

    pub fn of(&self, vendor: Vendor) -> impl Iterator<Item = &Gpu> {
        self.gpus.iter().filter(move |g| g.vendor == vendor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(vendor: Vendor, index: u32, minor: u32, migs: usize) -> Gpu {
        Gpu {
            vendor,
            index,
            uuid: None,
            name: "a GPU".into(),
            pci_bus_id: format!("0000:0{index}:00.0"),
            architecture: None,
            brand: None,
            compute_capability: None,
            nodes: vec![Node {
                path: "/dev/x".into(),
                major: 195,
                minor,
            }],
            mig_enabled: migs > 0,
            migs: (0..migs as u32)
                .map(|i| Mig {
                    index: i,
                    uuid: Some(format!("MIG-{i}")),
                    gpu_instance: i + 1,
                    compute_instance: 0,
                    nodes: vec![],
                    refused: vec![],
                })
                .collect(),
            refused: vec![],
        }
    }

    #[test]
    fn the_table_has_minor_mig_mode_and_mig_count() {
        let inv = Inventory {
            gpus: vec![
                gpu(Vendor::Nvidia, 0, 4, 0),
                gpu(Vendor::Nvidia, 1, 7, 2),
                gpu(Vendor::Amd, 0, 1, 0),
            ],
            ..Default::default()
        };
        let t = inv.table();
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(
            rows[0],
            ["VENDOR", "INDEX", "MINOR", "PCI", "UUID", "MIG", "MIGS", "NAME"]
        );
        assert_eq!(
            rows[1][..7],
            ["nvidia", "0", "4", "0000:00:00.0", "-", "off", "0"]
        );
        assert_eq!(
            rows[2][..7],
            ["nvidia", "1", "7", "0000:01:00.0", "-", "on", "2"]
        );
        assert_eq!(rows[3], ["1:0", "MIG-0", "MIG", "gi", "1", "ci", "0"]);
        assert_eq!(
            rows[5][..7],
            ["amd", "0", "1", "0000:00:00.0", "-", "-", "0"]
        );
    }
}
