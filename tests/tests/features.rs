//! `features` (runtime-spec features.md), in depth: the document has the spec's shape and
//! values from the spec's lists, and what it claims is true of the runtime: every mount option
//! is accepted by create, every seccomp action, operator, architecture and flag compiles and
//! acts, every hook runs, every namespace is made, every capability can be held. Its key set
//! and lists are compared with runc's (`/usr/sbin/runc features`, runc 1.1.5).

use std::collections::BTreeSet;

use gantry_tests::*;
use serde_json::{json, Value};

fn features(bin: &std::path::Path) -> Option<Value> {
    let o = std::process::Command::new(bin)
        .arg("features")
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).unwrap())
}

/// Gantry's document; None for a runtime under test without `features`.
fn ours() -> Option<Value> {
    let f = features(&runtime_bin());
    assert!(f.is_some() || !is_gantry(), "gantry features failed");
    if f.is_none() {
        skip_not_gantry("the runtime under test has no `features` command");
    }
    f
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

fn set(v: &Value) -> BTreeSet<String> {
    strings(v).into_iter().collect()
}

/// Every key path of a document ("linux.seccomp.actions"), annotations' own keys left out.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(m) = v.as_object() {
        for (k, v) in m {
            let p = format!("{prefix}{k}");
            out.insert(p.clone());
            if k != "annotations" {
                paths(v, &format!("{p}."), out);
            }
        }
    }
}

