//! linux.resources applied through the cgroup, update, and events --stats.

use gantry_tests::*;
use serde_json::json;

fn cg_path(tag: &str) -> String {
    format!("/gantry-e2e-res-{}", unique_id(tag))
}

#[test]
fn memory_limit_kills_an_allocating_process() {
    let rt = Rt::new();
    let path = cg_path("mem");
    let mut b = Bundle::new(&[]);
    let p = path.clone();
    let memsw = std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        let mut mem = json!({"limit": 32 << 20});
        if memsw {
            mem["swap"] = json!(32 << 20); // no swap to escape into
        }
        c["linux"]["resources"]["memory"] = mem;
    })
    // tail keeps the last "line" of a stream with no newline: all 100M of it.
    .sh("head -c 100m /dev/zero | tail >/dev/null; echo rc=$?");
    let (code, out, err) = rt.run_fg(&b, &unique_id("oom"));
    // The OOM killer picks its victim: the allocating tail (the shell reports 137), or the
    // shell itself (the container exits 137). Either way the allocation did not survive.
    assert!(
        (code, out.as_str()) == (0, "rc=137\n") || (code, out.as_str()) == (137, ""),
        "a 100M allocation survived a 32M limit: {code} {out:?} {err}"
    );
    // Control: without the limit the same program runs.
    b.edit(|c| {
        c["linux"]["resources"]
            .as_object_mut()
            .unwrap()
            .remove("memory")
            .map(|_| ())
            .unwrap_or(())
    });
    let (code, out, err) = rt.run_fg(&b, &unique_id("nooom"));
    assert_eq!((code, out.as_str()), (0, "rc=0\n"), "{err}");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    let p = cg_path("pids");
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        c["linux"]["resources"]["pids"] = json!({"limit": 10});
    })
    // The loop runs in a subshell: when fork fails there, only the subshell gives up.
    // Counted with builtins: once the bomb has used the pids, even `ls` could not fork.
    .sh("(for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 100 & done) 2>/dev/null; set -- /proc/[0-9]*; echo $#");
    let (code, out, err) = rt.run_fg(&b, &unique_id("forkbomb"));
    assert_eq!(code, 0, "{err}");
    let procs: u32 = out.trim().parse().unwrap_or(99);
    assert!(procs <= 10, "{procs} processes under pids.max=10");
    assert!(procs >= 3, "the bomb did not run at all: {procs}");
}

#[test]
fn cpu_and_pids_values_read_back_and_update() {
    if !v1_or_skip(&["cpu", "pids", "memory"]) {
        return;
    }
    let rt = Rt::new();
    let path = cg_path("cpu");
    let mut b = Bundle::new(&["sleep", "300"]);
    let p = path.clone();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        c["linux"]["resources"]["cpu"] = json!({"shares": 256, "quota": 50000, "period": 100000});
        c["linux"]["resources"]["pids"] = json!({"limit": 77});
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    });
    let id = unique_id("upd");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let read = |ctrl: &str, file: &str| {
        std::fs::read_to_string(cgroup_dir(ctrl, &path).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("cpu", "cpu.shares"), "256");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("pids", "pids.max"), "77");
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    rt.ok(&[
        "update",
        "--memory",
        "96m",
        "--pids-limit",
        "55",
        "--cpu-share",
        "512",
        &id,
    ]);
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert_eq!(read("pids", "pids.max"), "55");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    let ev: serde_json::Value =
        serde_json::from_str(rt.ok(&["events", "--stats", &id]).lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert_eq!(
        ev["data"]["memory"]["usage"]["limit"].as_u64(),
        Some(96 << 20),
        "{ev}"
    );
}

