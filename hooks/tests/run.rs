//! run_hook / run_hooks in the runtime's namespaces, against real processes.

mod common;

use common::{hook, sh, Scratch, STATE};
use hooks::{run_hook, run_hooks, run_hooks_best_effort, HookError, HookKind, SpawnStage};
use std::time::{Duration, Instant};

#[test]
fn hook_receives_the_exact_state_on_stdin() {
    let dir = Scratch::new();
    let file = dir.path("state");
    let h = sh(&format!("cat > {}", file.display()));
    run_hook(HookKind::CreateRuntime, 0, &h, STATE.as_bytes()).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), STATE);
}

#[test]
fn argv0_is_args0_not_the_path() {
    let h = sh("cat /proc/$$/cmdline");
    let out = run_hook(HookKind::Prestart, 0, &h, b"{}").unwrap();
    assert_eq!(out.stdout, b"sh\0-c\0cat /proc/$$/cmdline\0");
}

#[test]
fn without_args_argv0_is_the_path() {
    // With no args, sh reads its script from stdin: here the "state" is that script.
    let h = hook("/bin/sh", None, None, None);
    let out = run_hook(HookKind::Prestart, 0, &h, b"cat /proc/$$/cmdline").unwrap();
    assert_eq!(out.stdout, b"/bin/sh\0");
}

