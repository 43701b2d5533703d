//! Device cgroup rules for the injected nodes. cgroup v1: `c MAJ:MIN rw` into devices.allow
//! of the container's devices cgroup; cgroup v2: the attached device programs rewritten to
//! allow them (devbpf). The cgroups are found from the real /proc/PID/cgroup and mountinfo.

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

/// A cgroup hierarchy's directory for `pid`: the /proc/PID/cgroup line `pick` chooses, joined
/// to the mount (from our mountinfo) of the filesystem type `fstype` that `mount_ok` accepts.
fn cgroup_dir(
    pid: i32,
    pick: impl Fn(&str, &str, &str) -> bool,
    fstype: &str,
    mount_ok: impl Fn(&str) -> bool,
) -> Result<Option<PathBuf>, CgroupError> {
    let read = |p: &str| {
        std::fs::read_to_string(p).map_err(|source| CgroupError::Read {
            path: p.into(),
            source,
        })
    };
    let cgroup = read(&format!("/proc/{pid}/cgroup"))?;
    let Some(rel) = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        pick(id, ctrls, path).then(|| path.to_string())
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
        if r.next() != Some(fstype) || !mount_ok(r.nth(1).unwrap_or("")) {
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

/// The v1 devices cgroup directory of `pid`; None also when it is the root devices cgroup,
/// which allows everything and takes no rules (a container placed on v2 only).
pub fn devices_dir(pid: i32) -> Result<Option<PathBuf>, CgroupError> {
    cgroup_dir(
        pid,
        |_, ctrls, path| path != "/" && ctrls.split(',').any(|c| c == "devices"),
        "cgroup",
        |opts| opts.split(',').any(|o| o == "devices"),
    )
}

/// The cgroup v2 directory of `pid` (on a hybrid host too: the unified hierarchy).
pub fn unified_dir(pid: i32) -> Result<Option<PathBuf>, CgroupError> {
    cgroup_dir(
        pid,
        |id, ctrls, _| id == "0" && ctrls.is_empty(),
        "cgroup2",
        |_| true,
    )
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
    let v1 = devices_dir(pid)?;
    if let Some(dir) = &v1 {
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
    match unified_dir(pid)? {
        Some(dir) => {
            crate::devbpf::allow(&dir, nodes).map_err(|source| CgroupError::Bpf {
                path: dir.clone(),
                source,
            })?;
        }
        None if v1.is_none() => return Err(CgroupError::NoCgroup(pid)),
        None => {}
    }
    Ok(())
}