#[test]
fn update_resources_from_a_file_and_stdin() {
    if !v1_or_skip(&["pids", "memory"]) {
        return;
    }
    use std::io::Write;
    let rt = Rt::new();
    let path = cg_path("res");
    let mut b = Bundle::new(&["sleep", "300"]);
    let p = path.clone();
    b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
    let id = unique_id("updres");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let read = |ctrl: &str, file: &str| {
        std::fs::read_to_string(cgroup_dir(ctrl, &path).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    let dir = TempDir::new("updres");
    let file = dir.path().join("r.json");
    std::fs::write(
        &file,
        json!({"memory": {"limit": 80 << 20, "useHierarchy": true}, "pids": {"limit": 33}})
            .to_string(),
    )
    .unwrap();
    rt.ok(&["update", "--resources", file.to_str().unwrap(), &id]);
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (80u64 << 20).to_string()
    );
    assert_eq!(read("pids", "pids.max"), "33");
    assert_eq!(read("memory", "memory.use_hierarchy"), "1");

    let mut child = rt
        .cmd()
        .args(["update", "--resources", "-", &id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            json!({"memory": {"limit": 72 << 20}, "pids": {"limit": 44}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (72u64 << 20).to_string()
    );
    assert_eq!(read("pids", "pids.max"), "44");

    // On v1 the v1 extras are checked as at create: unified (cgroup v2 files) is refused.
    if is_gantry() {
        std::fs::write(
            &file,
            json!({"unified": {"memory.max": "1000000"}}).to_string(),
        )
        .unwrap();
        let o = rt.run(&["update", "--resources", file.to_str().unwrap(), &id]);
        assert!(!o.status.success(), "unified accepted on v1");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("linux.resources.unified"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(read("pids", "pids.max"), "44");
    }
}

/// This hybrid host has hugetlb only on its cgroup2 mount: the limits are written in the
/// container's directory there (where it is placed, as runc places it), read back, updated,
/// and removed with it. runc 1.1 fails here ("could not join or create cgroup").
/// The host's huge page sizes, smallest first, as (bytes, the cgroup's name: "2MB", "1GB").
fn huge_page_sizes() -> Vec<(u64, String)> {
    let mut sizes: Vec<u64> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_prefix("hugepages-")?
                        .strip_suffix("kB")?
                        .parse::<u64>()
                        .ok()
                })
                .map(|kb| kb << 10)
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    let name = |b: u64| match b {
        b if b >= 1 << 30 => format!("{}GB", b >> 30),
        b if b >= 1 << 20 => format!("{}MB", b >> 20),
        b => format!("{}KB", b >> 10),
    };
    sizes.into_iter().map(|b| (b, name(b))).collect()
}

#[test]
fn hugepage_limits_on_the_hybrid_cgroup2_mount() {
    let unified = std::path::Path::new("/sys/fs/cgroup/unified");
    let sizes = huge_page_sizes();
    let Some((small, small_name)) = sizes.first().cloned() else {
        return skip("this kernel has no huge page sizes (/sys/kernel/mm/hugepages)");
    };
    let on_v2_only = !std::path::Path::new("/sys/fs/cgroup/hugetlb")
        .join(format!("hugetlb.{small_name}.limit_in_bytes"))
        .exists()
        && std::fs::read_to_string(unified.join("cgroup.controllers"))
            .is_ok_and(|c| c.contains("hugetlb"));
    if !is_gantry() {
        return skip_not_gantry("--cgroup-root is Gantry's own flag");
    }
    if !on_v2_only {
        return skip("hugetlb is not on the cgroup2 mount alone here (bound to v1, or absent)");
    }
    let rt = Rt::new();
    let path = cg_path("huge");
    let mut b = Bundle::new(&["sleep", "300"]);
    let p = path.clone();
    // Two pages of the smallest size, and none of every other size the host has.
    let mut limits = vec![json!({"pageSize": small_name, "limit": 2 * small})];
    limits.extend(
        sizes[1..]
            .iter()
            .map(|(_, n)| json!({"pageSize": n, "limit": 0})),
    );
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        c["linux"]["resources"]["hugepageLimits"] = json!(limits);
    });
    let id = unique_id("huge");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let dir = unified.join(path.trim_start_matches('/'));
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let max = |n: &str| read(&format!("hugetlb.{n}.max"));
    // Reservations (1.3: "limit in bytes of hugepagesize HugeTLB reservations (if supported)
    // or usage"), where the kernel accounts them (Linux 5.7+).
    let rsvd = dir.join(format!("hugetlb.{small_name}.rsvd.max")).exists();
    let rsvd_max = |n: &str| rsvd.then(|| read(&format!("hugetlb.{n}.rsvd.max")));
    assert_eq!(max(&small_name), (2 * small).to_string());
    assert_eq!(rsvd_max(&small_name), rsvd.then(|| (2 * small).to_string()));
    for (_, n) in &sizes[1..] {
        assert_eq!(max(n), "0", "{n}");
        assert_eq!(rsvd_max(n), rsvd.then(|| "0".to_string()), "{n} rsvd");
    }
    if !rsvd {
        skip("hugetlb reservation limits: this kernel has no hugetlb.<size>.rsvd.max");
    }
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert_eq!(read("cgroup.procs"), pid.to_string());

    let f = TempDir::new("huge");
    let file = f.path().join("r.json");
    std::fs::write(
        &file,
        json!({"hugepageLimits": [{"pageSize": small_name, "limit": 4 * small}]}).to_string(),
    )
    .unwrap();
    rt.ok(&["update", "--resources", file.to_str().unwrap(), &id]);
    assert_eq!(max(&small_name), (4 * small).to_string());
    assert_eq!(rsvd_max(&small_name), rsvd.then(|| (4 * small).to_string()));
    let ev: serde_json::Value =
        serde_json::from_str(rt.ok(&["events", "--stats", &id]).trim()).unwrap();
    // runc's shape: usage and max left out when zero, failcnt always.
    assert_eq!(
        ev["data"]["hugetlb"][&small_name],
        json!({"failcnt": 0}),
        "{ev}"
    );
    rt.ok(&["delete", "--force", &id]);
    assert!(!dir.exists(), "cgroup2 directory left behind");
}

/// A page size the kernel does not have: an error naming the field and the sizes it has, and
/// nothing left behind.
#[test]
fn hugepage_limit_of_an_unknown_page_size_is_refused() {
    let unified = std::path::Path::new("/sys/fs/cgroup/unified");
    if !is_gantry() {
        return skip_not_gantry("--cgroup-root is Gantry's own flag");
    }
    if !unified.join("cgroup.procs").exists() {
        return skip("no cgroup2 mount at /sys/fs/cgroup/unified (not a hybrid host)");
    }
    let rt = Rt::new();
    let path = cg_path("huge3");
    let mut b = Bundle::new(&["sleep", "300"]);
    let p = path.clone();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "3MB", "limit": 4 << 20}]);
    });
    let id = unique_id("huge3");
    let o = rt.run(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("linux.resources.hugepageLimits") && err.contains("\"3MB\""),
        "{err}"
    );
    assert!(rt.ids().is_empty(), "state left behind");
    for d in [
        unified.join(path.trim_start_matches('/')),
        cgroup_dir("memory", &path),
    ] {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

/// The key set of `events --stats` is runc's (types/events.go): checked against runc itself
/// on the same bundle, leaving out what depends on the values (omitempty fields that may be
/// zero in one run and not in the other, blkio entries, the raw memory.stat keys).
#[test]
fn events_stats_has_runcs_field_names() {
    let runc = std::path::Path::new("/usr/sbin/runc");
    if !is_gantry() {
        return skip_not_gantry("the check compares Gantry with runc");
    }
    if !runc.exists() {
        return skip("no runc at /usr/sbin/runc to compare with");
    }
    fn keys(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        if let Some(o) = v.as_object() {
            for (k, v) in o {
                let p = format!("{at}.{k}");
                let volatile = [
                    "blkio.",
                    "memory.cache",
                    "memory.raw.",
                    "cpu.throttling.",
                    "hugetlb.",
                ]
                .iter()
                .any(|x| p.contains(x))
                    || p.ends_with(".usage.usage")
                    || p.ends_with(".max");
                if !volatile {
                    out.push(p.clone());
                }
                keys(v, &p, out);
            }
        }
    }
    let stats = |rt: &Rt| {
        let mut b = Bundle::new(&["sleep", "300"]);
        let p = cg_path("evkeys");
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(p));
        let id = unique_id("evkeys");
        rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
        let ev: serde_json::Value =
            serde_json::from_str(rt.ok(&["events", "--stats", &id]).trim()).unwrap();
        rt.ok(&["delete", "--force", &id]);
        let mut k = Vec::new();
        keys(&ev, "", &mut k);
        k.sort();
        k
    };
    let ours = stats(&Rt::new());
    let theirs = stats(&Rt::with_runtime(runc));
    assert_eq!(ours, theirs);
    assert!(
        ours.contains(&".data.cpu.usage.percpu".to_string()),
        "{ours:?}"
    );
    assert!(
        ours.contains(&".data.memory.kernelTCP.limit".to_string()),
        "{ours:?}"
    );
}

