//! Under containerd 1.6 (containerd-shim-runc-v2 with Gantry as its runc binary). Skipped when
//! containerd is not installed. The test runs its own containerd (config, state and sockets in
//! a temporary dir) and imports an OCI image tar it builds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use gantry_tests::*;

struct Containerd {
    dir: TempDir,
    daemon: Child,
}

impl Containerd {
    fn start() -> Option<Containerd> {
        if !Path::new("/usr/bin/containerd").exists() || !is_gantry() {
            return None;
        }
        let dir = TempDir::new("containerd");
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("config.toml"),
            format!("version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{d}/sock\"\n[ttrpc]\n  address = \"{d}/sock.ttrpc\"\n"),
        )
        .unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .unwrap();
        let c = Containerd { dir, daemon };
        // Wait (bounded) until it serves.
        for _ in 0..100 {
            if c.ctr(&["version"]).0 == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let b = Bundle::new(&["true"]);
        let tar = c.dir.path().join("image.tar");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/oci-image.sh");
        let ok = Command::new(script)
            .arg(b.rootfs())
            .arg("localhost/gantry-busybox:latest")
            .arg(&tar)
            .status()
            .unwrap();
        assert!(ok.success());
        let (code, _, err) = c.ctr(&["image", "import", tar.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        Some(c)
    }

    fn ctr(&self, args: &[&str]) -> (i32, String, String) {
        let o = Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn run_args(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            runtime_bin().display().to_string(),
            "--runc-root".into(),
            self.dir.path().join("runc-root").display().to_string(),
        ]
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn containerd_run_exec_pause_metrics_kill() {
    let Some(c) = Containerd::start() else { return };
    let ra = c.run_args();
    let ra: Vec<&str> = ra.iter().map(String::as_str).collect();
    let mut args = vec!["run", "--rm"];
    args.extend(&ra);
    args.extend([
        "localhost/gantry-busybox:latest",
        "once",
        "sh",
        "-c",
        "echo hello from containerd",
    ]);
    let (code, out, err) = c.ctr(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hello from containerd\n");

    let mut args = vec!["run", "-d"];
    args.extend(&ra);
    args.extend(["localhost/gantry-busybox:latest", "bg", "sleep", "300"]);
    assert_eq!(c.ctr(&args).0, 0);
    let (code, out, err) = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "bg",
        "sh",
        "-c",
        "echo exec-ok",
    ]);
    assert_eq!((code, out.as_str()), (0, "exec-ok\n"), "{err}");
    assert_eq!(c.ctr(&["task", "pause", "bg"]).0, 0);
    assert!(c
        .ctr(&["task", "ls"])
        .1
        .lines()
        .any(|l| l.starts_with("bg") && l.contains("PAUSED")));
    assert_eq!(c.ctr(&["task", "resume", "bg"]).0, 0);
    let (code, out, err) = c.ctr(&["task", "metrics", "bg"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("memory.usage_in_bytes"), "{out}");
    assert_eq!(c.ctr(&["task", "kill", "-s", "KILL", "bg"]).0, 0);
    let mut stopped = false;
    for _ in 0..100 {
        if c.ctr(&["task", "ls"])
            .1
            .lines()
            .any(|l| l.starts_with("bg") && l.contains("STOPPED"))
        {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(stopped);
    assert_eq!(c.ctr(&["task", "delete", "bg"]).0, 0);
    assert_eq!(c.ctr(&["container", "rm", "bg"]).0, 0);
}
