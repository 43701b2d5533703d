//! Under containerd 1.6 (containerd-shim-runc-v2 with Gantry as its runc binary). Skipped when
//! containerd is not installed. The test runs its own containerd (config, state and sockets in
//! a temporary dir) and imports an OCI image tar it builds.

use gantry_tests::engines::{cgroup_frozen, Containerd};
use gantry_tests::*;

#[test]
fn containerd_run_exec_pause_metrics_kill() {
    let Some(c) = Containerd::start() else { return };
    let ra = c.runc_args(&runtime_bin());
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
    // `ctr task ls`: TASK PID STATUS.
    let task = |c: &Containerd| -> (u32, String) {
        let ls = c.ok(&["task", "ls"]);
        let l = ls
            .lines()
            .find(|l| l.split_whitespace().next() == Some("bg"))
            .unwrap_or_else(|| panic!("{ls}"));
        let f: Vec<&str> = l.split_whitespace().collect();
        (f[1].parse().unwrap(), f[2].to_string())
    };
    let (pid, _) = task(&c);
    assert!(!cgroup_frozen(pid), "frozen before pause");
    assert_eq!(c.ctr(&["task", "pause", "bg"]).0, 0);
    assert_eq!(task(&c), (pid, "PAUSED".to_string()));
    assert!(cgroup_frozen(pid), "paused, but the freezer is not frozen");
    assert_eq!(c.ctr(&["task", "resume", "bg"]).0, 0);
    assert_eq!(task(&c), (pid, "RUNNING".to_string()));
    assert!(!cgroup_frozen(pid), "resumed, but the freezer is frozen");
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
