//! process.terminal through --console-socket: the runtime sends the pty master over the
//! socket (SCM_RIGHTS), the program's stdio is the slave.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

use crate::check::{ensure, Ctx, Outcome};
use crate::harness::{unique_id, Bundle, TempDir};

/// Run `script` with a terminal; what the master read (until "done").
fn with_console(ctx: &Ctx, script: &str) -> Result<String, String> {
    let rt = ctx.rt();
    let dir = TempDir::new("console");
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).map_err(|e| e.to_string())?;
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 40, "width": 120});
    })
    .sh(&format!("{script}; echo done"));
    let id = unique_id("tty");
    let bp = b.path().to_string_lossy().into_owned();
    let sp = sock.to_string_lossy().into_owned();
    // The runtime connects during create: accept in a thread so create cannot block on it.
    let receiver = std::thread::spawn(move || receive(&listener));
    rt.try_ok(&["create", "--bundle", &bp, "--console-socket", &sp, &id])?;
    rt.try_ok(&["start", &id])?;
    let out = receiver
        .join()
        .map_err(|_| "console reader panicked".to_string())??;
    Ok(out)
}

fn receive(listener: &UnixListener) -> Result<String, String> {
    // A runtime that never connects must not hang the suite: accept for 10 s at most.
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut tries = 0;
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && tries < 500 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("no connection on the console socket: {e}")),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(|e| e.to_string())?;
    let fd = msg
        .cmsgs()
        .map_err(|e| e.to_string())?
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(f) => f.first().copied(),
            _ => None,
        })
        .ok_or("no fd in the console-socket message")?;
    // SAFETY: SCM_RIGHTS gave this process a new fd, owned from here.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut master = std::fs::File::from(master);
    let (tx, rx) = std::sync::mpsc::channel();
    // A bounded read: a master that never gets output must not hang the suite.
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut chunk = [0u8; 1024];
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&out).contains("done") {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&out).into_owned());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "no output on the pty master within 10 s".to_string())
}

/// "terminal (bool, OPTIONAL) specifies whether a terminal is attached to the process": the
/// program's stdin is a pty slave of the container's devpts instance.
pub fn pty(ctx: &Ctx) -> Outcome {
    let out = with_console(ctx, "tty")?;
    ensure(out.contains("/dev/pts/0"), format!("tty printed {out:?}"))
}

/// "consoleSize (object, OPTIONAL) specifies the console size in characters of the terminal."
pub fn size(ctx: &Ctx) -> Outcome {
    let out = with_console(ctx, "stty size")?;
    ensure(out.contains("40 120"), format!("stty size printed {out:?}"))
}

/// config-linux.md, Default Devices: "/dev/console is set up if terminal is enabled in the
/// config by bind mounting the pseudoterminal pty to /dev/console": it is the same device as
/// the program's terminal.
pub fn dev_console(ctx: &Ctx) -> Outcome {
    let out = with_console(
        ctx,
        "echo \"console=$(stat -c %t:%T /dev/console) tty=$(stat -c %t:%T $(tty))\"",
    )?;
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("console="))
        .ok_or(format!("no answer: {out:?}"))?;
    let (c, t) = line
        .trim_start_matches("console=")
        .split_once(" tty=")
        .ok_or(format!("{line:?}"))?;
    ensure(
        c == t && !c.is_empty(),
        format!("/dev/console is {c}, the terminal {t} (hex major:minor)"),
    )
}
