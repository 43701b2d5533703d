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

/// The pids in the container's cgroup (`path`, its pids controller).
fn cgroup_procs(path: &str) -> Vec<i32> {
    std::fs::read_to_string(cgroup_dir("pids", path).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

/// `exec` SIGKILLed at several points (before it joins, while its child is in the
/// container, after the program runs): afterwards the container's cgroup holds only the
/// init, the container still runs and takes another exec, and delete --force cleans all.
#[test]
fn exec_killed_at_any_point_leaves_only_the_init() {
    let rt = Rt::new();
    let io = TempDir::new("fault-io");
    let cg = format!("/gantry-e2e-fault-{}", unique_id("exec"));
    let b = bundle(&cg);
    let id = unique_id("fault-exec");
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
    for delay_us in [0u64, 1000, 2000, 4000, 7000, 10000, 15000, 25000, 50000] {
        let mut child = rt
            .cmd()
            .args(["exec", &id, "sleep", "201"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(io.path().join("out")).unwrap())
            .stderr(std::fs::File::create(io.path().join("err")).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay_us));
        kill(&mut child);
        wait_for(
            &format!("only the init in {cg} after exec killed at {delay_us} us"),
            || cgroup_procs(&cg) == [init],
        );
        assert_eq!(
            rt.status(&id),
            "running",
            "after exec killed at {delay_us} us"
        );
    }
    assert_eq!(rt.ok(&["exec", &id, "echo", "still here"]), "still here\n");
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.root.path().join(&id).exists(), "{id}: state dir left");
    for d in cgroup_dirs_of(&cg) {
        assert!(!d.exists(), "{id}: {} left", d.display());
    }
    wait_for("no process of the container", || {
        !any_process_with("sleep\u{0}201")
    });
}

/// The command line of `pid` (NULs between the arguments), empty once it is gone.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// `exec` SIGKILLed at each named phase, each reached for certain rather than by a delay:
/// (1) waiting for the container's lock (held here), before anything is made; (2) its child
/// in the container's namespaces and cgroup, before execve (the container is paused and the
/// exec is `--ignore-paused`: the child freezes the moment it joins the cgroup); (3) the
/// program running. After each, only the init is left in the container's cgroup (the child
/// and the program die with the exec, by PR_SET_PDEATHSIG), the container runs on, and
/// delete --force leaves nothing. (runc 1.1.5 fails it at once: its exec takes no lock on the
/// container, and leaves a program whose exec was killed running.)
#[test]
fn exec_killed_at_each_named_phase_leaves_only_the_init() {
    if !v1_or_skip(&["freezer", "pids"]) {
        return;
    }
    let rt = Rt::new();
    let io = TempDir::new("fault-io");
    let cg = format!("/gantry-e2e-fault-{}", unique_id("execph"));
    let b = bundle(&cg);
    let id = unique_id("fault-execph");
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
    let spawn_exec = |extra: &[&str]| {
        rt.cmd()
            .arg("exec")
            .args(extra)
            .args([&id, "sleep", "201"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(io.path().join("out")).unwrap())
            .stderr(std::fs::File::create(io.path().join("err")).unwrap())
            .spawn()
            .unwrap()
    };
    let only_init = |phase: &str| {
        wait_for(
            &format!("only the init in {cg} after exec killed {phase}"),
            || cgroup_procs(&cg) == [init],
        );
        assert_eq!(rt.status(&id), "running", "after exec killed {phase}");
    };

    // (1) Waiting for the lock: the exec blocks before it has read the state.
    {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(rt.root.path().join(&id)).unwrap();
        // SAFETY: flock on a live fd we own; released when `dir` drops.
        assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
        let mut exec = spawn_exec(&[]);
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            exec.try_wait().unwrap().is_none(),
            "exec did not wait for the lock"
        );
        assert_eq!(cgroup_procs(&cg), [init], "exec went past the lock");
        kill(&mut exec);
    }
    only_init("waiting for the lock");

    // (2) Its child in the container, frozen before execve.
    rt.ok(&["pause", &id]);
    let mut exec = spawn_exec(&["--ignore-paused"]);
    let mut child = 0;
    wait_for("the exec's child in the paused container's cgroup", || {
        child = cgroup_procs(&cg)
            .into_iter()
            .find(|p| *p != init)
            .unwrap_or(0);
        child != 0
    });
    assert!(
        !cmdline(child).starts_with("sleep\u{0}201"),
        "the child ran the program in a frozen cgroup"
    );
    kill(&mut exec);
    rt.ok(&["resume", &id]);
    only_init("with its child in the container before execve");

    // (3) The program running.
    let mut exec = spawn_exec(&[]);
    wait_for("the exec'd program", || {
        cgroup_procs(&cg)
            .into_iter()
            .any(|p| cmdline(p).starts_with("sleep\u{0}201"))
    });
    kill(&mut exec);
    only_init("with its program running");

    assert_eq!(rt.ok(&["exec", &id, "echo", "still here"]), "still here\n");
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.root.path().join(&id).exists(), "{id}: state dir left");
    for d in cgroup_dirs_of(&cg) {
        assert!(!d.exists(), "{id}: {} left", d.display());
    }
    wait_for("no process of the container", || {
        !any_process_with("sleep\u{0}201")
    });
}

