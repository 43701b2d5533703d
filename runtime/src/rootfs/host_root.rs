//! A container without a mount namespace (config-linux.md: it then inherits the runtime's):
//! its mounts are made in the host's mount namespace, so they all go on a private bind of the
//! rootfs onto itself that the runtime makes before the clone and detaches (with everything
//! below it) when the container is deleted or its create fails. The host's own mounts, "/"
//! and the mount holding the rootfs, keep their propagation.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::{sys, Result};

/// Marker in the state dir: the rootfs bind is ours to detach.
pub const MARKER: &str = "host-rootfs-bind";

/// Bind the rootfs onto itself and make the bind private, so that the container's mounts
/// below it never propagate to the host's other mounts.
pub fn bind(rootfs: &Path) -> Result<()> {
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys(format!("bind rootfs {}", rootfs.display())))?;
    mount(
        None::<&str>,
        rootfs,
        None::<&str>,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| {
        let _ = umount2(rootfs, MntFlags::MNT_DETACH);
        super::RootfsError::Sys {
            what: format!("make the rootfs bind {} private", rootfs.display()),
            source: e,
        }
    })
}

/// Detach the rootfs bind and every mount the container made under it.
pub fn unbind(rootfs: &Path) -> Result<()> {
    umount2(rootfs, MntFlags::MNT_DETACH)
        .map_err(sys(format!("detach the rootfs bind {}", rootfs.display())))
}
