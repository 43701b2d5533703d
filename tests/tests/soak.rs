//! Load (issue 16): lifecycles in a row, concurrent creates and deletes, and racing commands on
//! one id, with no leak afterwards: no fd of this process, no mount, no cgroup dir, no state
//! dir, no process or zombie of the runtime. CI runs GANTRY_SOAK_N=100 lifecycles and
//! GANTRY_SOAK_M=100 concurrent containers; scripts/soak.sh runs 1000 and 100 on demand.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gantry_tests::*;
use serde_json::{json, Value};

/// The tests here count this process's fds: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

const CONTROLLERS: [&str; 6] = ["memory", "pids", "cpu", "devices", "freezer", "blkio"];

/// What the host looks like to this test, to compare after.
struct Snapshot {
    fds: BTreeSet<String>,
    mounts: BTreeSet<String>,
}

fn snapshot() -> Snapshot {
    let fds = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        // The mount id and parent id are renumbered by others' mounts; the rest says what.
        .map(|l| l.split(' ').skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    Snapshot { fds, mounts }
}

/// Zombie children of this process (the runtime commands it ran), and zombies whose parent is
/// a runtime process.
fn zombies_of_ours() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        if f.first() != Some(&"Z") {
            continue;
        }
        let ppid = f.get(1).copied().unwrap_or("");
        let parent_is_runtime = std::fs::read(format!("/proc/{ppid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("gantry --root"));
        if ppid == me || parent_is_runtime {
            out.push(format!("{} ({stat})", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// Everything the containers `ids` (and the runtime) might have left, as a list of problems.
fn leaks(rt: &Rt, before: &Snapshot, ids: &[String], cgroups: &[String], tag: &str) -> Vec<String> {
    let mut bad = Vec::new();
    // Processes: the runtime's and the containers' (their command lines carry the tag); this
    // host's PID 1 reaps late, so give them a moment.
    let end = Instant::now() + Duration::from_secs(10);
    while any_process_with(tag) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    if any_process_with(tag) {
        bad.push(format!("a process with {tag} in its command line is left"));
    }
    let z = zombies_of_ours();
    if !z.is_empty() {
        bad.push(format!("zombies: {z:?}"));
    }
    if !rt.ids().is_empty() {
        bad.push(format!("state dirs left: {:?}", rt.ids()));
    }
    for p in cgroups {
        for c in CONTROLLERS {
            let d = cgroup_dir(c, p);
            if d.exists() {
                bad.push(format!("cgroup left: {}", d.display()));
            }
        }
    }
    let after = snapshot();
    let new_fds: Vec<_> = after.fds.difference(&before.fds).collect();
    if !new_fds.is_empty() {
        bad.push(format!("fds of the test process leaked: {new_fds:?}"));
    }
    // Others on this host mount things too: a new mount is ours if it names one of our paths
    // (this process's temp dirs) or a container id.
    let mine = format!("-{}-", std::process::id());
    let new_mounts: Vec<_> = after
        .mounts
        .difference(&before.mounts)
        .filter(|m| m.contains(&mine) || ids.iter().any(|id| m.contains(id.as_str())))
        .collect();
    if !new_mounts.is_empty() {
        bad.push(format!("mounts left: {new_mounts:?}"));
    }
    bad
}

/// A short-lived container whose command line carries `tag`, in cgroup `cgroup`.
fn bundle(args: &[&str], cgroup: Option<&str>) -> Bundle {
    let mut b = Bundle::new(args);
    if let Some(p) = cgroup {
        let p = p.to_string();
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    }
    b
}

/// GANTRY_SOAK_N full lifecycles (create, state, start, wait for stopped, delete) of one
/// bundle, ids never reused, each in its own cgroup.
#[test]
fn lifecycles_in_a_row_leak_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = env_n("GANTRY_SOAK_N", 100);
    let tag = unique_id("soakrow");
    let rt = Rt::new();
    let mut b = bundle(&["true"], None);
    let script = format!(": {tag}");
    b.sh(&script);
    let before = snapshot();
    let (mut ids, mut cgroups) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let cg = format!("/gantry-soak-{id}");
        let c = cg.clone();
        b.edit(|v| v["linux"]["cgroupsPath"] = json!(c));
        rt.try_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id])
            .unwrap_or_else(|e| panic!("lifecycle {i}: {e}"));
        assert_eq!(rt.status(&id), "created", "lifecycle {i}");
        rt.try_ok(&["start", &id])
            .unwrap_or_else(|e| panic!("lifecycle {i}: {e}"));
        assert!(
            rt.wait_status(&id, "stopped"),
            "lifecycle {i}: never stopped"
        );
        rt.try_ok(&["delete", &id])
            .unwrap_or_else(|e| panic!("lifecycle {i}: {e}"));
        ids.push(id);
        cgroups.push(cg);
    }
    eprintln!("{n} lifecycles in {:?}", started.elapsed());
    let bad = leaks(&rt, &before, &ids, &cgroups, &tag);
    assert!(bad.is_empty(), "after {n} lifecycles:\n{}", bad.join("\n"));
}

/// GANTRY_SOAK_M creates at once, then their deletes at once (twice over), in the default
/// cgroup parent (/gantry) the deletes remove when empty: no create may lose its parent
/// cgroup under it, nothing leaks.
#[test]
fn concurrent_creates_and_deletes_leak_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = env_n("GANTRY_SOAK_M", 100);
    let tag = unique_id("soakpar");
    let rt = Rt::new();
    let b = bundle(&["sleep", "300"], None);
    let mut b = b;
    let script = format!("exec sleep 300 # {tag}");
    b.sh(&script);
    let before = snapshot();
    let mut all = Vec::new();
    let started = Instant::now();
    for round in 0..2 {
        let ids: Vec<String> = (0..m).map(|i| format!("{tag}-{round}-{i}")).collect();
        let (rt, b) = (&rt, &b);
        std::thread::scope(|s| {
            let hs: Vec<_> = ids
                .iter()
                .map(|id| {
                    s.spawn(move || {
                        rt.try_ok(&["create", "--bundle", b.path().to_str().unwrap(), id])?;
                        // Half go through start, half are deleted while created.
                        if id.ends_with(['0', '2', '4', '6', '8']) {
                            rt.try_ok(&["start", id])?;
                        }
                        Ok::<_, String>(())
                    })
                })
                .collect();
            let errs: Vec<String> = hs
                .into_iter()
                .filter_map(|h| h.join().unwrap().err())
                .collect();
            assert!(errs.is_empty(), "round {round}: {}", errs.join("\n"));
            let hs: Vec<_> = ids
                .iter()
                .map(|id| s.spawn(move || rt.try_ok(&["delete", "--force", id])))
                .collect();
            let errs: Vec<String> = hs
                .into_iter()
                .filter_map(|h| h.join().unwrap().err())
                .collect();
            assert!(errs.is_empty(), "round {round}: {}", errs.join("\n"));
        });
        all.extend(ids);
    }
    eprintln!(
        "2 x {m} concurrent creates and deletes in {:?}",
        started.elapsed()
    );
    let cgroups: Vec<String> = all.iter().map(|id| format!("/gantry/{id}")).collect();
    let bad = leaks(&rt, &before, &all, &cgroups, &tag);
    assert!(
        bad.is_empty(),
        "after the concurrent rounds:\n{}",
        bad.join("\n")
    );
}

/// Words of an error that would mean a command read or wrote a half-done state.
const CORRUPT: [&str; 6] = [
    "EOF while parsing",
    "expected value",
    "trailing characters",
    "panicked",
    "state.json",
    "invalid",
];

/// start, kill, delete, state and a second start on one created container, all at once:
/// each succeeds or fails with a plain one-line error, none reads a corrupt state, and the end
/// is consistent (gone; or a valid state matching the process), then delete --force cleans.
#[test]
fn racing_commands_on_one_id_are_serialised() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rounds = env_n("GANTRY_SOAK_RACES", 15);
    let tag = unique_id("soakrace");
    let rt = Rt::new();
    let mut b = bundle(&["sleep", "300"], None);
    let script = format!("exec sleep 300 # {tag}");
    b.sh(&script);
    let before = snapshot();
    let mut ids = Vec::new();
    for round in 0..rounds {
        let id = format!("{tag}-{round}");
        rt.try_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id])
            .unwrap();
        let cmds: Vec<Vec<&str>> = vec![
            vec!["start", &id],
            vec!["kill", &id, "KILL"],
            vec!["delete", &id],
            vec!["state", &id],
            vec!["start", &id],
            vec!["kill", &id, "TERM"],
            vec!["delete", "--force", &id],
            vec!["state", &id],
        ];
        // Rotate the order the threads are spawned in, so each command gets to go first.
        let n = cmds.len();
        let order: Vec<&Vec<&str>> = (0..n).map(|i| &cmds[(i + round) % n]).collect();
        let rt = &rt;
        let outcomes: Vec<(String, Result<String, String>)> = std::thread::scope(|s| {
            let hs: Vec<_> = order
                .iter()
                .map(|c| s.spawn(move || (c.join(" "), rt.try_ok(c))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (cmd, r) in &outcomes {
            match r {
                Ok(out) if cmd.starts_with("state") => {
                    let v: Value = serde_json::from_str(out)
                        .unwrap_or_else(|e| panic!("round {round}: {cmd}: not JSON ({e}): {out}"));
                    let st = v["status"].as_str().unwrap_or("");
                    assert!(
                        ["creating", "created", "running", "stopped"].contains(&st),
                        "round {round}: {cmd}: status {st:?}"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    let msg = e.split_once("): ").map(|x| x.1).unwrap_or(e);
                    assert_eq!(msg.lines().count(), 1, "round {round}: {cmd}: {e}");
                    for w in CORRUPT {
                        assert!(!msg.contains(w), "round {round}: {cmd}: {e}");
                    }
                }
            }
        }
        // The end state: gone, or a state that is the truth.
        match rt.state(&id) {
            None => assert!(
                !rt.ids().contains(&id),
                "round {round}: state fails but the dir is left: {outcomes:?}"
            ),
            Some(v) => {
                let st = v["status"].as_str().unwrap_or("").to_string();
                let pid = v["pid"].as_i64().unwrap_or(0);
                let alive = pid > 0
                    && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|r| r.1.starts_with('Z')));
                match st.as_str() {
                    "created" | "running" => {
                        assert!(alive, "round {round}: {st} but pid {pid} is dead")
                    }
                    "stopped" => {}
                    other => panic!("round {round}: end status {other:?}: {outcomes:?}"),
                }
                rt.try_ok(&["delete", "--force", &id]).unwrap();
            }
        }
        ids.push(id);
    }
    let cgroups: Vec<String> = ids.iter().map(|id| format!("/gantry/{id}")).collect();
    let bad = leaks(&rt, &before, &ids, &cgroups, &tag);
    assert!(bad.is_empty(), "after {rounds} races:\n{}", bad.join("\n"));
}
