//! exec, pause/resume, ps, features: the commands engines call beyond the lifecycle.

use gantry_tests::*;
use serde_json::json;
use std::path::{Path, PathBuf};

fn running(rt: &Rt, b: &Bundle) -> (String, i64) {
    let id = unique_id("exec");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    (id, pid)
}

fn ns(pid: &str, n: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{n}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exec_joins_namespaces_and_returns_exit_code() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let (id, pid) = running(&rt, &b);
    let o = rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done; hostname; exit 5",
    ]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    for (i, n) in ["pid", "net", "ipc", "uts", "mnt"].iter().enumerate() {
        assert_eq!(lines[i], ns(&pid.to_string(), n), "{n}");
    }
    assert_eq!(lines[5], "e2e");
}

#[test]
fn exec_env_user_cwd_and_cgroup() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let path = format!("/gantry-e2e-exec-{}", unique_id("cg"));
    let p = path.clone();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        c["linux"]["namespaces"] =
            json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]);
    });
    let (id, _) = running(&rt, &b);
    let o = rt.run(&[
        "exec",
        "--env",
        "FOO=bar",
        "--user",
        "1000:1001",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo $FOO; id -u; id -g; pwd; grep memory /proc/self/cgroup",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..4], &["bar", "1000", "1001", "/tmp"]);
    assert!(
        l[4].ends_with(&format!(":{path}")),
        "exec'd process not in the container's cgroup: {}",
        l[4]
    );
}

#[test]
fn exec_detach_writes_pid_file_and_process_file_works() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let (id, _) = running(&rt, &b);
    let dir = TempDir::new("execpid");
    let pidf = dir.path().join("pid");
    rt.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pidf.to_str().unwrap(),
        &id,
        "sleep",
        "301",
    ]);
    let pid: i32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .contains("301"));
    let json: serde_json::Value =
        serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_i64() == Some(pid as i64)),
        "{json}"
    );
    // containerd's form: the whole process as a JSON file.
    let procf = dir.path().join("process.json");
    std::fs::write(&procf, json!({"args": ["sh", "-c", "echo from-file $X"], "env": ["X=1", "PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    let out = rt.ok(&["exec", "--process", procf.to_str().unwrap(), &id]);
    assert_eq!(out, "from-file 1\n");
}

#[test]
fn exec_of_missing_program_fails_cleanly() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let (id, _) = running(&rt, &b);
    let o = rt.run(&["exec", &id, "/no/such/program"]);
    assert!(!o.status.success());
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let (id, pid) = running(&rt, &b);
    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = st[st.rfind(')').unwrap() + 2..].chars().next().unwrap();
    // A frozen task sleeps in the freezer (D on cgroup v1).
    assert!(state == 'D' || state == 'S', "{st}");
    let freezer = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = freezer
        .lines()
        .find(|l| l.contains(":freezer:"))
        .map(|l| l.rsplit(':').next().unwrap().to_string());
    if let Some(p) = path {
        let f = cgroup_dir("freezer", &p).join("freezer.state");
        assert_eq!(std::fs::read_to_string(f).unwrap().trim(), "FROZEN");
    }
    assert!(
        !rt.run(&["pause", &id]).status.success(),
        "pausing a paused container succeeded"
    );
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");
    assert!(
        !rt.run(&["resume", &id]).status.success(),
        "resuming a running container succeeded"
    );
}

/// A created container can be paused (runc allows it): it then says `paused`, not `created`,
/// refuses start until resumed (its frozen init could not take the start byte), is `created`
/// again after resume, and `delete --force` of it while frozen kills it (thawed first: a frozen
/// init never dies of SIGKILL).
#[test]
fn a_paused_created_container_is_paused_until_resumed() {
    let rt = Rt::new();
    let b = Bundle::new(&["true"]);
    let id = unique_id("pausecreated");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    let o = rt.run(&["start", &id]);
    assert!(!o.status.success(), "a paused container started");
    assert_eq!(rt.status(&id), "paused");
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["pause", &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert!(rt.state(&id).is_none(), "the container is still listed");
    // Thawed before the kill, the init is dead when delete returns (a zombie at most: this
    // host's PID 1 reaps late); left frozen it would still be there, SIGKILL pending.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').map(|i| &stat[i + 2..i + 3]);
    assert!(
        matches!(state, None | Some("Z") | Some("X")),
        "the init outlived delete --force: {stat}"
    );
}

#[test]
fn features_document() {
    let rt = Rt::new();
    let o = rt.run(&["features"]);
    if !o.status.success() && !is_gantry() {
        return skip_not_gantry("runc 1.1 has `features` behind an experimental flag");
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["ociVersionMin"].is_string() && v["ociVersionMax"].is_string());
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    for n in ["pid", "mount", "network", "user", "cgroup"] {
        assert!(ns.iter().any(|x| x == n), "{n}");
    }
    assert!(v["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "rbind"));
    assert!(v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == "createContainer"));
}

fn cap_eff(out: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with("CapEff")).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn exec_cap_takes_cap_prefixed_names() {
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let (id, _) = running(&rt, &b);
    let before = rt.ok(&["exec", &id, "cat", "/proc/self/status"]);
    assert_eq!(
        cap_eff(&before) & (1 << 21),
        0,
        "CAP_SYS_ADMIN already held"
    );
    for name in ["CAP_SYS_ADMIN", "sys_admin"] {
        if !is_gantry() && name != "CAP_SYS_ADMIN" {
            continue;
        }
        let out = rt.ok(&["exec", "--cap", name, &id, "cat", "/proc/self/status"]);
        assert_ne!(cap_eff(&out) & (1 << 21), 0, "--cap {name}: not in CapEff");
    }
}

#[test]
fn exec_user_without_gid_keeps_the_config_gid() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    b.edit(|c| c["process"]["user"] = json!({"uid": 0, "gid": 1234}));
    let (id, _) = running(&rt, &b);
    let out = rt.ok(&["exec", "--user", "1000", &id, "sh", "-c", "id -u; id -g"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1000", "1234"]);
}

#[test]
fn exec_joins_every_cgroup_hierarchy_of_the_init() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let path = format!("/gantry-e2e-exec-{}", unique_id("all"));
    let p = path.clone();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    let (id, pid) = running(&rt, &b);
    let init = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    // Both read inside the container's cgroup namespace, by the exec'd process.
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup",
    ]);
    assert!(!out.contains("/.."), "{out}");
    let (mine, theirs) = out.split_once("---\n").unwrap();
    assert_eq!(mine, theirs);
    assert!(init.contains(&path), "{init}");
}

/// Sub-cgroups made by the test in every hierarchy the init is in, removed on drop (after the
/// processes in them are killed), so a failing assertion leaves nothing.
struct Subs {
    dirs: Vec<PathBuf>,
    pids: Vec<i64>,
}

impl Drop for Subs {
    fn drop(&mut self) {
        for p in &self.pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*p as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for d in &self.dirs {
            // A killed process leaves its cgroup only once the kernel is done with it.
            for _ in 0..100 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// The cgroup lines of a pid: (controllers, path).
fn cgroup_lines(pid: i64) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            Some((c.to_string(), p.to_string()))
        })
        .collect()
}

fn exec_detached(rt: &Rt, id: &str, cgroup: &[&str], pid_file: &Path) -> std::process::Output {
    let mut a = vec!["exec", "-d", "--pid-file", pid_file.to_str().unwrap()];
    for c in cgroup {
        a.extend(["--cgroup", c]);
    }
    a.extend([id, "sleep", "300"]);
    rt.run(&a)
}

/// runc's `exec --cgroup [CONTROLLER:]PATH`: the process runs in an existing sub-cgroup of the
/// container's, in every hierarchy (PATH) or in the named controllers' only; a missing
/// sub-cgroup, an unknown controller, a path leaving the container's cgroup and two paths
/// without controllers are refused with nothing left running.
#[test]
fn exec_cgroup_runs_in_a_sub_cgroup() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let path = format!("/gantry-e2e-execcg-{}", unique_id("sub"));
    let p = path.clone();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    let (id, pid) = running(&rt, &b);
    let tmp = TempDir::new("execcg");
    let mut subs = Subs {
        dirs: vec![],
        pids: vec![],
    };
    for (_, p) in cgroup_lines(pid) {
        for m in gantry_conformance::cgroupfs::mount_points() {
            let d = m.join(p.trim_start_matches('/'));
            if d.is_dir() && !subs.dirs.contains(&d.join("sub")) {
                std::fs::create_dir(d.join("sub")).unwrap();
                subs.dirs.push(d.join("sub"));
                // A new v1 cpuset has no cpus or mems (joining it fails with ENOSPC): copy
                // the parent's, as a user of --cgroup has to.
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                        std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
                    }
                }
            }
        }
    }
    assert!(
        !subs.dirs.is_empty(),
        "no cgroup dir of the container found"
    );

    // Every hierarchy.
    let pf = tmp.path().join("all.pid");
    let o = exec_detached(&rt, &id, &["sub"], &pf);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let child: i64 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    subs.pids.push(child);
    let (init, mine) = (cgroup_lines(pid), cgroup_lines(child));
    for ((c, ip), (_, cp)) in init.iter().zip(&mine) {
        assert_eq!(*cp, format!("{ip}/sub"), "hierarchy {c:?}: {mine:?}");
    }

    // One controller (cgroup v1 only: v2 has one hierarchy, so only the plain form).
    if gantry_conformance::cgroupfs::hierarchy("memory")
        .is_some_and(|h| h.version == gantry_conformance::cgroupfs::Version::V1)
    {
        let pf = tmp.path().join("mem.pid");
        let o = exec_detached(&rt, &id, &["memory:sub"], &pf);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let child: i64 = std::fs::read_to_string(&pf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        subs.pids.push(child);
        for ((c, ip), (_, cp)) in init.iter().zip(&cgroup_lines(child)) {
            let want = if c.split(',').any(|c| c == "memory") {
                format!("{ip}/sub")
            } else {
                ip.clone()
            };
            assert_eq!(*cp, want, "hierarchy {c:?}");
        }
    } else {
        skip("exec --cgroup CONTROLLER:PATH: no cgroup v1 memory hierarchy on this host");
    }

    // Refusals: nothing started.
    let before = rt.ok(&["ps", &id]).lines().count();
    for (args, needle) in [
        (vec!["nosuch"], "does not exist"),
        (vec!["bogus:sub"], "unknown controller bogus"),
        (vec!["../escape"], "bad sub cgroup path"),
        (vec!["sub", "sub"], "missing <controller>: prefix"),
    ] {
        let o = exec_detached(&rt, &id, &args, &tmp.path().join("bad.pid"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "--cgroup {args:?} accepted");
        if is_gantry() {
            assert!(err.contains(needle), "--cgroup {args:?}: {err}");
        }
    }
    assert_eq!(
        rt.ok(&["ps", &id]).lines().count(),
        before,
        "a refused exec left a process"
    );
    drop(subs);
    rt.ok(&["delete", "--force", &id]);
}
