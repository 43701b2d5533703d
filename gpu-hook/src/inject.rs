//! Applying a plan inside a container's mount namespace, before pivot_root. Every target is
//! resolved inside the rootfs with pathrs (a symlink in the image cannot send a mount or a
//! file outside it: the CVE-2024-0132 class), and mounts are made on the resolved fd through
//! /proc/self/fd.
//!
//! Policy for what the image already has at a target: a file or device node is covered by the
//! bind mount (the image's file stays untouched underneath); a symlink at a symlink path is
//! replaced; a symlink where a file is mounted is replaced by an empty file; a directory where
//! a file is expected is an error naming it.

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_sys::fd_path;
use nix::mount::{mount, MsFlags};
use pathrs::flags::OpenFlags;
use pathrs::{InodeType, Root};

use crate::plan::{Kind, Plan};

#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("{what} {path}: {msg}")]
    Path {
        what: &'static str,
        path: PathBuf,
        msg: String,
    },
    #[error("ldconfig in the container ({cmd}): {msg}")]
    Ldconfig { cmd: String, msg: String },
    #[error(transparent)]
    Namespace(#[from] hooks::author::AuthorError),
}

/// The error and its sources, one line (pathrs puts the errno in a source).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s += &format!(": {c}");
        cur = c.source();
    }
    s
}

fn perr<E: std::error::Error>(what: &'static str, path: &Path) -> impl FnOnce(E) -> InjectError {
    let path = path.to_path_buf();
    move |e| InjectError::Path {
        what,
        path,
        msg: chain(&e),
    }
}

/// Applies `plan` to the container whose init is `pid`, with root filesystem `rootfs` (a host
/// path, as the container's mount namespace sees it before pivot_root).
pub fn inject(
    pid: i32,
    rootfs: &Path,
    plan: &Plan,
    dev_root: &Path,
    ldconfig: &Path,
) -> Result<(), InjectError> {
    let owner = container_root(pid);
    // SAFETY: gantry-gpu is single-threaded: it starts no thread, and discovery's NVML
    // handle is shut down (dropped) before the plan is applied.
    unsafe {
        hooks::author::in_mount_namespace(pid, || {
            apply(rootfs, plan, dev_root, ldconfig, owner).map_err(|e| e.to_string())
        })
    }?;
    Ok(())
}

/// The host uid and gid of the container's root when it has a user namespace: files are
/// created as them (a tmpfs mounted in the user namespace refuses an owner it cannot map,
/// EOVERFLOW, and the container's root should own what appears in its tree).
pub fn container_root(pid: i32) -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        // Rootless: the hook joins the container's user namespace, where it is already its
        // root, so what it creates is the container root's.
        return None;
    }
    let host_of_zero = |map: &str| -> Option<u32> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{map}")).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3 && f[0] == 0).then_some(f[1])
        })
    };
    // The host's own namespace maps 0 to 0: nothing to change then.
    let owner = (host_of_zero("uid_map")?, host_of_zero("gid_map")?);
    (owner != (0, 0)).then_some(owner)
}

/// Creates files as `owner` (fsuid/fsgid) until dropped.
struct AsOwner(bool);

impl AsOwner {
    fn new(owner: Option<(u32, u32)>) -> AsOwner {
        match owner {
            Some((uid, gid)) => {
                nix::unistd::setfsgid(gid.into());
                nix::unistd::setfsuid(uid.into());
                AsOwner(true)
            }
            None => AsOwner(false),
        }
    }
}

impl Drop for AsOwner {
    fn drop(&mut self) {
        if self.0 {
            nix::unistd::setfsuid(0.into());
            nix::unistd::setfsgid(0.into());
        }
    }
}

/// Applies `plan` in the current mount namespace.
pub fn apply(
    rootfs: &Path,
    plan: &Plan,
    dev_root: &Path,
    ldconfig: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), InjectError> {
    let root = Root::open(rootfs).map_err(perr("open rootfs", rootfs))?;
    for d in &plan.devices {
        let host = crate::roots::under(dev_root, &d.path);
        let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        bind(&root, &host, &d.path, Kind::File, flags, owner)?;
    }
    for m in &plan.mounts {
        let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        if !m.writable {
            flags |= MsFlags::MS_RDONLY;
        }
        bind(&root, &m.host, &m.container, m.kind, flags, owner)?;
    }
    for s in &plan.symlinks {
        let _as = AsOwner::new(owner);
        symlink(&root, &s.link, &s.target)?;
    }
    if !plan.ldconfig_dirs.is_empty() {
        run_ldconfig(rootfs, &plan.ldconfig_dirs, ldconfig)?;
    }
    Ok(())
}

