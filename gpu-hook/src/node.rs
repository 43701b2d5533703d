//! A character device node as discovery finds it, and one /proc/devices contradicts.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::roots::Roots;

/// A character device node: its path as the container sees it (and as the host does under
/// the dev root), with the numbers read from the host node itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub path: PathBuf,
    pub major: u32,
    pub minor: u32,
}

impl Node {
    /// The node at `path` (a /dev path) under the dev root, if it exists and is a character
    /// device.
    pub fn find(roots: &Roots, path: impl AsRef<Path>) -> Option<Node> {
        use std::os::unix::fs::MetadataExt;
        let path = path.as_ref();
        let meta = std::fs::metadata(roots.dev(path)).ok()?;
        if !meta.file_type().is_char_device() {
            return None;
        }
        let rdev = meta.rdev();
        Some(Node {
            path: path.to_path_buf(),
            major: nix::sys::stat::major(rdev) as u32,
            minor: nix::sys::stat::minor(rdev) as u32,
        })
    }
}

/// A node found under the dev root that /proc/devices contradicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.path.display(), self.why)
    }
}
