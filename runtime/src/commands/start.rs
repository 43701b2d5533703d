use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{bail, Context, Result};

use super::Globals;
use crate::state::{self, ContainerDir, Saved, Status};

/// Release the init waiting on the exec fifo, then run poststart hooks.
pub fn release(dir: &ContainerDir, saved: &Saved, status: Status) -> Result<()> {
    if status != Status::Created {
        bail!(
            "cannot start container {} in state {}: only a created container can be started",
            saved.id,
            status.as_str()
        );
    }
    let fifo = dir.fifo_path();
    // Non-blocking: if the init is gone there is no reader and this fails at once (ENXIO).
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("container {} init is not waiting for start", saved.id))?;
    f.write_all(b"0")
        .context("signal the init through the exec fifo")?;
    drop(f);
    std::fs::remove_file(&fifo).context("remove exec fifo")?;
    if let Some(h) = saved
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        let st = state::oci_state(saved, Status::Running);
        // A failing poststart hook is logged and the rest still run (runtime-spec).
        for e in hooks::run_hooks_best_effort(hooks::HookKind::Poststart, h, &st) {
            crate::logger::warn(&e.to_string());
        }
    }
    Ok(())
}

pub fn run(g: &Globals, id: &str) -> Result<()> {
    let (dir, saved, status) = super::open(g, id)?;
    release(&dir, &saved, status)
}
