//! Cgroup placement: linux.cgroupsPath or the default, removed by delete.

use gantry_tests::*;
use serde_json::json;

#[test]
fn init_joins_cgroups_path_and_delete_removes_it() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let path = format!("/gantry-e2e-{}", unique_id("cg"));
    let p = path.clone();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    let id = unique_id("cg");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    // Placed before the program runs: already at create.
    for ctrl in ["memory", "pids", "devices"] {
        assert_eq!(
            pid_cgroup(pid, ctrl).as_deref(),
            Some(path.as_str()),
            "{ctrl}"
        );
        assert!(cgroup_dir(ctrl, &path).exists());
    }
    rt.ok(&["delete", "--force", &id]);
    for ctrl in ["memory", "pids", "devices"] {
        assert!(
            !cgroup_dir(ctrl, &path).exists(),
            "{ctrl} cgroup left after delete"
        );
    }
}

#[test]
fn default_cgroup_path() {
    if !is_gantry() {
        return skip_not_gantry("the default cgroup path is runtime-specific");
    }
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("cgdef");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert_eq!(pid_cgroup(pid, "memory"), Some(format!("/gantry/{id}")));
    rt.ok(&["delete", "--force", &id]);
    assert!(!cgroup_dir("memory", &format!("/gantry/{id}")).exists());
}

