//! OCI hooks: running them as the runtime-spec says (config.md, "POSIX-platform
//! Hooks"), and helpers for hook authors ([`author`]).
//!
//! Where each kind runs, per the spec: prestart, createRuntime, poststart and poststop
//! run in the runtime namespace ([`run_hooks`]); createContainer hooks resolve their
//! path in the runtime namespace but execute in the container namespace
//! ([`run_hooks_in_namespaces`]); startContainer hooks resolve and execute in the
//! container (the runtime runs them from the container init).

pub mod author;
mod error;
mod kind;
mod observe;
mod output;
mod run;
mod spawn;
mod sys;

pub use error::{HookError, HookId, SpawnStage};
pub use kind::HookKind;
pub use observe::set_logger;
pub use oci_spec::runtime::{ContainerState, Hook, State as OciState};
pub use output::{HookOutput, OUTPUT_LIMIT};
pub use run::run_hook;

use nix::sched::CloneFlags;
use std::path::PathBuf;

/// Runs `hooks` in order in the runtime's namespaces; stops at the first failure and
/// returns it. This is what the fatal kinds need (all but poststop); for poststop see
/// [`run_hooks_best_effort`].
pub fn run_hooks(kind: HookKind, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_hook(kind, index, hook, state_json)?;
    }
    Ok(())
}

/// Runs every hook even after failures and returns all errors, for poststop, where the spec
/// wants a warning logged and the remaining hooks run.
pub fn run_hooks_best_effort(kind: HookKind, hooks: &[Hook], state_json: &[u8]) -> Vec<HookError> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(index, hook)| run_hook(kind, index, hook, state_json).err())
        .collect()
}

/// Like [`run_hooks`], but each hook process first joins `namespaces` (in the given
/// order; e.g. `(CloneFlags::CLONE_NEWNS, "/proc/PID/ns/mnt")`) before it execs. The
/// namespace files and each hook's executable are opened in the runtime's namespaces
/// before the fork, and the hook is exec'd from that fd (execveat AT_EMPTY_PATH): its
/// path resolves in the runtime namespace, as the spec requires for createContainer.
///
/// setns(2) semantics apply: joining a PID namespace only places the hook's own
/// children in it. A `#!` script is handed to its interpreter as /dev/fd/N, so the
/// interpreter must exist and /dev/fd must work in the joined mount namespace.
pub fn run_hooks_in_namespaces(
    kind: HookKind,
    hooks: &[Hook],
    state_json: &[u8],
    namespaces: &[(CloneFlags, PathBuf)],
) -> Result<(), HookError> {
    let Some(first) = hooks.first() else {
        return Ok(());
    };
    let ns = spawn::open_namespaces(namespaces).map_err(|(stage, source)| HookError::Spawn {
        hook: HookId::new(kind, 0, first),
        stage,
        source,
    })?;
    for (index, hook) in hooks.iter().enumerate() {
        run::run_one(HookId::new(kind, index, hook), hook, state_json, Some(&ns))?;
    }
    Ok(())
}

/// One hook of [`run_hooks_in_namespaces`], returning its output.
pub fn run_hook_in_namespaces(
    kind: HookKind,
    index: usize,
    hook: &Hook,
    state_json: &[u8],
    namespaces: &[(CloneFlags, PathBuf)],
) -> Result<HookOutput, HookError> {
    let id = HookId::new(kind, index, hook);
    let ns = spawn::open_namespaces(namespaces).map_err(|(stage, source)| HookError::Spawn {
        hook: id.clone(),
        stage,
        source,
    })?;
    run::run_one(id, hook, state_json, Some(&ns))
}
