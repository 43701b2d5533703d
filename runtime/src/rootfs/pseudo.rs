//! The container's own procfs and sysfs, held by verified file descriptors (CVE-2025-52881).
//!
//! The rootfs can be shared with another, hostile container that swaps its directories while
//! this one is created (renameat2 RENAME_EXCHANGE in a loop): a path such as rootfs/proc/sys
//! resolved again after procfs was mounted may then lead into a look-alike directory whose
//! symlinks point at the real, host-global files. So the root of each procfs and sysfs mount is
//! opened once, right after the mount, through the fd the mount was made on (which follows the
//! mount, never a name), checked to be that filesystem's root, and every later sysctl write,
//! maskedPath and readonlyPath below it is resolved from that fd, beneath it and without
//! following any symlink (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;

use super::RootfsError;

/// statfs f_type values (linux/magic.h).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;
/// The inode number of a procfs and of a sysfs (kernfs) root.
const ROOT_INO: u64 = 1;

/// A verified pseudo-filesystem mount: its destination in the container and its root.
#[derive(Debug)]
pub struct Pseudo {
    dest: PathBuf,
    root: OwnedFd,
}

/// The pseudo-filesystems mounted so far, most recent last.
#[derive(Debug, Default)]
pub struct Pseudos(Vec<Pseudo>);

fn magic_of(typ: &str) -> Option<i64> {
    match typ {
        "proc" => Some(PROC_SUPER_MAGIC),
        "sysfs" => Some(SYSFS_MAGIC),
        _ => None,
    }
}

/// Open what is mounted at `dest` now: the last component looked up by name in its parent
/// (a lookup by name crosses into the mount on top; a magic link to the directory would
/// not), beneath the parent and with no symlink followed. The caller verifies the result: the
/// name can have been swapped, the parent fd cannot.
pub(crate) fn open_mounted(root: &super::Root, dest: &Path) -> Result<OwnedFd, RootfsError> {
    let dest = normal(dest);
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(RootfsError::Path {
            what: format!("open {}", dest.display()),
            msg: "not a mount point below the root".into(),
        });
    };
    let parent = root.resolve_masked(parent)?;
    crate::sys::open_beneath(&parent, Path::new(name), OFlag::O_PATH).map_err(super::sys(format!(
        "open {} after mounting on it",
        dest.display()
    )))
}

/// Whether `fd` is the root of a filesystem of type `magic`.
fn is_root_of(fd: &OwnedFd, magic: i64) -> bool {
    let Ok(st) = nix::sys::statfs::fstatfs(fd) else {
        return false;
    };
    let Ok(meta) = nix::sys::stat::fstat(fd.as_raw_fd()) else {
        return false;
    };
    st.filesystem_type().0 == magic && meta.st_ino == ROOT_INO
}

impl Pseudos {
    /// After mounting `typ` on the directory `target` (at `dest` in the container): record the
    /// mount's verified root. Other types are not recorded.
    pub fn record(
        &mut self,
        typ: &str,
        dest: &Path,
        root: &super::Root,
    ) -> Result<(), RootfsError> {
        let Some(magic) = magic_of(typ) else {
            return Ok(());
        };
        let what = format!("mount {typ} on {}", dest.display());
        let root = open_mounted(root, dest)?;
        if !is_root_of(&root, magic) {
            return Err(RootfsError::Path {
                what,
                msg: format!(
                    "what is mounted there is not the {typ} just mounted (the rootfs changed under the runtime)"
                ),
            });
        }
        self.0.push(Pseudo {
            dest: normal(dest),
            root,
        });
        Ok(())
    }

    /// Resolve `p` (absolute, in the container) through the most recent pseudo-filesystem
    /// mount that holds it: None when no recorded mount holds it (then it is resolved in the
    /// rootfs as any path). The fd is O_PATH unless `flags` ask for more.
    pub fn resolve(&self, p: &Path, flags: OFlag) -> Option<Result<OwnedFd, RootfsError>> {
        let p = normal(p);
        let m = self.0.iter().rev().find(|m| p.starts_with(&m.dest))?;
        let rest = p.strip_prefix(&m.dest).expect("prefix");
        let rest = if rest.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rest
        };
        Some(
            crate::sys::open_beneath(&m.root, rest, flags).map_err(|e| RootfsError::Sys {
                what: format!(
                    "open {} in the container's {} (no symlinks followed)",
                    p.display(),
                    m.dest.display()
                ),
                source: e,
            }),
        )
    }
}

/// `p` made absolute and lexical: `.` and `..` and repeated slashes gone (a config path such
/// as /proc/./sys names the same place).
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// A fresh procfs of the calling process's namespaces that no path leads to (fsopen and
/// fsmount with no mount point), for sysctl writes when the config mounts no /proc.
pub fn detached_procfs() -> std::io::Result<OwnedFd> {
    // SAFETY: fsopen takes a NUL-terminated name and flags; it returns a new fd or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fsopen returned this fd; nothing else owns it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fsmount takes the configured fs fd and flags; it returns a new fd or -1.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fsmount returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_compared_lexically() {
        assert_eq!(
            normal(Path::new("/proc/./sys//kernel")),
            Path::new("/proc/sys/kernel")
        );
        assert_eq!(normal(Path::new("proc/sys/../sys")), Path::new("/proc/sys"));
        assert_eq!(normal(Path::new("/../../proc")), Path::new("/proc"));
    }

    #[test]
    fn the_hosts_proc_root_verifies_and_a_subdirectory_does_not() {
        let open = |p: &str| {
            // SAFETY: open returns a new fd we own.
            unsafe {
                OwnedFd::from_raw_fd(
                    nix::fcntl::open(
                        p,
                        OFlag::O_PATH | OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .unwrap(),
                )
            }
        };
        assert!(is_root_of(&open("/proc"), PROC_SUPER_MAGIC));
        assert!(!is_root_of(&open("/proc/sys"), PROC_SUPER_MAGIC));
        assert!(!is_root_of(&open("/"), PROC_SUPER_MAGIC));
    }

    #[test]
    fn resolution_below_a_recorded_proc_refuses_symlinks() {
        // SAFETY: open returns a new fd we own.
        let root = unsafe {
            OwnedFd::from_raw_fd(
                nix::fcntl::open(
                    "/proc",
                    OFlag::O_PATH | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .unwrap(),
            )
        };
        let ps = Pseudos(vec![Pseudo {
            dest: PathBuf::from("/proc"),
            root,
        }]);
        assert!(ps
            .resolve(Path::new("/proc/sys/kernel"), OFlag::O_PATH)
            .unwrap()
            .is_ok());
        // /proc/self is a symlink: refused, never followed.
        let e = ps
            .resolve(Path::new("/proc/self/status"), OFlag::O_PATH)
            .unwrap();
        assert!(e.is_err());
        assert!(ps
            .resolve(Path::new("/sys/kernel"), OFlag::O_PATH)
            .is_none());
    }
}
