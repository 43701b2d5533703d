//! linux.seccomp: profiles really filter, with per-rule actions and argument conditions.

use gantry_tests::*;
use serde_json::{json, Value};

fn all_caps(c: &mut Value) {
    let caps = json!([
        "CAP_SYS_ADMIN",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL"
    ]);
    c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    c["root"]["readonly"] = json!(false);
}

fn run(edit: impl FnOnce(&mut Value), script: &str) -> (i32, String, String) {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        all_caps(c);
        edit(c)
    })
    .sh(script);
    rt.run_fg(&b, &unique_id("seccomp"))
}

/// Podman 4.3's default profile, from the project's shared data: `../shared/data` beside the
/// workspace (CI checks `shared` out next to the clone). Missing, the tests fail: they must
/// never pass by not running.
fn podman_profile() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/seccomp-podman-4.3-default.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the shared test data must be checked out as ../shared beside the workspace",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn podman_default_profile_denies_sethostname_but_runs_busybox() {
    // Podman's profile leaves mount/unshare to the capabilities but always refuses a few
    // calls (sethostname, setns, swapon, ...) with EPERM.
    let profile = podman_profile();
    let script =
        "hostname changed 2>/dev/null; echo sethostname=$?; ls /bin >/dev/null && echo busybox-ok";
    // Control: with CAP_SYS_ADMIN in its own UTS namespace and no profile, it works.
    let (code, out, err) = run(|_| {}, script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "sethostname=0\nbusybox-ok\n");
    let (code, out, err) = run(|c| c["linux"]["seccomp"] = profile, script);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "sethostname=1\nbusybox-ok\n");
}

#[test]
fn errno_rule_with_its_own_errno() {
    let (code, out, err) = run(
        |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
            })
        },
        "mkdir /tmp/x 2>&1; echo rc=$?",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Function not implemented") || out.contains("not implemented"),
        "{out}"
    );
    assert!(out.ends_with("rc=1\n"), "{out}");
}

#[test]
fn argument_conditions() {
    // chmod to 0777 is refused (EACCES); any other mode passes.
    let (code, out, err) = run(
        |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
                    {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}
                ]
            })
        },
        "touch /tmp/f; chmod 755 /tmp/f; echo a=$?; chmod 777 /tmp/f 2>/dev/null; echo b=$?; stat -c %a /tmp/f",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a=0\nb=1\n755\n");
}

#[test]
fn default_errno_and_allow_list() {
    // An allow-list profile: Podman's allowed calls minus mkdir, default ERRNO(EPERM).
    let profile = podman_profile();
    let allow: Vec<Value> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r["args"].is_null())
        .flat_map(|r| r["names"].as_array().unwrap().clone())
        .filter(|n| n != "mkdir" && n != "mkdirat")
        .collect();
    let (code, out, err) = run(
        |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
            })
        },
        "echo before; mkdir /tmp/x 2>&1; echo after",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("before\n") && out.ends_with("after\n"),
        "{out}"
    );
    assert!(
        out.contains("Operation not permitted"),
        "mkdir was not denied: {out}"
    );
}