/// The keys features.md defines at each level, with the type of each leaf.
#[test]
fn features_has_the_spec_shape() {
    let Some(f) = ours() else { return };
    if !is_gantry() {
        return skip_not_gantry(
            "runc 1.1.5 leaves out OPTIONAL sections (intelRdt, rdma, ...) Gantry has",
        );
    }
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let allowed = |v: &Value, what: &str, allowed: &[&str]| {
        for k in keys(v) {
            assert!(
                allowed.contains(&k.as_str()),
                "{what}: {k} is not in features.md"
            );
        }
    };
    allowed(
        &f,
        "top level",
        &[
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "annotations",
            "potentiallyUnsafeConfigAnnotations",
        ],
    );
    for k in [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
    ] {
        assert!(f.get(k).is_some(), "no {k}");
    }
    let l = &f["linux"];
    allowed(
        l,
        "linux",
        &[
            "namespaces",
            "capabilities",
            "cgroup",
            "seccomp",
            "apparmor",
            "selinux",
            "memoryPolicy",
            "intelRdt",
            "mountExtensions",
            "netDevices",
        ],
    );
    let bools = |v: &Value, what: &str, names: &[&str]| {
        allowed(v, what, names);
        for n in names {
            assert!(v[n].is_boolean(), "{what}.{n} is not a boolean: {}", v[n]);
        }
    };
    bools(
        &l["cgroup"],
        "cgroup",
        &["v1", "v2", "systemd", "systemdUser", "rdma"],
    );
    for k in ["apparmor", "selinux", "netDevices"] {
        bools(&l[k], k, &["enabled"]);
    }
    bools(
        &l["intelRdt"],
        "intelRdt",
        &["enabled", "schemata", "monitoring"],
    );
    allowed(&l["mountExtensions"], "mountExtensions", &["idmap"]);
    bools(&l["mountExtensions"]["idmap"], "idmap", &["enabled"]);
    let s = &l["seccomp"];
    allowed(
        s,
        "seccomp",
        &[
            "enabled",
            "actions",
            "operators",
            "archs",
            "knownFlags",
            "supportedFlags",
        ],
    );
    assert_eq!(s["enabled"], true);

    // Semantic versions, min <= max, and max the version Gantry writes in its state.
    let ver = |k: &str| -> (u64, u64, u64) {
        let v = f[k].as_str().unwrap();
        let core = v.split(['-', '+']).next().unwrap();
        let n: Vec<u64> = core.split('.').map(|x| x.parse().unwrap()).collect();
        assert_eq!(n.len(), 3, "{k} {v}");
        (n[0], n[1], n[2])
    };
    assert!(ver("ociVersionMin") <= ver("ociVersionMax"));
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "30"]);
    let id = unique_id("feat-ver");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(rt.state(&id).unwrap()["ociVersion"], f["ociVersionMax"]);
    rt.ok(&["delete", "--force", &id]);

    // Values from the spec's own lists (config.md, config-linux.md).
    let within = |v: &Value, what: &str, spec: &[&str]| {
        for x in strings(v) {
            assert!(spec.contains(&x.as_str()), "{what}: {x} is not in the spec");
        }
    };
    within(
        &f["hooks"],
        "hooks",
        &[
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ],
    );
    within(
        &l["namespaces"],
        "namespaces",
        &[
            "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
        ],
    );
    for c in strings(&l["capabilities"]) {
        assert!(
            c.starts_with("CAP_") && c[4..].chars().all(|c| c.is_ascii_uppercase() || c == '_'),
            "{c}"
        );
    }
    within(
        &s["actions"],
        "actions",
        &[
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_LOG",
            "SCMP_ACT_NOTIFY",
        ],
    );
    within(
        &s["operators"],
        "operators",
        &[
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_MASKED_EQ",
        ],
    );
    within(
        &s["archs"],
        "archs",
        &[
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X32",
            "SCMP_ARCH_ARM",
            "SCMP_ARCH_AARCH64",
            "SCMP_ARCH_MIPS",
            "SCMP_ARCH_MIPS64",
            "SCMP_ARCH_MIPS64N32",
            "SCMP_ARCH_MIPSEL",
            "SCMP_ARCH_MIPSEL64",
            "SCMP_ARCH_MIPSEL64N32",
            "SCMP_ARCH_PPC",
            "SCMP_ARCH_PPC64",
            "SCMP_ARCH_PPC64LE",
            "SCMP_ARCH_S390",
            "SCMP_ARCH_S390X",
            "SCMP_ARCH_PARISC",
            "SCMP_ARCH_PARISC64",
            "SCMP_ARCH_RISCV64",
            // Added to config-linux.md's list after runtime-spec 1.1.
            "SCMP_ARCH_LOONGARCH64",
            "SCMP_ARCH_M68K",
            "SCMP_ARCH_SH",
            "SCMP_ARCH_SHEB",
        ],
    );
    let flags = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ];
    within(&s["knownFlags"], "knownFlags", &flags);
    assert!(set(&s["supportedFlags"]).is_subset(&set(&s["knownFlags"])));
    // Annotations: a string to string map.
    for (k, v) in f["annotations"].as_object().unwrap() {
        assert!(v.is_string(), "annotation {k}: {v}");
    }
    // No list names a thing twice.
    for v in [
        &f["hooks"],
        &f["mountOptions"],
        &l["namespaces"],
        &l["capabilities"],
        &s["actions"],
        &s["archs"],
    ] {
        assert_eq!(strings(v).len(), set(v).len(), "a duplicate in {v}");
    }
}

/// A bundle whose program is `script`, with an empty /mnt to mount on.
fn bundle(script: &str) -> Bundle {
    let mut b = Bundle::new(&["true"]);
    std::fs::create_dir_all(b.rootfs().join("mnt")).unwrap();
    b.sh(script);
    b
}

/// Runs `b` in the foreground: (exit code, stdout, stderr).
fn run(rt: &Rt, b: &Bundle, tag: &str) -> (i32, String, String) {
    rt.run_fg(b, &unique_id(tag))
}

