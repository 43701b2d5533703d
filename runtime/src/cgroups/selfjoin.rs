//! Joining a cgroup without waiting for an RCU grace period.
//!
//! Moving another process (a pid written to `cgroup.procs` or `tasks`) takes the kernel's
//! global cgroup_threadgroup_rwsem for writing, whose first writer waits for an RCU grace
//! period: 6 to 17 ms here, most of a create. Two ways skip it, and they are used here:
//! - on v1, a single-threaded process that moves itself (`0` written to `tasks`): the kernel
//!   takes no global lock for one thread that is the caller (cgroup_procs_write_start);
//! - on cgroup2, clone3 with CLONE_INTO_CGROUP: the child is born in the cgroup (the fork path
//!   takes that lock only for reading).
//!
//! So the runtime makes the directories and opens the files before the clone; the child (the
//! init, or an exec's process, each one thread) writes `0` into each `tasks` file first thing.
//! The files are opened by the runtime (root), and the kernel checks the opener's credentials,
//! so a child in a user namespace joins as well. Where this does not apply (rootless, systemd
//! driver, a cgroup root given, sub-cgroups for exec), the runtime writes the pid as before.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::cgroups::view::View;
use crate::cgroups::{CgroupError, Placement};

/// The cgroups a child joins itself, opened by the runtime before the clone.
#[derive(Debug, Default)]
pub struct SelfJoin {
    /// `tasks` of the v1 hierarchies' directories (with the path, for errors).
    tasks: Vec<(PathBuf, File)>,
    /// The cgroup2 directory (the hybrid mount's, or the only hierarchy), for CLONE_INTO_CGROUP.
    into: Option<OwnedFd>,
    /// Directories made here, deepest last: removed again by `undo`.
    made: Vec<PathBuf>,
}

impl SelfJoin {
    /// The fd for clone_args.cgroup, if the child is to be born in a cgroup2 cgroup.
    pub fn clone_into(&self) -> Option<RawFd> {
        self.into.as_ref().map(|f| f.as_raw_fd())
    }

    /// In the child, first thing and while it is the only thread: move itself into every v1
    /// hierarchy's cgroup. The files are closed with the rest of the inherited fds.
    pub fn join(&self) -> Result<(), String> {
        for (dir, f) in &self.tasks {
            (&*f)
                .write_all(b"0")
                .map_err(|e| format!("join the cgroup {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    /// After a failed clone: the directories made for it, removed (empty, nothing joined).
    pub fn undo(self) {
        for d in self.made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn open_tasks(dir: &Path) -> std::io::Result<File> {
    File::options().write(true).open(dir.join("tasks"))
}

/// A cgroup2 directory, opened for CLONE_INTO_CGROUP (an O_PATH fd is refused there).
fn open_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    Ok(File::open(dir)?.into())
}

/// `mkdir -p` of `d`, noting what it made; a parent removed by a racing delete is made again.
fn make_dir(d: &Path, made: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = d;
    while !at.exists() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(p) => at = p,
            None => break,
        }
    }
    crate::cgroups::create_dir_all_racing(d)?;
    made.extend(missing.into_iter().rev());
    Ok(())
}

/// A new v1 cpuset cgroup has empty cpus and mems, and refuses tasks until they are set: copy
/// each from the nearest parent, down from the hierarchy's mount point (as libcgroups does).
fn fill_cpuset(mount_point: &Path, dir: &Path) -> std::io::Result<()> {
    let rel = dir
        .strip_prefix(mount_point)
        .map_err(std::io::Error::other)?;
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut at = mount_point.to_path_buf();
        let mut value = std::fs::read_to_string(at.join(file))?;
        for c in rel.components() {
            at.push(c);
            let own = std::fs::read_to_string(at.join(file))?;
            if own.trim().is_empty() {
                std::fs::write(at.join(file), &value)?;
            } else {
                value = own;
            }
        }
    }
    Ok(())
}

/// For `create`: make the container's cgroup in every hierarchy its cgroupfs placement uses
/// and open what the init joins. None where the runtime must join the init itself (see the
/// module comment), or on a pure cgroup2 host (libcgroups' v2 manager also enables the
/// controllers in the parents as it joins).
pub fn for_create(p: &Placement) -> Option<Result<SelfJoin, CgroupError>> {
    if p.skipped || p.systemd || p.root.is_some() || !nix::unistd::geteuid().is_root() {
        return None;
    }
    let view = View::read();
    if !view.has_v1() {
        return None;
    }
    let own = crate::cgroups::view::own_cgroups();
    let mut sj = SelfJoin::default();
    let r = (|| {
        let err = |d: &Path, e: std::io::Error| CgroupError::Manager {
            path: d.to_path_buf(),
            msg: format!("make the cgroup for the init to join: {e}"),
        };
        for (ctrl, d) in view.v1_dirs(&p.path, &own) {
            make_dir(&d, &mut sj.made).map_err(|e| err(&d, e))?;
            if ctrl == "cpuset" {
                let mp = view.v1_mount_point("cpuset").expect("cpuset mounted");
                fill_cpuset(mp, &d).map_err(|e| err(&d, e))?;
            }
            sj.tasks
                .push((d.clone(), open_tasks(&d).map_err(|e| err(&d, e))?));
        }
        // The named systemd hierarchy (v1) and the hybrid cgroup2 mount, as runc joins them.
        for d in crate::cgroups::extra_dirs(p) {
            make_dir(&d, &mut sj.made).map_err(|e| err(&d, e))?;
            if d.starts_with("/sys/fs/cgroup/unified") {
                sj.into = Some(open_dir(&d).map_err(|e| err(&d, e))?);
            } else {
                sj.tasks
                    .push((d.clone(), open_tasks(&d).map_err(|e| err(&d, e))?));
            }
        }
        Ok(())
    })();
    Some(match r {
        Ok(()) => Ok(sj),
        Err(e) => {
            sj.undo();
            Err(e)
        }
    })
}

/// For `exec`: the init's cgroup in each hierarchy it is in (all of them: the process goes
/// where the init is, as runc does), from one read of /proc/INIT/cgroup and one of mountinfo.
/// None where the runtime joins the process itself (rootless).
pub fn for_exec(init: i32) -> Option<Result<SelfJoin, CgroupError>> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let file = format!("/proc/{init}/cgroup");
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            return Some(Err(CgroupError::Manager {
                path: file.into(),
                msg: e.to_string(),
            }))
        }
    };
    let view = View::read();
    let mut sj = SelfJoin::default();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(dir) = crate::cgroups::view::hierarchy_dir(&view.mounts, ctrls, path) else {
            continue; // a hierarchy not mounted here: nothing to join
        };
        let opened = if ctrls.is_empty() {
            open_dir(&dir).map(|f| sj.into = Some(f))
        } else {
            open_tasks(&dir).map(|f| sj.tasks.push((dir.clone(), f)))
        };
        if let Err(e) = opened {
            return Some(Err(CgroupError::Manager {
                path: dir,
                msg: format!("open for the exec process to join: {e}"),
            }));
        }
    }
    Some(Ok(sj))
}
