//! AMD and Intel GPUs from sysfs: each /sys/class/drm/cardN whose PCI device has the vendor's
//! id, with the renderD node of the same device.

use std::path::{Path, PathBuf};

use crate::inventory::{Gpu, Node, Vendor};
use crate::roots::Roots;

fn vendor_id(v: Vendor) -> &'static str {
    match v {
        Vendor::Nvidia => "0x10de",
        Vendor::Amd => "0x1002",
        Vendor::Intel => "0x8086",
    }
}

/// The DRM entries (cardN, renderDN) and the canonical PCI device dir of each.
fn entries(roots: &Roots, prefix: &str) -> Vec<(u32, PathBuf)> {
    let class = roots.sysfs("class/drm");
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(&class)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n: u32 = name.strip_prefix(prefix)?.parse().ok()?;
                    let dev = std::fs::canonicalize(e.path().join("device")).ok()?;
                    Some((n, dev))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn discover(roots: &Roots, vendor: Vendor, notes: &mut Vec<String>) -> Vec<Gpu> {
    let renders = entries(roots, "renderD");
    let mut gpus = Vec::new();
    for (card, dev) in entries(roots, "card") {
        if read_trim(&dev.join("vendor")).as_deref() != Some(vendor_id(vendor)) {
            continue;
        }
        let mut nodes = Vec::new();
        let mut want = vec![format!("/dev/dri/card{card}")];
        if let Some((r, _)) = renders.iter().find(|(_, d)| *d == dev) {
            want.push(format!("/dev/dri/renderD{r}"));
        }
        for p in want {
            match Node::find(roots, &p) {
                Some(n) => nodes.push(n),
                None => notes.push(format!("{p} is missing under the dev root")),
            }
        }
        let uevent = std::fs::read_to_string(dev.join("uevent")).unwrap_or_default();
        let driver = uevent
            .lines()
            .find_map(|l| l.strip_prefix("DRIVER="))
            .unwrap_or("unknown");
        let pci = uevent
            .lines()
            .find_map(|l| l.strip_prefix("PCI_SLOT_NAME="))
            .map(str::to_string)
            .or_else(|| dev.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let device_id = read_trim(&dev.join("device")).unwrap_or_default();
        gpus.push(Gpu {
            vendor,
            index: gpus.len() as u32,
            uuid: read_trim(&dev.join("unique_id")),
            name: format!("{vendor} {device_id} ({driver})"),
            pci_bus_id: pci.to_ascii_lowercase(),
            architecture: None,
            brand: None,
            compute_capability: None,
            nodes,
            mig_enabled: false,
            migs: Vec::new(),
            refused: Vec::new(),
        });
    }
    gpus
}