#[test]
fn notify_action_is_a_clear_error() {
    if !is_gantry() {
        return skip_not_gantry(
            "runc 1.1 supports notify with a listener; Gantry refuses it clearly",
        );
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
    let o = rt.create(&b, &unique_id("notify"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("SCMP_ACT_NOTIFY"));
    assert!(rt.ids().is_empty());
}

#[test]
fn docker_style_profile_blocks_unshare_mount_and_setns_even_with_cap_sys_admin() {
    // Docker's default profile (moby profiles/seccomp/default.json, as its documentation lists
    // the "significant syscalls blocked") allows mount, umount2, unshare and setns only through
    // a CAP_SYS_ADMIN include, and keyctl/add_key/request_key never. Rebuilt here from Podman's
    // allow list without those calls.
    let profile = podman_profile();
    let blocked = [
        "mount",
        "umount",
        "umount2",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "request_key",
    ];
    let mut p = profile.clone();
    for rule in p["syscalls"].as_array_mut().unwrap() {
        if rule["action"] == "SCMP_ACT_ALLOW" {
            let names: Vec<Value> = rule["names"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| !blocked.contains(&n.as_str().unwrap()))
                .cloned()
                .collect();
            rule["names"] = json!(names);
        }
    }
    p["defaultErrnoRet"] = json!(1);
    let script = "unshare -m true 2>&1; echo unshare=$?; mkdir /m; mount -t tmpfs x /m 2>&1; echo mount=$?; echo ok";
    let (code, out, err) = run(|c| c["linux"]["seccomp"] = p, script);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("unshare=1") && out.contains("Operation not permitted"),
        "{out}"
    );
    assert!(!out.contains("mount=0"), "{out}");
    assert!(out.ends_with("ok\n"), "{out}");
}

/// A profile with default ALLOW and one rule, `names` -> `rule` (the rule's other fields).
fn deny(names: &[&str], rule: Value) -> Value {
    let mut r = rule;
    r["names"] = json!(names);
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r]})
}

/// `(mkdir /tmp/d); echo rc=$?` under a profile giving mkdir/mkdirat `action`: the subshell
/// (a fork) makes the call, so a killing action ends it and not the container's shell.
fn mkdir_under(action: &str) -> (i32, String, String) {
    let p = deny(&["mkdir", "mkdirat"], json!({"action": action}));
    run(
        |c| c["linux"]["seccomp"] = p,
        "(mkdir /tmp/d 2>&1); echo rc=$?; [ -d /tmp/d ] && echo made; echo end",
    )
}

#[test]
fn kill_actions_end_the_caller_by_sigsys() {
    // 159 = 128 + SIGSYS (31): the subshell died of the signal, the directory was not made.
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let (code, out, err) = mkdir_under(action);
        assert_eq!(code, 0, "{action}: {err}");
        assert!(out.contains("rc=159\n"), "{action}: {out}");
        assert!(!out.contains("made"), "{action}: {out}");
        assert!(out.ends_with("end\n"), "{action}: {out}");
    }
}

#[test]
fn kill_process_ends_the_container_init() {
    // The shell itself makes the call (its kill builtin, no fork): the container's init dies
    // of SIGSYS, even as a pid namespace's init.
    let p = deny(
        &["kill"],
        json!({"action": "SCMP_ACT_KILL_PROCESS", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}),
    );
    let (code, out, _) = run(
        |c| c["linux"]["seccomp"] = p,
        "echo before; kill -0 1; echo after",
    );
    assert_eq!(out, "before\n");
    assert_eq!(code, 128 + libc::SIGSYS, "{out}");
}

#[test]
fn trap_sends_a_catchable_sigsys() {
    // Uncaught, SIGSYS ends the subshell and the call was not made.
    let (code, out, err) = mkdir_under("SCMP_ACT_TRAP");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rc=159\n") && !out.contains("made"), "{out}");
    // Caught (the shell's own kill builtin makes the call): the handler runs and the shell
    // goes on, which no KILL action allows, and the SIGTERM was never sent.
    let p = deny(
        &["kill"],
        json!({"action": "SCMP_ACT_TRAP", "args": [{"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]}),
    );
    let (code, out, err) = run(
        |c| c["linux"]["seccomp"] = p,
        "sleep 100 & (trap 'echo caught' SYS; kill -TERM $! 2>/dev/null; echo alive); kill -0 $! && echo sleeper-alive; kill -9 $!",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "caught\nalive\nsleeper-alive\n");
}

#[test]
fn trace_without_a_tracer_is_enosys() {
    let (code, out, err) = mkdir_under("SCMP_ACT_TRACE");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Function not implemented"), "{out}");
    assert!(out.contains("rc=1\n") && !out.contains("made"), "{out}");
}

#[test]
fn log_action_allows_the_call() {
    let (code, out, err) = mkdir_under("SCMP_ACT_LOG");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "rc=0\nmade\nend\n");
}

#[test]
fn errno_rules_each_with_their_own_errno_in_one_profile() {
    let p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30},
            {"names": ["symlink", "symlinkat"], "action": "SCMP_ACT_ERRNO"}
        ]
    });
    let (code, out, err) = run(
        |c| c["linux"]["seccomp"] = p,
        "mkdir /tmp/d 2>&1; rmdir /tmp 2>&1; ln -s a /tmp/l 2>&1; echo end",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].ends_with("Permission denied"), "{out}");
    assert!(lines[1].ends_with("Read-only file system"), "{out}");
    // No errnoRet: EPERM, as runc and libseccomp.
    assert!(lines[2].ends_with("Operation not permitted"), "{out}");
}

