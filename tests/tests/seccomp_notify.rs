//! SCMP_ACT_NOTIFY with linux.seccomp.listenerPath: a seccomp agent written here (a unix
//! socket server) receives the container process state and the listener fd during create, and
//! again for an exec'd process, and answers every notified mkdir with EXDEV: the container's
//! mkdir fails with the agent's errno and makes nothing.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;

use gantry_tests::*;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

/// What the agent saw on one connection: the state it was sent and how many calls it answered.
struct Seen {
    state: Value,
    answered: usize,
}

/// Receive one container process state and its fd.
fn receive(conn: &std::os::unix::net::UnixStream) -> (Value, OwnedFd) {
    let mut buf = vec![0u8; 64 << 10];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 2]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let mut fds = Vec::new();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(v) = c {
            // SAFETY: the kernel installed these fds for us just now; nothing else owns them.
            fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let n = msg.bytes;
    // The rest of the JSON, if the runtime used more sendmsg calls.
    let mut data = buf[..n].to_vec();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut &*conn, &mut rest);
    data.extend(rest);
    assert_eq!(fds.len(), 1, "exactly the seccompFd is passed");
    (
        serde_json::from_slice(&data).expect("state JSON"),
        fds.remove(0),
    )
}

/// Answer notifications on `fd` with -EXDEV until the processes under the filter are gone (or
/// `limit` calls), returning how many were answered.
fn answer(fd: &OwnedFd, limit: usize) -> usize {
    let mut n = 0;
    while n < limit {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, live for the call.
        let r = unsafe { libc::poll(&mut p, 1, 20_000) };
        if r <= 0 || p.revents & libc::POLLIN == 0 {
            break; // timeout, or POLLHUP: no process is left under the filter
        }
        // SAFETY: seccomp_notif and seccomp_notif_resp are plain C structs; zeroed is valid
        // (NOTIF_RECV requires a zeroed buffer).
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV writes one seccomp_notif into `req`, which is live and sized.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
            break;
        }
        // SAFETY: as for `req`: a plain C struct, valid zeroed.
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -libc::EXDEV;
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from `resp`.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) } == 0 {
            n += 1;
        }
    }
    n
}

#[test]
fn a_notify_agent_answers_the_containers_calls() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1.5 is built without seccomp notify support here");
    }
    let dir = TempDir::new("agent");
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let (tx, rx) = mpsc::channel::<Seen>();
    // Two connections: the init's listener at create, the exec'd process's at exec.
    let agent = std::thread::spawn(move || {
        for _ in 0..2 {
            let (conn, _) = listener.accept().unwrap();
            let (state, fd) = receive(&conn);
            drop(conn);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let answered = answer(&fd, 1);
                let _ = tx.send(Seen { state, answered });
            });
        }
    });

    let rt = Rt::new();
    // WAIT_KILLABLE_RECV (a listener-only flag) too, where this kernel has it.
    let features: Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    let flags: Vec<&str> = features["linux"]["seccomp"]["supportedFlags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .filter(|f| *f == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
        .collect();
    let mut b = Bundle::new(&[]);
    b.sh("mkdir /tmp/by-init 2>/tmp/init-err; sleep 30")
        .edit(|c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": sock,
                "listenerMetadata": "gantry-test",
                "flags": flags,
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
            })
        });
    let id = unique_id("notify");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    rt.ok(&["start", &id]);
    let init = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the agent got no notification from the init");
    assert_eq!(init.answered, 1);
    assert_eq!(init.state["ociVersion"], "1.3.0");
    assert_eq!(init.state["fds"], json!(["seccompFd"]));
    assert_eq!(init.state["pid"], pid);
    assert_eq!(init.state["metadata"], "gantry-test");
    assert_eq!(init.state["state"]["id"], id.as_str());
    assert_eq!(init.state["state"]["status"], "creating");
    // One exec (each exec'd process has a listener of its own, sent to the agent).
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo init: $(cat /tmp/init-err); mkdir /tmp/by-exec 2>&1; echo rc=$?; ls /tmp | grep -c by- || true",
    ]);
    let (init_line, rest) = out.split_once('\n').unwrap_or((&out, ""));
    assert!(
        init_line.contains("cross-device"),
        "the init's mkdir: {out}"
    );
    assert!(
        rest.contains("cross-device") && rest.contains("rc=1"),
        "{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("0"),
        "a notified mkdir made a dir: {out}"
    );
    let exec = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the agent got no notification from the exec");
    assert_eq!(exec.answered, 1);
    assert_eq!(exec.state["state"]["status"], "running");
    assert_ne!(exec.state["pid"], pid);
    rt.ok(&["delete", "--force", &id]);
    agent.join().unwrap();
}

#[test]
fn notify_without_an_agent_is_a_clear_error() {
    if !is_gantry() {
        return skip_not_gantry("the wording is Gantry's");
    }
    let rt = Rt::new();
    let dir = TempDir::new("agent");
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": dir.path().join("nobody.sock"),
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })
    });
    let err = rt.create_refused(&b, &unique_id("notify-none"));
    assert!(
        err.contains("linux.seccomp.listenerPath") && err.contains("nobody.sock"),
        "{err}"
    );

    b.edit(|c| c["linux"]["seccomp"]["listenerPath"] = Value::Null);
    let err = rt.create_refused(&b, &unique_id("notify-nopath"));
    assert!(err.contains("listenerPath"), "{err}");
}
