//! Where a container's cgroup is: its path (runc's rules, or systemd's slice:prefix:name), the
//! cgroup root, and the parents Gantry made.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

/// `linux.cgroupsPath`, or runc's default for the driver: `/gantry/ID` for cgroupfs and
/// `system.slice:gantry:ID` for systemd.
pub fn path_for(spec: &Spec, id: &str, systemd: bool) -> PathBuf {
    match spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ if systemd => PathBuf::from(format!("system.slice:gantry:{id}")),
        _ => PathBuf::from(format!("/gantry/{id}")),
    }
}

/// Where a container's cgroup is: enough for any later command to find it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placement {
    pub path: PathBuf,
    pub systemd: bool,
    /// The cgroup filesystem root (default /sys/fs/cgroup); another root, such as a cgroup2
    /// mount, makes libcgroups pick the driver for that filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// Rootless without a delegated cgroup: the container has none.
    #[serde(default)]
    pub skipped: bool,
    /// Ancestors of the cgroup, in each hierarchy, that did not exist before create: Gantry
    /// made them, and removes them again once empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_parents: Vec<PathBuf>,
}

impl Placement {
    /// The cgroup's directory relative to each hierarchy root.
    pub(super) fn fs_rel(&self) -> PathBuf {
        let p = if self.systemd {
            systemd_fs_path(&self.path)
        } else {
            self.path.clone()
        };
        p.strip_prefix("/").unwrap_or(&p).to_path_buf()
    }

    /// The cgroup's path as the v1 helpers take it (systemd's mapped to its directory).
    pub fn fs_rel_abs(&self) -> PathBuf {
        Path::new("/").join(self.fs_rel())
    }

    /// Every hierarchy root: the cgroup root itself, and on a v1 or hybrid host each
    /// cgroup filesystem mounted right below it.
    pub(super) fn hierarchy_roots(&self) -> Vec<PathBuf> {
        use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
        let root = self
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
        let mut out = vec![root.clone()];
        if statfs(&root).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
            return out;
        }
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let p = e.path();
            if statfs(&p).is_ok_and(|s| {
                s.filesystem_type() == CGROUP_SUPER_MAGIC
                    || s.filesystem_type() == CGROUP2_SUPER_MAGIC
            }) {
                out.push(p);
            }
        }
        out
    }

    /// Before create: note, in each hierarchy, the ancestors it does not have yet (absolute
    /// paths, deepest last within a hierarchy).
    pub fn note_missing_parents(&mut self) {
        let rel = self.fs_rel();
        let mut out = Vec::new();
        for r in self.hierarchy_roots() {
            let mut missing: Vec<PathBuf> = rel
                .ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .map(|a| r.join(a))
                .filter(|d| !d.exists())
                .collect();
            missing.reverse();
            out.extend(missing);
        }
        self.created_parents = out;
    }

    /// After the cgroup is gone: remove the ancestors Gantry made, deepest first. rmdir fails
    /// (EBUSY/ENOTEMPTY) while another cgroup or a process is in one: that one stays, as it
    /// should.
    pub(super) fn remove_created_parents(&self) {
        for d in self.created_parents.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Where systemd would put `slice:prefix:name` (cgroups/systemd.rs); a path not of that form
/// is returned as it is (manager() refuses it first).
pub fn systemd_fs_path(p: &Path) -> PathBuf {
    match super::systemd::unit(p) {
        Ok(u) => super::systemd::fs_path(&u),
        Err(_) => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths() {
        let spec = Spec::default();
        let mut spec = spec;
        spec.linux_mut().as_mut().unwrap().set_cgroups_path(None);
        assert_eq!(path_for(&spec, "c1", false), PathBuf::from("/gantry/c1"));
        assert_eq!(
            path_for(&spec, "c1", true),
            PathBuf::from("system.slice:gantry:c1")
        );
        spec.linux_mut()
            .as_mut()
            .unwrap()
            .set_cgroups_path(Some("/x/y".into()));
        assert_eq!(path_for(&spec, "c1", false), PathBuf::from("/x/y"));
    }
}
