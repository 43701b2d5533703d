//! process.*: args, env, cwd, user, umask, rlimits, noNewPrivileges, oomScoreAdj,
//! capabilities; hostname, domainname, sysctl.

use gantry_tests::*;
use serde_json::json;

fn run_sh(edit: impl FnOnce(&mut serde_json::Value), script: &str) -> String {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.edit(edit).sh(script);
    let (code, out, err) = rt.run_fg(&b, &unique_id("proc"));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    out
}

#[test]
fn args_env_cwd_exactly() {
    let out = run_sh(
        |c| {
            c["process"]["env"] = json!(["PATH=/bin", "A=1", "B=two words"]);
            c["process"]["cwd"] = json!("/tmp");
        },
        "pwd; env | sort",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/tmp");
    let env: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
        .collect();
    // HOME is added from /etc/passwd as runc does; nothing of the runtime's env leaks.
    assert_eq!(env, vec!["A=1", "B=two words", "HOME=/root", "PATH=/bin"]);
}

#[test]
fn user_groups_and_umask() {
    let out = run_sh(
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 63})
        },
        "id -u; id -g; id -G; umask",
    );
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "1000");
    assert_eq!(l[1], "1001");
    let groups: Vec<&str> = l[2].split(' ').collect();
    assert!(groups.contains(&"5") && groups.contains(&"7"), "{}", l[2]);
    assert_eq!(l[3], "0077");
}

#[test]
fn rlimits_within_host_limits() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the live struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    let hard = r.rlim_max.min(4096);
    let out = run_sh(
        |c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": hard}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]),
        "grep -E 'open files|core file' /proc/self/limits",
    );
    assert!(
        out.lines().any(|l| l.contains("open files")
            && l.contains("321")
            && l.contains(&hard.to_string())),
        "{out}"
    );
    assert!(
        out.lines().any(
            |l| l.starts_with("Max core file size") && l.split_whitespace().nth(4) == Some("0")
        ),
        "{out}"
    );
}

#[test]
fn no_new_privileges_and_oom_score_adj() {
    let out = run_sh(
        |c| c["process"]["oomScoreAdj"] = json!(123),
        "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
    );
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.lines().any(|l| l == "123"), "{out}");
    let out = run_sh(
        |c| c["process"]["noNewPrivileges"] = json!(false),
        "grep NoNewPrivs /proc/self/status",
    );
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
}

fn capmask(names: &[u32]) -> String {
    format!("{:016x}", names.iter().fold(0u64, |m, c| m | (1 << c)))
}

#[test]
fn capabilities_all_five_sets() {
    // CAP_KILL=5 CAP_NET_BIND_SERVICE=10 CAP_SYS_ADMIN=21 CAP_AUDIT_WRITE=29
    let out = run_sh(
        |c| {
            c["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN", "CAP_AUDIT_WRITE"],
                "effective": ["CAP_KILL", "CAP_SYS_ADMIN"],
                "permitted": ["CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            });
            c["process"]["user"] = json!({"uid": 0, "gid": 0});
        },
        "grep ^Cap /proc/self/status",
    );
    let get = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(get("CapBnd"), capmask(&[5, 10, 21, 29]));
    assert_eq!(get("CapInh"), capmask(&[10]));
    assert_eq!(get("CapAmb"), capmask(&[10]));
    // After exec, a root process gets effective = permitted (file caps semantics for uid 0).
    assert_eq!(get("CapPrm"), capmask(&[5, 10, 21]));
}

#[test]
fn capabilities_empty_for_non_root() {
    let out = run_sh(
        |c| {
            c["process"]["capabilities"] = json!({});
            c["process"]["user"] = json!({"uid": 65534, "gid": 65534});
        },
        "grep ^Cap /proc/self/status",
    );
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            out.contains(&format!("{k}:\t0000000000000000")),
            "{k}: {out}"
        );
    }
}

#[test]
fn ambient_caps_reach_non_root_program() {
    let out = run_sh(
        |c| {
            let caps = json!(["CAP_NET_BIND_SERVICE"]);
            c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps});
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        },
        "grep -E '^Cap(Eff|Amb)' /proc/self/status",
    );
    assert!(
        out.contains(&format!("CapEff:\t{}", capmask(&[10]))),
        "{out}"
    );
    assert!(
        out.contains(&format!("CapAmb:\t{}", capmask(&[10]))),
        "{out}"
    );
}

#[test]
fn hostname_domainname_sysctl() {
    let out = run_sh(
        |c| {
            c["hostname"] = json!("box1");
            c["domainname"] = json!("example.org");
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "777"});
        },
        "hostname; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
    );
    // runc 1.1 ignores domainname (runc 1.2 added it).
    let want = if is_gantry() {
        "box1\nexample.org\n1\n777\n"
    } else {
        "box1\n(none)\n1\n777\n"
    };
    assert_eq!(out, want);
    // The host's values did not change.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni")
            .unwrap()
            .trim(),
        "777"
    );
}