/// chmod /tmp/f to each of `modes` under a profile refusing (EACCES) chmod and fchmodat whose
/// mode argument satisfies `op` with `value` (and `two`); which modes were refused.
fn refused_modes(op: &str, value: u64, two: Option<u64>, modes: &[&str]) -> Vec<String> {
    let arg = |index: u32| {
        let mut a = json!({"index": index, "value": value, "op": op});
        if let Some(t) = two {
            a["valueTwo"] = json!(t);
        }
        a
    };
    let p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [arg(1)]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [arg(2)]}
        ]
    });
    let script = format!(
        "touch /tmp/f; for m in {}; do chmod 0 /tmp/f 2>/dev/null; chmod $m /tmp/f 2>/dev/null || echo $m; done",
        modes.join(" ")
    );
    let (code, out, err) = run(|c| c["linux"]["seccomp"] = p, &script);
    assert_eq!(code, 0, "{op}: {err}");
    out.lines().map(str::to_string).collect()
}

#[test]
fn comparison_operators_on_an_argument() {
    // 644 = 420, the value compared with; 600 below it, 700 above.
    let modes = ["600", "644", "700"];
    let cases: [(&str, u64, Option<u64>, &[&str]); 7] = [
        ("SCMP_CMP_EQ", 0o644, None, &["644"]),
        ("SCMP_CMP_NE", 0o644, None, &["600", "700"]),
        ("SCMP_CMP_LT", 0o644, None, &["600"]),
        ("SCMP_CMP_LE", 0o644, None, &["600", "644"]),
        ("SCMP_CMP_GE", 0o644, None, &["644", "700"]),
        ("SCMP_CMP_GT", 0o644, None, &["700"]),
        // value is the mask, valueTwo what the masked argument must equal: no group or
        // other permission bits.
        ("SCMP_CMP_MASKED_EQ", 0o077, Some(0), &["600", "700"]),
    ];
    for (op, value, two, want) in cases {
        // (The `chmod 0` reset before each mode may itself be refused; it is not reported.)
        let got = refused_modes(op, value, two, &modes);
        assert_eq!(got, want, "{op}");
    }
}

#[test]
fn conditions_on_several_arguments_are_anded() {
    // kill(pid, sig) is refused only for pid 1 AND signal 0.
    let p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
        ]}]
    });
    let (code, out, err) = run(
        |c| c["linux"]["seccomp"] = p,
        "sleep 100 & kill -0 1 2>/dev/null; echo a=$?; kill -0 $! ; echo b=$?; kill -CONT 1; echo c=$?; kill -9 $!; echo d=$?",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a=1\nb=0\nc=0\nd=0\n");
}

#[test]
fn exec_processes_get_the_filter_too() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    b.edit(|c| {
        all_caps(c);
        c["linux"]["seccomp"] = deny(
            &["mkdir", "mkdirat"],
            json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 13}),
        )
    });
    let id = unique_id("seccomp-exec");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "grep -E '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Seccomp:\t2", "{out}");
    assert!(lines[1].ends_with("Permission denied"), "{out}");
    assert_eq!(lines[2], "rc=1", "{out}");
    // The container's init is filtered as well.
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Seccomp:\t2\n"), "{status}");
}

