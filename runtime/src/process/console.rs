//! process.terminal: the init makes a pty in the container's devpts, sends the master to the
//! caller's --console-socket (SCM_RIGHTS, as runc does), and makes the slave its controlling
//! terminal and stdio.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);

/// The two ends of a terminal's console channel, runtime side.
pub struct ConsoleChannel {
    /// Handed to the container process, which sends the pty master over it.
    pub theirs: Option<OwnedFd>,
    /// Kept by a foreground `run`/`exec` that proxies the pty itself.
    pub ours: Option<OwnedFd>,
}

/// Connect to --console-socket, or, for a foreground command without one, make our own
/// socketpair. Nothing when the process has no terminal.
pub fn channel(
    terminal: bool,
    socket: Option<&std::path::Path>,
    own: bool,
) -> anyhow::Result<ConsoleChannel> {
    use anyhow::Context;
    use std::os::unix::net::UnixStream;
    let none = ConsoleChannel {
        theirs: None,
        ours: None,
    };
    match socket {
        _ if !terminal => Ok(none),
        Some(p) => Ok(ConsoleChannel {
            theirs: Some(OwnedFd::from(UnixStream::connect(p).with_context(
                || format!("connect to --console-socket {}", p.display()),
            )?)),
            ours: None,
        }),
        None if own => {
            let (ours, theirs) = UnixStream::pair().context("console socketpair")?;
            Ok(ConsoleChannel {
                theirs: Some(theirs.into()),
                ours: Some(ours.into()),
            })
        }
        None => anyhow::bail!("process.terminal is true: --console-socket is required"),
    }
}

pub fn setup(socket: &OwnedFd, size: Option<(u16, u16)>) -> Result<(), String> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("open /dev/ptmx: {e}"))?;
    grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
    unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let slave_path = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
    if let Some((h, w)) = size {
        let ws = libc::winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a live struct.
        unsafe { set_winsize(master.as_raw_fd(), &ws) }
            .map_err(|e| format!("set console size: {e}"))?;
    }
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| format!("send pty master to console socket: {e}"))?;
    drop(master);
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("open {slave_path}: {e}"))?;
    // SAFETY: TIOCSCTTY takes an integer argument; the init is a session leader by now.
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } < 0 {
        return Err(format!(
            "make {slave_path} the controlling terminal: {}",
            std::io::Error::last_os_error()
        ));
    }
    for fd in 0..3 {
        nix::unistd::dup2(slave, fd).map_err(|e| format!("dup2 pty to fd {fd}: {e}"))?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    // /dev/console is the pty too, as runc sets it up (only where /dev/console can be made).
    if std::path::Path::new("/dev").exists() {
        if !std::path::Path::new("/dev/console").exists() {
            let _ = std::fs::File::create("/dev/console");
        }
        let _ = nix::mount::mount(
            Some(slave_path.as_str()),
            "/dev/console",
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        );
    }
    Ok(())
}
