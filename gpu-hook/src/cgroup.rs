//! Device cgroup rules for the injected nodes. cgroup v1: `c MAJ:MIN rw` into devices.allow
//! of the container's devices cgroup; cgroup v2: the attached device programs rewritten to
//! allow them (cgroup_devices::bpf). The cgroups are found by cgroup_devices::locate.

use std::path::PathBuf;

pub use cgroup_devices::locate::{locate, targets, Targets};
use cgroup_devices::CharDevice;

use crate::inventory::Node;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Locate(#[from] cgroup_devices::locate::ReadError),
    #[error("allow {rule} in {path}: {source}")]
    Write {
        rule: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("allow the devices in the device programs of {path}: {source}")]
    Bpf {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a hook in the container's cgroup namespace (createContainer) must join the runtime's to find the container's cgroup: {path}: {source} (run the hook as createRuntime, or with --no-cgroups)")]
    JoinNamespace {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("process {0} is in neither a v1 devices cgroup nor a v2 cgroup")]
    NoCgroup(i32),
}

/// A createContainer hook runs in the container's namespaces, its cgroup namespace too, where
/// /proc/PID/cgroup says "/" and mountinfo shows the host's cgroup mounts as "/.."-relative:
/// the container's cgroup cannot be found from there. The runtime that started the container
/// (its init's parent) is outside it: join that process's cgroup namespace first. Nothing to
/// do when this process is not in the container's cgroup namespace (createRuntime, prestart)
/// or the container has none of its own.
fn leave_container_cgroupns(pid: i32) -> Result<(), CgroupError> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/cgroup")).ok();
    let theirs = ns(&pid.to_string());
    if theirs.is_none() || theirs != ns("self") {
        return Ok(());
    }
    let status = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&status).map_err(|source| CgroupError::Read {
        path: status.clone().into(),
        source,
    })?;
    let Some(ppid) = text
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|p| *p > 0)
    else {
        return Ok(());
    };
    if ns(&ppid.to_string()).is_none() || ns(&ppid.to_string()) == theirs {
        return Ok(());
    }
    let path = PathBuf::from(format!("/proc/{ppid}/ns/cgroup"));
    let join = |source: std::io::Error| CgroupError::JoinNamespace {
        path: path.clone(),
        source,
    };
    let f = std::fs::File::open(&path).map_err(join)?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| join(std::io::Error::from(e)))
}

/// Allows the nodes for the container: in its v1 devices cgroup, and in the device programs
/// of its v2 cgroup (a hybrid host has both; the kernel checks both).
pub fn allow(pid: i32, nodes: &[Node]) -> Result<(), CgroupError> {
    leave_container_cgroupns(pid)?;
    let t = targets(pid)?;
    if !t.found {
        return Err(CgroupError::NoCgroup(pid));
    }
    allow_in(&t, nodes)
}

/// Allows the nodes in the targets' v1 devices.allow and v2 device programs.
pub fn allow_in(t: &Targets, nodes: &[Node]) -> Result<(), CgroupError> {
    if let Some(dir) = &t.v1 {
        let path = dir.join("devices.allow");
        for n in nodes {
            let rule = format!("c {}:{} rw", n.major, n.minor);
            std::fs::write(&path, &rule).map_err(|source| CgroupError::Write {
                rule,
                path: path.clone(),
                source,
            })?;
        }
    }
    if let Some(dir) = &t.v2 {
        let devs: Vec<CharDevice> = nodes
            .iter()
            .map(|n| CharDevice {
                major: n.major,
                minor: n.minor,
            })
            .collect();
        cgroup_devices::bpf::allow(dir, &devs).map_err(|source| CgroupError::Bpf {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(())
}