/// Unmounts the tmpfs on drop.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// --root on a full filesystem (a small tmpfs, filled): create fails saying so, and leaves
/// no state dir, cgroup or process.
#[test]
fn create_on_a_full_root_fails_clearly_and_leaves_nothing() {
    let rt = Rt::new();
    let root = rt.root.path().to_path_buf();
    nix::mount::mount(
        Some("tmpfs"),
        &root,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("size=64k,mode=0700"),
    )
    .unwrap();
    let _unmount = Unmount(root.clone());
    // Fill it: a file until ENOSPC.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(root.join(".fill")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let cg = format!("/gantry-e2e-fault-{}", unique_id("full"));
    let b = bundle(&cg);
    let id = unique_id("fault-full");
    let o = rt.create(&b, &id);
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert!(!o.status.success(), "create on a full --root succeeded");
    assert!(
        err.contains("No space left on device") && err.lines().count() == 1,
        "not a clear one-line error: {err:?}"
    );
    let left: Vec<String> = rt.ids().into_iter().filter(|e| e != ".fill").collect();
    assert!(left.is_empty(), "left under the full --root: {left:?}");
    for d in cgroup_dirs_of(&cg) {
        assert!(!d.exists(), "{} left", d.display());
    }
    wait_for("no process of the failed create", || !any_process_with(&id));
}

/// The rootfs removed, or swapped for a symlink to the host's /, between create and start:
/// the container never runs in a host path (the root was pinned at create).
#[test]
fn rootfs_swapped_or_removed_after_create_never_runs_on_the_host() {
    for swap in [true, false] {
        let rt = Rt::new();
        let out = TempDir::new("fault-out");
        let cg = format!("/gantry-e2e-fault-{}", unique_id("swap"));
        let mut b = bundle(&cg);
        std::fs::write(b.rootfs().join("marker"), "original").unwrap();
        b.bind(out.path(), "/out");
        // /etc/debian_version is the host's, not in the busybox rootfs.
        b.sh("if test -e /etc/debian_version; then echo host; else cat /marker; fi > /out/r");
        let id = unique_id("fault-swap");
        let o = rt.create(&b, &id);
        assert!(
            o.status.success(),
            "create: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if swap {
            std::fs::rename(b.rootfs(), b.path().join("rootfs.real")).unwrap();
            std::os::unix::fs::symlink("/", b.rootfs()).unwrap();
        } else {
            std::fs::remove_dir_all(b.rootfs()).unwrap();
        }
        let started = rt.run(&["start", &id]).status.success();
        if started {
            wait_for("the container to stop", || rt.status(&id) == "stopped");
        }
        let r = std::fs::read_to_string(out.path().join("r")).unwrap_or_default();
        assert_ne!(
            r.trim(),
            "host",
            "swap={swap}: the container ran on the host's /"
        );
        if swap {
            assert!(started, "swap: start failed");
            assert_eq!(r.trim(), "original", "swap: not the original rootfs");
            std::fs::remove_file(b.rootfs()).unwrap();
        }
        assert_recoverable(&rt, &id, &cg);
    }
}

/// The init SIGKILLed while created: list says stopped, a plain delete works, nothing left.
#[test]
fn init_killed_while_created_is_stopped_and_deletable() {
    let rt = Rt::new();
    let cg = format!("/gantry-e2e-fault-{}", unique_id("init"));
    let b = bundle(&cg);
    let id = unique_id("fault-init");
    let o = rt.create(&b, &id);
    assert!(
        o.status.success(),
        "create: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("state to say stopped", || rt.status(&id) == "stopped");
    let listed: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned();
    assert_eq!(row.map(|r| r["status"].clone()), Some(json!("stopped")));
    rt.ok(&["delete", &id]);
    assert!(!rt.root.path().join(&id).exists(), "state dir left");
    for d in cgroup_dirs_of(&cg) {
        assert!(!d.exists(), "{} left", d.display());
    }
    wait_for("no process of the container", || !any_process_with(&id));
}
