//! `tmpcopyup` (runc's extension, which Podman uses for --read-only's /tmp, /var/tmp and
//! /run): a tmpfs mounted over a directory of the image starts with a copy of what the
//! directory held. The old directory is read through a file descriptor taken before the mount,
//! so the copy comes from the covered directory, inside the rootfs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{fd_path, Result, Root, RootfsError};

fn io(what: String) -> impl FnOnce(std::io::Error) -> RootfsError {
    move |e| RootfsError::Path {
        what,
        msg: e.to_string(),
    }
}

/// The directory at `dest` before the tmpfs covers it, if there is one.
pub fn before(root: &Root, dest: &Path) -> Option<std::os::fd::OwnedFd> {
    let fd = root.resolve(dest).ok()?;
    std::fs::metadata(fd_path(&fd))
        .is_ok_and(|m| m.is_dir())
        .then_some(fd)
}

/// Copies the covered directory into the new tmpfs at `dest`, with modes and owners; symlinks
/// are copied as symlinks, never followed.
pub fn copy(root: &Root, old: &std::os::fd::OwnedFd, dest: &Path) -> Result<()> {
    let new = root.resolve(dest)?;
    let (src, dst) = (fd_path(old), fd_path(&new));
    let meta = std::fs::metadata(&src).map_err(io(format!("tmpcopyup stat {}", dest.display())))?;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io(format!("tmpcopyup chmod {}", dest.display())))?;
    std::os::unix::fs::chown(&dst, Some(meta.uid()), Some(meta.gid()))
        .map_err(io(format!("tmpcopyup chown {}", dest.display())))?;
    copy_dir(&src, &dst, dest)
}

fn copy_dir(src: &Path, dst: &Path, shown: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(src).map_err(io(format!("tmpcopyup read {}", shown.display())))?;
    for e in entries {
        let e = e.map_err(io(format!("tmpcopyup read {}", shown.display())))?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let what = shown.join(e.file_name());
        let err = || io(format!("tmpcopyup {}", what.display()));
        let meta = std::fs::symlink_metadata(&from).map_err(err())?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).map_err(err())?, &to)
                .map_err(err())?;
            std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid())).map_err(err())?;
            continue;
        }
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(err())?;
            copy_dir(&from, &to, &what)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(err())?;
        } else {
            continue; // device nodes, fifos, sockets: not carried into a tmpfs
        }
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(err())?;
        std::os::unix::fs::chown(&to, Some(meta.uid()), Some(meta.gid())).map_err(err())?;
    }
    Ok(())
}
