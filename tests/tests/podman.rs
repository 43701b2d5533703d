//! Under Podman 4.3 (through conmon): the runtime the engine drives. Skipped when podman is
//! not installed. Podman's storage, config and image live in a temporary directory.

use gantry_tests::engines::{cgroup_frozen, cgroup_limit, Podman};
use gantry_tests::*;

fn podman() -> Option<Podman> {
    Podman::new(runtime_bin())
}

#[test]
fn podman_run_exec_pause_stop() {
    let Some(p) = podman() else { return };
    let (code, out, err) = p.run(&[
        "run",
        "--rm",
        "localhost/gantry-busybox",
        "sh",
        "-c",
        "echo hello; grep -c . /proc/self/status >/dev/null; grep Seccomp: /proc/self/status",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("hello\n"), "{out}");
    assert!(
        out.contains("Seccomp:\t2"),
        "podman's default seccomp profile is not applied: {out}"
    );

    let (code, _, err) = p.run(&[
        "run",
        "-d",
        "--name",
        "g1",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "localhost/gantry-busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(code, 0, "{err}");
    // The limits as the kernel holds them, in the cgroup of the container's init.
    let pid: u32 = p
        .ok(&["inspect", "--format", "{{.State.Pid}}", "g1"])
        .trim()
        .parse()
        .unwrap();
    let limit = |c, v1, v2| cgroup_limit(pid, c, v1, v2);
    assert_eq!(
        limit("memory", "memory.limit_in_bytes", "memory.max"),
        (64 << 20).to_string()
    );
    assert_eq!(limit("pids", "pids.max", "pids.max"), "50");
    let quota = limit("cpu", "cpu.cfs_quota_us", "cpu.max");
    let period = limit("cpu", "cpu.cfs_period_us", "cpu.max");
    // v1: two files; v2: cpu.max is "QUOTA PERIOD".
    let (quota, period) = match quota.split_once(' ') {
        Some((q, p)) => (q.to_string(), p.to_string()),
        None => (quota, period),
    };
    assert_eq!((quota.as_str(), period.as_str()), ("50000", "100000"));
    let (code, out, err) = p.run(&[
        "exec",
        "g1",
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "in-exec\nsleep 300 ");
    assert!(!cgroup_frozen(pid), "frozen before pause");
    assert_eq!(p.run(&["pause", "g1"]).0, 0);
    let (_, out, _) = p.run(&["inspect", "--format", "{{.State.Status}}", "g1"]);
    assert_eq!(out.trim(), "paused");
    assert!(cgroup_frozen(pid), "paused, but the freezer is not frozen");
    assert_eq!(p.run(&["unpause", "g1"]).0, 0);
    assert!(!cgroup_frozen(pid), "unpaused, but the freezer is frozen");
    let (_, out, _) = p.run(&["inspect", "--format", "{{.State.Status}}", "g1"]);
    assert_eq!(out.trim(), "running");
    let (code, _, err) = p.run(&["stop", "-t", "1", "g1"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = p.run(&["inspect", "--format", "{{.State.Status}}", "g1"]);
    assert_eq!(out.trim(), "exited");
    assert_eq!(p.run(&["rm", "g1"]).0, 0);
}

#[test]
fn podman_exit_code_and_user() {
    let Some(p) = podman() else { return };
    let (code, out, _) = p.run(&[
        "run",
        "--rm",
        "--user",
        "1000:1000",
        "localhost/gantry-busybox",
        "sh",
        "-c",
        "id -u; exit 9",
    ]);
    assert_eq!(code, 9);
    assert_eq!(out, "1000\n");
}

/// gantry-gpu installed as an OCI hook in a hooks.d directory, as Podman users install
/// NVIDIA's: a container with NVIDIA_VISIBLE_DEVICES gets its GPU, one without is untouched.
#[test]
fn podman_gpu_hook_from_hooks_dir() {
    let Some(p) = podman() else { return };
    let f = gantry_tests::fakegpu::FakeGpu::new(&[]);
    let hooks = TempDir::new("hooksd");
    let mut args = vec!["gantry-gpu".to_string()];
    args.extend(f.flags());
    args.push("hook".into());
    std::fs::write(
        hooks.path().join("gantry-gpu.json"),
        serde_json::to_vec(&serde_json::json!({
            "version": "1.0.0",
            "hook": {"path": gantry_tests::fakegpu::gpu_bin(), "args": args},
            "when": {"always": true},
            "stages": ["prestart"]
        }))
        .unwrap(),
    )
    .unwrap();
    let hooks_dir = hooks.path().to_str().unwrap();
    let (code, out, err) = p.run(&[
        "--hooks-dir",
        hooks_dir,
        "run",
        "--rm",
        "-e",
        "NVIDIA_VISIBLE_DEVICES=1",
        "localhost/gantry-busybox",
        "sh",
        "-c",
        "ls /dev | grep '^nvidia[0-9]'; ls /usr/lib64/libcuda.so.1; /usr/bin/nvidia-smi",
    ]);
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "nvidia1", "{out}");
    assert_eq!(l[1], "/usr/lib64/libcuda.so.1");
    assert!(l[2].contains("NVIDIA-SMI"), "{out}");

    let (code, out, err) = p.run(&[
        "--hooks-dir",
        hooks_dir,
        "run",
        "--rm",
        "localhost/gantry-busybox",
        "sh",
        "-c",
        "ls /dev | grep -c nvidia; true",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "0",
        "a container without a GPU request got GPU nodes"
    );
}

/// Podman injecting a GPU itself from a spec `gantry-gpu cdi generate` wrote (CDI):
/// `--device KIND=1` gives the container GPU 1's node, the driver's control nodes, libraries,
/// links and ld.so.cache (through the spec's createContainer hook).
#[test]
fn podman_cdi_device_from_a_generated_spec() {
    let Some(p) = podman() else { return };
    let f = gantry_tests::fakegpu::FakeGpu::new(&[]);
    // Podman 4.3 reads specs from /etc/cdi only: a kind of this test's own, removed after.
    let kind = format!("gantry-e2e-{}.example/gpu", std::process::id());
    let spec = std::path::PathBuf::from(format!("/etc/cdi/gantry-e2e-{}.json", std::process::id()));
    // The spec goes after the test, and /etc/cdi too if the test made it (rmdir: only empty).
    struct Rm(std::path::PathBuf, bool);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            if self.1 {
                let _ = std::fs::remove_dir("/etc/cdi");
            }
        }
    }
    let made_dir = !std::path::Path::new("/etc/cdi").exists();
    std::fs::create_dir_all("/etc/cdi").unwrap();
    let _rm = Rm(spec.clone(), made_dir);
    let (ok, _, err) = f.gpu(&[
        "cdi",
        "generate",
        "--kind",
        &kind,
        "--lib-dir",
        "/usr/lib64",
        "--capabilities",
        "compute,utility",
        "--output",
        spec.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (code, out, err) = p.run(&[
        "run",
        "--rm",
        "--device",
        &format!("{kind}=1"),
        "localhost/gantry-busybox",
        "sh",
        "-c",
        "ls /dev | grep '^nvidia' | sort | tr '\\n' ' '; echo; readlink /usr/lib64/libcuda.so.1; \
         grep -c libcuda.so.1 /etc/ld.so.cache; /usr/bin/nvidia-smi; \
         head -c1 /dev/nvidia1 2>&1; true",
    ]);
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0].trim(),
        "nvidia-uvm nvidia-uvm-tools nvidia1 nvidiactl",
        "{out}"
    );
    assert_eq!(l[1], "libcuda.so.550.54.14");
    assert_eq!(l[2], "1", "ld.so.cache does not list libcuda.so.1: {out}");
    assert!(l[3].contains("NVIDIA-SMI"), "{out}");
    // Podman allowed the node in the device cgroup: the open reaches the (absent) driver.
    assert!(l[4].contains("No such device or address"), "{out}");
}

/// Podman injecting AMD and Intel GPUs from the specs `gantry-gpu cdi generate --vendor amd`
/// and `--vendor intel` wrote (kinds of this test's own in /etc/cdi, removed after): the
/// AMD device gets its card and render nodes and the spec's common /dev/kfd, the Intel one
/// its card and render nodes, with their numbers.
#[test]
fn podman_cdi_amd_and_intel_devices_from_generated_specs() {
    let Some(p) = podman() else { return };
    let f = gantry_tests::fakegpu::FakeGpu::new(&["--nvidia", "0", "--amd", "1", "--intel", "1"]);
    struct Rm(Vec<std::path::PathBuf>, bool);
    impl Drop for Rm {
        fn drop(&mut self) {
            for f in &self.0 {
                let _ = std::fs::remove_file(f);
            }
            if self.1 {
                let _ = std::fs::remove_dir("/etc/cdi");
            }
        }
    }
    let made_dir = !std::path::Path::new("/etc/cdi").exists();
    std::fs::create_dir_all("/etc/cdi").unwrap();
    let mut rm = Rm(Vec::new(), made_dir);
    for (vendor, ext, want) in [
        (
            "amd",
            "json",
            "c 226:0 /dev/dri/card0|c 226:128 /dev/dri/renderD128|kfd",
        ),
        (
            "intel",
            "yaml",
            "c 226:1 /dev/dri/card1|c 226:129 /dev/dri/renderD129|",
        ),
    ] {
        let kind = format!("gantry-e2e-{}.example/{vendor}", std::process::id());
        let spec = std::path::PathBuf::from(format!(
            "/etc/cdi/gantry-e2e-{vendor}-{}.{ext}",
            std::process::id()
        ));
        rm.0.push(spec.clone());
        let (ok, _, err) = f.gpu(&[
            "cdi",
            "generate",
            "--vendor",
            vendor,
            "--kind",
            &kind,
            "--output",
            spec.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let (code, out, err) = p.run(&[
            "run",
            "--rm",
            "--device",
            &format!("{kind}=0"),
            "localhost/gantry-busybox",
            "sh",
            "-c",
            "for n in /dev/dri/card* /dev/dri/renderD*; do \
             printf 'c %d:%d %s|' $(stat -c '0x%t 0x%T' $n) $n; done; ls /dev | grep '^kfd$'; true",
        ]);
        assert_eq!(code, 0, "{vendor}: {err}");
        assert_eq!(out.trim(), want, "{vendor}: {out}");
    }
}

/// The confinement flags users pass to Podman, applied by Gantry: --read-only, --cap-drop,
/// --security-opt seccomp=FILE, --cpus, -t (a terminal through conmon's console socket), kill.
#[test]
fn podman_confinement_flags_terminal_and_kill() {
    let Some(p) = podman() else { return };
    let img = "localhost/gantry-busybox";

    let (code, out, err) = p.run(&[
        "run",
        "--rm",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--cpus",
        "0.5",
        img,
        "sh",
        "-c",
        "touch /x 2>&1; grep CapEff /proc/self/status; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null \
         || cut -d' ' -f1 /sys/fs/cgroup/cpu.max",
    ]);
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert!(l[0].contains("Read-only file system"), "{out}");
    assert_eq!(
        l[1].split_whitespace().last(),
        Some("0000000000000000"),
        "{out}"
    );
    assert_eq!(l[2], "50000", "{out}");

    let profile = TempDir::new("seccomp");
    let path = profile.path().join("deny-mkdir.json");
    std::fs::write(
        &path,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let (code, out, err) = p.run(&[
        "run",
        "--rm",
        "--security-opt",
        &format!("seccomp={}", path.display()),
        img,
        "sh",
        "-c",
        "mkdir /tmp/d 2>&1; echo x > /tmp/f && echo wrote",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("wrote"), "{out}");

    let (code, out, err) = p.run(&["run", "--rm", "-t", img, "sh", "-c", "[ -t 1 ] && tty"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim_end().starts_with("/dev/pts/"), "{out:?}");

    let (code, _, err) = p.run(&["run", "-d", "--name", "k1", img, "sleep", "300"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.run(&["kill", "-s", "KILL", "k1"]).0, 0);
    let (_, out, _) = p.run(&["wait", "k1"]);
    assert_eq!(out.trim(), "137");
    assert_eq!(p.run(&["rm", "k1"]).0, 0);
}

/// The documented containers.conf (docs/examples/podman-containers.conf) alone makes Gantry
/// Podman's runtime: no --runtime, and the container is Gantry's (its own `state` has it,
/// with the pid Podman reports).
#[test]
fn podman_documented_config_runs_gantry() {
    let Some(p) = podman() else { return };
    let (code, _, err) = p.run_configured(&[
        "run",
        "-d",
        "--name",
        "cfg1",
        "localhost/gantry-busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = p.run_configured(&[
        "inspect",
        "--format",
        "{{.OCIRuntime}} {{.Id}} {{.State.Pid}}",
        "cfg1",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.len(), 3, "{out}");
    assert_eq!(f[0], "gantry", "{out}");
    // Podman passes no --root: Gantry's default.
    let o = std::process::Command::new(runtime_bin())
        .args(["state", f[1]])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"].to_string(), f[2], "{state}");
    let (code, _, err) = p.run_configured(&["rm", "-f", "-t", "0", "cfg1"]);
    assert_eq!(code, 0, "{err}");
}
