//! Switching into the rootfs: pivot_root, or a move + chroot for --no-pivot (ramfs roots).

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::{sys, Result};

pub fn pivot(rootfs: &Path) -> Result<()> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = open("/", flags, Mode::empty()).map_err(sys("open old root"))?;
    let new = open(rootfs, flags, Mode::empty()).map_err(sys("open rootfs"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it afterwards
    // leaves only the container's root, with no directory needed for the old one.
    let res = (|| {
        nix::unistd::fchdir(new).map_err(sys("chdir to rootfs"))?;
        nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root"))?;
        // "." must name the old root for the next two calls: a plain lookup of "." would stay
        // on the new root (only umount follows the stacked mount), so go there by fd.
        nix::unistd::fchdir(old).map_err(sys("chdir to old root"))?;
        // A slave first, so that the unmount cannot propagate to the host.
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
    })();
    let _ = nix::unistd::close(old);
    let _ = nix::unistd::close(new);
    res
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

/// Without a mount namespace: a plain chroot into the rootfs (runc's), nothing moved or
/// unmounted, since every mount here is the host's.
pub fn chroot_only(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(sys("chdir to rootfs"))?;
    nix::unistd::chroot(".").map_err(sys("chroot"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))
}
