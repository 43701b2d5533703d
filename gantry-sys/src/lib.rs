//! The few system helpers that the runtime, the hook runner and the GPU hook all need, in one
//! place instead of a copy per crate: pidfds (nix 0.29 has none), the magic-link path of an
//! fd, and whether a path is an executable file.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub mod pidfd;

/// The magic-link path through which a resolved (O_PATH) fd is opened, mounted on or from.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Whether `p` is a regular file (after symlinks) with an execute bit set.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_and_fd_paths() {
        assert!(is_executable(Path::new("/bin/sh")));
        assert!(!is_executable(Path::new("/etc/passwd")));
        assert!(!is_executable(Path::new("/bin")));
        let f = std::fs::File::open("/").unwrap();
        assert_eq!(
            fd_path(&f),
            PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
        );
    }
}
