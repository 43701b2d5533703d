//! A memory limit too low for the container's setup: the kernel's OOM killer kills the init
//! while it builds the container, and all create saw was the init gone ("the container's init
//! exited during setup", or a reset sync channel). runc refuses such a limit when the kernel
//! does ("unable to set memory limit to L (current usage: U, peak usage: P)"); Gantry's init
//! is smaller, so the limit is often taken and the init dies afterwards. The memory cgroup's
//! OOM kill count tells the two apart: this names the limit and the usage instead.

use std::path::{Path, PathBuf};

use libcgroups::common::AnyCgroupManager;
use oci_spec::runtime::Spec;

use crate::cgroups::Placement;

/// The init was OOM-killed during create.
#[derive(Debug, Clone, thiserror::Error)]
#[error("linux.resources.memory.limit {limit} bytes is too low for the container's setup: the kernel's OOM killer killed its init{}", usage_note(*.usage_before, *.peak))]
pub struct SetupOomKill {
    pub limit: i64,
    /// The cgroup's usage just before the limit was applied.
    pub usage_before: Option<u64>,
    /// The cgroup's peak usage (capped by the limit).
    pub peak: Option<u64>,
}

fn usage_note(before: Option<u64>, peak: Option<u64>) -> String {
    match (before, peak) {
        (Some(b), Some(p)) => format!(
            " (memory usage {b} bytes when the limit was set, peak {p} bytes; raise the limit)"
        ),
        (Some(b), None) => format!(" (memory usage {b} bytes when the limit was set)"),
        (None, Some(p)) => format!(" (peak memory usage {p} bytes)"),
        (None, None) => String::new(),
    }
}

/// The container's memory cgroup, read just before the limit goes on.
pub struct Watch {
    dir: PathBuf,
    v2: bool,
    limit: i64,
    usage_before: Option<u64>,
}

impl Watch {
    /// Only where the config sets a memory limit and the container has a memory cgroup.
    pub fn before_limits(
        mgr: &AnyCgroupManager,
        placement: &Placement,
        spec: &Spec,
    ) -> Option<Watch> {
        let limit = spec
            .linux()
            .as_ref()?
            .resources()
            .as_ref()?
            .memory()
            .as_ref()?
            .limit()
            .filter(|l| *l > 0)?;
        let (dir, v2) = memory_dir(mgr, placement)?;
        let usage = if v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        Some(Watch {
            usage_before: read_u64(&dir.join(usage)),
            dir,
            v2,
            limit,
        })
    }

    /// What went wrong, if the cgroup recorded an OOM kill (read before it is removed).
    pub fn oom_kill(&self) -> Option<SetupOomKill> {
        let (events, peak) = if self.v2 {
            ("memory.events", "memory.peak")
        } else {
            ("memory.oom_control", "memory.max_usage_in_bytes")
        };
        let text = std::fs::read_to_string(self.dir.join(events)).ok()?;
        let kills: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())?;
        (kills > 0).then(|| SetupOomKill {
            limit: self.limit,
            usage_before: self.usage_before,
            peak: read_u64(&self.dir.join(peak)),
        })
    }
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The directory of the container's memory cgroup, and whether it is cgroup v2.
pub fn memory_dir(mgr: &AnyCgroupManager, placement: &Placement) -> Option<(PathBuf, bool)> {
    let rel = placement.fs_rel_abs();
    let rel = rel.strip_prefix("/").unwrap_or(&rel);
    match mgr {
        AnyCgroupManager::V1(_) => {
            let mnt = libcgroups::v1::util::get_subsystem_mount_point(
                &libcgroups::v1::ControllerType::Memory,
            )
            .ok()?;
            Some((mnt.join(rel), false))
        }
        _ => {
            let root = placement
                .root
                .clone()
                .unwrap_or_else(|| "/sys/fs/cgroup".into());
            Some((root.join(rel), true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_limit_and_the_usage() {
        let dir = std::env::temp_dir().join(format!("gantry-setup-oom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        std::fs::write(dir.join("memory.max_usage_in_bytes"), "98304\n").unwrap();
        let w = Watch {
            dir: dir.clone(),
            v2: false,
            limit: 100000,
            usage_before: Some(262144),
        };
        assert!(w.oom_kill().is_none(), "no kill, no explanation");
        std::fs::write(
            dir.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        let msg = w.oom_kill().unwrap().to_string();
        assert_eq!(
            msg,
            "linux.resources.memory.limit 100000 bytes is too low for the container's setup: the kernel's OOM killer killed its init (memory usage 262144 bytes when the limit was set, peak 98304 bytes; raise the limit)"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
