//! Switching into the rootfs: pivot_root, or a move + chroot for --no-pivot (ramfs roots).

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::{sys, Result};

pub fn pivot(rootfs: &Path) -> Result<()> {
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it from "."
    // afterwards leaves only the container's root, with no directory needed for the old one.
    nix::unistd::chdir(rootfs).map_err(sys("chdir to rootfs"))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root"))?;
    // Make the old root a slave first so that the unmount cannot propagate to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("make old root a slave"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))
}

pub fn chroot(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(sys("chdir to rootfs"))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(sys("move rootfs to /"))?;
    nix::unistd::chroot(".").map_err(sys("chroot"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))
}
