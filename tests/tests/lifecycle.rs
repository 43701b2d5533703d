//! The OCI lifecycle: create, start, state, kill, delete, run, list.

use gantry_tests::*;

#[test]
fn create_start_kill_delete() {
    let rt = Rt::new();
    let host = TempDir::new("mark");
    let mut b = Bundle::new(&[]);
    b.bind(host.path(), "/host")
        .sh("echo started > /host/mark; exec sleep 300");
    let id = unique_id("life");
    let pidfile = host.path().join("pid");
    rt.ok(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = rt.state(&id).unwrap();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.path().to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    assert!(
        !host.path().join("mark").exists(),
        "the program ran before start"
    );

    rt.ok(&["start", &id]);
    assert!(rt.wait_status(&id, "running"));
    for _ in 0..100 {
        if host.path().join("mark").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(host.path().join("mark")).unwrap(),
        "started\n"
    );
    assert!(
        !rt.run(&["start", &id]).status.success(),
        "a second start succeeded"
    );

    rt.ok(&["kill", &id, "KILL"]);
    assert!(rt.wait_status(&id, "stopped"));
    rt.ok(&["delete", &id]);
    assert!(rt.state(&id).is_none());
    assert!(rt.ids().is_empty(), "delete left {:?}", rt.ids());
}

#[test]
fn kill_takes_names_numbers_and_defaults_to_term() {
    // (argument, the signal the container must see); None = no argument: SIGTERM.
    let cases = [
        (None, "TERM"),
        (Some("SIGUSR1"), "USR1"),
        (Some("usr1"), "USR1"),
        (Some("10"), "USR1"),
        (Some("HUP"), "HUP"),
        (Some("SIGKILL"), ""),
        (Some("9"), ""),
    ];
    for (sig, seen) in cases {
        let rt = Rt::new();
        let out = TempDir::new("kill");
        // A shell as pid 1 ignores signals it does not trap: each trap records its signal.
        let mut b = Bundle::new(&[]);
        b.bind(out.path(), "/out").sh(
            "for s in TERM USR1 HUP; do trap \"echo $s > /out/sig; exit 0\" $s; done; \
             touch /out/ready; while :; do sleep 0.1; done",
        );
        let id = unique_id("kill");
        rt.ok(&[
            "run",
            "--detach",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        for _ in 0..100 {
            if out.path().join("ready").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut args = vec!["kill", id.as_str()];
        args.extend(sig);
        rt.ok(&args);
        assert!(
            rt.wait_status(&id, "stopped"),
            "signal {sig:?} did not stop the container"
        );
        let got = std::fs::read_to_string(out.path().join("sig")).unwrap_or_default();
        assert_eq!(got.trim(), seen, "kill {sig:?}");
        rt.ok(&["delete", &id]);
    }
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("killbad");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    for bad in ["FOO", "99", "SIGNOPE"] {
        assert!(
            !rt.run(&["kill", &id, bad]).status.success(),
            "kill {bad} succeeded"
        );
    }
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn run_returns_exit_code_and_output() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("echo out; echo err >&2; exit 7");
    let (code, out, err) = rt.run_fg(&b, &unique_id("run"));
    assert_eq!(code, 7);
    assert_eq!(out, "out\n");
    assert!(err.contains("err"), "{err}");
    assert!(rt.ids().is_empty(), "run left state behind: {:?}", rt.ids());
}

#[test]
fn run_detach_then_list() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("list");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(rt.status(&id), "running");
    let table = rt.ok(&["list"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("running")),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == id.as_str() && c["status"] == "running"));
    assert_eq!(rt.ok(&["list", "-q"]).trim(), id);
}

#[test]
fn delete_running_needs_force() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("del");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let o = rt.run(&["delete", &id]);
    assert!(!o.status.success());
    assert_eq!(
        rt.status(&id),
        "running",
        "a failed delete changed the container"
    );
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert!(rt.state(&id).is_none());
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false);
    assert!(!alive, "the init survived delete --force");
}

#[test]
fn kill_all_signals_every_process() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        // No pid namespace: killing the init alone would leave the child running.
        c["linux"]["namespaces"] =
            serde_json::json!([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]);
    });
    let marker = format!("{}", 400000 + std::process::id() % 10000);
    b.sh(&format!("sleep {marker} & exec sleep {marker}"));
    let id = unique_id("killall");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(any_process_with(&format!("sleep{}{marker}", '\0')));
    rt.ok(&["kill", "--all", &id, "KILL"]);
    let mut gone = false;
    for _ in 0..100 {
        let procs: Vec<_> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&format!("sleep\0{marker}")))
                    .unwrap_or(false)
                    && !std::fs::read_to_string(e.path().join("stat"))
                        .unwrap_or_default()
                        .contains(") Z")
            })
            .collect();
        if procs.is_empty() {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(gone, "kill --all left processes running");
}

#[test]
fn no_pivot_uses_chroot() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("ls / | tr '\\n' ' '; echo; cat /proc/self/mountinfo | wc -l");
    let id = unique_id("nopivot");
    let o = rt.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("bin dev etc proc root sys tmp"), "{out}");
}

#[test]
fn concurrent_commands_on_one_id_are_serialised() {
    // Two creates of the same id at once: exactly one wins, the other fails cleanly.
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("race");
    let spawn = || {
        rt.cmd()
            .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut c) = (spawn(), spawn());
    let (ra, rc) = (a.wait().unwrap().success(), c.wait().unwrap().success());
    assert!(ra ^ rc, "both or neither create succeeded ({ra}, {rc})");
    assert_eq!(rt.status(&id), "created");
}

/// A start issued while the create is still running (in a slow prestart hook) waits for
/// the create's lock on the id, then starts the created container.
#[test]
fn start_during_create_waits_for_it() {
    if !is_gantry() {
        return skip_not_gantry("runc's start fails at once on a container still being created");
    }
    let rt = Rt::new();
    let out = TempDir::new("slowcreate");
    let done = out.path().join("hook-done");
    let mut b = Bundle::new(&["sleep", "300"]);
    b.edit(|c| {
        c["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("/bin/sleep 1; /usr/bin/touch {}", done.display())]}]})
    });
    let id = unique_id("slowcreate");
    let mut create = rt
        .cmd()
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let dir = rt.root.path().join(&id);
    for _ in 0..200 {
        if dir.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(dir.exists(), "create made no state dir");
    // runtime-spec State: "creating: the container is being created".
    assert!(rt.wait_status(&id, "creating"), "state never said creating");
    let st = rt.state(&id).unwrap();
    assert_eq!(st["bundle"], b.path().to_str().unwrap());
    assert_eq!(st["id"], id.as_str());
    assert!(
        !done.exists(),
        "the prestart hook finished before start was issued"
    );
    let o = rt.run(&["start", &id]);
    assert!(
        o.status.success(),
        "start during create: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(done.exists(), "start returned before the create finished");
    assert!(create.wait().unwrap().success());
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "--force", &id]);
}
