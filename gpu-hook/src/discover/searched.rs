//! Where discovery looks, for `gantry-gpu info` on a host where it found nothing: a bare
//! table header said neither that no driver was found nor where it was looked for.

use std::path::Path;

use crate::roots::Roots;

/// One line per place: what it is for, its path, and what is there.
pub fn describe(roots: &Roots) -> Vec<String> {
    let nvml = super::nvidia::nvml_path(roots);
    let nvml_state = if nvml.is_absolute() {
        if nvml.exists() {
            "present, but NVML gave no GPU"
        } else {
            "absent"
        }
    } else {
        "not in the driver root's library directories"
    };
    let kfd = roots.sysfs("class/kfd/kfd/topology/nodes");
    let drm = roots.sysfs("class/drm");
    vec![
        format!("NVIDIA's NVML library {}: {nvml_state}", nvml.display()),
        format!(
            "NVIDIA's procfs {}: {}",
            roots.proc("driver/nvidia/gpus").display(),
            state(&roots.proc("driver/nvidia/gpus"))
        ),
        format!(
            "DRM devices (AMD, Intel) {}: {}",
            drm.display(),
            match state(&drm) {
                "present" => "no AMD or Intel card",
                s => s,
            }
        ),
        format!("AMD's KFD topology {}: {}", kfd.display(), state(&kfd)),
    ]
}

fn state(p: &Path) -> &'static str {
    if p.exists() {
        "present"
    } else {
        "absent"
    }
}
