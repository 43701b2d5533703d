//! The channel between the runtime (parent) and the container's init: a SEQPACKET socketpair,
//! so each message arrives whole and a dead peer shows up as end-of-file, never as a hang.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// parent -> init: id maps written; set up namespaces and mounts while the parent joins
    /// the cgroup (a v1 cgroup.procs write can cost milliseconds of RCU grace period).
    Maps,
    /// parent -> init: cgroup joined; enter the cgroup namespace and go on.
    Go,
    /// init -> parent: namespaces and mounts ready; run prestart/createRuntime hooks now.
    RunHooks,
    /// parent -> init: hooks done; go on (createContainer hooks, pivot_root, ...). Carries the
    /// OCI state JSON for the hooks the init runs itself.
    Continue(Vec<u8>),
    /// init -> parent: all set; waiting on the exec fifo.
    Ready,
    /// init -> parent: setup failed.
    Error(String),
    /// parent -> init: state.json is written; the container exists. An init that reads
    /// end-of-file instead (the runtime died first) exits: nothing would ever start it.
    Saved,
    /// init -> parent: time namespace unshared; write its offsets.
    TimeNs,
    /// parent -> init: offsets written.
    TimeSet,
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => vec![1],
            Msg::RunHooks => vec![2],
            Msg::Continue(state) => {
                let mut v = vec![3];
                v.extend_from_slice(state);
                v
            }
            Msg::Ready => vec![4],
            Msg::Maps => vec![6],
            Msg::Saved => vec![7],
            Msg::TimeNs => vec![8],
            Msg::TimeSet => vec![9],
            Msg::Error(s) => {
                let mut v = vec![5];
                v.extend_from_slice(s.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        Some(match b.first()? {
            1 => Msg::Go,
            2 => Msg::RunHooks,
            3 => Msg::Continue(b[1..].to_vec()),
            4 => Msg::Ready,
            5 => Msg::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            6 => Msg::Maps,
            7 => Msg::Saved,
            8 => Msg::TimeNs,
            9 => Msg::TimeSet,
            _ => return None,
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the container's init exited during setup")]
    Closed,
    #[error("sync channel: {0}")]
    Io(#[from] nix::Error),
    #[error("sync channel: unexpected message {0:?}")]
    Unexpected(Vec<u8>),
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

pub fn pair() -> nix::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

/// The largest datagram sent: a SEQPACKET send over the socket's send buffer (wmem_default,
/// ~208 KiB) fails with EMSGSIZE, and the state JSON carries the config's annotations, of any
/// size up to `bundle::CONFIG_MAX`. Longer messages go as several frames.
const FRAME: usize = 32 * 1024;
/// First byte of a frame: more frames of this message follow, or this one ends it.
const MORE: u8 = 0;
const LAST: u8 = 1;

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<(), SyncError> {
        let data = m.encode();
        let mut chunks = data.chunks(FRAME).peekable();
        while let Some(chunk) = chunks.next() {
            let mut frame = Vec::with_capacity(chunk.len() + 1);
            frame.push(if chunks.peek().is_some() { MORE } else { LAST });
            frame.extend_from_slice(chunk);
            // MSG_NOSIGNAL: a dead peer must give EPIPE, not kill us with SIGPIPE.
            nix::sys::socket::send(
                self.fd.as_raw_fd(),
                &frame,
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            )?;
        }
        Ok(())
    }

    pub fn recv(&self) -> Result<Msg, SyncError> {
        let mut msg = Vec::new();
        // One byte more than a frame: a longer datagram (never sent by `send`) shows as
        // truncated instead of being cut silently.
        let mut buf = vec![0u8; FRAME + 2];
        loop {
            let n = match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            ) {
                Ok(0) => return Err(SyncError::Closed),
                Ok(n) if n > FRAME + 1 => return Err(SyncError::Unexpected(buf[..16].to_vec())),
                Ok(n) => n,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            msg.extend_from_slice(&buf[1..n]);
            match buf[0] {
                MORE => continue,
                LAST => {
                    return Msg::decode(&msg)
                        .ok_or_else(|| SyncError::Unexpected(msg[..msg.len().min(16)].to_vec()));
                }
                _ => return Err(SyncError::Unexpected(buf[..n.min(16)].to_vec())),
            }
        }
    }

    /// Receive and require a given message; an Error from the peer becomes Err(text).
    pub fn expect(&self, want: Msg) -> Result<(), String> {
        match self.recv() {
            Ok(m) if m == want => Ok(()),
            Ok(Msg::Error(e)) => Err(e),
            Ok(m) => Err(format!("sync: expected {want:?}, got {m:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}
