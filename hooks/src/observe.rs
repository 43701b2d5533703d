//! Each hook's start and end, for the runtime's debug log: a hook that runs long otherwise
//! shows nothing until it ends or times out. The runtime registers where the lines go
//! ([`set_logger`]); without one nothing is formatted.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{HookError, HookId};
use crate::output::HookOutput;
use crate::Hook;

static LOGGER: OnceLock<fn(&str)> = OnceLock::new();

/// Send the start and end lines of every hook run from now on to `log` (the first call wins).
pub fn set_logger(log: fn(&str)) {
    let _ = LOGGER.set(log);
}

fn note(msg: impl FnOnce() -> String) {
    if let Some(log) = LOGGER.get() {
        log(&msg());
    }
}

/// `createRuntime hook #0 (/usr/bin/x): started, pid 12, args ["x", "a"], timeout 5s`.
pub(crate) fn started(id: &HookId, pid: i32, hook: &Hook, timeout: Option<u64>) {
    note(|| {
        let path = hook.path().display().to_string();
        let args = hook.args().clone().unwrap_or_else(|| vec![path]);
        let timeout = timeout.map_or("no timeout".to_string(), |t| format!("timeout {t}s"));
        format!("{id}: started, pid {pid}, args {args:?}, {timeout}")
    })
}

/// `createRuntime hook #0 (/usr/bin/x): exited 0 after 2.003s`, or how it failed.
pub(crate) fn ended(id: &HookId, took: Duration, r: &Result<HookOutput, HookError>) {
    note(|| {
        let how = match r {
            Ok(_) => "exited 0".to_string(),
            Err(HookError::Exited { code, .. }) => format!("exited {code}"),
            Err(HookError::Signaled { signal, .. }) => format!("killed by {signal}"),
            Err(HookError::Timeout { seconds, .. }) => {
                format!("killed at its timeout of {seconds}s")
            }
            Err(HookError::Invalid { reason, .. }) => format!("not run ({reason})"),
            Err(HookError::Spawn { stage, source, .. }) => {
                format!("not started ({stage}: {source})")
            }
            Err(HookError::Io { source, .. }) => format!("failed ({source})"),
        };
        format!("{id}: {how} after {:.3}s", took.as_secs_f64())
    })
}
