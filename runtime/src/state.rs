//! Container state under `--root/ID`: `state.json` written once, atomically, when create
//! succeeds; `exec.fifo` while the init waits for `start`; and a lock (flock on the directory)
//! that serialises commands on one id. The status is never stored: it is derived from live
//! facts (the init's /proc entry and start time, the fifo), so it cannot go stale.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// A symlink to the bundle, made as soon as the dir exists (see `creating_report`).
pub const CREATING_BUNDLE: &str = "bundle";
/// The runtime-spec version the state JSON follows.
pub const OCI_VERSION: &str = "1.3.0";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '+' and '.'")]
    BadId(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} is still being created")]
    Creating(String),
    #[error("container {0} was never created: its create was killed (delete it to clean up)")]
    Abandoned(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: corrupt state: {1}")]
    Corrupt(PathBuf, serde_json::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What create records about a container; everything later commands need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// The init's start time (field 22 of /proc/PID/stat), so a recycled pid is not mistaken
    /// for the container.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub annotations: HashMap<String, String>,
    pub cgroup: crate::cgroups::Placement,
    /// The config as planned (hooks for delete, namespaces for later commands).
    pub config: Spec,
    /// Created with --no-new-keyring: `exec` keeps its caller's session keyring too, as runc.
    #[serde(default)]
    pub no_new_keyring: bool,
}

/// The runtime-spec state, plus runc's extra fields, as `state` prints it.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::BadId(id.to_string()))
    }
}

/// A container's state directory, locked for the lifetime of this value.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    _lock: File,
}

fn io_err(p: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |e| StateError::Io(p.to_path_buf(), e)
}

/// Whether no process holds `dir`'s lock right now (a try-lock, released at once).
pub fn lock_is_free(dir: &Path) -> bool {
    let Ok(f) = File::open(dir) else {
        return false;
    };
    // SAFETY: flock on a live fd we own; the lock goes with the fd when `f` drops.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn lock(dir: &Path) -> std::io::Result<File> {
    let f = File::open(dir)?;
    // Blocking flock: a second command on the same id waits for the first, without polling.
    // SAFETY: flock on a live fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

impl ContainerDir {
    /// Make a new state dir for `id`; fails if one exists (a duplicate id).
    pub fn create(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(io_err(root))?;
        // Made under a temporary name and locked before it gets its own: no other command
        // can ever see the id's dir unlocked and take it for an abandoned create.
        let path = root.join(id);
        let tmp = root.join(format!(
            ".new-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(io_err(&tmp))?;
        let locked = lock(&tmp).map_err(io_err(&tmp));
        let renamed = locked.and_then(|l| {
            nix::fcntl::renameat2(
                None,
                &tmp,
                None,
                &path,
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            )
            .map(|()| l)
            .map_err(|e| match e {
                nix::errno::Errno::EEXIST => StateError::Exists(id.to_string()),
                e => StateError::Io(path.clone(), e.into()),
            })
        });
        let lock = match renamed {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&tmp);
                return Err(e);
            }
        };
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    /// Records the bundle while the container is being created (a symlink, one syscall),
    /// so that `state` can report a container in status `creating`.
    pub fn note_bundle(&self, bundle: &Path) -> Result<(), StateError> {
        let link = self.path.join(CREATING_BUNDLE);
        std::os::unix::fs::symlink(bundle, &link).map_err(io_err(&link))
    }

    /// Lock an existing container's dir, whatever it holds (waits for a command on it).
    pub fn lock_existing(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match lock(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => return Err(StateError::Io(path, e)),
        };
        // A delete may have removed the dir while we waited for the lock.
        if !path.exists() {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    /// Open and lock an existing container's dir. Holding its lock without a state.json means
    /// the create that made it is gone: `Abandoned` (see recovery.rs).
    pub fn open(root: &Path, id: &str) -> Result<Self, StateError> {
        let dir = Self::lock_existing(root, id)?;
        if !dir.path.join(STATE_FILE).exists() {
            return Err(StateError::Abandoned(id.to_string()));
        }
        Ok(dir)
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn load(&self) -> Result<Saved, StateError> {
        load_saved(&self.path)
    }

    /// Write state.json atomically (a temp file renamed over it).
    pub fn save(&self, saved: &Saved) -> Result<(), StateError> {
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(saved).map_err(|e| StateError::Corrupt(tmp.clone(), e))?;
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&data).map_err(io_err(&tmp))?;
        let dst = self.path.join(STATE_FILE);
        std::fs::rename(&tmp, &dst).map_err(io_err(&dst))
    }

    /// Remove the state dir (the lock goes with it).
    pub fn remove(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.path).map_err(io_err(&self.path))
    }
}

/// Read state.json without taking the lock (it is replaced atomically, so a reader never sees a
/// torn write); used by `state` and `list`, which must not wait behind a slow command.
pub fn load_saved(dir: &Path) -> Result<Saved, StateError> {
    let p = dir.join(STATE_FILE);
    let data = std::fs::read(&p).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let id = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if dir.exists() {
                StateError::Creating(id)
            } else {
                StateError::NotFound(id)
            }
        } else {
            StateError::Io(p.clone(), e)
        }
    })?;
    serde_json::from_slice(&data).map_err(|e| StateError::Corrupt(p, e))
}

