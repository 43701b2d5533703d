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
        bail!("container {} is not running", saved.id);
    }
    sys::pidfd_send_signal(&fd, sig).with_context(|| format!("signal {sig} to pid {}", saved.id))
}

pub fn signal_all(saved: &Saved, sig: i32) -> Result<()> {
    for pid in crate::cgroups::pids(saved)? {
        // A process may exit between the listing and the signal: ESRCH is fine.
        match nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::try_from(sig)?,
        ) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(e) => return Err(anyhow!("signal {sig} to pid {pid}: {e}")),
        }
    }
    Ok(())
}

pub fn run(g: &Globals, a: &KillArgs) -> Result<()> {
    let sig = crate::signal::parse(&a.signal).map_err(|e| anyhow!(e))?;
    let (_dir, saved, status) = super::open(g, &a.id)?;
    if status == Status::Stopped {
        bail!("container {} is not running (state stopped)", a.id);
    }
    crate::logger::debug(&format!(
        "signal {sig} to container {} (all: {})",
        a.id, a.all
    ));
    if a.all {
        signal_all(&saved, sig)
    } else {
        signal_init(&saved, sig)
    }
}