/// Makes sure `target` exists in the root as the mount point `kind` needs, and returns it.
fn mount_point(root: &Root, target: &Path, kind: Kind) -> Result<OwnedFd, InjectError> {
    let perm = |m| std::fs::Permissions::from_mode(m);
    if kind == Kind::Dir {
        return root
            .mkdir_all(target, &perm(0o755))
            .map(OwnedFd::from)
            .map_err(perr("create directory", target));
    }
    if let Ok(h) = root.resolve_nofollow(target) {
        if is_symlink(root, target) {
            root.remove_file(target)
                .map_err(perr("remove the image's symlink", target))?;
        } else {
            let fd = OwnedFd::from(h);
            let meta = std::fs::metadata(fd_path(&fd)).map_err(perr("stat", target))?;
            if meta.is_dir() {
                return Err(InjectError::Path {
                    what: "a directory is in the way of",
                    path: target.into(),
                    msg: "the image has a directory where a file is injected".into(),
                });
            }
            return Ok(fd);
        }
    }
    if let Some(parent) = target.parent() {
        root.mkdir_all(parent, &perm(0o755))
            .map_err(perr("create directory", parent))?;
    }
    root.create_file(
        target,
        OpenFlags::O_WRONLY | OpenFlags::O_CLOEXEC,
        &perm(0o644),
    )
    .map_err(perr("create", target))?;
    root.resolve_nofollow(target)
        .map(OwnedFd::from)
        .map_err(perr("resolve", target))
}

fn is_symlink(root: &Root, p: &Path) -> bool {
    root.readlink(p).is_ok()
}

fn bind(
    root: &Root,
    host: &Path,
    target: &Path,
    kind: Kind,
    flags: MsFlags,
    owner: Option<(u32, u32)>,
) -> Result<(), InjectError> {
    let fd = {
        let _as = AsOwner::new(owner);
        mount_point(root, target, kind)?
    };
    mount(
        Some(host),
        &fd_path(&fd),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(perr("bind-mount onto", target))?;
    drop(fd);
    // The fd named the covered inode: resolve again to reach the new mount, then make it
    // read-only / nosuid / nodev or noexec (a bind mount takes flags only on remount).
    let top = root
        .resolve_nofollow(target)
        .map(OwnedFd::from)
        .map_err(perr("resolve", target))?;
    mount(
        None::<&str>,
        &fd_path(&top),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None::<&str>,
    )
    .map_err(perr("remount", target))
}

fn symlink(root: &Root, link: &Path, target: &Path) -> Result<(), InjectError> {
    if root.resolve_nofollow(link).is_ok() {
        if !is_symlink(root, link) {
            // The image ships a real file under the link's name: leave it (the soname link
            // is then the image's business) rather than delete the image's data.
            return Ok(());
        }
        root.remove_file(link)
            .map_err(perr("remove the image's symlink", link))?;
    }
    if let Some(parent) = link.parent() {
        root.mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
            .map_err(perr("create directory", parent))?;
    }
    root.create(link, &InodeType::Symlink(target.to_path_buf()))
        .map_err(perr("create symlink", link))
}

/// The host's ldconfig, chrooted by itself into the rootfs (`-r`), so that the container's
/// ld.so.cache lists the injected libraries. It runs from the host (the container supplies no
/// code), and its chroot keeps every path it follows inside the rootfs.
fn run_ldconfig(rootfs: &Path, dirs: &[PathBuf], ldconfig: &Path) -> Result<(), InjectError> {
    let mut cmd = Command::new(ldconfig);
    cmd.arg("-r").arg(rootfs).args(dirs).env_clear();
    let show = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| InjectError::Ldconfig {
        cmd: show.clone(),
        msg: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(InjectError::Ldconfig {
            cmd: show,
            msg: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}
