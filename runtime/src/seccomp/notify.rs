//! linux.seccomp.listenerPath: hand the seccomp user-notification fd to the agent that
//! answers the notified calls (config-linux.md "The Container Process State"): one
//! connection per fd to the AF_UNIX SOCK_STREAM socket, the state as JSON with the fd in the
//! first sendmsg (SCM_RIGHTS), then the connection is closed.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use super::{Listener, SeccompError};

/// Send the container process state of `pid` (the process the filter is on, as the runtime
/// sees it) with `fd`; `state` is the container's OCI state.
pub fn send(
    l: &Listener,
    fd: &OwnedFd,
    pid: i32,
    state: serde_json::Value,
) -> Result<(), SeccompError> {
    let fail = |what: &str, e: std::io::Error| {
        SeccompError::Listener(format!("{what} {}: {e}", l.path.display()))
    };
    let mut msg = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = &l.metadata {
        msg["metadata"] = serde_json::Value::String(m.clone());
    }
    let data = serde_json::to_vec(&msg).map_err(|e| SeccompError::Listener(e.to_string()))?;
    let sock = UnixStream::connect(&l.path).map_err(|e| fail("connect to", e))?;
    let fds = [fd.as_raw_fd()];
    let mut sent = sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| fail("send the seccomp fd to", e.into()))?;
    // The spec allows more sendmsg calls for the rest, the fds only in the first.
    while sent < data.len() {
        let n = nix::sys::socket::send(sock.as_raw_fd(), &data[sent..], MsgFlags::MSG_NOSIGNAL)
            .map_err(|e| fail("send the container process state to", e.into()))?;
        sent += n;
    }
    Ok(())
}
