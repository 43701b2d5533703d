//! `events`: the container's resource usage in runc's event JSON (commands/stats_json.rs):
//! one `stats` event with --stats; else a `stats` event every --interval and an `oom` event
//! whenever its memory cgroup records an OOM, until the container stops. One poll waits on
//! the init's pidfd and the OOM fd with the time to the next tick as its timeout.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use libcgroups::common::{AnyCgroupManager, CgroupManager};
use serde_json::json;

use super::stats_json::{stats_json, Extra};
use super::Globals;
use crate::oom::{self, Oom};
use crate::state::{self, Saved, Status};

fn stats_event(mgr: &AnyCgroupManager, saved: &Saved) -> Result<serde_json::Value> {
    let st = mgr
        .stats()
        .map_err(|e| anyhow!("container {}: stats: {e}", saved.id))?;
    let rel = saved.cgroup.fs_rel_abs();
    let cpuset_dir = match mgr {
        AnyCgroupManager::V1(_) => {
            libcgroups::v1::util::get_subsystem_mount_point(&libcgroups::v1::ControllerType::CpuSet)
                .ok()
                .map(|m| m.join(rel.strip_prefix("/").unwrap_or(&rel)))
        }
        _ => None,
    };
    let extra = Extra {
        cpuset_dir: cpuset_dir.as_deref(),
        unified_hugetlb: match mgr {
            AnyCgroupManager::V1(_) => crate::cgroups::hugetlb::unified_stats(&rel),
            _ => None,
        },
    };
    Ok(json!({"type": "stats", "id": saved.id, "data": stats_json(&st, &extra)}))
}

/// The OOM watch of the container's memory cgroup.
fn watch_oom(mgr: &AnyCgroupManager, saved: &Saved) -> std::io::Result<Oom> {
    match crate::setup_oom::memory_dir(mgr, &saved.cgroup) {
        Some((dir, false)) => oom::watch_v1(&dir),
        Some((dir, true)) => oom::watch_v2(&dir),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no cgroup v1 memory hierarchy",
        )),
    }
}

/// poll(2) on `fds` for up to `timeout`: which are readable (or hung up).
fn poll(fds: &[std::os::fd::BorrowedFd], timeout: Duration) -> Result<Vec<bool>> {
    use std::os::fd::AsRawFd;
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: `p` is a live array of p.len() pollfds for the duration of the call.
        let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
        if n >= 0 {
            return Ok(p.iter().map(|x| x.revents != 0).collect());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("poll");
        }
    }
}

pub fn run(g: &Globals, id: &str, stats: bool, interval: Duration) -> Result<()> {
    let (dir, saved, _) = super::open(g, id)?;
    drop(dir);
    let mgr = crate::cgroups::manager(&saved.cgroup, &saved.id)?;
    if stats {
        println!("{}", stats_event(&mgr, &saved)?);
        return Ok(());
    }
    let pidfd = crate::sys::pidfd_open(saved.pid)
        .with_context(|| format!("container {id}: open its init (pid {})", saved.pid))?;
    // Checked after the pidfd is open: the pid is still the init's, not a recycled one.
    if state::status_of(&g.root.join(id), &saved) == Status::Stopped {
        return Ok(());
    }
    let mut oom = match watch_oom(&mgr, &saved) {
        Ok(w) => Some(w),
        Err(e) => {
            crate::logger::warn(&format!(
                "container {id}: no oom events (cannot watch its memory cgroup: {e})"
            ));
            None
        }
    };
    let mut next = Instant::now() + interval;
    loop {
        let mut fds = vec![std::os::fd::AsFd::as_fd(&pidfd)];
        fds.extend(oom.as_ref().map(Oom::fd));
        let ready = poll(&fds, next.saturating_duration_since(Instant::now()))?;
        if ready.get(1) == Some(&true) {
            match oom.as_mut().map(Oom::read).transpose()? {
                // One event per wake-up, however many the kernel counted, as runc does.
                Some(oom::Event::Oom(n)) if n > 0 => {
                    println!("{}", json!({"type": "oom", "id": id}))
                }
                Some(oom::Event::Gone) => return Ok(()),
                _ => {}
            }
        }
        if ready[0] {
            return Ok(()); // the init exited
        }
        if Instant::now() >= next {
            println!("{}", stats_event(&mgr, &saved)?);
            next += interval;
        }
    }
}
