//! `run`: create and start; in the foreground, forward signals to the init, wait for it
//! (signalfd and pidfd in one poll: no sleeps), delete the container and exit with its code.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::Globals;
use crate::cli::RunArgs;
use crate::process::parent;
use crate::state::Status;

/// Returns the exit code for the runtime to exit with.
pub fn run(g: &Globals, a: &RunArgs) -> Result<i32> {
    if !a.detach {
        // Orphans of the container (an init whose intermediate exited) come back to us.
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    }
    let created = parent::create(super::create::opts(g, &a.create))?;
    let parent::Created {
        dir,
        saved,
        pid,
        pidfd,
    } = created;
    // Block the signals to forward before start, so none is lost or kills us in between.
    let mut set = SigSet::empty();
    if !a.detach {
        for s in Signal::iterator() {
            if !matches!(
                s,
                Signal::SIGKILL
                    | Signal::SIGSTOP
                    | Signal::SIGSEGV
                    | Signal::SIGBUS
                    | Signal::SIGILL
                    | Signal::SIGFPE
                    | Signal::SIGTRAP
                    | Signal::SIGABRT
            ) {
                set.add(s);
            }
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    }
    let started = super::start::release(&dir, &saved, Status::Created);
    if let Err(e) = started {
        let _ = super::delete::destroy(dir, &saved, Status::Created, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    drop(dir); // release the lock while we wait: `state`/`kill` from others must work
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)?;
    let code = loop {
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds in a live array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            continue; // EINTR
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig != libc::SIGCHLD {
                    let _ = crate::sys::pidfd_send_signal(&pidfd, sig);
                }
            }
        }
        if fds[0].revents & libc::POLLIN != 0 {
            match waitpid(Pid::from_raw(pid), None) {
                Ok(WaitStatus::Exited(_, c)) => break c,
                Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
                Ok(_) => continue,
                Err(e) => return Err(e).context("wait for the container init"),
            }
        }
    };
    // Reap anything else reparented to us.
    while let Ok(ws) = waitpid(
        Pid::from_raw(-1),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        if ws == WaitStatus::StillAlive {
            break;
        }
    }
    if !a.keep {
        let (dir, saved, status) = super::open(g, &saved.id)?;
        super::delete::destroy(dir, &saved, status, true)?;
    }
    Ok(code)
}
