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
        return; // rootless runc needs its own setup (cgroup delegation, --rootless)
    }
    let Some((uid, gid)) = ensure_user() else {
        return; // no useradd here
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
    assert_eq!(lines[3], "deleted");
    assert_eq!(lines[4], "0", "state left behind");
}

/// A rootless container (an unprivileged user running gantry) gets a GPU through the hook:
/// the hook joins the container's user namespace to reach its mount namespace, and leaves
/// the device cgroup alone (--no-cgroups).
#[test]
fn unprivileged_user_gets_a_gpu_through_the_hook() {
    if !is_gantry() {
        return;
    }
    let Some((uid, _)) = ensure_user() else {
        return;
    };
    let f = gantry_tests::fakegpu::FakeGpu::new(&[]);
    let b = Bundle::new(&["true"]);
    let xdg = TempDir::new("xdg");
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    chown_tree(b.path(), uid);
    chown_tree(xdg.path(), uid);
    let bin = runtime_bin();
    let (code, _, err) = as_user(&format!(
        "cd {} && {} spec --rootless",
        b.path().display(),
        bin.display()
    ));
    assert_eq!(code, 0, "{err}");
    let cfg_path = b.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    let mut args = vec!["gantry-gpu".to_string()];
    args.extend(f.flags());
    args.extend(["hook".to_string(), "--no-cgroups".to_string()]);
    cfg["process"]["terminal"] = serde_json::json!(false);
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
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    chown_tree(&cfg_path, uid);
    let id = unique_id("rootless-gpu");
    let (code, out, err) = as_user(&format!(
        "export XDG_RUNTIME_DIR={}; cd {} && {} run {id}",
        xdg.path().display(),
        b.path().display(),
        bin.display()
    ));
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
