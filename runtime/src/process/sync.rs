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
    /// init or exec child -> parent: the seccomp user-notification fd rides along
    /// (SCM_RIGHTS, `send_fd`), for linux.seccomp.listenerPath.
    SeccompFd,
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
            Msg::SeccompFd => vec![10],
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
            10 => Msg::SeccompFd,
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
        self.send_frames(m, None)
    }

    /// Send `m` with `fd` attached (SCM_RIGHTS, on the last frame).
    pub fn send_fd(&self, m: &Msg, fd: &impl AsRawFd) -> Result<(), SyncError> {
        self.send_frames(m, Some(fd.as_raw_fd()))
    }

    fn send_frames(&self, m: &Msg, fd: Option<std::os::fd::RawFd>) -> Result<(), SyncError> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let data = m.encode();
        let mut chunks = data.chunks(FRAME).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let mut frame = Vec::with_capacity(chunk.len() + 1);
            frame.push(if last { LAST } else { MORE });
            frame.extend_from_slice(chunk);
            let fds: Vec<_> = fd.filter(|_| last).into_iter().collect();
            let cmsg = [ControlMessage::ScmRights(&fds)];
            // MSG_NOSIGNAL: a dead peer must give EPIPE, not kill us with SIGPIPE.
            sendmsg::<()>(
                self.fd.as_raw_fd(),
                &[std::io::IoSlice::new(&frame)],
                if fds.is_empty() { &[] } else { &cmsg },
                MsgFlags::MSG_NOSIGNAL,
                None,
            )?;
        }
        Ok(())
    }

    pub fn recv(&self) -> Result<Msg, SyncError> {
        // An fd nobody asked for is closed with its OwnedFd.
        self.recv_fd().map(|(m, _)| m)
    }

    /// Receive a message (all its frames) and the fd attached to it, if any.
    pub fn recv_fd(&self) -> Result<(Msg, Option<OwnedFd>), SyncError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::FromRawFd;
        let mut msg = Vec::new();
        let mut fd = None;
        // One byte more than a frame: a longer datagram (never sent by `send`) shows as
        // truncated instead of being cut silently.
        let mut buf = vec![0u8; FRAME + 2];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let got = match r {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(m) => m,
            };
            for c in got.cmsgs().map_err(SyncError::Io)? {
                if let ControlMessageOwned::ScmRights(v) = c {
                    for raw in v {
                        // SAFETY: the kernel just installed `raw` in our table for us;
                        // nothing else owns it (extra ones are closed by their OwnedFd).
                        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            let n = got.bytes;
            match n {
                0 => return Err(SyncError::Closed),
                n if n > FRAME + 1 => return Err(SyncError::Unexpected(buf[..16].to_vec())),
                _ => {}
            }
            msg.extend_from_slice(&buf[1..n]);
            match buf[0] {
                MORE => continue,
                LAST => {
                    let m = Msg::decode(&msg)
                        .ok_or_else(|| SyncError::Unexpected(msg[..msg.len().min(16)].to_vec()))?;
                    return Ok((m, fd));
                }
                _ => return Err(SyncError::Unexpected(buf[..n.min(16)].to_vec())),
            }
        }
    }

    /// Report a fatal setup error and exit. The peer may have sent a message we have not read:
    /// closing with it queued makes the peer's next read ECONNRESET instead of our error, so
    /// we read on until the peer closes (it does once it has the error), for at most a second.
    pub fn fail(&self, e: String) -> ! {
        let _ = self.send(&Msg::Error(e));
        let _ = nix::sys::socket::setsockopt(
            &self.fd,
            nix::sys::socket::sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(1, 0),
        );
        while self.recv().is_ok() {}
        crate::sys::exit_now(1)
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
