//! Device cgroup rules for the injected nodes. cgroup v1: `c MAJ:MIN rw` into devices.allow
//! of the container's devices cgroup (read from the real /proc/PID/cgroup and mountinfo).

use std::path::{Path, PathBuf};

use crate::inventory::Node;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("allow {rule} in {path}: {source}")]
    Write {
        rule: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the container's cgroup has no v1 devices controller and is on cgroup v2, where device access is a BPF program: not supported yet (run with --no-cgroups if the runtime allows the devices)")]
    V2Unsupported,
}

/// The v1 devices directory of `pid`, or None on a cgroup v2-only host.
pub fn devices_dir(pid: i32) -> Result<Option<PathBuf>, CgroupError> {
    let read = |p: &str| {
        std::fs::read_to_string(p).map_err(|source| CgroupError::Read {
            path: p.into(),
            source,
        })
    };
    let cgroup = read(&format!("/proc/{pid}/cgroup"))?;
    let Some(rel) = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrls
            .split(',')
            .any(|c| c == "devices")
            .then(|| path.to_string())
    }) else {
        return Ok(None);
    };
    let info = read("/proc/self/mountinfo")?;
    for line in info.lines() {
        // "36 25 0:31 / /sys/fs/cgroup/devices rw,... - cgroup cgroup rw,devices"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        if r.next() != Some("cgroup") {
            continue;
        }
        let opts = r.nth(1).unwrap_or("");
        if !opts.split(',').any(|o| o == "devices") {
            continue;
        }
        let f: Vec<&str> = left.split_whitespace().collect();
        let (root, mnt) = (
            f.get(3).copied().unwrap_or("/"),
            f.get(4).copied().unwrap_or(""),
        );
        let rel = Path::new(&rel);
        let inner = rel.strip_prefix(root).unwrap_or(rel);
        let inner = inner.strip_prefix("/").unwrap_or(inner);
        return Ok(Some(Path::new(mnt).join(inner)));
    }
    Ok(None)
}

/// Allows the nodes in the container's device cgroup.
pub fn allow(pid: i32, nodes: &[Node]) -> Result<(), CgroupError> {
    let Some(dir) = devices_dir(pid)? else {
        return Err(CgroupError::V2Unsupported);
    };
    let path = dir.join("devices.allow");
    for n in nodes {
        let rule = format!("c {}:{} rw", n.major, n.minor);
        std::fs::write(&path, &rule).map_err(|source| CgroupError::Write {
            rule,
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}
