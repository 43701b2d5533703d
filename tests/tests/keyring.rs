//! Session keyrings: a container's processes never possess the keys of the session that
//! started the runtime (an engine's, a user's login keyring), neither the init nor an exec'd
//! process, unless `--no-new-keyring` asks for it, as runc does. Each container has its own
//! session keyring, named `_ses.ID` (runc's name), which `exec` joins.
//!
//! The caller's key is made possessor-only, so that /proc/keys in the container lists it
//! exactly when the container possesses it (a root process would see a key with the usual
//! user-view permission whether it possesses it or not). Only without a user namespace: in
//! one, /proc/keys lists no key whose owner is unmapped there, possessed or not, so the
//! caller's key could not be seen either way.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use gantry_tests::*;
use serde_json::json;

const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
/// Possessor: view, read, write, search, link, setattr; nobody else anything.
const POSSESSOR_ONLY: libc::c_long = 0x3f00_0000;

fn keys_available() -> bool {
    std::path::Path::new("/proc/keys").exists()
}

/// `cmd` run in a new session keyring of its own holding a possessor-only key named `desc`,
/// as a caller with secrets in its session keyring would start the runtime.
fn in_session_with_key(mut cmd: Command, desc: &str) -> Output {
    let ty = CString::new("user").unwrap();
    let desc = CString::new(desc).unwrap();
    // SAFETY: between fork and exec only raw syscalls run (keyctl, add_key), on strings made
    // before the fork; they change only this child's keyrings.
    unsafe {
        cmd.pre_exec(move || {
            let none: *const libc::c_char = std::ptr::null();
            if libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, none) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let key = libc::syscall(
                libc::SYS_add_key,
                ty.as_ptr(),
                desc.as_ptr(),
                c"secret".as_ptr(),
                6usize,
                KEY_SPEC_SESSION_KEYRING,
            );
            if key < 0 || libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, key, POSSESSOR_ONLY) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}, out {:?}, err {:?}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A bundle whose process prints how many keys named `desc` it can see; /proc/keys unmasked.
fn counting(desc: &str) -> Bundle {
    let mut b = Bundle::new(&["sh", "-c", &format!("grep -c {desc} /proc/keys; true")]);
    b.edit(|c| c["linux"]["maskedPaths"] = json!([]));
    b
}

fn unique_desc(tag: &str) -> String {
    format!("gantry-test-key-{tag}-{}", std::process::id())
}

#[test]
fn the_init_never_possesses_the_callers_session_keyring() {
    if !keys_available() {
        return skip("this kernel has no /proc/keys (CONFIG_KEYS)");
    }
    let rt = Rt::new();
    let desc = unique_desc("run");
    let b = counting(&desc);
    let run = |extra: &[&str], id: &str| {
        let mut c = rt.cmd();
        c.arg("run").args(extra);
        c.args(["--bundle", b.path().to_str().unwrap(), id]);
        in_session_with_key(c, &desc)
    };
    // The control: with --no-new-keyring the init keeps the caller's session keyring, and
    // sees the key.
    let o = run(&["--no-new-keyring"], &unique_id("keepring"));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "1\n", "{}", text(&o));
    let o = run(&[], &unique_id("newring"));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "0\n",
        "the init possesses the caller's key: {}",
        text(&o)
    );
}

#[test]
fn an_exec_never_possesses_the_callers_session_keyring_and_joins_the_containers() {
    if !keys_available() {
        return skip("this kernel has no /proc/keys (CONFIG_KEYS)");
    }
    let rt = Rt::new();
    let desc = unique_desc("exec");
    let mut b = counting(&desc);
    b.sh("sleep 30");
    let id = unique_id("execring");
    let o = rt.run(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", text(&o));
    let mut c = rt.cmd();
    // The keyring it possesses: the one named for the container (its own session
    // keyring shows as "_ses.ID" in /proc/keys, possessed or not; `keyctl` is not in
    // busybox, so possession is seen through the caller's key only).
    c.args([
        "exec",
        &id,
        "sh",
        "-c",
        &format!("grep -c {desc} /proc/keys; grep -c ' _ses.{id}: ' /proc/keys"),
    ]);
    let o = in_session_with_key(c, &desc);
    let _ = rt.run(&["delete", "--force", &id]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "0\n1\n",
        "the exec'd process possesses the caller's key, or the container has no \
         _ses.{id} keyring: {}",
        text(&o)
    );
}