/// mkdir refused with EACCES, and `flags`.
fn mkdir_errno_with_flags(flags: &[&str]) -> Value {
    let mut p = deny(
        &["mkdir", "mkdirat"],
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 13}),
    );
    p["flags"] = json!(flags);
    p
}

#[test]
fn flag_tsync_is_applied() {
    if !is_gantry() {
        return skip_not_gantry(
            "runc 1.1 refuses every flag (\"seccomp flags are not yet supported by runc\")",
        );
    }
    let p = mkdir_errno_with_flags(&["SECCOMP_FILTER_FLAG_TSYNC"]);
    let (code, out, err) = run(
        |c| c["linux"]["seccomp"] = p,
        "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1",
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("Seccomp:\t2\n"), "{out}");
    assert!(out.ends_with("Permission denied\n"), "{out}");
}

/// This process's own `Speculation_Store_Bypass:` value in /proc/self/status (the kernel's
/// words: "not vulnerable", "vulnerable", "thread vulnerable", "thread mitigated", "thread force
/// mitigated", "globally mitigated", "unknown"). A container's init inherits it through the
/// runtime, so it is what a container shows when nothing changes it.
fn own_ssb_status() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Speculation_Store_Bypass:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn flag_spec_allow_leaves_speculative_store_bypass_unmitigated() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1 refuses every seccomp flag");
    }
    // The expectation is read from the host, never assumed: the SSB mode in sysfs ("Not
    // affected", "Vulnerable", "Mitigation: ... disabled", "... via prctl", "... via prctl and
    // seccomp") and this process's own per-thread state, which the container inherits.
    let host = own_ssb_status();
    if host.is_empty() {
        return skip("this kernel's /proc/self/status has no Speculation_Store_Bypass line");
    }
    let script = "grep '^Speculation_Store_Bypass:' /proc/self/status; mkdir /tmp/d 2>&1";
    let status_of = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("Speculation_Store_Bypass:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    // With SPEC_ALLOW the filter works and leaves the mitigation state exactly as inherited.
    let (code, out, err) = run(
        |c| c["linux"]["seccomp"] = mkdir_errno_with_flags(&["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
        script,
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.ends_with("Permission denied\n"), "{out}");
    assert_eq!(status_of(&out), host, "with SPEC_ALLOW: {out}");
    // Without it, a filter forces the mitigation on exactly the kernels whose SSB mode includes
    // seccomp; elsewhere the flag makes no visible difference, which is said, not passed over.
    let mode = std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass")
        .unwrap_or_default();
    let (code, out, err) = run(
        |c| c["linux"]["seccomp"] = mkdir_errno_with_flags(&[]),
        script,
    );
    assert_eq!(code, 1, "{err}");
    if mode.contains("seccomp") {
        assert_eq!(
            status_of(&out),
            "thread force mitigated",
            "without the flag: {out}"
        );
    } else {
        assert_eq!(status_of(&out), host, "without the flag: {out}");
        skip(format!(
            "SPEC_ALLOW's effect is not observable: SSB mode {:?}, inherited state {host:?} (the filter itself was checked)",
            mode.trim()
        ));
    }
}

/// Whether the kernel log has a seccomp audit record of `comm` for an ERRNO action (the record
/// gives the action without its data).
fn audit_logged(comm: &str) -> bool {
    for _ in 0..20 {
        let o = std::process::Command::new("dmesg").output().unwrap();
        let log = String::from_utf8_lossy(&o.stdout);
        if log
            .lines()
            .any(|l| l.contains(&format!("comm=\"{comm}\"")) && l.contains("code=0x50000"))
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn flag_log_logs_actions_other_than_allow() {
    if !is_gantry() {
        return skip_not_gantry(
            "runc 1.1 refuses every flag (\"seccomp flags are not yet supported by runc\")",
        );
    }
    // A refused call is logged (an audit record in the kernel log) only with
    // SECCOMP_FILTER_FLAG_LOG. The program runs under a unique name to find its record:
    // busybox runs argv[1] when called as busybox*, and the record names the executable.
    let logged = |tag: char, flags: &[&str]| {
        let comm = unique_comm(tag);
        let p = mkdir_errno_with_flags(flags);
        let script =
            format!("ln -s /bin/busybox /tmp/{comm}; /tmp/{comm} mkdir /tmp/d 2>&1; echo rc=$?");
        let (code, out, err) = run(|c| c["linux"]["seccomp"] = p, &script);
        assert_eq!(code, 0, "{err}");
        assert!(out.ends_with("Permission denied\nrc=1\n"), "{out}");
        audit_logged(&comm)
    };
    assert!(logged('l', &["SECCOMP_FILTER_FLAG_LOG"]));
    assert!(!logged('n', &[]));
}

/// A program name no other call or run has used, within the kernel's 15 bytes of comm: the
/// busybox applet prefix, the caller's tag (distinct per call, as a coarse clock can give two
/// calls the same time), this process's pid and the low bits of the clock (distinct per run).
fn unique_comm(tag: char) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!(
        "busybox{tag}{:x}{:02x}",
        std::process::id() % 0x10000,
        micros % 0x100
    )
}

#[test]
fn flag_wait_killable_recv_without_a_listener_is_a_clear_error() {
    // The kernel takes WAIT_KILLABLE_RECV only with a user-notification listener
    // (NEW_LISTENER), which exists only for a profile using SCMP_ACT_NOTIFY.
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = mkdir_errno_with_flags(&["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    });
    let o = rt.create(&b, &unique_id("waitkill"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    if is_gantry() {
        assert!(
            err.contains("linux.seccomp.flags")
                && err.contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
            "{err}"
        );
        assert!(rt.ids().is_empty());
        // `features` lists it only where the kernel takes it with a listener (5.19), and
        // every flag applied to every filter is listed.
        let f: Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
        let supported = f["linux"]["seccomp"]["supportedFlags"].as_array().unwrap();
        for flag in [
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_TSYNC",
        ] {
            assert!(supported.contains(&json!(flag)), "{flag}: {f}");
        }
    }
}

/// tests/fixtures/abi.c built static (once per test binary): `abi ABI NR [ARG]` makes syscall NR
/// through the native, x32 or i386 ABI and prints `ok` or `errno=N`.
fn abi_program() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/abi.c");
        // In cargo's per-target temp dir, not $TMPDIR: the build outlives the test.
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("abi-{}", std::process::id()));
        let o = std::process::Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
            .expect("gcc (build-essential) builds the ABI test program");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    })
}

/// Run `script` with /bin/abi in the rootfs, under `profile`.
fn run_abi(profile: Value, script: &str) -> (i32, String, String) {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    std::fs::copy(abi_program(), b.rootfs().join("bin/abi")).unwrap();
    b.edit(|c| {
        all_caps(c);
        c["linux"]["seccomp"] = profile;
    })
    .sh(script);
    rt.run_fg(&b, &unique_id("seccomp-abi"))
}

// sync(2) in each ABI's numbering: x86_64 162, x32 162 | 0x40000000, i386 36. The filter
// acts before the kernel dispatches, so x32's answer does not depend on CONFIG_X86_X32_ABI;
// an i386 call needs the kernel's ia32 emulation (int 0x80), which a host may lack.
const SYNC_NATIVE_X32: &str = "abi native 162; (abi x32 162); echo x32=$?";
const SYNC_I386: &str = "; (abi i386 36); echo i386=$?";

/// Whether this kernel runs i386 system calls (int 0x80): the ABI program's getpid (20) there,
/// on the host, outside any filter.
fn host_runs_i386() -> bool {
    std::process::Command::new(abi_program())
        .args(["i386", "20"])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"ok\n")
}

/// The script for every ABI this host has, the i386 expectation to append when it has it, and
/// the skip note otherwise.
fn abi_script(i386_out: &str) -> (String, String) {
    if host_runs_i386() {
        (
            format!("{SYNC_NATIVE_X32}{SYNC_I386}"),
            i386_out.to_string(),
        )
    } else {
        skip("the i386 part: this kernel runs no i386 system call (no ia32 emulation)");
        (SYNC_NATIVE_X32.to_string(), String::new())
    }
}

fn sync_refused(archs: Value) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": archs,
        "syscalls": [{"names": ["sync"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

#[test]
fn listed_compat_abis_are_filtered_by_their_own_numbers() {
    let (script, i386) = abi_script("errno=1\ni386=0\n");
    let (code, out, err) = run_abi(
        sync_refused(json!([
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32"
        ])),
        &script,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("errno=1\nerrno=1\nx32=0\n{i386}"));
}

#[test]
fn unlisted_compat_abis_cannot_bypass_a_deny_list() {
    // Only x86_64 listed: a deny rule must not be sidestepped through x32 numbers (nr with
    // the x32 bit, arch still x86_64) or the i386 ABI (int 0x80); such calls get the
    // bad-architecture action, which kills, as libseccomp's default (runc).
    let (script, i386) = abi_script("i386=159\n");
    for archs in [json!(["SCMP_ARCH_X86_64"]), json!(null)] {
        let (code, out, err) = run_abi(sync_refused(archs.clone()), &script);
        assert_eq!(code, 0, "{archs}: {err}");
        assert_eq!(out, format!("errno=1\nx32=159\n{i386}"), "{archs}");
    }
}

/// tests/fixtures/seccomp-docker-default.json: Docker's default profile in OCI form, written from
/// its documentation for the default capabilities (fixtures/README.md).
fn docker_profile() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/seccomp-docker-default.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn docker_default_profile_runs_busybox_and_refuses_namespaces_mounts_and_keyrings_with_eperm() {
    // busybox runs normally; unshare, mount and the keyring calls fail with EPERM from the
    // profile, even with CAP_SYS_ADMIN (the profile is Docker's for the default capabilities).
    // The errno of each, through the static test program: unshare(0) 272, mount(NULL...) 165,
    // add_key 248, request_key 249, keyctl 250.
    let script = "ls / >/dev/null && echo ls-ok; ps >/dev/null && echo ps-ok; \
        wget --help 2>&1 | grep -q Usage && echo wget-ok; (sh -c 'echo sub-ok'); \
        unshare -m true 2>&1; echo unshare=$?; mkdir /m; mount -t tmpfs x /m 2>&1; echo mount=$?; \
        for nr in 272 165 248 249 250; do abi native $nr; done";
    let (code, out, err) = run_abi(docker_profile(), script);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..4],
        ["ls-ok", "ps-ok", "wget-ok", "sub-ok"],
        "{out}"
    );
    assert!(lines[4].ends_with("Operation not permitted"), "{out}");
    assert_eq!(lines[5], "unshare=1", "{out}");
    assert_eq!(lines[7], "mount=1", "{out}");
    assert_eq!(&lines[8..], ["errno=1"; 5], "{out}");

    // Control: without the profile the same calls are not refused with EPERM.
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    std::fs::copy(abi_program(), b.rootfs().join("bin/abi")).unwrap();
    b.edit(all_caps).sh(
        "unshare -m true; echo unshare=$?; mkdir /m; mount -t tmpfs x /m; echo mount=$?; \
         for nr in 272 165 248 249 250; do abi native $nr; done",
    );
    let (code, out, err) = rt.run_fg(&b, &unique_id("seccomp-docker"));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..4],
        ["unshare=0", "mount=0", "ok", "errno=14"],
        "{out}"
    );
    assert_eq!(lines.len(), 7, "{out}");
    assert!(lines[4..].iter().all(|l| *l != "errno=1"), "{out}");
}
