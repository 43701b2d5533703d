//! A create that was killed (SIGKILL, OOM, a crash) before it wrote state.json. Undo in Drop
//! cannot run then, so create leaves a record of what it acquired as soon as it acquires it:
//! `creating.json` with the init's pid, its start time and the cgroup placement, written right
//! after the clone. The creator holds the state dir's lock for the whole create, so a dir
//! without state.json whose lock is free was abandoned: `state` and `list` report it stopped,
//! and `delete` (with or without --force) and the next `create` of that id clean it up.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cgroups::Placement;
use crate::state::{self, ContainerDir, StateError};

pub const CREATING_RECORD: &str = "creating.json";

/// What a create in progress has acquired that a later command must release.
#[derive(Debug, Serialize, Deserialize)]
pub struct Creating {
    pub pid: i32,
    pub pid_start: u64,
    pub cgroup: Placement,
}

/// Write the record (one small write to a new file: it lands whole or not at all).
pub fn record(dir: &Path, rec: &Creating) -> Result<(), StateError> {
    let p = dir.join(CREATING_RECORD);
    let data = serde_json::to_vec(rec).map_err(|e| StateError::Corrupt(p.clone(), e))?;
    std::fs::write(&p, data).map_err(|e| StateError::Io(p, e))
}

/// Whether `dir` is a create that nobody is running any more: no state.json, and its lock is
/// free (the creator holds it until state.json is written, and no other process shares it).
pub fn is_abandoned(dir: &Path) -> bool {
    !dir.join(state::STATE_FILE).exists() && dir.is_dir() && state::lock_is_free(dir)
}

/// Release what an abandoned create of `id` acquired, then remove its state dir. Waits for a
/// create still running (its lock) and does nothing if that one finishes after all.
pub fn clean(root: &Path, id: &str) -> Result<(), StateError> {
    let dir = match ContainerDir::lock_existing(root, id) {
        Ok(d) => d,
        Err(StateError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    if dir.path.join(state::STATE_FILE).exists() {
        return Ok(());
    }
    // No record, or one cut short by the kill (an empty file): the create died before the
    // record was whole, so before it joined the init to a cgroup; the init, cloned or not,
    // exits by itself on the end-of-file of its sync channel.
    let rec = std::fs::read(dir.path.join(CREATING_RECORD))
        .ok()
        .and_then(|d| serde_json::from_slice::<Creating>(&d).ok());
    if let Some(rec) = rec {
        kill_init(&rec);
        release_cgroup(&rec, id);
    }
    crate::logger::debug(&format!("cleaned up the abandoned create of {id}"));
    dir.remove()
}

/// SIGKILL the init if it is still the process create made (same start time), and wait for it
/// (bounded: one stuck in D state must not hang us).
fn kill_init(rec: &Creating) {
    let Ok(fd) = crate::sys::pidfd_open(rec.pid) else {
        return;
    };
    // Checked after the pidfd is open: the pid cannot be recycled under the pidfd.
    let same = state::proc_stat(rec.pid).is_some_and(|(_, start)| start == rec.pid_start);
    if same {
        let _ = crate::sys::pidfd_send_signal(&fd, libc::SIGKILL);
        let _ = crate::sys::pidfd_wait_exit(&fd, 10_000);
    }
}

fn release_cgroup(rec: &Creating, id: &str) {
    if rec.cgroup.skipped {
        return;
    }
    let removed = match crate::cgroups::remove_if_empty(&rec.cgroup) {
        Ok(true) => Ok(()),
        _ => crate::cgroups::manager(&rec.cgroup, id)
            .and_then(|m| crate::cgroups::remove(&m, &rec.cgroup)),
    };
    if let Err(e) = removed {
        crate::logger::warn(&format!("cleanup of the abandoned create of {id}: {e}"));
    }
}

/// The state of an abandoned create, as `state` prints it: stopped, no pid, the bundle it
/// was given (runtime-spec: `stopped` once the container's process is gone).
pub fn abandoned_report(dir: &Path) -> serde_json::Value {
    let bundle = std::fs::read_link(dir.join(state::CREATING_BUNDLE)).unwrap_or_default();
    serde_json::json!({
        "ociVersion": state::OCI_VERSION,
        "id": dir.file_name().unwrap_or_default().to_string_lossy(),
        "pid": 0,
        "status": state::Status::Stopped.as_str(),
        "bundle": bundle,
    })
}
