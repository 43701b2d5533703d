//! What can go wrong with a container's cgroup.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {msg}")]
    Manager { path: PathBuf, msg: String },
    #[error("cgroup {path}: cannot add pid {pid}: {msg}")]
    Join {
        path: PathBuf,
        pid: i32,
        msg: String,
    },
    #[error("cgroup {path}: cannot apply linux.resources: {msg}")]
    Apply { path: PathBuf, msg: String },
    #[error("cgroup {path}: cannot remove: {msg}")]
    Remove { path: PathBuf, msg: String },
    #[error(
        "the container has no cgroup: it runs rootless, and cgroups are not delegated to this user"
    )]
    Skipped,
    /// `exec --cgroup`: a bad argument or a sub-cgroup that cannot be joined.
    #[error("{0}")]
    SubCgroup(String),
}

impl CgroupError {
    /// Whether the error is the kernel saying no to this user (not delegated, read-only).
    pub fn is_permission(&self) -> bool {
        let msg = match self {
            CgroupError::Join { msg, .. }
            | CgroupError::Manager { msg, .. }
            | CgroupError::Apply { msg, .. }
            | CgroupError::Remove { msg, .. } => msg.to_lowercase(),
            CgroupError::Skipped | CgroupError::SubCgroup(_) => return false,
        };
        [
            "permission denied",
            "read-only file system",
            "eacces",
            "eperm",
            "erofs",
        ]
        .iter()
        .any(|n| msg.contains(n))
    }
}