#[test]
fn cgroup_v2_placement_on_a_cgroup2_mount() {
    // This host is v1 hybrid: its cgroup2 mount at /sys/fs/cgroup/unified stands in for a
    // v2 host (Gantry's hidden --cgroup-root picks the filesystem).
    let unified = std::path::Path::new("/sys/fs/cgroup/unified");
    if !is_gantry() {
        return skip_not_gantry("--cgroup-root is Gantry's own flag");
    }
    if !unified.join("cgroup.procs").exists() {
        return skip("no cgroup2 mount at /sys/fs/cgroup/unified (not a hybrid host)");
    }
    let mut rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("cgv2");
    let path = format!("/gantry-e2e-v2-{id}");
    let p = path.clone();
    let mut b = b;
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    rt.bin = runtime_bin();
    let run = |args: &[&str]| {
        let mut full = vec!["--cgroup-root", "/sys/fs/cgroup/unified"];
        full.extend_from_slice(args);
        rt.ok(&full)
    };
    run(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let v2 = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(v2.lines().any(|l| l == format!("0::{path}")), "{v2}");
    run(&["delete", "--force", &id]);
    assert!(!unified.join(path.trim_start_matches('/')).exists());
}

/// Two loops of `run` under the default parent (`/gantry`): each delete may find the parent
/// empty and remove it while the other loop's create is between its mkdir of the parent and
/// of its own cgroup. No create may fail for it (runc: 0 failures in such loops).
#[test]
fn parallel_runs_under_the_default_parent_never_race() {
    // $GANTRY_RACE_ROUNDS raises the count to reproduce the race on a given host.
    let rounds: usize = std::env::var("GANTRY_RACE_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let loops: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let rt = Rt::new();
                let b = Bundle::new(&["true"]);
                let mut failures = Vec::new();
                for _ in 0..rounds {
                    let id = unique_id("race");
                    let o = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
                    if !o.status.success() {
                        failures.push(String::from_utf8_lossy(&o.stderr).into_owned());
                        let _ = rt.run(&["delete", "--force", &id]);
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = loops.into_iter().flat_map(|l| l.join().unwrap()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} runs failed: {failures:?}",
        failures.len(),
        2 * rounds
    );
}

#[test]
fn no_empty_default_parent_left_behind() {
    if !is_gantry() {
        return skip_not_gantry("runc's default cgroup path differs");
    }
    let rt = Rt::new();
    let b = Bundle::new(&["true"]);
    let id = unique_id("cgparent");
    rt.ok(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    // Other tests may have containers under /gantry right now; then it may stay. What must
    // never stay is an empty /gantry with no container of any test below it.
    let dir = cgroup_dir("pids", "/gantry");
    if dir.exists() {
        let children = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .count();
        assert!(children > 0, "an empty /gantry cgroup was left behind");
    }
}

/// On cgroup v2 the device rules are a BPF program on the container's cgroup: a node the rules
/// do not allow cannot be opened, one they allow can, and the default devices work.
#[test]
fn cgroup_v2_device_rules_are_enforced() {
    let unified = std::path::Path::new("/sys/fs/cgroup/unified");
    if !is_gantry() {
        return skip_not_gantry("--cgroup-root is Gantry's own flag");
    }
    if !unified.join("cgroup.procs").exists() {
        return skip("no cgroup2 mount at /sys/fs/cgroup/unified (not a hybrid host)");
    }
    let rt = Rt::new();
    let open = |allow: bool| -> String {
        let mut b = Bundle::new(&[]);
        let id = unique_id("cgv2dev");
        let path = format!("/gantry-e2e-v2-{id}");
        b.edit(|c| {
            c["linux"]["cgroupsPath"] = json!(path);
            c["linux"]["devices"] =
                json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
            if allow {
                c["linux"]["resources"]["devices"].as_array_mut().unwrap().push(
                    json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}),
                );
            }
        })
        .sh("head -c0 /dev/fuse 2>&1 && echo opened; head -c1 /dev/zero | wc -c; echo x > /dev/null && echo null");
        let o = run_on_unified(&rt, &b, &id);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!unified.join(path.trim_start_matches('/')).exists());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let denied = open(false);
    assert!(denied.contains("Operation not permitted"), "{denied}");
    assert!(
        denied.contains("1\nnull"),
        "default devices denied: {denied}"
    );
    let allowed = open(true);
    assert!(allowed.starts_with("opened\n"), "{allowed}");
}

/// Pause under the systemd driver: on this v1 host without systemd the container is placed at
/// the directory systemd would use (slice:prefix:name -> /system.slice/prefix-name.scope), and
/// state reads the freezer of that real cgroup, so it says paused, then running again.
#[test]
fn pause_under_the_systemd_driver_shows_paused() {
    if !is_gantry() {
        return skip_not_gantry("runc's systemd driver needs a running systemd");
    }
    if !v1_or_skip(&["freezer"]) {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("sdpause");
    let path = format!("system.slice:gantry-e2e:{id}");
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(path));
    let bundle = b.path().to_str().unwrap();
    rt.ok(&["--systemd-cgroup", "run", "-d", "--bundle", bundle, &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let scope = format!("/system.slice/gantry-e2e-{id}.scope");
    assert_eq!(pid_cgroup(pid, "freezer").as_deref(), Some(scope.as_str()));
    rt.ok(&["--systemd-cgroup", "pause", &id]);
    let freezer = cgroup_dir("freezer", &scope).join("freezer.state");
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    assert_eq!(rt.status(&id), "paused");
    rt.ok(&["--systemd-cgroup", "resume", &id]);
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["--systemd-cgroup", "delete", "--force", &id]);
    assert!(!cgroup_dir("freezer", &scope).exists());
}

/// A systemd cgroupsPath not of the form slice:prefix:name is refused naming the field, with
/// nothing left behind.
#[test]
fn systemd_driver_refuses_a_plain_path() {
    if !is_gantry() {
        return skip_not_gantry("the check is of Gantry's wording");
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!("/gantry-e2e/plain"));
    let id = unique_id("sdbad");
    let o = rt.run(&[
        "--systemd-cgroup",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("linux.cgroupsPath") && err.contains("slice:prefix:name"),
        "{err}"
    );
    assert!(rt.ids().is_empty(), "state left behind");
}

/// `ps --format table` is the host's `ps -ef` limited to the container's processes (its
/// cgroup), header first, as runc does; `--format json` lists the same pids.
#[test]
fn ps_table_lists_the_containers_processes() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    let path = format!("/gantry-e2e-{}", unique_id("ps"));
    let p = path.clone();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p))
        .sh("sleep 301 & sleep 302 & wait");
    let id = unique_id("ps");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let pids: Vec<i64> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    let table = rt.ok(&["ps", "--format", "table", &id]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..3], ["UID", "PID", "PPID"], "{table}");
    assert_eq!(header.last(), Some(&"CMD"), "{table}");
    let rows: Vec<&str> = lines.collect();
    let mut row_pids: Vec<i64> = rows
        .iter()
        .map(|r| r.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    row_pids.sort();
    let mut want = pids.clone();
    want.sort();
    assert_eq!(row_pids, want, "{table}");
    assert_eq!(rows.len(), 3, "{table}");
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    for cmd in ["sleep 301", "sleep 302"] {
        let row = rows.iter().find(|r| r.ends_with(cmd)).expect(cmd);
        // The sleeps are children of the container's init.
        assert_eq!(
            row.split_whitespace().nth(2),
            Some(init.to_string().as_str()),
            "{row}"
        );
    }
    rt.ok(&["delete", "--force", &id]);
}
