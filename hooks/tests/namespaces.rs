//! run_hooks_in_namespaces against a real mount namespace held by an `unshare` child.

mod common;

use common::{hook, own_mnt_ns, MountNs, Scratch, STATE};
use hooks::{run_hook_in_namespaces, run_hooks_in_namespaces, HookError, HookKind, SpawnStage};
use nix::sched::CloneFlags;
use std::os::unix::fs::PermissionsExt;

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn hook_runs_in_the_target_namespace_but_resolves_in_ours() {
    let dir = Scratch::new();
    let hidden = dir.path("hidden");
    std::fs::create_dir(&hidden).unwrap();
    // Exists only in our namespace: the target mounts a tmpfs over `hidden`.
    let exe = hidden.join("busybox");
    std::fs::copy("/bin/busybox", &exe).unwrap();
    let ns = MountNs::new(&hidden);
    assert_ne!(ns.ns_link(), own_mnt_ns());

    // busybox runs `ls` in-process (its own dir fd would show), so list our fds from dash.
    let script = format!(
        "readlink /proc/self/ns/mnt; ls {}; /bin/dash -c 'ls /proc/'$$'/fd'",
        hidden.display()
    );
    let h = hook(
        exe.to_str().unwrap(),
        Some(&["sh", "-c", &script]),
        Some(&["PATH=/bin:/usr/bin"]),
        None,
    );
    let namespaces = [(CloneFlags::CLONE_NEWNS, ns.ns_path())];
    let out = run_hook_in_namespaces(
        HookKind::CreateContainer,
        0,
        &h,
        STATE.as_bytes(),
        &namespaces,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        lines(&out.stdout),
        [
            ns.ns_link(),
            "marker".into(),
            "0".into(),
            "1".into(),
            "2".into()
        ],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_hooks_in_namespaces_gives_state_and_stops_at_failure() {
    let dir = Scratch::new();
    let target = dir.path("target");
    std::fs::create_dir(&target).unwrap();
    let ns = MountNs::new(&target);
    let out_file = dir.path("seen");
    // Writes outside the tmpfs land in the shared host filesystem, visible to us.
    let first = format!(
        "readlink /proc/self/ns/mnt > {0}; cat >> {0}; ls {1} >> {0}",
        out_file.display(),
        target.display()
    );
    let never = dir.path("never");
    let hooks = [
        hook("/bin/sh", Some(&["sh", "-c", &first]), None, None),
        hook("/bin/sh", Some(&["sh", "-c", "exit 9"]), None, None),
        hook(
            "/bin/sh",
            Some(&["sh", "-c", &format!("touch {}", never.display())]),
            None,
            None,
        ),
    ];
    let namespaces = [(CloneFlags::CLONE_NEWNS, ns.ns_path())];
    let err = run_hooks_in_namespaces(
        HookKind::CreateContainer,
        &hooks,
        STATE.as_bytes(),
        &namespaces,
    )
    .unwrap_err();
    assert!(matches!(err, HookError::Exited { code: 9, .. }), "{err}");
    assert_eq!(err.hook().index, 1);
    assert!(!never.exists());
    let seen = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(seen, format!("{}\n{STATE}marker\n", ns.ns_link()));
}

#[test]
fn scripts_work_when_exec_by_fd() {
    let dir = Scratch::new();
    let target = dir.path("target");
    std::fs::create_dir(&target).unwrap();
    let script = dir.path("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nreadlink /proc/self/ns/mnt\nls {}\n",
            target.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ns = MountNs::new(&target);
    let h = hook(script.to_str().unwrap(), None, None, None);
    let namespaces = [(CloneFlags::CLONE_NEWNS, ns.ns_path())];
    let out = run_hook_in_namespaces(HookKind::CreateContainer, 0, &h, b"{}", &namespaces)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lines(&out.stdout), [ns.ns_link(), "marker".into()]);
}

#[test]
fn bad_namespace_paths_and_types_are_spawn_errors() {
    let h = hook("/bin/true", None, None, None);
    let missing = [(CloneFlags::CLONE_NEWNS, "/proc/self/ns/nonexistent".into())];
    let err = run_hooks_in_namespaces(
        HookKind::CreateContainer,
        std::slice::from_ref(&h),
        b"{}",
        &missing,
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            HookError::Spawn {
                stage: SpawnStage::OpenNamespace(_),
                ..
            }
        ),
        "{err}"
    );

    // A network namespace file passed as a mount namespace: setns refuses (EINVAL).
    let wrong = [(CloneFlags::CLONE_NEWNS, "/proc/self/ns/net".into())];
    let err = run_hooks_in_namespaces(HookKind::CreateContainer, &[h], b"{}", &wrong).unwrap_err();
    let HookError::Spawn {
        stage: SpawnStage::JoinNamespace { nstype, .. },
        source,
        ..
    } = &err
    else {
        panic!("unexpected {err}");
    };
    assert_eq!(*nstype, CloneFlags::CLONE_NEWNS);
    assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
    assert!(err.to_string().contains("setns"), "{err}");
}

#[test]
fn no_hooks_means_nothing_is_opened() {
    let missing = [(CloneFlags::CLONE_NEWNS, "/nonexistent".into())];
    run_hooks_in_namespaces(HookKind::CreateContainer, &[], b"{}", &missing).unwrap();
}