/// The process state letter and start time of a pid, from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether the container's init is still a live process (a zombie counts as dead: on hosts
/// whose PID 1 reaps late it can linger for seconds).
pub fn init_alive(saved: &Saved) -> bool {
    is_alive(saved.pid, saved.pid_start)
}

/// Whether `pid` is a live process that started at `pid_start` (not a recycled pid, not a
/// zombie).
fn is_alive(pid: i32, pid_start: u64) -> bool {
    pid > 0
        && matches!(proc_stat(pid), Some((st, start)) if start == pid_start && st != 'Z' && st != 'X')
}

/// SIGKILL a container's init if it still lives, and wait for it to die (bounded: a process
/// stuck in D state must not hang us). Checked through a pidfd, so the pid cannot be recycled
/// between the check and the signal.
pub fn kill_init(pid: i32, pid_start: u64) {
    let Ok(fd) = crate::sys::pidfd_open(pid) else {
        return;
    };
    if is_alive(pid, pid_start) {
        let _ = crate::sys::pidfd_send_signal(&fd, libc::SIGKILL);
        let _ = crate::sys::pidfd_wait_exit(&fd, 10_000);
    }
}

pub fn status_of(dir: &Path, saved: &Saved) -> Status {
    if !init_alive(saved) {
        return Status::Stopped;
    }
    // Frozen first, as runc: a created container can be paused too, and while frozen its init
    // can neither take the start byte nor die of SIGKILL, so it must not look `created`.
    if crate::cgroups::is_frozen(&saved.cgroup, saved.pid) {
        return Status::Paused;
    }
    if dir.join(EXEC_FIFO).exists() {
        return Status::Created;
    }
    Status::Running
}

pub fn report<'a>(saved: &'a Saved, status: Status) -> Report<'a> {
    Report {
        oci_version: OCI_VERSION,
        id: &saved.id,
        pid: if status == Status::Stopped {
            0
        } else {
            saved.pid
        },
        status: status.as_str(),
        bundle: &saved.bundle,
        rootfs: &saved.rootfs,
        created: &saved.created,
        owner: &saved.owner,
        annotations: &saved.annotations,
    }
}

/// The state of a container whose create is still running (no state.json yet): status
/// `creating`, no pid (the spec requires one only when created or running). None when the
/// dir is gone or holds no bundle link (a create that has not got that far).
pub fn creating_report(dir: &Path) -> Option<serde_json::Value> {
    let bundle = std::fs::read_link(dir.join(CREATING_BUNDLE)).ok()?;
    Some(serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": dir.file_name()?.to_string_lossy(),
        "status": Status::Creating.as_str(),
        "bundle": bundle,
    }))
}

/// The OCI state given to hooks (runtime-spec "State").
pub fn oci_state(saved: &Saved, status: Status) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": saved.id,
        "status": status.as_str(),
        "pid": saved.pid,
        "bundle": saved.bundle,
    });
    if !saved.annotations.is_empty() {
        v["annotations"] = serde_json::json!(saved.annotations);
    }
    v.to_string().into_bytes()
}

/// `state_json` (an [`oci_state`]) with another status: the init gets the createContainer
/// hooks' state (`creating`) and derives the startContainer hooks' (`created`, as runc
/// passes) from it.
pub fn with_status(state_json: &[u8], status: Status) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(state_json) {
        Ok(mut v) => {
            v["status"] = status.as_str().into();
            v.to_string().into_bytes()
        }
        Err(_) => state_json.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_status_changes_only_the_status() {
        let s = br#"{"ociVersion":"1.0.2","id":"a","status":"creating","pid":7,"bundle":"/b"}"#;
        let v: serde_json::Value =
            serde_json::from_slice(&with_status(s, Status::Created)).unwrap();
        assert_eq!(v["status"], "created");
        assert_eq!(v["pid"], 7);
        assert_eq!(v["id"], "a");
    }

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_stat_parses() {
        let (st, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(st == 'R' || st == 'S');
        assert!(start > 0);
    }

    #[test]
    fn create_twice_is_duplicate() {
        let root = std::env::temp_dir().join(format!("gantry-state-test-{}", std::process::id()));
        let d = ContainerDir::create(&root, "x").unwrap();
        assert!(matches!(
            ContainerDir::create(&root, "x"),
            Err(StateError::Exists(_))
        ));
        d.remove().unwrap();
        assert!(matches!(
            ContainerDir::open(&root, "x"),
            Err(StateError::NotFound(_))
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
