//! The hook points of the runtime-spec (config.md, "POSIX-platform Hooks").

use std::fmt;

/// Which hook point a hook belongs to; used in error messages and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// Deprecated by the spec, still honoured: runtime namespace, after `create`.
    Prestart,
    /// Runtime namespace, after the environment is created, before pivot_root.
    CreateRuntime,
    /// Executed in the container namespace, path resolved in the runtime namespace.
    CreateContainer,
    /// Executed and resolved in the container namespace, before the user process.
    StartContainer,
    /// Runtime namespace, after the user process started.
    Poststart,
    /// Runtime namespace, after the container was deleted.
    Poststop,
}

impl HookKind {
    /// The spelling used by config.json, e.g. `createRuntime`.
    pub fn as_str(&self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// True for the points whose failure must stop the container (runtime-spec 1.3.0: every
    /// point up to poststart). For poststop a failure is logged as a warning and the
    /// lifecycle goes on.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, HookKind::Poststop)
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
