//! Building the container's root filesystem inside its mount namespace. Every destination is
//! resolved inside the rootfs with pathrs (no symlink can lead out of it) and the mount is made
//! on the resolved fd through /proc/self/fd, so the path is never walked a second time.

pub mod copyup;
pub mod devices;
pub mod host_root;
pub mod mount_opts;
pub mod mounts;
pub mod paths;
pub mod pivot;
pub mod pseudo;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("{what}: {msg}")]
    Path { what: String, msg: String },
    #[error("{0}")]
    Option(#[from] mount_opts::UnsupportedOption),
}

impl RootfsError {
    pub fn is_einval(&self) -> bool {
        matches!(
            self,
            RootfsError::Sys {
                source: nix::Error::EINVAL,
                ..
            }
        )
    }
}

pub type Result<T> = std::result::Result<T, RootfsError>;

pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> RootfsError {
    let what = what.into();
    move |source| RootfsError::Sys { what, source }
}

pub(crate) fn path_err(
    what: impl Into<String>,
) -> impl FnOnce(pathrs::error::Error) -> RootfsError {
    let what = what.into();
    move |e| RootfsError::Path {
        what,
        msg: e.to_string(),
    }
}

pub use gantry_sys::fd_path;

/// A rootfs opened for safe, scoped resolution.
pub struct Root {
    pub path: PathBuf,
    pub root: pathrs::Root,
    /// The procfs and sysfs mounted in it so far, by verified fds (pseudo.rs says why).
    pub pseudos: std::cell::RefCell<pseudo::Pseudos>,
}

impl Root {
    pub fn open(path: &Path) -> Result<Self> {
        let root = pathrs::Root::open(path)
            .map_err(path_err(format!("open rootfs {}", path.display())))?;
        Ok(Root {
            path: path.to_path_buf(),
            root,
            pseudos: Default::default(),
        })
    }

    /// Resolve `p` (absolute, as seen in the container) to an O_PATH fd inside the root.
    pub fn resolve(&self, p: &Path) -> Result<OwnedFd> {
        self.root
            .resolve(p)
            .map(OwnedFd::from)
            .map_err(path_err(format!("resolve {} in rootfs", p.display())))
    }

    /// Resolve `p` for maskedPaths and readonlyPaths: below a procfs or sysfs mounted in the
    /// container, from that mount's verified root without following symlinks; elsewhere as
    /// `resolve`.
    pub fn resolve_masked(&self, p: &Path) -> Result<OwnedFd> {
        match self.pseudos.borrow().resolve(p, nix::fcntl::OFlag::O_PATH) {
            Some(r) => r,
            None => self.resolve(p),
        }
    }

    pub fn exists(&self, p: &Path) -> bool {
        self.root.resolve_nofollow(p).is_ok()
    }

    pub fn mkdir_all(&self, p: &Path, mode: u32) -> Result<OwnedFd> {
        use std::os::unix::fs::PermissionsExt;
        self.root
            .mkdir_all(p, &std::fs::Permissions::from_mode(mode))
            .map(OwnedFd::from)
            .map_err(path_err(format!("mkdir {} in rootfs", p.display())))
    }

    /// Make sure a regular file exists at `p` (a bind-mount target for a file source).
    pub fn ensure_file(&self, p: &Path) -> Result<OwnedFd> {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(h) = self.root.resolve(p) {
            return Ok(h.into());
        }
        if let Some(parent) = p.parent() {
            self.mkdir_all(parent, 0o755)?;
        }
        self.root
            .create_file(
                p,
                pathrs::flags::OpenFlags::O_WRONLY | pathrs::flags::OpenFlags::O_CLOEXEC,
                &std::fs::Permissions::from_mode(0o644),
            )
            .map_err(path_err(format!("create {} in rootfs", p.display())))?;
        self.resolve(p)
    }
}

/// Make the mount tree of the new namespace stop propagating to the host, then bind the
/// rootfs onto itself so that it is a mount point pivot_root can use. As runc: "/" gets the
/// configured `linux.rootfsPropagation` as given (default rslave), the mount holding the rootfs
/// is then made private (slave for a slave propagation) so that the bind neither propagates
/// nor starts from an unbindable or shared mount, and a shared or unbindable propagation is
/// applied to the new "/" after pivot_root (`finish_root`).
pub fn prepare_root(rootfs: &Path, propagation: Option<&str>) -> Result<()> {
    let flag = propagation
        .and_then(mount_opts::propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None::<&str>, "/", None::<&str>, flag, None::<&str>)
        .map_err(sys("set the propagation of /"))?;
    let parent = if flag.contains(MsFlags::MS_SLAVE) {
        MsFlags::MS_SLAVE
    } else {
        MsFlags::MS_PRIVATE
    };
    parent_mount_propagation(rootfs, parent)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys(format!("bind rootfs {}", rootfs.display())))
}

/// Set `flag` on the mount holding `p`: EINVAL means `p` is not a mount point, so go up until
/// one takes it (no mountinfo read).
fn parent_mount_propagation(p: &Path, flag: MsFlags) -> Result<()> {
    let mut at = p;
    loop {
        match mount(None::<&str>, at, None::<&str>, flag, None::<&str>) {
            Ok(()) => return Ok(()),
            Err(nix::Error::EINVAL) if at != Path::new("/") => {
                at = at.parent().unwrap_or(Path::new("/"));
            }
            Err(e) => {
                return Err(RootfsError::Sys {
                    what: format!("set the propagation of the mount holding {}", at.display()),
                    source: e,
                })
            }
        }
    }
}

/// After pivot_root: `root.readonly` and the configured root propagation.
pub fn finish_root(readonly: bool, propagation: Option<&str>) -> Result<()> {
    if readonly {
        let locked = mounts::locked_flags(Path::new("/"));
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
            None::<&str>,
        )
        .map_err(sys("remount / read-only"))?;
    }
    // A private or slave propagation is already in place (prepare_root); a shared or
    // unbindable one goes on the new "/" itself, now that the bind and pivot_root are done.
    if let Some(f) = propagation.and_then(mount_opts::propagation_flag) {
        if !f.intersects(MsFlags::MS_PRIVATE | MsFlags::MS_SLAVE) {
            mount(None::<&str>, "/", None::<&str>, f, None::<&str>)
                .map_err(sys("apply linux.rootfsPropagation to /"))?;
        }
    }
    Ok(())
}
