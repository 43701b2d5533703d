//! Which fds the program sees: stdio, --preserve-fds, LISTEN_FDS; nothing else.

use std::os::unix::process::CommandExt;
use std::process::Stdio;

use gantry_tests::*;

fn fds_inside(rt: &Rt, b: &Bundle, extra: &[&str], listen_fds: Option<&str>) -> String {
    let file = std::fs::File::open("/etc/hostname").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = std::process::Command::new("/bin/sh");
    // systemd's protocol: LISTEN_PID must be the runtime's own pid, which `exec` keeps.
    let mut script = String::from("LISTEN_PID=$$ exec \"$@\"");
    if let Some(n) = listen_fds {
        script = format!("LISTEN_FDS={n} {script}");
    }
    cmd.args(["-c", &script, "sh"])
        .arg(&rt.bin)
        .arg("--root")
        .arg(rt.root.path());
    cmd.arg("run")
        .args(extra)
        .arg("--bundle")
        .arg(b.path())
        .arg(unique_id("fds"));
    // SAFETY: dup2 and fcntl in the child before exec are async-signal-safe; they put the
    // file on fd 3 without CLOEXEC, as a caller handing fds to the runtime would.
    unsafe {
        cmd.pre_exec(move || {
            if raw != 3 && libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn only_stdio_without_preserve() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    // ls opens one fd of its own (the directory) as 3.
    assert_eq!(fds_inside(&rt, &b, &[], None), "0 1 2 3 ");
}

#[test]
fn preserve_fds_passes_fd3() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("cat <&3 >/dev/null && echo readable; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let out = fds_inside(&rt, &b, &["--preserve-fds", "1"], None);
    assert_eq!(out, "readable\n0 1 2 3 4 ");
}

#[test]
fn listen_fds_pass_and_set_env() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("echo $LISTEN_FDS $LISTEN_PID; cat <&3 >/dev/null && echo readable");
    let out = fds_inside(&rt, &b, &[], Some("1"));
    assert_eq!(out, "1 1\nreadable\n");
}
