//! What discovery finds: GPUs of every vendor, their device nodes, and the NVIDIA driver.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::roots::Roots;

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

/// A character device node: its path as the container sees it (and as the host does under
/// the dev root), with the numbers read from the host node itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub path: PathBuf,
    pub major: u32,
    pub minor: u32,
}

impl Node {
    /// The node at `path` (a /dev path) under the dev root, if it exists and is a character
    /// device.
    pub fn find(roots: &Roots, path: impl AsRef<Path>) -> Option<Node> {
        use std::os::unix::fs::MetadataExt;
        let path = path.as_ref();
        let meta = std::fs::metadata(roots.dev(path)).ok()?;
        if !meta.file_type().is_char_device() {
            return None;
        }
        let rdev = meta.rdev();
        Some(Node {
            path: path.to_path_buf(),
            major: nix::sys::stat::major(rdev) as u32,
            minor: nix::sys::stat::minor(rdev) as u32,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Gpu {
    pub vendor: Vendor,
    /// The index among this vendor's GPUs (NVML order for NVIDIA, DRM card order otherwise).
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
    /// What discovery could not do (NVML missing, a node absent): said, never fatal.
    pub notes: Vec<String>,
}

impl Inventory {
    pub fn of(&self, vendor: Vendor) -> impl Iterator<Item = &Gpu> {
        self.gpus.iter().filter(move |g| g.vendor == vendor)
    }

    /// Discovers the GPUs of the given vendors.
    pub fn discover(roots: &Roots, vendors: &[Vendor]) -> Inventory {
        let mut inv = Inventory::default();
        let majors = crate::majors::Majors::read(&roots.proc_root).unwrap_or_else(|e| {
            inv.notes.push(format!(
                "cannot read {}: {e}",
                roots.proc("devices").display()
            ));
            Default::default()
        });
        if vendors.contains(&Vendor::Nvidia) {
            if let Some((driver, gpus)) =
                crate::discover::nvidia::discover(roots, &majors, &mut inv.notes)
            {
                inv.nvidia = Some(driver);
                inv.gpus.extend(gpus);
            }
        }
        for v in [Vendor::Amd, Vendor::Intel] {
            if vendors.contains(&v) {
                inv.gpus
                    .extend(crate::discover::drm::discover(roots, v, &mut inv.notes));
            }
        }
        if vendors.contains(&Vendor::Amd) && inv.of(Vendor::Amd).next().is_some() {
            inv.amd_kfd = Node::find(roots, "/dev/kfd");
            if inv.amd_kfd.is_none() {
                inv.notes
                    .push("AMD GPUs found but no /dev/kfd (amdgpu's KFD not loaded)".into());
            }
        }
        inv
    }
}
