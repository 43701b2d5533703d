//! `run`: create and start; in the foreground, forward signals to the init, wait for it
//! (pidfd, signalfd and the pty in one poll: no sleeps), delete the container and exit with
//! its code.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::Globals;
use crate::cli::RunArgs;
use crate::process::{parent, tty_proxy};
use crate::state::Status;

/// The signals a foreground run forwards (all but those it cannot catch or that mean a bug).
pub(crate) fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
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
    set
}

/// Returns the exit code for the runtime to exit with.
pub fn run(g: &Globals, a: &RunArgs) -> Result<i32> {
    if !a.detach {
        // Orphans of the container come back to us, and we reap them.
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    }
    let mut opts = super::create::opts(g, &a.create);
    opts.own_console = !a.detach;
    let parent::Created {
        dir,
        saved,
        pid,
        pidfd,
        console,
    } = parent::create(opts)?;
    let master = match console.as_ref().map(tty_proxy::recv_master).transpose() {
        Ok(m) => m,
        Err(e) => {
            let _ = super::delete::destroy(dir, &saved, Status::Created, true);
            return Err(e);
        }
    };
    if let Some(sock) = &a.create.pidfd_socket {
        if let Err(e) = super::create::send_pidfd(sock, &pidfd) {
            let _ = super::delete::destroy(dir, &saved, Status::Created, true);
            return Err(e);
        }
    }
    // Block the signals to forward before start, so none is lost or kills us in between.
    let set = forwarded();
    if !a.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    }
    if let Err(e) = super::start::release(&dir, &saved, Status::Created) {
        let _ = super::delete::destroy(dir, &saved, Status::Created, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    drop(dir); // release the lock while we wait: `state` and `kill` from others must work
    let code = wait_foreground(&set, pid, &pidfd, master.as_ref())?;
    // Reap anything else reparented to us.
    while let Ok(ws) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
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

pub(crate) fn wait_foreground(
    set: &SigSet,
    pid: i32,
    pidfd: &OwnedFd,
    master: Option<&OwnedFd>,
) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC)?;
    let _raw = master.map(|m| {
        tty_proxy::copy_winsize(m);
        tty_proxy::RawMode::enter()
    });
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mfd = master.map(|m| m.as_raw_fd()).unwrap_or(-1);
    loop {
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
            libc::pollfd {
                fd: if master_open { mfd } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: four pollfds in a live array (fd -1 entries are ignored by poll).
        if unsafe { libc::poll(fds.as_mut_ptr(), 4, -1) } < 0 {
            continue; // EINTR
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Ok(Some(info)) = sfd.read_signal() {
                match (info.ssi_signo as i32, master) {
                    (libc::SIGCHLD, _) => {}
                    (libc::SIGWINCH, Some(m)) => tty_proxy::copy_winsize(m),
                    (sig, _) => {
                        let _ = crate::sys::pidfd_send_signal(pidfd, sig);
                    }
                }
            }
        }
        if fds[2].revents != 0 {
            master_open = tty_proxy::pump(mfd, 1);
        }
        if fds[3].revents != 0 {
            stdin_open = tty_proxy::pump(0, mfd);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // Whatever the program wrote last is still in the pty: drain it.
            while master_open && crate::sys::readable(mfd) {
                master_open = tty_proxy::pump(mfd, 1);
            }
            match waitpid(Pid::from_raw(pid), None) {
                Ok(WaitStatus::Exited(_, c)) => return Ok(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
                Ok(_) => continue,
                Err(e) => return Err(e).context("wait for the container init"),
            }
        }
    }
}
