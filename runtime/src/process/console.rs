//! process.terminal: the init makes a pty in the container's devpts, sends the master to the
//! caller's --console-socket (SCM_RIGHTS, as runc does), and makes the slave its controlling
//! terminal and stdio.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// Make a pty, send its master to `socket`, make its slave our stdio and controlling
/// terminal; for the init (`bind_console`), bind it onto /dev/console too, as runc does (not
/// for exec'd processes: that would change the running container's /dev/console).
pub fn setup(socket: &OwnedFd, size: Option<(u16, u16)>, bind_console: bool) -> Result<(), String> {
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
    // SAFETY: `slave` was opened above and is ours; past 2 it is closed when this goes (fds
    // 0-2 hold their own copies), at 0-2 it is one of them and stays.
    let owned = (slave > 2).then(|| unsafe { OwnedFd::from_raw_fd(slave) });
    if bind_console {
        // SAFETY: `slave` stays open for this call (owned above or one of fds 0-2).
        bind_dev_console(&unsafe { BorrowedFd::borrow_raw(slave) })?;
    }
    drop(owned);
    Ok(())
}

/// /dev/console becomes the pty (only where /dev exists). Both ends by fd (CVE-2025-52565
/// class: a /dev/console that is a symlink, or a /dev/pts/N or /proc/self/fd path the rootfs
/// redirects, would bind the pty, or something else, elsewhere): the target is opened without
/// following a symlink and must be a file or a device node.
fn bind_dev_console(slave: &BorrowedFd) -> Result<(), String> {
    use nix::sys::stat::{Mode, SFlag};
    if !std::path::Path::new("/dev").is_dir() {
        return Ok(());
    }
    let path = "/dev/console";
    let open = || {
        nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    let target = match open() {
        Err(nix::Error::ENOENT) => {
            // Missing: make an empty file to bind onto (never through a symlink).
            let f = nix::fcntl::open(
                path,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            );
            match f {
                Ok(fd) => {
                    let _ = nix::unistd::close(fd);
                }
                // A /dev we cannot write (read-only bind of a host /dev): no console there.
                Err(nix::Error::EROFS | nix::Error::EACCES | nix::Error::EPERM) => return Ok(()),
                Err(e) => return Err(format!("create {path}: {e}")),
            }
            open()
        }
        r => r,
    }
    .map_err(|e| format!("open {path}: {e}"))?;
    // SAFETY: open just returned this fd; nothing else owns it.
    let target = unsafe { OwnedFd::from_raw_fd(target) };
    let kind = nix::sys::stat::fstat(target.as_raw_fd())
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT)
        .map_err(|e| format!("stat {path}: {e}"))?;
    if kind != SFlag::S_IFREG && kind != SFlag::S_IFCHR {
        return Err(format!(
            "{path} is not a file or a device node (a symlink?): refusing to bind the console there"
        ));
    }
    crate::sys::bind_fd_onto_fd(slave, &target)
        .map_err(|e| format!("bind the pty onto {path}: {e}"))
}
