//! in_mount_namespace forks: one test in this binary, so that no other test thread
//! is running arbitrary code while it does.

mod common;

use common::{own_mnt_ns, MountNs, Scratch};
use hooks::author::{in_mount_namespace, AuthorError};
use std::path::Path;

/// `in_mount_namespace` for this binary's one test.
fn in_ns(pid: i32, f: impl FnOnce() -> Result<(), String>) -> Result<(), AuthorError> {
    // SAFETY: the only test of this binary, so no other test thread runs (the harness's main
    // thread only waits for it); f allocates only through glibc's malloc, fork-safe.
    unsafe { in_mount_namespace(pid, f) }
}

#[test]
fn in_mount_namespace_runs_there_and_reports_back() {
    let dir = Scratch::new();
    let target = dir.path("target");
    std::fs::create_dir(&target).unwrap();
    let ns = MountNs::new(&target);
    let before = own_mnt_ns();

    // f sees the namespace's tmpfs (marker) and its writes land there, not here.
    let expected_ns = ns.ns_link();
    let target_in_f = target.clone();
    in_ns(ns.pid(), move || {
        let link = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
        if link.to_string_lossy() != expected_ns {
            return Err(format!("in {link:?}, not {expected_ns}"));
        }
        if !target_in_f.join("marker").exists() {
            return Err("marker not visible".into());
        }
        std::fs::write(target_in_f.join("written-by-f"), "hi").map_err(|e| e.to_string())
    })
    .unwrap();
    assert!(
        !target.join("written-by-f").exists(),
        "f wrote in our namespace"
    );
    let via_holder =
        Path::new(&format!("/proc/{}/root", ns.pid())).join(target.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read_to_string(via_holder.join("written-by-f")).unwrap(),
        "hi"
    );
    assert_eq!(own_mnt_ns(), before, "the caller's namespace changed");

    // f's error comes back verbatim.
    let err = in_ns(ns.pid(), || Err("no GPU here".into())).unwrap_err();
    assert!(matches!(&err, AuthorError::InNamespace { message, .. } if message == "no GPU here"));
    assert_eq!(
        err.to_string(),
        format!("in the mount namespace of pid {}: no GPU here", ns.pid())
    );

    // A panic is an error too, not a second run of the caller's code.
    let err = in_ns(ns.pid(), || panic!("deliberate")).unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");

    // No such process: the namespace file cannot be opened.
    let err = in_ns(i32::MAX, || Ok(())).unwrap_err();
    assert!(matches!(err, AuthorError::OpenNamespace { .. }), "{err}");
    assert!(matches!(
        in_ns(0, || Ok(())),
        Err(AuthorError::InvalidPid(0))
    ));
}