/// Every mount option listed is accepted by create (one container per option) and the mount
/// is there; the options with a visible flag show it in mountinfo.
#[test]
fn every_listed_mount_option_is_accepted() {
    let Some(f) = ours() else { return };
    if !is_gantry() {
        return skip_not_gantry(
            "runc 1.1.5 lists options it cannot apply (ratime: mount_setattr EINVAL)",
        );
    }
    let rt = Rt::new();
    let host = TempDir::new("feat-bind");
    let mut failed = Vec::new();
    for opt in strings(&f["mountOptions"]) {
        let mut b = bundle("grep ' /mnt ' /proc/self/mountinfo");
        let m = match opt.as_str() {
            "bind" | "rbind" => json!({"destination": "/mnt", "type": "bind",
                "source": host.path(), "options": [opt]}),
            // A remount changes a mount made before it: the bind of the line above, again.
            "remount" => json!({"destination": "/mnt", "type": "bind",
                "source": host.path(), "options": ["bind", "remount", "ro"]}),
            _ => json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                "options": [opt]}),
        };
        b.edit(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            if opt == "remount" {
                mounts.push(json!({"destination": "/mnt", "type": "bind",
                    "source": host.path(), "options": ["bind"]}));
            }
            mounts.push(m);
        });
        let (code, out, err) = run(&rt, &b, "feat-mnt");
        if code != 0 || out.trim().is_empty() {
            failed.push(format!("{opt}: exit {code}: {}", err.trim()));
            continue;
        }
        // The per-mount flags mountinfo shows (field 6).
        let flags: Vec<String> = out
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .nth(5)
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect();
        let want = match opt.as_str() {
            "ro" | "rro" | "remount" => Some("ro"),
            "nosuid" | "rnosuid" => Some("nosuid"),
            "nodev" | "rnodev" => Some("nodev"),
            "noexec" | "rnoexec" => Some("noexec"),
            "noatime" | "rnoatime" => Some("noatime"),
            "nodiratime" | "rnodiratime" => Some("nodiratime"),
            "nosymfollow" | "rnosymfollow" => Some("nosymfollow"),
            "ratime" | "relatime" | "rrelatime" | "rnostrictatime" | "rnorelatime" => {
                Some("relatime")
            }
            _ => None,
        };
        if let Some(w) = want {
            if !flags.iter().any(|x| x == w) {
                failed.push(format!("{opt}: mountinfo flags {flags:?} lack {w}"));
            }
        }
        if matches!(opt.as_str(), "strictatime" | "rstrictatime")
            && flags.iter().any(|x| x == "relatime" || x == "noatime")
        {
            failed.push(format!("{opt}: still {flags:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "listed but not applied:\n{}",
        failed.join("\n")
    );
}

/// One profile per listed action, on mkdir (in a subshell, so that a kill ends only it):
/// each has its documented effect on the call.
#[test]
fn every_listed_seccomp_action_operator_arch_and_flag_works() {
    let Some(f) = ours() else { return };
    if !is_gantry() {
        // runc 1.1.5 lists archs libseccomp cannot add beside x86_64 (SCMP_ARCH_MIPS: "error
        // adding architecture to seccomp filter") and SCMP_ACT_NOTIFY, which needs an agent.
        return skip_not_gantry("runc lists seccomp features it cannot apply here");
    }
    let s = &f["linux"]["seccomp"];
    let rt = Rt::new();
    let probe = "(mkdir /tmp/d) 2>/dev/null; echo $?";
    let with = |profile: Value| -> (i32, String, String) {
        let mut b = bundle(probe);
        b.edit(|c| c["linux"]["seccomp"] = profile);
        run(&rt, &b, "feat-sc")
    };
    let rule = |action: &str, args: Value| {
        json!([
            {"names": ["mkdir"], "action": action, "args": args.clone()},
            {"names": ["mkdirat"], "action": action, "args": args.as_array().unwrap().iter().map(|a| {
                let mut a = a.clone();
                a["index"] = json!(a["index"].as_u64().unwrap() + 1);
                a
            }).collect::<Vec<_>>()}
        ])
    };
    for a in strings(&s["actions"]) {
        if a == "SCMP_ACT_NOTIFY" {
            // Needs an agent on listenerPath to answer: seccomp_notify.rs runs one.
            continue;
        }
        // SIGSYS (31) ends the subshell for the killing and trapping actions; TRACE without a
        // tracer fails the call with ENOSYS; LOG and ALLOW let it through.
        let want = match a.as_str() {
            "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" => "0",
            "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE" => "1",
            "SCMP_ACT_KILL"
            | "SCMP_ACT_KILL_PROCESS"
            | "SCMP_ACT_KILL_THREAD"
            | "SCMP_ACT_TRAP" => "159",
            other => panic!("no expectation for {other}"),
        };
        // The default must differ from the rule's action (libseccomp refuses a no-op rule).
        let default = if a == "SCMP_ACT_ALLOW" {
            "SCMP_ACT_LOG"
        } else {
            "SCMP_ACT_ALLOW"
        };
        let (code, out, err) =
            with(json!({"defaultAction": default, "syscalls": rule(&a, json!([]))}));
        assert_eq!((code, out.trim()), (0, want), "{a}: {err}");
    }
    // mkdir's mode argument is 0777 (511): each operator against it.
    for op in strings(&s["operators"]) {
        let (arg, matches) = match op.as_str() {
            "SCMP_CMP_EQ" => (json!({"index": 1, "value": 511, "op": op}), true),
            "SCMP_CMP_NE" => (json!({"index": 1, "value": 511, "op": op}), false),
            "SCMP_CMP_GE" => (json!({"index": 1, "value": 511, "op": op}), true),
            "SCMP_CMP_GT" => (json!({"index": 1, "value": 511, "op": op}), false),
            "SCMP_CMP_LE" => (json!({"index": 1, "value": 511, "op": op}), true),
            "SCMP_CMP_LT" => (json!({"index": 1, "value": 511, "op": op}), false),
            "SCMP_CMP_MASKED_EQ" => (
                json!({"index": 1, "value": 448, "valueTwo": 448, "op": op}),
                true,
            ),
            other => panic!("no expectation for {other}"),
        };
        let p = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": rule("SCMP_ACT_ERRNO", json!([arg]))});
        let (code, out, err) = with(p);
        let want = if matches { "1" } else { "0" };
        assert_eq!((code, out.trim()), (0, want), "{op}: {err}");
    }
    // Each listed architecture compiles beside the native one (a list without it is refused,
    // docs/architecture.md), and the native call is still filtered.
    for arch in strings(&s["archs"]) {
        let mut archs = vec!["SCMP_ARCH_X86_64".to_string()];
        if arch != archs[0] {
            archs.push(arch.clone());
        }
        let (code, out, err) = with(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": archs, "syscalls": rule("SCMP_ACT_ERRNO", json!([]))}));
        assert_eq!((code, out.trim()), (0, "1"), "{arch}: {err}");
    }
    let supported = set(&s["supportedFlags"]);
    for flag in &supported {
        let (code, out, err) = with(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": [flag], "syscalls": rule("SCMP_ACT_ERRNO", json!([]))}));
        if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" {
            // Only for a notify listener (seccomp_notify.rs applies it with one); without
            // SCMP_ACT_NOTIFY it is refused by name.
            assert!(code != 0 && err.contains(flag.as_str()), "{flag}: {err}");
            continue;
        }
        assert_eq!((code, out.trim()), (0, "1"), "{flag}: {err}");
    }
}

/// Every listed hook runs, every listed namespace is new, every listed capability is held.
#[test]
fn listed_hooks_namespaces_and_capabilities_are_real() {
    let Some(f) = ours() else { return };
    let rt = Rt::new();
    let log = TempDir::new("feat-hooks");
    let file = log.path().join("ran");
    let hooks = strings(&f["hooks"]);
    let namespaces = strings(&f["linux"]["namespaces"]);
    let caps = strings(&f["linux"]["capabilities"]);
    // /proc/self/ns names; time (like pid) applies to the children of the process that made it.
    fn link(n: &str) -> &str {
        match n {
            "mount" => "mnt",
            "network" => "net",
            "time" => "time_for_children",
            other => other,
        }
    }
    let script: String = namespaces
        .iter()
        .map(|n| format!("echo {n} $(readlink /proc/self/ns/{}); ", link(n)))
        .collect::<String>()
        + "grep CapBnd /proc/self/status";
    let mut b = bundle(&script);
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(&file, "").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    b.bind(log.path(), "/hooklog");
    let host_root = 1_000_000u32;
    let userns = namespaces.iter().any(|n| n == "user");
    if userns {
        chown_tree(&b.rootfs(), host_root);
    }
    b.edit(|c| {
        c["linux"]["namespaces"] = json!(namespaces.iter().map(|n| json!({"type": n})).collect::<Vec<_>>());
        if userns {
            map_ids(c, host_root);
        }
        c["process"]["capabilities"] = json!({"bounding": caps});
        // startContainer runs in the container (after pivot_root): there the file is at
        // /hooklog; the others see the host's path. Writable by the user namespace's root.
        let h = |name: &str| {
            let cmd = format!(
                "for f in {} /hooklog/ran; do [ -d \"${{f%/*}}\" ] && echo {name} >>\"$f\" && break; done",
                file.display()
            );
            json!([{"path": "/bin/sh", "args": ["sh", "-c", cmd]}])
        };
        c["hooks"] = json!(hooks.iter().map(|n| (n.clone(), h(n))).collect::<serde_json::Map<_, _>>());
    });
    let (code, out, err) = run(&rt, &b, "feat-ns");
    assert_eq!(code, 0, "{err}");
    for n in &namespaces {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(n))
            .unwrap_or_else(|| panic!("{out}"));
        let inside = line.split_whitespace().nth(1).unwrap_or("");
        let host = std::fs::read_link(format!("/proc/self/ns/{}", link(n))).unwrap();
        assert_ne!(
            inside,
            host.to_str().unwrap(),
            "{n}: not a new namespace ({out})"
        );
    }
    // The bounding set is exactly the listed capabilities: all the kernel's, none unknown.
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        caps.len() as u32,
        last + 1,
        "the kernel has {} capabilities",
        last + 1
    );
    let bnd = out.lines().find(|l| l.starts_with("CapBnd")).unwrap();
    let bnd = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(bnd, (1u64 << (last + 1)) - 1, "{out}");
    // run deletes the container: poststop has run too.
    let ran: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut want = hooks.clone();
    want.sort();
    let mut got = ran.clone();
    got.sort();
    assert_eq!(got, want, "hooks run: {ran:?}");
}

