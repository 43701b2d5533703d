use anyhow::{anyhow, bail, Context, Result};

use super::Globals;
use crate::cli::KillArgs;
use crate::state::{self, Saved, Status};
use crate::sys;

/// Signal the init through a pidfd taken before re-checking its identity, so a recycled pid
/// can never receive the signal.
pub fn signal_init(saved: &Saved, sig: i32) -> Result<()> {
    let fd = sys::pidfd_open(saved.pid)
        .with_context(|| format!("container {} init is gone", saved.id))?;
    if !state::init_alive(saved) {
        bail!("container not running: {} init has exited", saved.id);
    }
    sys::pidfd_send_signal(&fd, sig).with_context(|| format!("signal {sig} to pid {}", saved.id))
}

pub fn signal_all(saved: &Saved, sig: i32) -> Result<()> {
    for pid in crate::cgroups::pids(&saved.cgroup, &saved.id)? {
        // A process may exit between the listing and the signal: ESRCH is fine.
        // Signal 0 sends nothing: kill(2)'s check that the process is there.
        let signal = match sig {
            0 => None,
            n => Some(nix::sys::signal::Signal::try_from(n)?),
        };
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(e) => return Err(anyhow!("signal {sig} to pid {pid}: {e}")),
        }
    }
    Ok(())
}

pub fn run(g: &Globals, a: &KillArgs) -> Result<()> {
    let sig = crate::signal::parse(&a.signal).map_err(|e| anyhow!(e))?;
    let (_dir, saved, status) = super::open(g, &a.id)?;
    crate::logger::debug(&format!(
        "signal {sig} to container {} (all: {})",
        a.id, a.all
    ));
    if a.all {
        // As runc: after init's exit, --all still reaches what is left in the cgroup and
        // succeeds when the cgroup is gone. containerd's shim sends it on every init exit;
        // an error there fails the exit's handling (CRI StopContainer then never returns).
        return match signal_all(&saved, sig) {
            Err(_) if status == Status::Stopped => Ok(()),
            r => r,
        };
    }
    if status == Status::Stopped {
        // runc's wording: containerd's shim turns an error containing "container not running"
        // into NotFound ("process already finished") and any other into a failure.
        bail!("container not running: {} is stopped", a.id);
    }
    // Signal 0 (a liveness probe) succeeds exactly when the init is there to receive one.
    signal_init(&saved, sig)
}
