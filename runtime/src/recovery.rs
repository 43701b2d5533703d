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

/// Write (or replace) the record: a new file renamed over the old, so that a kill at any
/// point leaves either record whole.
pub fn record(dir: &Path, rec: &Creating) -> Result<(), StateError> {
    let p = dir.join(CREATING_RECORD);
    let tmp = dir.join(format!("{CREATING_RECORD}.new"));
    let data = serde_json::to_vec(rec).map_err(|e| StateError::Corrupt(p.clone(), e))?;
    std::fs::write(&tmp, data).map_err(|e| StateError::Io(tmp.clone(), e))?;
    std::fs::rename(&tmp, &p).map_err(|e| StateError::Io(p, e))
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
    // No record: the create died before it made a cgroup; the init, cloned or not, exits by
    // itself on the end-of-file of its sync channel. A record with pid 0: the cgroup was
    // being made, the init not yet recorded (it too exits on that end-of-file).
    let rec = std::fs::read(dir.path.join(CREATING_RECORD))
        .ok()
        .and_then(|d| serde_json::from_slice::<Creating>(&d).ok());
    if let Some(rec) = rec {
        if rec.pid > 0 {
            state::kill_init(rec.pid, rec.pid_start);
        }
        if let Err(e) = crate::cgroups::release(&rec.cgroup, id) {
            crate::logger::warn(&format!("cleanup of the abandoned create of {id}: {e}"));
        }
    }
    crate::logger::debug(&format!("cleaned up the abandoned create of {id}"));
    dir.remove()
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
