//! Rootless: an unprivileged user runs containers with a `spec --rootless` config (a user
//! namespace mapping the caller, no cgroup unless delegated), state under XDG_RUNTIME_DIR.

use std::process::Command;

use gantry_tests::*;

const USER: &str = "gantry-e2e";

/// The test user's (uid, gid), created once: the tests run in parallel, and two useradd at
/// once can each see the user missing, one then reading ids the other replaces.
fn ensure_user() -> Option<(u32, u32)> {
    static USER_IDS: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
    *USER_IDS.get_or_init(create_user)
}

fn create_user() -> Option<(u32, u32)> {
    let exists = |u: &str| {
        Command::new("id")
            .args(["-u", u])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !exists(USER) {
        let ok = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", USER])
            .status()
            .map(|s| s.success());
        if !matches!(ok, Ok(true)) {
            return None;
        }
        // The host is left as it was found: the user this test process made goes again when
        // the process exits (after every test in it), with its group and subordinate ids.
        extern "C" fn remove_user() {
            let _ = Command::new("userdel").arg(USER).status();
        }
        // SAFETY: remove_user is a plain extern "C" fn with no captured state; atexit only
        // records it, to be called once at normal process exit.
        unsafe { libc::atexit(remove_user) };
    }
    let id = |f: &str| -> Option<u32> {
        let o = Command::new("id").args([f, USER]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Run a shell command as the unprivileged user: (exit code, stdout, stderr).
fn as_user(script: &str) -> (i32, String, String) {
    let o = Command::new("su")
        .args([USER, "-s", "/bin/sh", "-c", script])
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn unprivileged_user_lifecycle() {
    if !is_gantry() {
        return skip_not_gantry(
            "rootless runc needs its own setup (cgroup delegation, --rootless)",
        );
    }
    let Some((uid, gid)) = ensure_user() else {
        return skip("useradd could not create the test user");
    };
    let b = Bundle::new(&["true"]);
    let xdg = TempDir::new("xdg");
    let chown = |p: &std::path::Path| {
        assert!(Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(p)
            .status()
            .unwrap()
            .success());
    };
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    chown(b.path());
    chown(xdg.path());
    // The temp dirs' parents must be traversable by the user.
    let bin = runtime_bin();
    let id = unique_id("rootless");
    let script = format!(
        "set -e; export XDG_RUNTIME_DIR={xdg}; cd {bundle}; G={bin}
         $G spec --rootless
         sed -i 's/\"terminal\": true/\"terminal\": false/; s/\"sh\"$/\"sleep\", \"300\"/' config.json
         $G create {id}; $G state {id} | grep -q '\"created\"'; echo created
         $G start {id}; $G state {id} | grep -q '\"running\"'; echo running
         cat /proc/$($G state {id} | sed -n 's/.*\"pid\": \\([0-9]*\\).*/\\1/p')/uid_map | tr -s ' ' | sed 's/^ //'
         $G exec {id} cat /proc/1/comm
         $G kill {id} KILL; sleep 0.5; $G delete --force {id}; echo deleted; ls $XDG_RUNTIME_DIR/gantry | wc -l",
        xdg = xdg.path().display(),
        bundle = b.path().display(),
        bin = bin.display(),
    );
    let (code, out, err) = as_user(&script);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "created");
    assert_eq!(lines[1], "running");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        vec!["0".to_string(), uid.to_string(), "1".to_string()]
    );
    // Exec joins the container's user namespace first: its pid namespace is the
    // container's (pid 1 is the container's init, not the host's).
    assert_eq!(lines[3], "sleep");
    assert_eq!(lines[4], "deleted");
    assert_eq!(lines[5], "0", "state left behind");
}

/// A rootless container (an unprivileged user running gantry) gets a GPU through the hook:
/// the hook joins the container's user namespace to reach its mount namespace, and leaves
/// the device cgroup alone (--no-cgroups).
#[test]
fn unprivileged_user_gets_a_gpu_through_the_hook() {
    if !is_gantry() {
        return skip_not_gantry("the check is of Gantry's own behaviour");
    }
    let Some((uid, _)) = ensure_user() else {
        return skip("useradd could not create the test user");
    };
    let f = gantry_tests::fakegpu::FakeGpu::new(&[]);
    let mut args = vec!["gantry-gpu".to_string()];
    args.extend(f.flags());
    args.extend(["hook".to_string(), "--no-cgroups".to_string()]);
    let b = rootless_bundle(uid, |cfg| {
        cfg["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "ls /dev | grep '^nvidia' | sort | tr '\\n' ' '; echo; readlink /usr/lib64/libcuda.so.1; id -u"
        ]);
        cfg["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!("NVIDIA_VISIBLE_DEVICES=0"));
        cfg["hooks"] = serde_json::json!({"createRuntime": [
            {"path": gantry_tests::fakegpu::gpu_bin(), "args": args}
        ]});
    });
    let id = unique_id("rootless-gpu");
    let (_xdg, code, out, err) = gantry_as_user(&b, uid, &format!("run {id}"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0].trim(),
        "nvidia-uvm nvidia-uvm-tools nvidia0 nvidiactl",
        "{out}"
    );
    assert_eq!(l[1], "libcuda.so.550.54.14");
    assert_eq!(l[2], "0");
}

/// The user's line in /etc/subuid and /etc/subgid for the test, added if missing and removed
/// again on drop (only what was added: a line already there belongs to the host).
struct SubIds {
    added: Vec<&'static str>,
}

const SUB_START: u32 = 100000;

impl SubIds {
    fn ensure() -> SubIds {
        let mut added = Vec::new();
        for f in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let prefix = format!("{USER}:");
            if let Some(l) = text.lines().find(|l| l.starts_with(&prefix)) {
                assert_eq!(
                    l,
                    format!("{USER}:{SUB_START}:65536"),
                    "{f} has another range for {USER}"
                );
                continue;
            }
            let mut text = text;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("{USER}:{SUB_START}:65536\n"));
            std::fs::write(f, text).unwrap();
            added.push(f);
        }
        SubIds { added }
    }
}

impl Drop for SubIds {
    fn drop(&mut self) {
        let line = format!("{USER}:{SUB_START}:65536");
        for f in &self.added {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let kept: String = text
                .lines()
                .filter(|l| *l != line)
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = std::fs::write(f, kept);
        }
    }
}

/// `gantry ARGS` (shell words, maybe followed by more shell) run as the test user in bundle
/// `b`, with an XDG_RUNTIME_DIR of its own (returned, to look into): (dir, status, out, err).
fn gantry_as_user(b: &Bundle, uid: u32, args: &str) -> (TempDir, i32, String, String) {
    let xdg = TempDir::new("xdg");
    chown_tree(xdg.path(), uid);
    let (code, out, err) = as_user(&format!(
        "export XDG_RUNTIME_DIR={}; cd {} && {} {args}",
        xdg.path().display(),
        b.path().display(),
        runtime_bin().display()
    ));
    (xdg, code, out, err)
}

/// After a command: its status, and how many state dirs the user's runtime dir holds.
const STATE_COUNT: &str = "; echo rc=$?; ls $XDG_RUNTIME_DIR/gantry | wc -l";

/// A `spec --rootless` bundle owned by the user, edited as root with `f`.
fn rootless_bundle(uid: u32, f: impl FnOnce(&mut serde_json::Value)) -> Bundle {
    let b = Bundle::new(&["true"]);
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    chown_tree(b.path(), uid);
    let (code, _, err) = as_user(&format!(
        "cd {} && {} spec --rootless",
        b.path().display(),
        runtime_bin().display()
    ));
    assert_eq!(code, 0, "{err}");
    let cfg_path = b.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = serde_json::json!(false);
    f(&mut cfg);
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    chown_tree(&cfg_path, uid);
    b
}

/// Container 0 -> the user's own id, 1..65536 -> the user's subordinate range.
fn sub_maps(c: &mut serde_json::Value, uid: u32, gid: u32, sub: u32) {
    let m = |own| serde_json::json!([{"containerID": 0, "hostID": own, "size": 1}, {"containerID": 1, "hostID": sub, "size": 65536}]);
    c["linux"]["uidMappings"] = m(uid);
    c["linux"]["gidMappings"] = m(gid);
}

/// An unprivileged user maps its /etc/subuid and /etc/subgid ranges (through newuidmap and
/// newgidmap): the container sees both ranges, and a file it chowns to its uid 1000 belongs
/// to subordinate id 100999 on the host.
#[test]
fn unprivileged_user_maps_subordinate_ids() {
    if !is_gantry() {
        return skip_not_gantry("rootless runc needs its own setup");
    }
    if !std::path::Path::new("/usr/bin/newuidmap").exists() {
        return skip("no /usr/bin/newuidmap (the uidmap package, scripts/deps.sh)");
    }
    let Some((uid, gid)) = ensure_user() else {
        return skip("useradd could not create the test user");
    };
    let _sub = SubIds::ensure();
    let data = TempDir::new("subids");
    chown_tree(data.path(), uid);
    let src = data.path().to_string_lossy().into_owned();
    let b = rootless_bundle(uid, |c| {
        sub_maps(c, uid, gid, SUB_START);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "rw"]}
        ));
        // chown needs CAP_CHOWN (in the user namespace), which runc's template leaves out.
        only_caps(c, &["CAP_CHOWN"]);
        c["process"]["args"] = serde_json::json!(["sh", "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; touch /data/f && chown 1000:1000 /data/f && echo chowned"]);
    });
    let id = unique_id("subids");
    let (_xdg, code, out, err) = gantry_as_user(&b, uid, &format!("run {id}"));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (u, g, s) = (uid.to_string(), gid.to_string(), SUB_START.to_string());
    assert_eq!(
        rows,
        vec![
            vec!["0", u.as_str(), "1"],
            vec!["1", s.as_str(), "65536"],
            vec!["0", g.as_str(), "1"],
            vec!["1", s.as_str(), "65536"],
            vec!["chowned"],
        ],
        "{out}"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(data.path().join("f")).unwrap();
    // Container id 1000 is the 1000th id of the range starting at container id 1.
    assert_eq!((meta.uid(), meta.gid()), (SUB_START + 999, SUB_START + 999));
}

