//! Typed hook failures. Every variant names the hook (kind, index, path) so that the
//! runtime can put the error as is into its own message and log.

use crate::{HookKind, HookOutput};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use oci_spec::runtime::Hook;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Which hook failed: displayed as `createRuntime hook #0 (/usr/bin/foo)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookId {
    pub kind: HookKind,
    pub index: usize,
    pub path: PathBuf,
}

impl HookId {
    pub fn new(kind: HookKind, index: usize, hook: &Hook) -> Self {
        HookId {
            kind,
            index,
            path: hook.path().clone(),
        }
    }
}

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hook #{} ({})",
            self.kind,
            self.index,
            self.path.display()
        )
    }
}

/// The step of starting a hook that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnStage {
    /// Opening the hook executable (O_PATH) in the runtime namespace.
    OpenExecutable,
    /// Opening a namespace file such as /proc/PID/ns/mnt.
    OpenNamespace(PathBuf),
    /// Creating the stdio or status pipes.
    Pipe,
    Fork,
    PidfdOpen,
    /// Moving the pipes to fds 0, 1 and 2 in the child.
    Stdio,
    /// setns(2) in the child.
    JoinNamespace {
        nstype: CloneFlags,
        path: PathBuf,
    },
    /// Marking inherited fds close-on-exec in the child.
    CloseFds,
    Exec,
}

impl fmt::Display for SpawnStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnStage::OpenExecutable => f.write_str("open executable"),
            SpawnStage::OpenNamespace(p) => write!(f, "open namespace {}", p.display()),
            SpawnStage::Pipe => f.write_str("create pipe"),
            SpawnStage::Fork => f.write_str("fork"),
            SpawnStage::PidfdOpen => f.write_str("pidfd_open"),
            SpawnStage::Stdio => f.write_str("set up stdio"),
            SpawnStage::JoinNamespace { nstype, path } => {
                write!(f, "setns {:?} {}", nstype, path.display())
            }
            SpawnStage::CloseFds => f.write_str("close inherited fds"),
            SpawnStage::Exec => f.write_str("exec"),
        }
    }
}

/// Why a hook failed. `Display` is one line, e.g.
/// `createRuntime hook #0 (/usr/bin/foo) exited with status 3: <stderr>`.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook entry itself is unusable (relative path, timeout <= 0, NUL byte).
    #[error("{hook} is invalid: {reason}")]
    Invalid { hook: HookId, reason: String },

    #[error("{hook} could not be started: {stage}: {source}")]
    Spawn {
        hook: HookId,
        stage: SpawnStage,
        source: io::Error,
    },

    #[error("{hook} exited with status {code}{}", suffix(.output))]
    Exited {
        hook: HookId,
        code: i32,
        output: HookOutput,
    },

    #[error("{hook} was killed by signal {signal}{}", suffix(.output))]
    Signaled {
        hook: HookId,
        signal: Signal,
        output: HookOutput,
    },

    /// The hook outlived its `timeout` and was killed with SIGKILL.
    #[error("{hook} timed out after {seconds}s and was killed{}", suffix(.output))]
    Timeout {
        hook: HookId,
        seconds: u64,
        output: HookOutput,
    },

    /// Talking to the running hook failed (poll, read, wait); it was killed.
    #[error("{hook} failed: {source}")]
    Io { hook: HookId, source: io::Error },
}

fn suffix(output: &HookOutput) -> String {
    match output.summary() {
        s if s.is_empty() => s,
        s => format!(": {s}"),
    }
}

impl HookError {
    pub fn hook(&self) -> &HookId {
        match self {
            HookError::Invalid { hook, .. }
            | HookError::Spawn { hook, .. }
            | HookError::Exited { hook, .. }
            | HookError::Signaled { hook, .. }
            | HookError::Timeout { hook, .. }
            | HookError::Io { hook, .. } => hook,
        }
    }

    pub fn kind(&self) -> HookKind {
        self.hook().kind
    }

    /// Whether the runtime must abort create/start because of this error.
    pub fn is_fatal(&self) -> bool {
        self.kind().is_fatal()
    }

    /// What the hook printed, when it ran at all.
    pub fn output(&self) -> Option<&HookOutput> {
        match self {
            HookError::Exited { output, .. }
            | HookError::Signaled { output, .. }
            | HookError::Timeout { output, .. } => Some(output),
            _ => None,
        }
    }
}
