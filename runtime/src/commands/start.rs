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
        // runtime.md (1.3.0), lifecycle step 9: "If any poststart hook fails, the runtime
        // MUST generate an error, stop the container, and continue the lifecycle at step 12"
        // (1.2 said: log a warning and go on). As runc 1.2+: SIGKILL the container, wait for
        // it, fail start; delete then destroys it (step 12).
        if let Err(e) = hooks::run_hooks(hooks::HookKind::Poststart, h, &st) {
            stop_after_failed_poststart(saved);
            bail!("container {}: {e}; the container was stopped", saved.id);
        }
    }
    Ok(())
}

/// Kill the container: its init (a private pid namespace dies with it), and without one every
/// process of its cgroup, as runc's signal does; then wait for the init to be gone.
fn stop_after_failed_poststart(saved: &Saved) {
    let private_pid_ns = saved.config.linux().as_ref().is_some_and(|l| {
        l.namespaces().as_ref().is_some_and(|n| {
            n.iter().any(|ns| {
                ns.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && ns.path().is_none()
            })
        })
    });
    if !private_pid_ns {
        if let Err(e) = super::kill::signal_all(saved, libc::SIGKILL) {
            crate::logger::warn(&format!("kill after failed poststart: {e}"));
        }
    }
    state::kill_init(saved.pid, saved.pid_start);
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
