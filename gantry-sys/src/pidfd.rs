//! pidfds: a process handle that a recycled pid can never redirect.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A pidfd for `pid`. Race-free for an unreaped child of ours (its pid cannot be recycled
/// before we wait for it); for another process, check its identity after opening.
pub fn open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Signal `sig` to the process behind `pidfd`.
pub fn send_signal(pidfd: impl AsFd, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments and a null siginfo, which means "as kill(2) would".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_fd().as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Block until the process behind `pidfd` has exited (the pidfd turns readable), or until
/// `timeout_ms` passes (-1: forever). Returns whether it exited.
pub fn wait_exit(pidfd: impl AsFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_child_is_seen_exiting() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let fd = open(child.id() as i32).unwrap();
        assert!(!wait_exit(&fd, 0).unwrap());
        send_signal(&fd, libc::SIGKILL).unwrap();
        assert!(wait_exit(&fd, 5000).unwrap());
        child.wait().unwrap();
    }
}
