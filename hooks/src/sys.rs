//! Thin wrappers over the few system calls that nix 0.29 does not cover (pidfds, from
//! gantry-sys) or covers with types that do not fit (poll over a fixed array with absent
//! entries).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

// pidfds: shared with the runtime (gantry-sys).
pub(crate) use gantry_sys::pidfd::open as pidfd_open;

/// SIGKILL through the pidfd, so that it can never hit a recycled pid.
pub(crate) fn pidfd_kill(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    gantry_sys::pidfd::send_signal(pidfd, libc::SIGKILL)
}

pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl F_GETFL/F_SETFL on a valid fd borrowed for the call.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) }.into())?;
    check(
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags as libc::c_int | libc::O_NONBLOCK) }.into(),
    )?;
    Ok(())
}

/// poll(2); entries with a negative fd are ignored by the kernel, which lets the
/// caller keep fixed slots for streams that are already closed.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: the pointer and length come from a live mutable slice.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    Ok(check(n.into())? as usize)
}

/// Blocks SIGPIPE in the calling thread while it writes to a hook's stdin, so that a
/// hook that exits without reading cannot kill the runtime (which may not ignore
/// SIGPIPE: it is a library caller's choice). A SIGPIPE raised by our own write is
/// thread-directed; it is consumed on EPIPE unless one was already pending before.
pub(crate) struct SigpipeGuard {
    old: libc::sigset_t,
    was_pending: bool,
    /// The mask is per thread: the guard must be dropped where it was made.
    _not_send: std::marker::PhantomData<*const ()>,
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it fully.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local sigset_t.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

impl SigpipeGuard {
    pub(crate) fn block() -> Self {
        let set = sigpipe_set();
        // SAFETY: plain data, filled in by pthread_sigmask/sigpending below.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to local sigsets; SIG_BLOCK cannot fail with them.
        let was_pending = unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            libc::sigpending(&mut pending);
            libc::sigismember(&pending, libc::SIGPIPE) == 1
        };
        SigpipeGuard {
            old,
            was_pending,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Called after a write failed with EPIPE.
    pub(crate) fn consume(&self) {
        if self.was_pending {
            return;
        }
        let set = sigpipe_set();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid pointers; a zero timeout makes this return at once, with
        // EAGAIN when no SIGPIPE is pending (e.g. it was ignored), which is fine.
        unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
    }
}

impl Drop for SigpipeGuard {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in block() for this same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}
