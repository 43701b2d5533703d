//! `linux.resources.rdma`, which libcgroups does not apply: rdma.max in the hierarchy that
//! has the rdma controller (v1, or a cgroup2 mount).

use oci_spec::runtime::LinuxResources;

use super::error::CgroupError;
use super::placement::{systemd_fs_path, Placement};
use super::view::mounts as cgroup_mounts;

/// Whether this host has an rdma controller: a v1 rdma hierarchy, or rdma available in a
/// cgroup2 mount.
pub fn rdma_available() -> bool {
    cgroup_mounts().iter().any(|m| match m.fstype.as_str() {
        "cgroup" => m.has_super_opt("rdma"),
        _ => std::fs::read_to_string(m.mount_point.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "rdma")),
    })
}

/// `linux.resources.rdma`: one `rdma.max` line per device ("mlx4_0 hca_handle=2
/// hca_object=2000", a limit left out stays as it is), in the container's directory of the
/// hierarchy that has the rdma controller.
pub(super) fn apply_rdma(
    placement: &Placement,
    resources: &LinuxResources,
) -> Result<(), CgroupError> {
    let Some(rdma) = resources.rdma().as_ref().filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let err = |msg: String| CgroupError::Apply {
        path: placement.path.clone(),
        msg: format!("linux.resources.rdma: {msg}"),
    };
    let rel = if placement.systemd {
        systemd_fs_path(&placement.path)
    } else {
        placement.path.clone()
    };
    let rel = rel.strip_prefix("/").unwrap_or(&rel).to_path_buf();
    let mounts = cgroup_mounts();
    let v1 = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.has_super_opt("rdma"));
    let dir = match v1 {
        Some(m) => m.mount_point.join(&rel),
        None => {
            let mnt = &mounts
                .iter()
                .find(|m| {
                    m.fstype == "cgroup2"
                        && std::fs::read_to_string(m.mount_point.join("cgroup.controllers"))
                            .is_ok_and(|c| c.split_whitespace().any(|c| c == "rdma"))
                })
                .ok_or_else(|| err("this host has no rdma cgroup controller".into()))?
                .mount_point;
            // Enable rdma from the root down to the container's parent.
            let mut d = mnt.clone();
            for c in rel.components() {
                let _ = std::fs::write(d.join("cgroup.subtree_control"), "+rdma");
                d.push(c);
            }
            d
        }
    };
    for (dev, limit) in rdma {
        let mut line = dev.clone();
        if let Some(h) = limit.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        std::fs::write(dir.join("rdma.max"), &line).map_err(|e| {
            err(format!(
                "write {line:?} to {}: {e}",
                dir.join("rdma.max").display()
            ))
        })?;
    }
    Ok(())
}
