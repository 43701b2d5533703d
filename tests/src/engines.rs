//! The engines the tests drive, each with its own state under a temporary directory: Podman
//! (storage, config, tmp_dir and file locks of its own) and containerd (root, state and
//! sockets of its own). Both are skipped (None) when not installed or when the runtime under
//! test is not Gantry.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::{is_gantry, Bundle, TempDir};

/// (exit code, stdout, stderr) of a finished command.
pub fn output(o: Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub struct Podman {
    dir: TempDir,
    /// What `--runtime` names: gantry, or a wrapper in front of it.
    pub runtime: PathBuf,
}

impl Podman {
    /// A Podman with busybox imported as localhost/gantry-busybox.
    pub fn new(runtime: PathBuf) -> Option<Podman> {
        if !Path::new("/usr/bin/podman").exists() || !is_gantry() {
            return None;
        }
        let dir = TempDir::new("podman");
        let d = dir.path();
        // This host's hard limits and network (shared/notes/host.md). Its own tmp_dir and file
        // locks: Podman instances sharing /run/libpod and the /libpod_lock shared-memory locks
        // trip over each other's lock numbers. Gantry among the runtimes that log JSON
        // (docs/engines.md): Podman then passes --log and --log-format json, as to runc.
        std::fs::write(
            d.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\nnetns = \"none\"\n[engine]\nruntime_supports_json = [\"crun\", \"runc\", \"gantry\"]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nlock_type = \"file\"\ntmp_dir = \"{0}/tmp\"\n",
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
                d.display()
            ),
        )
        .unwrap();
        let p = Podman { dir, runtime };
        let b = Bundle::new(&["true"]);
        let (code, _, err) = output(
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tar -C {} -c . | podman import - localhost/gantry-busybox",
                    b.rootfs().display()
                ))
                .envs(p.env())
                .output()
                .unwrap(),
        );
        assert_eq!(code, 0, "podman import: {err}");
        Some(p)
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let d = self.dir.path().display();
        vec![
            ("CONTAINERS_CONF".into(), format!("{d}/containers.conf")),
            (
                "CONTAINERS_STORAGE_CONF".into(),
                format!("{d}/storage.conf"),
            ),
        ]
    }

    /// `podman --runtime RUNTIME ARGS...`.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        output(
            Command::new("podman")
                .arg("--runtime")
                .arg(&self.runtime)
                .args(args)
                .envs(self.env())
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, o, e) = self.run(args);
        assert_eq!(code, 0, "podman {args:?}: {e}");
        o
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-a", "-f"]);
        let _ = Command::new("podman")
            .args(["system", "reset", "-f"])
            .envs(self.env())
            .output();
    }
}

pub struct Containerd {
    pub dir: TempDir,
    daemon: Option<Child>,
}

impl Containerd {
    /// A containerd config under a new temporary dir, not started: its own root, state and
    /// sockets; the CRI plugin only with `cri`; `extra` appended.
    pub fn configure(cri: bool, extra: &str) -> Option<Containerd> {
        if !Path::new("/usr/bin/containerd").exists() || !is_gantry() {
            return None;
        }
        let dir = TempDir::new("containerd");
        let d = dir.path().display().to_string();
        let disabled = if cri {
            ""
        } else {
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        };
        std::fs::write(
            dir.path().join("config.toml"),
            format!("version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{disabled}[grpc]\n  address = \"{d}/sock\"\n[ttrpc]\n  address = \"{d}/sock.ttrpc\"\n{extra}"),
        )
        .unwrap();
        Some(Containerd { dir, daemon: None })
    }

    /// A running containerd (no CRI) with busybox imported as localhost/gantry-busybox.
    pub fn start() -> Option<Containerd> {
        let mut c = Containerd::configure(false, "")?;
        c.spawn();
        c.import_busybox();
        Some(c)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    pub fn address(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// Starts the daemon (stderr into `log()`) and waits, bounded, until it serves.
    pub fn spawn(&mut self) {
        self.daemon = Some(
            Command::new("containerd")
                .arg("--config")
                .arg(self.config())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(self.log()).unwrap())
                .spawn()
                .unwrap(),
        );
        for _ in 0..100 {
            if self.ctr(&["version"]).0 == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "containerd did not serve: {}",
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// An OCI image tar of the busybox rootfs (tests/scripts/oci-image.sh), imported.
    pub fn import_busybox(&self) {
        let b = Bundle::new(&["true"]);
        let tar = self.dir.path().join("image.tar");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/oci-image.sh");
        let ok = Command::new(script)
            .arg(b.rootfs())
            .arg("localhost/gantry-busybox:latest")
            .arg(&tar)
            .status()
            .unwrap();
        assert!(ok.success());
        let (code, _, err) = self.ctr(&["image", "import", tar.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }

    pub fn ctr(&self, args: &[&str]) -> (i32, String, String) {
        output(
            Command::new("ctr")
                .arg("--address")
                .arg(self.address())
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, o, e) = self.ctr(args);
        assert_eq!(code, 0, "ctr {args:?}: {e}");
        o
    }

    /// `ctr run` options for the runc shim: `binary` as its runc, a runc root of our own.
    pub fn runc_args(&self, binary: &Path) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            binary.display().to_string(),
            "--runc-root".into(),
            self.dir.path().join("runc-root").display().to_string(),
        ]
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.daemon.is_none() {
            return;
        }
        // The shims outlive the daemon: end every task and container first.
        let ids = |what: &str| -> Vec<String> {
            let (_, o, _) = self.ctr(&[what, "ls", "-q"]);
            o.split_whitespace().map(str::to_string).collect()
        };
        for id in ids("task") {
            let _ = self.ctr(&["task", "kill", "-s", "KILL", &id]);
            let _ = self.ctr(&["task", "delete", "-f", &id]);
        }
        for id in ids("container") {
            let _ = self.ctr(&["container", "rm", &id]);
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}
