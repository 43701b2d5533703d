//! What a runc user types (issue 18), through Gantry and, where it is installed, through runc
//! 1.1.5 on the same bundle: the outcomes (exit codes, what happens to the container) are
//! compared, and Gantry's messages are checked where they are meant to be clearer than runc's.

use std::path::Path;
use std::process::Output;

use gantry_tests::*;
use serde_json::json;

const RUNC: &str = "/usr/sbin/runc";

/// Gantry, and runc beside it when it is there (and the runtime under test is Gantry).
fn runtimes() -> Vec<Rt> {
    let mut v = vec![Rt::new()];
    if is_gantry() && Path::new(RUNC).exists() {
        v.push(Rt::with_runtime(RUNC));
    } else {
        skip("no runc at /usr/sbin/runc to compare with: Gantry's outcomes only");
    }
    v
}

fn name(rt: &Rt) -> String {
    rt.bin.file_name().unwrap().to_string_lossy().into_owned()
}

fn is_runc(rt: &Rt) -> bool {
    name(rt) == "runc"
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A running `sleep` container, in a bundle whose /etc/passwd and /etc/group name alice and
/// staff, with a file that is not executable at /noexec.
fn running(rt: &Rt) -> (Bundle, String) {
    let b = Bundle::new(&["sleep", "300"]);
    let root = b.rootfs();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nstaff:x:50:alice\nalice:x:1000:\n",
    )
    .unwrap();
    std::fs::write(root.join("noexec"), "#!/bin/sh\necho ran\n").unwrap();
    let id = unique_id("runccli");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    (b, id)
}