#[test]
fn env_is_exactly_the_hook_env() {
    let env = ["FOO=bar", "EMPTY=", "WITH=equals=sign"];
    let h = hook("/usr/bin/env", Some(&["env"]), Some(&env), None);
    let out = run_hook(HookKind::Poststart, 0, &h, b"{}").unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "FOO=bar\nEMPTY=\nWITH=equals=sign\n"
    );

    let h = hook("/usr/bin/env", Some(&["env"]), None, None);
    let out = run_hook(HookKind::Poststart, 0, &h, b"{}").unwrap();
    assert!(
        out.stdout.is_empty(),
        "inherited: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn nonzero_exit_is_an_error_with_code_and_stderr() {
    let h = sh("echo some output; echo 'cannot frobnicate' >&2; echo 'second line' >&2; exit 3");
    let err = run_hook(HookKind::CreateRuntime, 0, &h, STATE.as_bytes()).unwrap_err();
    match &err {
        HookError::Exited { code, output, hook } => {
            assert_eq!(*code, 3);
            assert_eq!(output.stderr, b"cannot frobnicate\nsecond line\n");
            assert_eq!(output.stdout, b"some output\n");
            assert_eq!(hook.index, 0);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "createRuntime hook #0 (/bin/sh) exited with status 3: stdout: some output; stderr: cannot frobnicate; second line"
    );
    assert!(err.is_fatal());
}

#[test]
fn death_by_signal_is_reported() {
    let h = sh("kill -SEGV $$");
    let err = run_hook(HookKind::Poststop, 2, &h, b"{}").unwrap_err();
    assert!(matches!(
        err,
        HookError::Signaled {
            signal: nix::sys::signal::Signal::SIGSEGV,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "poststop hook #2 (/bin/sh) was killed by signal SIGSEGV"
    );
    assert!(!err.is_fatal());
}

#[test]
fn timeout_kills_the_hook() {
    let mut h = sh("echo $$; exec sleep 100");
    h.set_timeout(Some(1));
    let start = Instant::now();
    let err = run_hook(HookKind::CreateContainer, 1, &h, STATE.as_bytes()).unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(
        elapsed >= Duration::from_secs(1),
        "killed early: {elapsed:?}"
    );
    let HookError::Timeout {
        seconds, output, ..
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(*seconds, 1);
    assert!(err
        .to_string()
        .starts_with("createContainer hook #1 (/bin/sh) timed out after 1s"));
    // The sleep was killed and reaped: its pid is gone (or reused by something else).
    let pid: i32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_ne!(
        cmdline, b"sleep\x00100\x00",
        "the hook survived its timeout"
    );
}

#[test]
fn a_hook_finishing_within_its_timeout_succeeds() {
    let mut h = sh("exit 0");
    h.set_timeout(Some(30));
    run_hook(HookKind::CreateRuntime, 0, &h, b"{}").unwrap();
}

#[test]
fn timeout_must_be_positive() {
    for t in [0, -5] {
        let dir = Scratch::new();
        let mut h = sh(&format!("touch {}", dir.path("ran").display()));
        h.set_timeout(Some(t));
        let err = run_hook(HookKind::Prestart, 0, &h, b"{}").unwrap_err();
        assert!(matches!(err, HookError::Invalid { .. }), "{err:?}");
        assert!(!dir.path("ran").exists(), "an invalid hook must not run");
    }
}

#[test]
fn relative_path_is_invalid() {
    let h = hook("bin/sh", None, None, None);
    let err = run_hook(HookKind::Prestart, 0, &h, b"{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "prestart hook #0 (bin/sh) is invalid: path must be absolute"
    );
}

#[test]
fn missing_executable_is_a_spawn_error() {
    let h = hook("/nonexistent/hook", None, None, None);
    let err = run_hook(HookKind::CreateRuntime, 4, &h, b"{}").unwrap_err();
    let HookError::Spawn { stage, source, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(*stage, SpawnStage::Exec);
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
    assert!(err
        .to_string()
        .starts_with("createRuntime hook #4 (/nonexistent/hook) could not be started: exec:"));
}

#[test]
fn hook_that_ignores_a_large_state_is_fine() {
    let state = vec![b'x'; 1 << 20];
    let h = hook("/bin/true", None, None, None);
    run_hook(HookKind::CreateRuntime, 0, &h, &state).unwrap();
    // And one that reads only a little, then exits.
    run_hook(
        HookKind::CreateRuntime,
        0,
        &sh("head -c 10 >/dev/null"),
        &state,
    )
    .unwrap();
}

#[test]
fn hook_that_reads_a_large_state_gets_all_of_it() {
    let state = vec![b'y'; 1 << 20];
    let out = run_hook(HookKind::CreateRuntime, 0, &sh("wc -c"), &state).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "1048576");
}

#[test]
fn output_is_bounded_to_its_tail() {
    let out = run_hook(
        HookKind::Poststart,
        0,
        &sh("head -c 100000 /dev/zero; echo end"),
        b"",
    )
    .unwrap();
    assert_eq!(out.stdout.len(), hooks::OUTPUT_LIMIT);
    assert!(out.stdout.ends_with(b"\0end\n"));
}

#[test]
fn background_child_holding_stdout_does_not_block() {
    let start = Instant::now();
    let out = run_hook(HookKind::Poststart, 0, &sh("sleep 100 & echo $!"), b"{}").unwrap();
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn inherited_fds_are_not_visible_in_the_hook() {
    // Opened without O_CLOEXEC on purpose.
    // SAFETY: plain open of a static NUL-terminated path.
    let leaked = unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) };
    assert!(leaked > 2);
    let _cloexec = std::fs::File::open("/etc/passwd").unwrap(); // for contrast
    let out = run_hook(HookKind::CreateRuntime, 0, &sh("ls /proc/$$/fd"), b"{}").unwrap();
    // SAFETY: closes the fd opened above, which nothing else uses.
    unsafe { libc::close(leaked) };
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "0\n1\n2\n");
}

#[test]
fn run_hooks_runs_in_order_and_stops_at_the_first_failure() {
    let dir = Scratch::new();
    let log = dir.path("log");
    let never = dir.path("never");
    let hooks = [
        sh(&format!("echo first >> {}", log.display())),
        sh(&format!("echo second >> {}; exit 7", log.display())),
        sh(&format!("touch {}", never.display())),
    ];
    let err = run_hooks(HookKind::CreateRuntime, &hooks, STATE.as_bytes()).unwrap_err();
    assert!(matches!(err, HookError::Exited { code: 7, .. }));
    assert_eq!(err.hook().index, 1);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "first\nsecond\n");
    assert!(!never.exists(), "a hook after the failing one ran");
    run_hooks(HookKind::CreateRuntime, &hooks[..1], b"{}").unwrap();
    run_hooks(HookKind::CreateRuntime, &[], b"{}").unwrap();
}

#[test]
fn best_effort_runs_everything_and_collects_errors() {
    let dir = Scratch::new();
    let last = dir.path("last");
    let hooks = [
        sh("exit 1"),
        sh("exit 2"),
        sh(&format!("touch {}", last.display())),
    ];
    let errs = run_hooks_best_effort(HookKind::Poststop, &hooks, b"{}");
    let codes: Vec<_> = errs
        .iter()
        .map(|e| match e {
            HookError::Exited { code, hook, .. } => (hook.index, *code),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(codes, [(0, 1), (1, 2)]);
    assert!(last.exists());
}

#[test]
fn hook_kind_names_and_fatality() {
    use HookKind::*;
    let all = [
        Prestart,
        CreateRuntime,
        CreateContainer,
        StartContainer,
        Poststart,
        Poststop,
    ];
    let names: Vec<_> = all.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let fatal: Vec<_> = all.iter().map(|k| k.is_fatal()).collect();
    assert_eq!(fatal, [true, true, true, true, true, false]);
}
