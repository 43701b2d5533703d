use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{bail, Context, Result};

use super::Globals;
use crate::state::{self, ContainerDir, Saved, Status};

/// Release the init waiting on the exec fifo, wait until it has exec'd the program, then run
/// poststart hooks.
///
/// The init holds the fifo open read-write, close-on-exec. We open a reader first, then a
/// writer, write the byte the init is blocked reading, and close our writer: the init's fd is
/// then the fifo's only writer, so our reader sees POLLHUP exactly when the init execs (or
/// dies). That makes "poststart runs after the program started" true, with no polling.
pub fn release(dir: &ContainerDir, saved: &Saved, status: Status) -> Result<()> {
    if status != Status::Created {
        bail!(
            "cannot start container {} in state {}: only a created container can be started",
            saved.id,
            status.as_str()
        );
    }
    let fifo = dir.fifo_path();
    let nonblock = |o: &mut std::fs::OpenOptions| {
        o.custom_flags(libc::O_NONBLOCK);
    };
    let mut ro = std::fs::OpenOptions::new();
    ro.read(true);
    nonblock(&mut ro);
    let reader = ro.open(&fifo).context("open exec fifo")?;
    let mut wo = std::fs::OpenOptions::new();
    wo.write(true);
    nonblock(&mut wo);
    let mut writer = wo.open(&fifo).context("open exec fifo")?;
    writer
        .write_all(b"0")
        .context("signal the init through the exec fifo")?;
    drop(writer);
    wait_hangup(&reader)?;
    std::fs::remove_file(&fifo).context("remove exec fifo")?;
    // The init consumed our byte before letting go of the fifo; anything left is either our
    // byte (it died before reading) or the mark it leaves when it cannot exec.
    let mut left = vec![0u8; libc::PIPE_BUF];
    match std::io::Read::read(&mut &reader, &mut left) {
        Ok(n) if n > 1 && left[0] == b'E' => bail!(
            "container {}: the program did not start: {}",
            saved.id,
            String::from_utf8_lossy(&left[1..n])
        ),
        Ok(n) if n > 0 => bail!(
            "container {}: the program did not start (its init died before it could; see the container's stderr)",
            saved.id
        ),
        _ => {}
    }
    if let Some(h) = saved
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        let st = state::oci_state(saved, Status::Running);
        // runtime.md, lifecycle: "If any poststart hook fails, the runtime MUST log a
        // warning, but the remaining hooks and lifecycle continue as if the hook had
        // succeeded."
        for e in hooks::run_hooks_best_effort(hooks::HookKind::Poststart, h, &st) {
            crate::logger::warn(&e.to_string());
        }
    }
    Ok(())
}

/// Block until the fifo has no writer left (events = 0: only POLLHUP/POLLERR wake us).
fn wait_hangup(f: &std::fs::File) -> Result<()> {
    let mut p = libc::pollfd {
        fd: f.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait for the container's program to start");
        }
    }
}

pub fn run(g: &Globals, id: &str) -> Result<()> {
    let (dir, saved, status) = super::open(g, id)?;
    release(&dir, &saved, status)
}