#[test]
fn single_dash_long_flags_as_urfave_takes_them() {
    for rt in runtimes() {
        let n = name(&rt);
        let b = Bundle::new(&["sleep", "300"]);
        let (root, bundle) = (rt.root.path().to_str().unwrap(), b.path().to_str().unwrap());
        let log = rt.root.path().with_extension("log");
        let log = log.to_str().unwrap();
        let id = unique_id("dash");
        let o = rt.run_argv(&[
            "-root",
            root,
            "-log",
            log,
            "-log-format",
            "json",
            "create",
            "-bundle",
            bundle,
            "-pid-file",
            &format!("{bundle}/pid"),
            &id,
        ]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        assert!(b.path().join("pid").exists(), "{n}: -pid-file");
        let o = rt.run_argv(&["-root", root, "list", "-format", "json"]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(list[0]["id"], json!(id), "{n}");
        assert_eq!(list[0]["status"], json!("created"), "{n}");
        rt.ok(&["start", &id]);
        // A flag after the id, with one dash; the program's own words stay its own.
        let o = rt.run_argv(&[
            &format!("-root={root}"),
            "exec",
            "-env",
            "X=one",
            &id,
            "sh",
            "-c",
            "echo $X \"$@\"",
            "sh",
            "-tty",
            "-bundle",
        ]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        assert_eq!(out(&o).trim(), "one -tty -bundle", "{n}");
        let o = rt.run_argv(&["-root", root, "kill", "-all", &id, "KILL"]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        assert!(rt.wait_status(&id, "stopped"), "{n}");
        let o = rt.run_argv(&["-root", root, "delete", "-force", &id]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        assert!(rt.ids().is_empty(), "{n}: {:?}", rt.ids());
        let _ = std::fs::remove_file(log);
    }
}

#[test]
fn v_prints_the_version_and_h_the_help() {
    for rt in runtimes() {
        let n = name(&rt);
        let v = rt.run_argv(&["-v"]);
        assert!(v.status.success(), "{n}: {}", err(&v));
        let long = rt.run_argv(&["--version"]);
        assert_eq!(out(&v), out(&long), "{n}: -v is --version");
        assert!(out(&v).contains(env!("CARGO_PKG_VERSION")) || is_runc(&rt));
        let h = rt.run_argv(&["h"]);
        assert!(h.status.success(), "{n}: {}", err(&h));
        let help = rt.run_argv(&["help"]);
        assert_eq!(out(&h), out(&help), "{n}: h is help");
        assert!(out(&h).contains("create"), "{n}: {}", out(&h));
    }
}

#[test]
fn kill_signal_zero_is_a_liveness_probe() {
    for rt in runtimes() {
        let n = name(&rt);
        let (_b, id) = running(&rt);
        let o = rt.run(&["kill", &id, "0"]);
        assert!(
            o.status.success(),
            "{n}: kill 0 on a live init: {}",
            err(&o)
        );
        assert_eq!(rt.status(&id), "running", "{n}: signal 0 changed nothing");
        rt.ok(&["kill", &id, "KILL"]);
        assert!(rt.wait_status(&id, "stopped"), "{n}");
        let o = rt.run(&["kill", &id, "0"]);
        assert!(!o.status.success(), "{n}: kill 0 on a dead init succeeded");
        if !is_runc(&rt) {
            assert!(err(&o).contains("not running"), "{}", err(&o));
        }
    }
}

fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - resctrl "))
}

#[test]
fn update_intel_rdt_schemas_and_kernel_memory() {
    if resctrl_mounted() {
        return skip("resctrl is mounted here: the check is of the error where it is not");
    }
    for rt in runtimes() {
        let n = name(&rt);
        let (_b, id) = running(&rt);
        for (flag, value) in [
            ("--l3-cache-schema", "L3:0=f"),
            ("--mem-bw-schema", "MB:0=50"),
        ] {
            let o = rt.run(&["update", flag, value, &id]);
            assert_eq!(code(&o), 1, "{n} {flag}: {}", err(&o));
            if !is_runc(&rt) {
                let e = err(&o);
                assert!(
                    e.contains(flag) && e.contains("no resctrl filesystem is mounted"),
                    "{e}"
                );
            }
        }
        for flag in ["--kernel-memory", "--kernel-memory-tcp"] {
            let o = rt.run(&["update", flag, "64m", &id]);
            assert!(o.status.success(), "{n} {flag}: {}", err(&o));
            assert!(
                err(&o).contains("Kernel memory settings are ignored and will be removed"),
                "{n} {flag}: {}",
                err(&o)
            );
            let o = rt.run(&["update", flag, "lots", &id]);
            assert!(!o.status.success(), "{n} {flag} lots was taken");
        }
        assert_eq!(rt.status(&id), "running", "{n}");
    }
}

#[test]
fn exec_failures_exit_255() {
    for rt in runtimes() {
        let n = name(&rt);
        let (_b, id) = running(&rt);
        let ok = rt.run(&["exec", &id, "sh", "-c", "exit 7"]);
        assert_eq!(code(&ok), 7, "{n}: the program's own code passes through");
        let cases: &[(&[&str], &str)] = &[
            (&["exec", &id, "/no/such/program"], "no such file"),
            (&["exec", &id, "/noexec"], "permission denied"),
            (&["exec", &id, "/etc"], "permission denied"),
            (
                &["exec", "--cwd", "/no/such/dir", &id, "true"],
                "/no/such/dir",
            ),
            (&["exec", "no-such-container", "true"], "no-such-container"),
        ];
        for (args, says) in cases {
            let o = rt.run(args);
            assert_eq!(code(&o), 255, "{n} {args:?}: {}", err(&o));
            if !is_runc(&rt) {
                assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
            }
        }
        rt.ok(&["pause", &id]);
        let o = rt.run(&["exec", &id, "true"]);
        assert_eq!(
            code(&o),
            255,
            "{n} exec into a paused container: {}",
            err(&o)
        );
        assert!(err(&o).contains("--ignore-paused"), "{n}: {}", err(&o));
        rt.ok(&["resume", &id]);
    }
}

/// runc 1.1.5 takes only numbers (`strconv.Atoi: parsing "alice"`); Gantry looks names up in
/// the container's /etc/passwd and /etc/group, and says which one lacks a name.
#[test]
fn exec_user_names_from_the_container() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1 takes only numeric ids");
    }
    let rt = Rt::new();
    let (b, id) = running(&rt);
    let id_of = |spec: &str| {
        let o = rt.run(&["exec", "--user", spec, &id, "sh", "-c", "id -u; id -g"]);
        assert!(o.status.success(), "--user {spec}: {}", err(&o));
        out(&o)
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(id_of("alice"), ["1000", "1000"]);
    assert_eq!(id_of("alice:staff"), ["1000", "50"]);
    assert_eq!(id_of("alice:7"), ["1000", "7"]);
    assert_eq!(
        id_of("1000"),
        ["1000", "0"],
        "a number keeps the config's gid"
    );
    for (spec, says) in [
        ("bob", "no user bob in the container's /etc/passwd"),
        (
            "alice:wheel",
            "no group wheel in the container's /etc/group",
        ),
    ] {
        let o = rt.run(&["exec", "--user", spec, &id, "true"]);
        assert_eq!(code(&o), 255, "--user {spec}");
        assert!(err(&o).contains(says), "--user {spec}: {}", err(&o));
    }
    // The lookup stays inside the container: a symlink leading above its root ends at the
    // root (where no such file is), never at the group file beside the rootfs.
    std::fs::write(b.path().join("group-outside"), "wheel:x:77:\n").unwrap();
    let group = b.rootfs().join("etc/group");
    std::fs::remove_file(&group).unwrap();
    std::os::unix::fs::symlink("../../../group-outside", &group).unwrap();
    let o = rt.run(&["exec", "--user", "0:wheel", &id, "true"]);
    assert_eq!(code(&o), 255, "{}", err(&o));
    assert!(err(&o).contains("has no /etc/group"), "{}", err(&o));
}

/// runc 1.1.5 warns and ignores an unknown `--cap`; Gantry refuses it, naming the flag and the
/// capabilities it knows.
#[test]
fn exec_unknown_cap_lists_the_known_ones() {
    if !is_gantry() {
        return skip_not_gantry("runc ignores an unknown capability with a warning");
    }
    let rt = Rt::new();
    let (_b, id) = running(&rt);
    let o = rt.run(&["exec", "--cap", "CAP_BOGUS", &id, "true"]);
    assert_eq!(code(&o), 255);
    let e = err(&o);
    assert!(
        e.contains("exec --cap CAP_BOGUS: unknown capability"),
        "{e}"
    );
    assert!(
        e.contains("CAP_SYS_ADMIN") && e.contains("CAP_NET_RAW"),
        "{e}"
    );
    // The same in a --process file, named by its field.
    let dir = TempDir::new("capproc");
    let f = dir.path().join("process.json");
    let p = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL", "CAP_BOGUS"]}});
    std::fs::write(&f, p.to_string()).unwrap();
    let o = rt.run(&["exec", "--process", f.to_str().unwrap(), &id]);
    assert_eq!(code(&o), 255);
    let e = err(&o);
    assert!(
        e.contains("capabilities.effective[1]: unknown capability \"CAP_BOGUS\"")
            && e.contains("CAP_SYS_ADMIN"),
        "{e}"
    );
}

#[test]
fn usage_errors_reach_the_log() {
    for rt in runtimes() {
        let n = name(&rt);
        let dir = TempDir::new("usagelog");
        for format in ["json", "text"] {
            let log = dir.path().join(format!("log.{format}"));
            let o = rt.run(&[
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                format,
                "create",
                "--bogus",
                "x",
            ]);
            assert!(!o.status.success(), "{n}: a bad flag was taken");
            let text = std::fs::read_to_string(&log)
                .unwrap_or_else(|e| panic!("{n}: no --log written: {e}"));
            let line = text.lines().last().unwrap_or_default();
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{n}: not a JSON line ({e}): {line}"));
                assert_eq!(v["level"], "error", "{n}: {line}");
                assert!(v["msg"].as_str().unwrap().contains("bogus"), "{n}: {line}");
                assert!(v["time"].is_string(), "{n}: {line}");
            } else {
                assert!(
                    line.contains("level=error") && line.contains("bogus"),
                    "{n}: {line}"
                );
            }
        }
    }
}

#[test]
fn debug_without_log_prints_debug_lines_on_stderr() {
    for rt in runtimes() {
        let n = name(&rt);
        let b = Bundle::new(&["sleep", "300"]);
        let id = unique_id("debug");
        let o = rt.run(&[
            "--debug",
            "run",
            "-d",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        assert!(err(&o).contains("level=debug"), "{n}: {}", err(&o));
        let quiet = rt.run(&["kill", &id, "0"]);
        assert!(!err(&quiet).contains("level=debug"), "{n}: {}", err(&quiet));
    }
}

/// A process.cwd missing from the rootfs is made, as runc makes it: mode 0755, owned by the
/// container's root, even for another user and a read-only root.
#[test]
fn missing_cwd_is_created() {
    for rt in runtimes() {
        let n = name(&rt);
        let mut b = Bundle::new(&["sh", "-c", "pwd; id -u"]);
        b.edit(|c| {
            c["process"]["cwd"] = json!("/work/a/b");
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            c["root"]["readonly"] = json!(true);
        });
        let (rc, stdout, stderr) = rt.run_fg(&b, &unique_id("cwd"));
        assert_eq!(rc, 0, "{n}: {stderr}");
        assert_eq!(
            stdout.split_whitespace().collect::<Vec<_>>(),
            ["/work/a/b", "1000"],
            "{n}"
        );
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        for d in ["work", "work/a", "work/a/b"] {
            let m = std::fs::metadata(b.rootfs().join(d)).unwrap();
            assert_eq!(
                (m.uid(), m.permissions().mode() & 0o7777),
                (0, 0o755),
                "{n}: {d}"
            );
        }
    }
}

/// A hook that runs long shows itself with --debug: each hook's start (path, pid, args,
/// timeout) and end (exit, duration) go to the --log at debug level, from the runtime
/// (createRuntime) and from the container's init (createContainer) alike; nothing without
/// --debug. Gantry's own lines (runc 1.1 logs no hook).
#[test]
fn debug_log_shows_each_hooks_start_and_end() {
    if !is_gantry() {
        return skip_not_gantry("Gantry's debug lines");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 1"], "timeout": 10}],
            "createContainer": [{"path": "/bin/busybox", "args": ["busybox", "true"]}],
        })
    });
    let dir = TempDir::new("hooklog");
    for debug in [true, false] {
        let log = dir.path().join(format!("log-{debug}"));
        let id = unique_id("hooklog");
        let mut args = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
        if debug {
            args.push("--debug");
        }
        args.extend(["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
        let o = rt.run(&args);
        assert!(o.status.success(), "{}", err(&o));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let msgs: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "debug")
            .filter_map(|v| v["msg"].as_str().map(str::to_string))
            .filter(|m| m.contains(" hook #"))
            .collect();
        if !debug {
            assert!(msgs.is_empty(), "hook lines without --debug: {msgs:?}");
            continue;
        }
        let find = |prefix: &str| {
            msgs.iter()
                .find(|m| m.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line {prefix:?} in {msgs:?}"))
                .clone()
        };
        let start = find("createRuntime hook #0 (/bin/sh): started, pid ");
        assert!(
            start.ends_with(r#"args ["sh", "-c", "sleep 1"], timeout 10s"#),
            "{start}"
        );
        let end = find("createRuntime hook #0 (/bin/sh): exited 0 after ");
        let secs: f64 = end
            .rsplit(' ')
            .next()
            .and_then(|s| s.strip_suffix('s'))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no duration in {end}"));
        assert!((1.0..10.0).contains(&secs), "{end}");
        find("createContainer hook #0 (/bin/busybox): started, pid ");
        find("createContainer hook #0 (/bin/busybox): exited 0 after ");
    }
}

/// A memory limit below what the container's setup needs: runc refuses it when the kernel
/// does ("unable to set memory limit to L (current usage: U, ...)"); Gantry's smaller init
/// often gets the limit and is then OOM-killed while it sets up, which create reported as
/// "the container's init exited during setup" (or a reset sync channel). Both runtimes must
/// fail naming the limit and the usage, and leave nothing.
#[test]
fn memory_limit_below_setup_usage_names_limit_and_usage() {
    if !v1_or_skip(&["memory"]) {
        return;
    }
    for rt in runtimes() {
        let n = name(&rt);
        for limit in [4096, 100_000] {
            let mut b = Bundle::new(&["true"]);
            b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": limit}));
            let id = unique_id("memlow");
            let o = rt.create(&b, &id);
            if o.status.success() {
                // Gantry's init joins its cgroup itself and brings no charged pages along: a
                // setup that happens to fit in 100 kB runs (runc's init never does). One page
                // never fits.
                assert!(
                    !is_runc(&rt) && limit > 4096,
                    "{n}, limit {limit}: create succeeded"
                );
                rt.ok(&["delete", "--force", &id]);
                continue;
            }
            assert!(rt.ids().is_empty(), "a failed create left {:?}", rt.ids());
            let msg = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(
                msg.contains(&limit.to_string()) && msg.contains("usage"),
                "{n}, limit {limit}: {msg}"
            );
            assert!(
                !msg.contains("exited during setup") && !msg.contains("ECONNRESET"),
                "{n}, limit {limit}: {msg}"
            );
            if !is_runc(&rt) {
                // Gantry's OOM-kill explanation, or the kernel's refusal as runc's.
                assert!(
                    msg.contains(&format!(
                        "linux.resources.memory.limit {limit} bytes is too low for the container's setup: the kernel's OOM killer killed its init (memory usage "
                    )) || msg.contains(&format!("unable to set memory limit to {limit} (current usage: ")),
                    "{n}, limit {limit}: {msg}"
                );
            }
        }
    }
}

/// `update --memory` below what the container uses (30 MB of tmpfs it cannot give back
/// without swap): refused naming the limit and the usage, as runc does, and the container
/// runs on with its old limit.
#[test]
fn update_memory_below_usage_names_limit_and_usage() {
    if !v1_or_skip(&["memory"]) {
        return;
    }
    for rt in runtimes() {
        let n = name(&rt);
        let b = Bundle::new(&[
            "sh",
            "-c",
            "head -c 30000000 /dev/zero >/dev/shm/fill && touch /dev/shm/full && exec sleep 300",
        ]);
        let id = unique_id("memupd");
        let o = rt.run(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(o.status.success(), "{n}: {}", err(&o));
        let full = || {
            rt.run(&["exec", &id, "test", "-e", "/dev/shm/full"])
                .status
                .success()
        };
        let mut filled = false;
        for _ in 0..100 {
            filled = full();
            if filled {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(filled, "{n}: the container never filled its tmpfs");
        let o = rt.run(&["update", "--memory", "5M", &id]);
        assert!(!o.status.success(), "{n}: a limit below usage was taken");
        let msg = err(&o);
        assert!(
            msg.contains("unable to set memory limit to 5242880 (current usage: "),
            "{n}: {msg}"
        );
        assert_eq!(rt.status(&id), "running", "{n}");
        rt.ok(&["delete", "--force", &id]);
    }
}
