//! Helpers for hook binaries: read the state from stdin, find the bundle's config and
//! rootfs, and run code inside the container's mount namespace.

use crate::OciState;
use oci_spec::runtime::Spec;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    #[error("invalid OCI state JSON: {0}")]
    State(#[source] serde_json::Error),

    #[error("bundle path {0:?} in the state is not absolute")]
    BundleNotAbsolute(PathBuf),

    #[error("cannot load {path}: {source}")]
    Config {
        path: PathBuf,
        source: oci_spec::OciSpecError,
    },

    #[error("the state has no pid")]
    NoPid,

    #[error("the state has an invalid pid {0}")]
    InvalidPid(i32),

    #[error("cannot open mount namespace {path}: {source}")]
    OpenNamespace { path: PathBuf, source: io::Error },

    #[error("cannot {what}: {source}")]
    Sys {
        what: &'static str,
        source: io::Error,
    },

    /// The closure (or the setns before it) failed in the container's namespace.
    #[error("in the mount namespace of pid {pid}: {message}")]
    InNamespace { pid: i32, message: String },

    #[error("the child in the mount namespace of pid {pid} {status}")]
    ChildDied { pid: i32, status: String },
}

/// Parses the state the runtime writes on a hook's stdin.
pub fn read_state<R: Read>(reader: R) -> Result<OciState, AuthorError> {
    serde_json::from_reader(reader).map_err(AuthorError::State)
}

/// Loads `<bundle>/config.json`.
pub fn load_config(state: &OciState) -> Result<Spec, AuthorError> {
    let bundle = state.bundle();
    if !bundle.is_absolute() {
        return Err(AuthorError::BundleNotAbsolute(bundle.clone()));
    }
    let path = bundle.join("config.json");
    Spec::load(&path).map_err(|source| AuthorError::Config { path, source })
}

/// The container's root filesystem on the host: `root.path`, resolved against the
/// bundle when relative (a missing `root` falls back to the conventional `rootfs`).
pub fn rootfs_path(state: &OciState, spec: &Spec) -> PathBuf {
    let root = spec
        .root()
        .as_ref()
        .map_or(Path::new("rootfs"), |r| r.path().as_path());
    state.bundle().join(root)
}

/// The container init's pid, which the spec puts in the state from `create` on.
pub fn init_pid(state: &OciState) -> Result<i32, AuthorError> {
    match *state.pid() {
        None => Err(AuthorError::NoPid),
        Some(pid) if pid <= 0 => Err(AuthorError::InvalidPid(pid)),
        Some(pid) => Ok(pid),
    }
}

fn sys(what: &'static str) -> impl FnOnce(nix::errno::Errno) -> AuthorError {
    move |e| AuthorError::Sys {
        what,
        source: e.into(),
    }
}

/// Runs `f` in the mount namespace of `pid` and returns its error, if any.
///
/// A forked child joins the namespace (its fd is opened before the fork), runs `f`,
/// and sends `f`'s error message back over a pipe; the parent reads the pipe to EOF and
/// reaps the child (no sleeps). The caller's own namespaces stay as they were.
///
/// `f` must not rely on the parent seeing its memory writes.
///
/// # Safety
///
/// `f` runs in a copy of the caller made by fork(2), in which only the forking thread
/// exists: unsafe as nix's fork. If the caller is multi-threaded, any lock another thread
/// held at fork time (stdio, loggers, a non-glibc allocator) stays locked forever in the
/// child, so `f` must then restrict itself to async-signal-safe work (raw system calls on
/// prepared data). A single-threaded hook binary — the intended user — may do anything in
/// `f`.
pub unsafe fn in_mount_namespace<F>(pid: i32, f: F) -> Result<(), AuthorError>
where
    F: FnOnce() -> Result<(), String>,
{
    if pid <= 0 {
        return Err(AuthorError::InvalidPid(pid));
    }
    let path = PathBuf::from(format!("/proc/{pid}/ns/mnt"));
    let ns = File::open(&path).map_err(|source| AuthorError::OpenNamespace {
        path: path.clone(),
        source,
    })?;
    // A rootless runtime runs its hooks unprivileged: entering the container's mount namespace
    // then takes the capabilities of the user namespace that owns it, which its creator gets
    // by joining it first. Root needs no such step (and keeps its host credentials).
    let user = if nix::unistd::geteuid().is_root() {
        None
    } else {
        let upath = PathBuf::from(format!("/proc/{pid}/ns/user"));
        let theirs = std::fs::read_link(&upath).ok();
        let ours = std::fs::read_link("/proc/self/ns/user").ok();
        if theirs.is_some() && theirs != ours {
            Some(
                File::open(&upath).map_err(|source| AuthorError::OpenNamespace {
                    path: upath,
                    source,
                })?,
            )
        } else {
            None
        }
    };
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("create pipe"))?;

    // SAFETY: see the fork-safety contract in the doc comment; the child only runs
    // child_in_namespace, which never returns (it _exits).
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(AuthorError::Sys {
            what: "fork",
            source: io::Error::last_os_error(),
        });
    }
    if child == 0 {
        drop(report_r);
        child_in_namespace(user.as_ref(), &ns, report_w, f);
    }
    drop(report_w);
    drop(ns);

    // EOF comes when the child exits (or execs: the pipe is close-on-exec).
    let mut message = Vec::new();
    let read = File::from(report_r).read_to_end(&mut message);
    let status = loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(sys("wait for the namespace child"))?,
        }
    };
    read.map_err(|source| AuthorError::Sys {
        what: "read the namespace child's report",
        source,
    })?;
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, 0) if message.is_empty() => Ok(()),
        _ if !message.is_empty() => Err(AuthorError::InNamespace {
            pid,
            message: String::from_utf8_lossy(&message).into_owned(),
        }),
        WaitStatus::Exited(_, code) => Err(AuthorError::ChildDied {
            pid,
            status: format!("exited with status {code}"),
        }),
        WaitStatus::Signaled(_, sig, _) => Err(AuthorError::ChildDied {
            pid,
            status: format!("was killed by {sig}"),
        }),
        other => Err(AuthorError::ChildDied {
            pid,
            status: format!("ended with {other:?}"),
        }),
    }
}

/// The forked child of [`in_mount_namespace`]: never returns.
fn child_in_namespace<F>(user: Option<&File>, ns: &File, report: OwnedFd, f: F) -> !
where
    F: FnOnce() -> Result<(), String>,
{
    let fd = report.as_raw_fd();
    let joined_user = match user {
        // SAFETY: setns on fds we own; only this (now sole, single-threaded) process is
        // affected.
        Some(u) if unsafe { libc::setns(u.as_raw_fd(), libc::CLONE_NEWUSER) } < 0 => Err(format!(
            "setns into the user namespace: {}",
            io::Error::last_os_error()
        )),
        _ => Ok(()),
    };
    // SAFETY: as above.
    let result = if let Err(e) = joined_user {
        Err(e)
    } else if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } < 0 {
        Err(format!("setns: {}", io::Error::last_os_error()))
    } else {
        // A panic must not unwind into the caller's code, which would then run twice.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err("the closure panicked".into()))
    };
    let code = match result {
        Ok(()) => 0,
        Err(message) => {
            let msg = if message.is_empty() {
                "failed"
            } else {
                &message
            };
            write_all_raw(fd, msg.as_bytes());
            1
        }
    };
    // SAFETY: _exit skips atexit handlers and destructors, which belong to the parent
    // (flushing its buffers twice, removing its temp files...).
    unsafe { libc::_exit(code) }
}

fn write_all_raw(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: writes from a live slice to an fd we own.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        buf = &buf[n as usize..];
    }
}
