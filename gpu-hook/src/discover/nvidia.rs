//! NVIDIA GPUs: NVML first, then /proc/driver/nvidia when NVML cannot be loaded or fails.

use std::path::{Path, PathBuf};

use super::found::Found;
use crate::inventory::{Gpu, Node, NvidiaDriver, Refused, Vendor};
use crate::majors::Majors;
use crate::roots::Roots;

pub fn discover(
    roots: &Roots,
    majors: &Majors,
    notes: &mut Vec<String>,
    refused: &mut Vec<Refused>,
) -> Option<(NvidiaDriver, Vec<Gpu>)> {
    let (version, cuda, found, source) = match super::nvml::query(&nvml_path(roots)) {
        Ok(r) => (r.driver_version, r.cuda_version, r.gpus, "nvml"),
        Err(e) => {
            let proc_gpus = roots.proc("driver/nvidia/gpus");
            if !proc_gpus.is_dir() {
                if !matches!(e, super::nvml::NvmlFailure::NotFound(_)) {
                    notes.push(format!("NVML: {e}"));
                }
                return None;
            }
            notes.push(format!("NVML: {e}; GPUs read from {}", proc_gpus.display()));
            let version = proc_driver_version(roots).unwrap_or_default();
            (version, None, from_procfs(&proc_gpus), "procfs")
        }
    };
    let gpus = found
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let mut nodes = Vec::new();
            let mut gpu_refused = Vec::new();
            let path = format!("/dev/nvidia{}", f.minor);
            match Node::find_checked(roots, majors, &path, "nvidia", f.minor) {
                Ok(Some(n)) => nodes.push(n),
                Ok(None) => notes.push(format!("{path} is missing under the dev root")),
                Err(r) => gpu_refused.push(r),
            }
            let migs = super::mig::instances(roots, majors, f.minor, &f.migs, notes);
            Gpu {
                vendor: Vendor::Nvidia,
                index: i as u32,
                uuid: f.uuid,
                name: f.name,
                pci_bus_id: f.pci_bus_id,
                architecture: f.architecture,
                brand: f.brand,
                compute_capability: f.compute_capability,
                nodes,
                mig_enabled: f.mig_enabled,
                migs,
                refused: gpu_refused,
            }
        })
        .collect();
    // The uvm major is dynamic: /proc/devices says which it is, and a node under the dev
    // root with another one is refused (as libnvidia-container refuses a node whose st_rdev
    // is not the device it expects).
    let mut control = Vec::new();
    for (p, module, minor) in [
        ("/dev/nvidiactl", "nvidia", 255),
        ("/dev/nvidia-uvm", "nvidia-uvm", 0),
        ("/dev/nvidia-uvm-tools", "nvidia-uvm", 1),
        ("/dev/nvidia-modeset", "nvidia", 254),
    ] {
        match Node::find_checked(roots, majors, p, module, minor) {
            Ok(Some(n)) => control.push(n),
            Ok(None) => {}
            Err(r) => refused.push(r),
        }
    }
    Some((
        NvidiaDriver {
            version,
            cuda_version: cuda,
            source,
            control,
        },
        gpus,
    ))
}

/// `--nvml-lib`, else libnvidia-ml.so.1 in the driver root's library directories, else the
/// bare soname for the dynamic loader (a real host with the default driver root).
pub(crate) fn nvml_path(roots: &Roots) -> PathBuf {
    if let Some(p) = &roots.nvml_lib {
        return p.clone();
    }
    crate::libs::lib_dirs(roots)
        .into_iter()
        .map(|d| d.join("libnvidia-ml.so.1"))
        .find(|p| p.exists())
        .unwrap_or_else(|| "libnvidia-ml.so.1".into())
}

/// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024"
fn proc_driver_version(roots: &Roots) -> Option<String> {
    let text = std::fs::read_to_string(roots.proc("driver/nvidia/version")).ok()?;
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "Module")?;
    words.get(at + 1).map(|s| s.to_string())
}

/// /proc/driver/nvidia/gpus/<bus id>/information, in PCI bus order (NVML's default order).
fn from_procfs(dir: &Path) -> Vec<Found> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p.join("information")).ok()?;
            let mut f = parse_information(&text)?;
            if f.pci_bus_id.is_empty() {
                f.pci_bus_id = p.file_name()?.to_string_lossy().into_owned();
            }
            Some(f)
        })
        .collect()
}

pub fn parse_information(text: &str) -> Option<Found> {
    let mut f = Found::default();
    let mut minor = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "Model" => f.name = v,
            "GPU UUID" => f.uuid = Some(v).filter(|u| u.starts_with("GPU-")),
            "Device Minor" => minor = v.parse().ok(),
            "Bus Location" => f.pci_bus_id = v.to_ascii_lowercase(),
            _ => {}
        }
    }
    f.minor = minor?;
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_information_file() {
        let text = "Model: \t\t NVIDIA A100-SXM4-40GB\nIRQ:   \t\t 64\nGPU UUID: \t GPU-6d4a8b61-ef40-5b7c-2c1e-0e3b5a4bd3f2\nVideo BIOS: \t 92.00.36.00.01\nBus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\nBus Location: \t 0000:01:00.0\nDevice Minor: \t 3\nGPU Excluded:\t No\n";
        let f = parse_information(text).unwrap();
        assert_eq!(f.name, "NVIDIA A100-SXM4-40GB");
        assert_eq!(f.minor, 3);
        assert_eq!(f.pci_bus_id, "0000:01:00.0");
        assert_eq!(
            f.uuid.as_deref(),
            Some("GPU-6d4a8b61-ef40-5b7c-2c1e-0e3b5a4bd3f2")
        );
    }

    #[test]
    fn a_file_without_a_minor_is_not_a_gpu() {
        assert!(parse_information("Model: x\n").is_none());
    }
}