/// Against runc 1.1.5: Gantry has every key runc's document has, and runc's lists are within
/// Gantry's, except where Gantry says less on purpose (checked here so a change shows).
#[test]
fn features_key_set_against_runc() {
    let runc = std::path::Path::new("/usr/sbin/runc");
    let Some(r) = features(runc) else {
        return skip("no runc with a `features` command at /usr/sbin/runc");
    };
    let Some(g) = ours() else { return };
    if !is_gantry() {
        return skip_not_gantry("the check is of Gantry's own behaviour");
    }
    let (mut rk, mut gk) = (BTreeSet::new(), BTreeSet::new());
    paths(&r, "", &mut rk);
    paths(&g, "", &mut gk);
    let missing: Vec<_> = rk.difference(&gk).collect();
    assert!(missing.is_empty(), "runc has, Gantry lacks: {missing:?}");
    assert_eq!(r["ociVersionMin"], g["ociVersionMin"]);
    assert_eq!(set(&r["hooks"]), set(&g["hooks"]));
    assert_eq!(
        set(&r["linux"]["capabilities"]),
        set(&g["linux"]["capabilities"])
    );
    let sc = |d: &Value, k: &str| set(&d["linux"]["seccomp"][k]);
    assert_eq!(sc(&r, "operators"), sc(&g, "operators"));
    for (what, rv, gv) in [
        (
            "mountOptions",
            set(&r["mountOptions"]),
            set(&g["mountOptions"]),
        ),
        (
            "namespaces",
            set(&r["linux"]["namespaces"]),
            set(&g["linux"]["namespaces"]),
        ),
    ] {
        let lack: Vec<_> = rv.difference(&gv).collect();
        assert!(
            lack.is_empty(),
            "{what}: runc lists, Gantry does not: {lack:?}"
        );
    }
    let lack: Vec<_> = sc(&r, "actions")
        .difference(&sc(&g, "actions"))
        .cloned()
        .collect();
    assert!(
        lack.is_empty(),
        "seccomp actions runc lists, Gantry does not: {lack:?}"
    );
    // Gantry lists every architecture a profile may name (the x86 ABIs it filters, and the
    // others it accepts and never runs); runc every one its libseccomp knows.
    let garchs = sc(&g, "archs");
    let lack: Vec<_> = sc(&r, "archs").difference(&garchs).cloned().collect();
    assert!(
        lack.is_empty(),
        "archs runc lists, Gantry does not: {lack:?}"
    );
    for a in ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"] {
        assert!(garchs.contains(a), "{a}");
    }
}
