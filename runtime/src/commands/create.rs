use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use super::Globals;
use crate::cli::CreateArgs;
use crate::process::parent::{self, CreateOpts};

pub fn opts<'a>(g: &'a Globals, a: &'a CreateArgs) -> CreateOpts<'a> {
    CreateOpts {
        root: g.root,
        id: &a.id,
        bundle: &a.bundle,
        console_socket: a.console_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: g.systemd_cgroup,
        cgroup_root: g.cgroup_root,
        gpu: g.gpu,
        own_console: false,
    }
}

/// --pidfd-socket (runc 1.2): hand the caller a pidfd of the init over a unix socket.
pub fn send_pidfd(sock: &Path, pidfd: &OwnedFd) -> Result<()> {
    let s = UnixStream::connect(sock)
        .with_context(|| format!("connect to --pidfd-socket {}", sock.display()))?;
    let fds = [pidfd.as_raw_fd()];
    sendmsg::<()>(
        s.as_raw_fd(),
        &[IoSlice::new(b"pidfd")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("send the init's pidfd")?;
    Ok(())
}

pub fn run(g: &Globals, a: &CreateArgs) -> Result<()> {
    let c = parent::create(opts(g, a))?;
    if let Some(sock) = &a.pidfd_socket {
        if let Err(e) = send_pidfd(sock, &c.pidfd) {
            let _ = super::delete::destroy(c.dir, &c.saved, crate::state::Status::Created, true);
            return Err(e);
        }
    }
    Ok(())
}