/// A range the user has no /etc/subuid entry for: newuidmap refuses, and create fails with an
/// error naming the mapping, leaving no state behind.
#[test]
fn unprivileged_user_unlisted_range_is_a_clear_error() {
    if !is_gantry() {
        return skip_not_gantry("the check is of Gantry's wording");
    }
    if !std::path::Path::new("/usr/bin/newuidmap").exists() {
        return skip("no /usr/bin/newuidmap (the uidmap package, scripts/deps.sh)");
    }
    let Some((uid, gid)) = ensure_user() else {
        return skip("useradd could not create the test user");
    };
    let _sub = SubIds::ensure();
    let b = rootless_bundle(uid, |c| {
        sub_maps(c, uid, gid, SUB_START + 500000);
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
    });
    let id = unique_id("subids-bad");
    let (_xdg, code, out, err) = gantry_as_user(&b, uid, &format!("create {id}{STATE_COUNT}"));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("linux.uidMappings [0 ")
            && err.contains("600000 65536")
            && err.contains("newuidmap"),
        "{err}"
    );
    assert_eq!(out, "rc=1\n0\n", "{err}");
    assert!(!any_process_with(&id));
}

/// Rootless without a delegated cgroup and no limits asked for: the cgroup is skipped with a
/// note in the log, and the container runs.
#[test]
fn unprivileged_user_without_a_cgroup_runs_with_a_note() {
    if !is_gantry() {
        return skip_not_gantry("the check is of Gantry's own behaviour");
    }
    let Some((uid, _)) = ensure_user() else {
        return skip("useradd could not create the test user");
    };
    let b = rootless_bundle(uid, |c| {
        c["process"]["args"] = serde_json::json!(["echo", "ran"])
    });
    let id = unique_id("nocg");
    let (xdg, code, out, err) = gantry_as_user(
        &b,
        uid,
        &format!("--log $XDG_RUNTIME_DIR/log.json --log-format json run {id}"),
    );
    assert_eq!((code, out.as_str()), (0, "ran\n"), "{err}");
    let log = std::fs::read_to_string(xdg.path().join("log.json")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"level\":\"info\"")
            && l.contains("rootless: running without a cgroup")
            && l.contains("ermission denied")),
        "{log}"
    );
}

/// Rootless without a delegated cgroup, but with limits: they cannot be applied, so create
/// fails naming them (as runc does), and nothing is left behind.
#[test]
fn unprivileged_user_limits_without_a_cgroup_are_an_error() {
    if !is_gantry() {
        return skip_not_gantry("the check is of Gantry's own behaviour");
    }
    let Some((uid, _)) = ensure_user() else {
        return skip("useradd could not create the test user");
    };
    let b = rootless_bundle(uid, |c| {
        c["process"]["args"] = serde_json::json!(["sleep", "300"]);
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}});
    });
    let id = unique_id("nocglim");
    let (_xdg, code, out, err) = gantry_as_user(&b, uid, &format!("create {id}{STATE_COUNT}"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "rc=1\n0\n", "{err}");
    assert!(
        err.contains("linux.resources.pids: cannot be applied"),
        "{err}"
    );
    assert!(!any_process_with(&id));
}