/// `events` streams an `oom` event when the container's memory cgroup records an OOM kill,
/// and ends when the container stops.
#[test]
fn events_reports_an_oom_kill() {
    use std::io::BufRead;
    if !is_gantry() {
        return skip_not_gantry("runc's stream does not end with the container");
    }
    let rt = Rt::new();
    let path = cg_path("oomev");
    let memsw = std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    let mut b = Bundle::new(&[]);
    let p = path.clone();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        let mut mem = json!({"limit": 32 << 20});
        if memsw {
            mem["swap"] = json!(32 << 20);
        }
        c["linux"]["resources"]["memory"] = mem;
    })
    .sh("head -c 100m /dev/zero | tail >/dev/null; exit 0");
    let id = unique_id("oomev");
    let o = rt.create(&b, &id);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ev = rt
        .cmd()
        .args(["events", "--interval", "100ms", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(ev.stdout.take().unwrap()).lines();
    // A first stats event: the OOM watch is in place before it.
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "stats");
    rt.ok(&["start", &id]);
    let rest: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(ev.wait().unwrap().success());
    assert!(
        rest.iter()
            .any(|e| e["type"] == "oom" && e["id"] == id.as_str()),
        "no oom event: {rest:?}"
    );
}

/// linux.resources.memory.kernel: kmem limits are deprecated and not enforced by kernels since
/// 6.1 on v1; as runc 1.1 does, it is ignored with a warning, and the rest applies.
#[test]
fn memory_kernel_is_ignored_with_a_warning() {
    if !v1_or_skip(&["memory"]) {
        return;
    }
    let rt = Rt::new();
    let path = cg_path("kmem");
    let mut b = Bundle::new(&["sleep", "300"]);
    let p = path.clone();
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(p);
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20, "kernel": 32 << 20});
    });
    let id = unique_id("kmem");
    let o = rt.run(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let want = if is_gantry() {
        "linux.resources.memory.kernel is ignored"
    } else {
        "Kernel memory settings are ignored"
    };
    assert!(err.contains(want), "{err}");
    let read = |f: &str| {
        std::fs::read_to_string(cgroup_dir("memory", &path).join(f))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(read("memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_ne!(
        read("memory.kmem.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    rt.ok(&["delete", "--force", &id]);
}
