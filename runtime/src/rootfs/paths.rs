//! `linux.maskedPaths` and `linux.readonlyPaths`, resolved inside the rootfs.

use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::mounts::locked_flags;
use super::{fd_path, sys, Result, Root, RootfsError};

/// Hide a path: an empty read-only tmpfs over a directory, /dev/null over anything else.
pub fn mask(root: &Root, p: &Path) -> Result<()> {
    let fd = match root.resolve_masked(p) {
        Ok(fd) => fd,
        // Nothing there: nothing to hide.
        Err(RootfsError::Sys {
            source: nix::Error::ENOENT | nix::Error::ENOTDIR,
            ..
        })
        | Err(RootfsError::Path { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let tpath = fd_path(&fd);
    let what = format!("mask {}", p.display());
    if std::fs::metadata(&tpath)
        .map(|m| m.is_dir())
        .unwrap_or(false)
    {
        mount(
            Some("tmpfs"),
            &tpath,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0,mode=555"),
        )
        .map_err(sys(what))
    } else {
        // The container's own /dev/null where it is the real device, as runc binds it after
        // pivot_root: the host's /dev may be unbindable (rootfsPropagation runbindable).
        let null = root
            .resolve(Path::new("/dev/null"))
            .ok()
            .filter(|fd| is_dev_null(&fd_path(fd)));
        let src = null.as_ref().map(fd_path);
        mount(
            Some(src.as_deref().unwrap_or(Path::new("/dev/null"))),
            &tpath,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys(what))
    }
}

fn is_dev_null(p: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::metadata(p)
        .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == nix::sys::stat::makedev(1, 3))
}

/// Make a path read-only: bind it onto itself and remount that read-only.
pub fn readonly(root: &Root, p: &Path) -> Result<()> {
    let fd = match root.resolve_masked(p) {
        Ok(fd) => fd,
        Err(RootfsError::Sys {
            source: nix::Error::ENOENT | nix::Error::ENOTDIR,
            ..
        })
        | Err(RootfsError::Path { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let tpath = fd_path(&fd);
    let what = format!("read-only {}", p.display());
    mount(
        Some(&tpath),
        &tpath,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys(&what))?;
    // The bind just made: looked up by name (a magic link would lead under it), and checked
    // to be the same file bound onto itself, not something swapped in under that name.
    let bound = super::pseudo::open_mounted(root, p)?;
    let same = |f: &std::os::fd::OwnedFd| {
        nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(f)).map(|s| (s.st_dev, s.st_ino))
    };
    if same(&bound).ok() != same(&fd).ok() {
        return Err(RootfsError::Path {
            what,
            msg: "the path changed while it was made read-only".into(),
        });
    }
    let tpath = fd_path(&bound);
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | locked_flags(&tpath);
    mount(None::<&str>, &tpath, None::<&str>, flags, None::<&str>).map_err(sys(what))
}
