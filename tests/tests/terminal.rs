//! process.terminal with --console-socket: the pty master arrives over the socket.

use std::io::{IoSliceMut, Read};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use gantry_tests::*;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

#[test]
fn console_socket_receives_pty_master() {
    let rt = Rt::new();
    let dir = TempDir::new("console");
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 40, "width": 120});
    })
    .sh("tty; stty size; echo done");
    let id = unique_id("tty");
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            std::os::fd::AsRawFd::as_raw_fd(&conn),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(f) => f.first().copied(),
                _ => None,
            })
            .expect("no fd in the console message");
        // SAFETY: SCM_RIGHTS gave this process a new fd.
        let mut master = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let mut out = Vec::new();
        let mut chunk = [0u8; 1024];
        // Read until the slave side closes (EIO) or "done" arrives.
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&out).contains("done") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    rt.ok(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    rt.ok(&["start", &id]);
    let out = receiver.join().unwrap();
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("40 120"), "{out}");
}

#[test]
fn terminal_without_console_socket_fails_create() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["terminal"] = json!(true));
    let id = unique_id("notty");
    let o = rt.create(&b, &id);
    assert!(!o.status.success());
    assert!(rt.ids().is_empty());
}

/// CVE-2025-52565 class: a /dev/console that is a symlink (made here by a createContainer
/// hook, as a hostile image or a container sharing the rootfs could) must not take the pty's
/// bind elsewhere (here onto the container's /proc/sys/kernel/hostname). Create fails naming
/// /dev/console, with nothing left.
#[test]
fn a_dev_console_symlink_is_refused() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1.5 binds the console through the symlink");
    }
    let rt = Rt::new();
    let dir = TempDir::new("consolelink");
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // Take the master and hold it until the create is over.
    std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(std::time::Duration::from_secs(10));
        drop(conn);
    });
    let mut b = Bundle::new(&["true"]);
    let link = format!(
        "rm -f {r}/dev/console; ln -s /proc/sys/kernel/hostname {r}/dev/console",
        r = b.rootfs().display()
    );
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", link]}]});
    });
    let id = unique_id("consolelink");
    let o = rt.run(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "create succeeded");
    assert!(
        err.contains("/dev/console") && err.contains("symlink"),
        "{err}"
    );
    assert!(rt.ids().is_empty(), "state left behind");
}
