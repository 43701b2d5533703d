//! The shared harness: a busybox bundle builder and a driver for a runtime binary, used by the
//! conformance checks and by the end-to-end tests (tests/). The runtime is always passed in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("gantry-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Mounts made in bundles live in the containers' namespaces, never here.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unique container id for a test.
pub fn unique_id(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A bundle: a busybox rootfs and a config.json in the shape `runc spec` writes.
pub struct Bundle {
    pub dir: TempDir,
    pub config: Value,
}

impl Bundle {
    pub fn new(args: &[&str]) -> Bundle {
        let dir = TempDir::new("bundle");
        let root = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("needs busybox-static");
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for a in String::from_utf8_lossy(&list.stdout).lines() {
            if a != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(a));
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false, "user": {"uid": 0, "gid": 0}, "args": args,
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "e2e",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
            ],
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        let b = Bundle { dir, config };
        b.write();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn write(&self) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Change the config with `f`, and write it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.write();
        self
    }

    /// A shell command as the program.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.edit(|c| c["process"]["args"] = json!(["sh", "-c", script]))
    }

    /// Bind a host directory into the container (read-write).
    pub fn bind(&mut self, host: &Path, dest: &str) -> &mut Self {
        let (h, d) = (host.to_string_lossy().into_owned(), dest.to_string());
        self.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(
                json!({"destination": d, "type": "bind", "source": h, "options": ["rbind", "rw"]}),
            )
        })
    }

    pub fn set_namespaces(&mut self, nss: Value) -> &mut Self {
        self.edit(|c| c["linux"]["namespaces"] = nss)
    }
}

/// A runtime with its own --root; deletes (with --force) whatever it still holds on drop.
pub struct Rt {
    pub bin: PathBuf,
    pub root: TempDir,
    io: TempDir,
}

impl Rt {
    /// A driver for the runtime binary `bin`, with a fresh --root.
    pub fn with_runtime(bin: impl Into<PathBuf>) -> Rt {
        Rt {
            bin: bin.into(),
            root: TempDir::new("root"),
            io: TempDir::new("io"),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Run with args; stdin null, output captured through files, not pipes: a container
    /// inherits the runtime's stdio, and a detached one would hold a pipe open for its life.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        self.output(c)
    }

    /// Like `run`, but with exactly `args` (no --root put first): for the spelling of the
    /// global flags themselves (`-root DIR`).
    pub fn run_argv(&self, args: &[&str]) -> Output {
        let mut c = Command::new(&self.bin);
        c.args(args);
        self.output(c)
    }

    fn output(&self, mut cmd: Command) -> Output {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out_p = self.io.path().join(format!("out-{n}"));
        let err_p = self.io.path().join(format!("err-{n}"));
        let status = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_p).unwrap())
            .stderr(std::fs::File::create(&err_p).unwrap())
            .status()
            .unwrap();
        let o = Output {
            status,
            stdout: std::fs::read(&out_p).unwrap_or_default(),
            stderr: std::fs::read(&err_p).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(out_p);
        let _ = std::fs::remove_file(err_p);
        o
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Like `ok`, but a failure is an error carrying the command and its stderr.
    pub fn try_ok(&self, args: &[&str]) -> Result<String, String> {
        let o = self.run(args);
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(format!(
                "{} {} failed ({}): {}",
                self.bin.display(),
                args.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Output {
        self.run(&["create", "--bundle", b.path().to_str().unwrap(), id])
    }

    /// A create that must fail and leave no container: its stderr.
    pub fn create_refused(&self, b: &Bundle, id: &str) -> String {
        let o = self.create(b, id);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "create {id} succeeded: {err}");
        assert!(
            self.ids().is_empty(),
            "a failed create left {:?}",
            self.ids()
        );
        err
    }

    pub fn state(&self, id: &str) -> Option<Value> {
        let o = self.run(&["state", id]);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)
            .and_then(|s| s["status"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Wait (bounded) for the container to reach `want`; this host's PID 1 reaps late, so a
    /// dead init may take a moment to show as stopped in other runtimes.
    pub fn wait_status(&self, id: &str, want: &str) -> bool {
        for _ in 0..200 {
            if self.status(id) == want {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    /// Foreground run: (exit code, stdout, stderr).
    pub fn run_fg(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        let o = self.run(&["run", "--bundle", b.path().to_str().unwrap(), id]);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// The containers under --root.
    pub fn ids(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.run(&["delete", "--force", &id]);
        }
    }
}

/// The directory of a container's cgroup `path` in the hierarchy that holds `controller` on
/// this host: its v1 hierarchy, or the cgroup2 mount that offers it (pure v2, or a hybrid
/// host's unified mount); the v1 place where no hierarchy holds it.
pub fn cgroup_dir(controller: &str, path: &str) -> PathBuf {
    match crate::cgroupfs::hierarchy(controller) {
        Some(h) => h.dir(path),
        None => v1_cgroup_dir(controller, path),
    }
}

/// A pid's cgroup path in the hierarchy that holds `controller` (its v1 line, or v2's `0::`).
pub fn pid_cgroup(pid: i64, controller: &str) -> Option<String> {
    let h = crate::cgroupfs::hierarchy(controller)?;
    crate::cgroupfs::pid_path(pid, &h, controller)
}

/// The cgroup v1 directory of a container path in one controller.
pub fn v1_cgroup_dir(controller: &str, path: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}

/// A pid's cgroup path in a v1 controller, from /proc/PID/cgroup.
pub fn proc_cgroup(pid: i64, controller: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    s.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, c, p) = (it.next()?, it.next()?, it.next()?);
        c.split(',').any(|x| x == controller).then(|| p.to_string())
    })
}

/// Give the process exactly `caps` in its bounding, effective and permitted sets.
pub fn only_caps(config: &mut Value, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        config["process"]["capabilities"][set] = json!(caps);
    }
}

/// Whether any process on the host has `needle` in its command line.
pub fn any_process_with(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(needle))
            .unwrap_or(false)
    })
}
