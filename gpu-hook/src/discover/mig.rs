//! MIG devices' nvidia-caps nodes, from /proc/driver/nvidia/capabilities/gpuN/mig: each GPU
//! instance (giX) and compute instance (giX/ciY) has an `access` file naming the minor of its
//! /dev/nvidia-caps/nvidia-capM node.

use crate::inventory::{Mig, Node, Refused};
use crate::majors::Majors;
use crate::roots::Roots;

/// The MIG devices of the GPU with `minor`: those NVML listed (uuid, gi, ci), or without NVML
/// every compute instance procfs shows.
pub fn instances(
    roots: &Roots,
    majors: &Majors,
    minor: u32,
    from_nvml: &[(Option<String>, u32, u32)],
    notes: &mut Vec<String>,
) -> Vec<Mig> {
    let dir = roots.proc(format!("driver/nvidia/capabilities/gpu{minor}/mig"));
    let listed: Vec<(Option<String>, u32, u32)> = if from_nvml.is_empty() {
        from_procfs(&dir)
    } else {
        from_nvml.to_vec()
    };
    listed
        .into_iter()
        .enumerate()
        .map(|(i, (uuid, gi, ci))| {
            let (mut nodes, mut refused) = (Vec::new(), Vec::new());
            for access in [
                dir.join(format!("gi{gi}/access")),
                dir.join(format!("gi{gi}/ci{ci}/access")),
            ] {
                match cap_node(roots, majors, &access) {
                    Ok(Some(n)) => nodes.push(n),
                    Ok(None) => notes.push(format!(
                        "MIG {gi}/{ci} of GPU minor {minor}: no caps node for {}",
                        access.display()
                    )),
                    Err(r) => refused.push(r),
                }
            }
            Mig {
                index: i as u32,
                uuid,
                gpu_instance: gi,
                compute_instance: ci,
                nodes,
                refused,
            }
        })
        .collect()
}

/// The node an `access` file names ("DeviceFileMinor: 12"), checked against the
/// `nvidia-caps` major of /proc/devices and the minor: `Ok(None)` when the file or node is
/// not there, refused when the node is another device.
pub fn cap_node(
    roots: &Roots,
    majors: &Majors,
    access: &std::path::Path,
) -> Result<Option<Node>, Refused> {
    let Some(minor) = std::fs::read_to_string(access).ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("DeviceFileMinor:"))?
            .trim()
            .parse::<u32>()
            .ok()
    }) else {
        return Ok(None);
    };
    let path = format!("/dev/nvidia-caps/nvidia-cap{minor}");
    Node::find_checked(roots, majors, path, "nvidia-caps", minor)
}

fn from_procfs(dir: &std::path::Path) -> Vec<(Option<String>, u32, u32)> {
    let ids = |d: &std::path::Path, prefix: &str| -> Vec<u32> {
        let mut v: Vec<u32> = std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_prefix(prefix))
                            .and_then(|n| n.parse().ok())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut out = Vec::new();
    for gi in ids(dir, "gi") {
        for ci in ids(&dir.join(format!("gi{gi}")), "ci") {
            out.push((None, gi, ci));
        }
    }
    out
}
