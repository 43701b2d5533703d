//! Finding GPUs: NVIDIA through NVML (procfs when NVML is missing or broken), AMD and Intel
//! through sysfs DRM entries. What is found is an `Inventory` (inventory.rs, types only).

pub mod drm;
pub mod found;
pub mod mig;
pub mod nvidia;
pub mod nvml;
pub mod searched;

use crate::inventory::{Inventory, Node, Vendor};
use crate::majors::Majors;
use crate::roots::Roots;

/// Discovers the GPUs of the given vendors.
pub fn discover(roots: &Roots, vendors: &[Vendor]) -> Inventory {
    let mut inv = Inventory::default();
    let majors = Majors::read(&roots.proc_root).unwrap_or_else(|e| {
        inv.notes.push(format!(
            "cannot read {}: {e}",
            roots.proc("devices").display()
        ));
        Default::default()
    });
    if vendors.contains(&Vendor::Nvidia) {
        if let Some((driver, gpus)) =
            nvidia::discover(roots, &majors, &mut inv.notes, &mut inv.refused)
        {
            inv.nvidia = Some(driver);
            inv.gpus.extend(gpus);
        }
    }
    for v in [Vendor::Amd, Vendor::Intel] {
        if vendors.contains(&v) {
            inv.gpus
                .extend(drm::discover(roots, &majors, v, &mut inv.notes));
        }
    }
    if vendors.contains(&Vendor::Amd) && inv.of(Vendor::Amd).next().is_some() {
        match Node::find_checked(roots, &majors, "/dev/kfd", "kfd", 0) {
            Ok(n) => inv.amd_kfd = n,
            Err(r) => inv.refused.push(r),
        }
        if inv.amd_kfd.is_none() && inv.refused.is_empty() {
            inv.notes
                .push("AMD GPUs found but no /dev/kfd (amdgpu's KFD not loaded)".into());
        }
    }
    inv.majors = majors;
    inv
}
