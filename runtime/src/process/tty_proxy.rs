//! A foreground `run` with process.terminal and no --console-socket: the runtime takes the pty
//! master itself and copies between it and its own stdio, as runc does.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{anyhow, Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);

/// Receive the pty master the init sent over our end of the console socketpair.
pub fn recv_master(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receive the pty master")?;
    for c in msg.cmsgs().context("pty master message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: SCM_RIGHTS gave us a new fd that nothing else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(anyhow!("the container sent no pty master"))
}

/// Puts our terminal in raw mode while the container owns it; restores it on drop.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return RawMode { saved: None }; // not a terminal: nothing to do
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

/// Give the pty our terminal's size (at start and on SIGWINCH).
pub fn copy_winsize(master: &OwnedFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the live struct; TIOCSWINSZ reads it.
    unsafe {
        if get_winsize(0, &mut ws).is_ok() {
            let _ = set_winsize(master.as_raw_fd(), &ws);
        }
    }
}

/// Copy what is readable from `from` to `to`; false once `from` is at end (or the pty's EIO).
pub fn pump(from: RawFd, to: RawFd) -> bool {
    let mut buf = [0u8; 8192];
    let n = match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    let mut off = 0;
    while off < n {
        // SAFETY: `to` is an fd we hold open for the whole proxy; borrowed for this write.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(to) };
        match nix::unistd::write(fd, &buf[off..n]) {
            Ok(w) => off += w,
            Err(nix::Error::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}
