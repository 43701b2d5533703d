//! The `linux.resources` that libcgroups' v1 backend leaves out: memory.useHierarchy,
//! blockIO.leafWeight and blockIO.weightDevice (weight and leafWeight per device); and
//! `unified`, which names cgroup v2 files and so cannot be applied to v1 cgroups. Each is
//! applied or refused: runtime.md, "If the runtime cannot apply a property as specified in the
//! configuration, it MUST generate an error".

use std::path::{Path, PathBuf};

use libcgroups::v1::ControllerType;
use oci_spec::runtime::LinuxResources;

fn dir(ctrl: ControllerType, rel: &Path) -> Result<PathBuf, String> {
    let mnt = libcgroups::v1::util::get_subsystem_mount_point(&ctrl)
        .map_err(|e| format!("no v1 {ctrl} hierarchy: {e}"))?;
    Ok(mnt.join(rel.strip_prefix("/").unwrap_or(rel)))
}

fn write(path: &Path, value: &str, field: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{field}: this kernel has no {} (not supported here)",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        _ => format!("{field}: write {value:?} to {}: {e}", path.display()),
    })
}

/// Applies what libcgroups skipped, for the v1 cgroup at `rel` (relative to each hierarchy).
pub fn apply(r: &LinuxResources, rel: &Path) -> Result<(), String> {
    if let Some(unified) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        let keys: Vec<&String> = unified.keys().collect();
        return Err(format!(
            "linux.resources.unified ({keys:?}) needs the container on cgroup v2; its cgroups are v1 here"
        ));
    }
    if let Some(h) = r.memory().as_ref().and_then(|m| m.use_hierarchy()) {
        let d = dir(ControllerType::Memory, rel)?;
        let want = if h { "1" } else { "0" };
        // Writing the value it already has is allowed even where changing it is not.
        let have = std::fs::read_to_string(d.join("memory.use_hierarchy")).unwrap_or_default();
        if have.trim() != want {
            write(
                &d.join("memory.use_hierarchy"),
                want,
                "linux.resources.memory.useHierarchy",
            )?;
        }
    }
    let Some(b) = r.block_io().as_ref() else {
        return Ok(());
    };
    let needs_blkio =
        b.leaf_weight().is_some() || b.weight_device().as_ref().is_some_and(|w| !w.is_empty());
    if !needs_blkio {
        return Ok(());
    }
    let d = dir(ControllerType::Blkio, rel)?;
    if let Some(w) = b.leaf_weight() {
        write(
            &d.join("blkio.leaf_weight"),
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for wd in b.weight_device().as_deref().unwrap_or_default() {
        let dev = format!("{}:{}", wd.major(), wd.minor());
        if let Some(w) = wd.weight() {
            // CFQ's file, else BFQ's (as for blockIO.weight).
            let cfq = d.join("blkio.weight_device");
            let file = if cfq.exists() {
                cfq
            } else {
                d.join("blkio.bfq.weight_device")
            };
            write(
                &file,
                &format!("{dev} {w}"),
                "linux.resources.blockIO.weightDevice",
            )?;
        }
        if let Some(w) = wd.leaf_weight() {
            write(
                &d.join("blkio.leaf_weight_device"),
                &format!("{dev} {w}"),
                "linux.resources.blockIO.weightDevice.leafWeight",
            )?;
        }
    }
    Ok(())
}
