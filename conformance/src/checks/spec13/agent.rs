//! 1.1, config-linux.md, Seccomp: SCMP_ACT_NOTIFY with listenerPath. A small seccomp agent in
//! the check (a unix socket server on a thread) receives the container process state and the
//! listener fd, and answers each notified syscall with EXDEV. It stops, and its socket goes,
//! when the check ends, whatever happened.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, Ctx, Live, Outcome};
use crate::harness::TempDir;

/// What the agent received: each connection's state (and the number of fds with it).
#[derive(Default)]
struct Seen {
    states: Mutex<Vec<(Value, usize)>>,
    answered: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

struct Agent {
    sock: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: TempDir,
}

impl Agent {
    fn start() -> Result<Agent, String> {
        let dir = TempDir::new("agent");
        let sock = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&sock).map_err(|e| format!("bind: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("nonblocking: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Seen::default());
        let (s, n) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || serve(listener, &s, &n));
        Ok(Agent {
            sock,
            stop,
            seen,
            thread: Some(thread),
            _dir: dir,
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accept connections until stopped; answer each listener fd's notifications on its own
/// thread (joined before returning).
fn serve(listener: UnixListener, stop: &Arc<AtomicBool>, seen: &Arc<Seen>) {
    let mut answering = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => match receive(&conn) {
                Ok((state, fds)) => {
                    let n = fds.len();
                    if let Ok(mut s) = seen.states.lock() {
                        s.push((state, n));
                    }
                    drop(conn);
                    let (s, n) = (stop.clone(), seen.clone());
                    answering.push(std::thread::spawn(move || {
                        if let Some(fd) = fds.first() {
                            answer(fd, &s, &n);
                        }
                    }));
                }
                Err(e) => {
                    if let Ok(mut errs) = seen.errors.lock() {
                        errs.push(e);
                    }
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => {
                if let Ok(mut errs) = seen.errors.lock() {
                    errs.push(format!("accept: {e}"));
                }
                break;
            }
        }
    }
    for t in answering {
        let _ = t.join();
    }
}

/// One container process state and the fds sent with it (SCM_RIGHTS), read to EOF: the
/// runtime "MUST send exactly one container process state per connection" and close it.
fn receive(conn: &UnixStream) -> Result<(Value, Vec<OwnedFd>), String> {
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 << 10];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut fds = Vec::new();
    let n = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("recvmsg: {e}"))?;
        for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
            if let ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: the kernel installed these fds for us just now; nothing else owns them.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        msg.bytes
    };
    let mut data = buf[..n].to_vec();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut &*conn, &mut rest)
        .map_err(|e| format!("read the rest of the state: {e}"))?;
    data.extend(rest);
    let state = serde_json::from_slice(&data).map_err(|e| format!("state JSON: {e}"))?;
    Ok((state, fds))
}

/// Answer notifications on `fd` with -EXDEV until stopped or no process is left under the
/// filter (POLLHUP).
fn answer(fd: &OwnedFd, stop: &AtomicBool, seen: &Seen) {
    while !stop.load(Ordering::SeqCst) {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, live for the call.
        let r = unsafe { libc::poll(&mut p, 1, 100) };
        if r < 0 || p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return;
        }
        if r == 0 || p.revents & libc::POLLIN == 0 {
            continue;
        }
        // SAFETY: seccomp_notif is a plain C struct; NOTIF_RECV requires it zeroed.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV writes one seccomp_notif into `req`, which is live and sized.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
            continue; // the caller went away meanwhile
        }
        // SAFETY: as above, a plain C struct.
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -libc::EXDEV;
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from `resp`.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) } == 0 {
            seen.answered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn notify_profile(sock: &std::path::Path) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "conformance-agent",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    })
}

/// "listenerPath (string, OPTIONAL) - specifies the path of UNIX domain socket over which the
/// runtime will send the container process state data structure when the SCMP_ACT_NOTIFY
/// action is used. This socket MUST use AF_UNIX domain and SOCK_STREAM type. The runtime MUST
/// send exactly one container process state per connection ... The runtime sends the
/// following file descriptors using SCM_RIGHTS and set their names in the fds array of the
/// container process state: seccompFd (string, REQUIRED)"; listenerMetadata "will be sent as
/// the metadata field". The agent gets the init's listener and answers its mkdir with EXDEV:
/// the container's mkdir fails so, and makes nothing.
pub(super) fn notify(ctx: &Ctx) -> Outcome {
    let agent = Agent::start()?;
    let profile = notify_profile(&agent.sock);
    let c = Live::create(
        ctx,
        |v| v["linux"]["seccomp"] = profile,
        "mkdir /tmp/by-init 2>/host/err; echo rc=$? > /host/rc; \
         test -d /tmp/by-init && echo made >> /host/rc; echo up > /host/mark; exec sleep 300",
    )?;
    let pid = c.pid()?;
    c.op(&["start"])?;
    // The mark comes after mkdir returned, answered by the agent (or by a timeout nowhere).
    let waited = Instant::now();
    c.wait_file("mark")
        .map_err(|e| format!("{e} (after {:?})", waited.elapsed()))?;
    let err = c.host_file("err").unwrap_or_default();
    let rc = c.host_file("rc").unwrap_or_default();
    drop(c);
    let states = agent
        .seen
        .states
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let errors = agent
        .seen
        .errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    ensure(errors.is_empty(), format!("the agent: {errors:?}"))?;
    expect_eq("container process states received", states.len(), 1)?;
    let (state, nfds) = &states[0];
    expect_eq("fds sent with SCM_RIGHTS", *nfds, 1)?;
    expect_eq("the state's fds", &state["fds"], &json!(["seccompFd"]))?;
    expect_eq(
        "the state's metadata",
        &state["metadata"],
        &json!("conformance-agent"),
    )?;
    expect_eq("the state's pid", state["pid"].as_i64(), Some(pid))?;
    ensure(
        agent.seen.answered.load(Ordering::SeqCst) >= 1,
        "the agent answered no notification",
    )?;
    ensure(
        err.contains("ross-device") && rc.trim() == "rc=1",
        format!("the init's mkdir: {:?} {:?}", err.trim(), rc.trim()),
    )
}

/// "If sending to this socket fails, the runtime MUST generate an error": no agent listens at
/// listenerPath, so create fails and leaves nothing.
pub(super) fn no_listener(ctx: &Ctx) -> Outcome {
    let dir = TempDir::new("agent");
    let profile = notify_profile(&dir.path().join("nobody.sock"));
    ctx.create_fails(|v| v["linux"]["seccomp"] = profile)
}
