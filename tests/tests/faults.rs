//! Faults during create: a create SIGKILLed at any point (Undo in Drop cannot run then) leaves
//! a container that `state` and `list` report truthfully, and that `delete --force`, or the
//! next create of the same id, cleans up entirely: no state dir, cgroup or process.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use gantry_tests::*;
use serde_json::{json, Value};

/// `create` started in the background (stdio to files: an init must never hold our pipes).
fn spawn_create(rt: &Rt, b: &Bundle, id: &str, io: &TempDir) -> Child {
    rt.cmd()
        .args(["create", "--bundle", b.path().to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(io.path().join("out")).unwrap())
        .stderr(std::fs::File::create(io.path().join("err")).unwrap())
        .spawn()
        .unwrap()
}

fn kill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A bundle whose container sits in cgroup `path` (unique, one level: delete removes it all).
fn bundle(path: &str) -> Bundle {
    let mut b = Bundle::new(&["sleep", "300"]);
    let p = path.to_string();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    b
}

fn cgroup_dirs_of(path: &str) -> Vec<std::path::PathBuf> {
    ["memory", "pids", "devices", "freezer", "cpu"]
        .iter()
        .map(|c| cgroup_dir(c, path))
        .collect()
}

/// After the kill: whatever the create reached, the truth is told and delete cleans up.
fn assert_recoverable(rt: &Rt, id: &str, cgroup: &str) {
    let status = rt.status(id);
    let listed: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned();
    if rt.root.path().join(id).exists() {
        // Nothing is creating it any more: stopped, or created if the create got through.
        assert!(
            status == "stopped" || status == "created",
            "{id}: state says {status:?} after its create was killed"
        );
        let row = row.unwrap_or_else(|| panic!("{id} missing from list: {listed}"));
        assert_eq!(row["status"], status, "list and state disagree: {row}");
    }
    let o = rt.run(&["delete", "--force", id]);
    assert!(
        o.status.success(),
        "delete --force {id}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!rt.root.path().join(id).exists(), "{id}: state dir left");
    for d in cgroup_dirs_of(cgroup) {
        assert!(!d.exists(), "{id}: {} left", d.display());
    }
    wait_for(&format!("the processes of {id} to go"), || {
        !any_process_with(id)
    });
}

/// Killed while a createRuntime hook runs: the init is cloned and in its cgroup, waiting.
#[test]
fn create_killed_during_a_create_runtime_hook_is_recoverable() {
    let rt = Rt::new();
    let io = TempDir::new("fault-io");
    let mark = io.path().join("hook-pid");
    let cg = format!("/gantry-e2e-fault-{}", unique_id("hook"));
    let mut b = bundle(&cg);
    let m = mark.display().to_string();
    b.edit(|c| {
        c["hooks"]["createRuntime"] = json!([{"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo $$ > {m}.tmp; mv {m}.tmp {m}; exec sleep 60")]}])
    });
    let id = unique_id("fault-hook");
    let mut child = spawn_create(&rt, &b, &id, &io);
    wait_for("the hook", || mark.exists());
    kill(&mut child);
    assert_recoverable(&rt, &id, &cg);
    let hook: i32 = std::fs::read_to_string(&mark)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hook),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Killed at many points of a plain create (0 to 20 ms in): each is recoverable by delete,
/// and the next create of the same id is not refused as a duplicate.
#[test]
fn create_killed_at_any_point_is_recoverable() {
    let rt = Rt::new();
    let io = TempDir::new("fault-io");
    for (n, delay_us) in [
        0u64, 500, 1000, 2000, 3000, 4000, 6000, 8000, 11000, 15000, 20000,
    ]
    .into_iter()
    .enumerate()
    {
        let cg = format!("/gantry-e2e-fault-{}", unique_id("t"));
        let b = bundle(&cg);
        let id = unique_id("fault");
        let mut child = spawn_create(&rt, &b, &id, &io);
        std::thread::sleep(Duration::from_micros(delay_us));
        kill(&mut child);
        if n % 2 == 1 && rt.status(&id) != "created" {
            // The next create of the id cleans up what the killed one left, and runs.
            let o = rt.create(&b, &id);
            assert!(
                o.status.success(),
                "re-create of {id} after a kill at {delay_us} us: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(rt.status(&id), "created");
        }
        assert_recoverable(&rt, &id, &cg);
    }
}

/// The init of a create killed before it finished never stays behind holding the caller's
/// stdio: a killed create's output file is closed by every process once the create is gone.
#[test]
fn no_init_outlives_a_killed_create() {
    let rt = Rt::new();
    let io = TempDir::new("fault-io");
    let cg = format!("/gantry-e2e-fault-{}", unique_id("late"));
    let b = bundle(&cg);
    let id = unique_id("fault-late");
    // A late kill: the create is past its hooks and very near its end.
    let mut child = spawn_create(&rt, &b, &id, &io);
    std::thread::sleep(Duration::from_millis(6));
    kill(&mut child);
    let out = io.path().join("out");
    let holders = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|p| {
                std::fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                    fds.flatten()
                        .any(|f| std::fs::read_link(f.path()).is_ok_and(|l| l == out))
                })
            })
            .count()
    };
    if rt.status(&id) != "created" {
        // Not created: nothing may keep the caller's stdout open.
        wait_for("the init to let go of stdout", || holders() == 0);
    }
    assert_recoverable(&rt, &id, &cg);
    assert!(!Path::new(&out).exists() || holders() == 0);
}
