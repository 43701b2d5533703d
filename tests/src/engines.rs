//! The engines the tests drive, each with its own state under a temporary directory: Podman
//! (storage, config, tmp_dir and file locks of its own) and containerd (root, state and
//! sockets of its own). Both are skipped (None) when not installed or when the runtime under
//! test is not Gantry.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

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
        if !Path::new("/usr/bin/podman").exists() {
            crate::skip("Podman is not installed (/usr/bin/podman)");
            return None;
        }
        if !is_gantry() {
            crate::skip_not_gantry("the Podman tests run Gantry's documented containers.conf");
            return None;
        }
        podman_cgroups_enter();
        let dir = TempDir::new("podman");
        let d = dir.path();
        // The configuration docs/podman.md documents (docs/examples/podman-containers.conf),
        // naming the Gantry under test; its tmp_dir (its own, with file locks, apart from the
        // host's other Podman) moved under this test's directory, apart from other tests'.
        let documented = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/podman-containers.conf"),
        )
        .unwrap();
        let gantry = crate::runtime_bin().canonicalize().unwrap();
        assert!(documented.contains("lock_type = \"file\"\n"));
        let conf = documented
            .replace(
                "\"/usr/local/bin/gantry\"",
                &format!("\"{}\"", gantry.display()),
            )
            .replace(
                "tmp_dir = \"/run/gantry-podman\"",
                &format!("tmp_dir = \"{}/tmp\"", d.display()),
            );
        assert!(conf.contains(&format!("tmp_dir = \"{}/tmp\"", d.display())));
        assert!(conf.contains(&format!("gantry = [\"{}\"]", gantry.display())));
        std::fs::write(d.join("containers.conf"), conf).unwrap();
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

    /// `podman ARGS...` without `--runtime`: the runtime containers.conf configures.
    pub fn run_configured(&self, args: &[&str]) -> (i32, String, String) {
        output(
            Command::new("podman")
                .args(args)
                .envs(self.env())
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-a", "-f"]);
        let _ = Command::new("podman")
            .args(["system", "reset", "-f"])
            .envs(self.env())
            .output();
        podman_cgroups_leave();
    }
}

/// Podman's cgroupfs manager puts conmon in `/libpod_parent/conmon` and the containers under
/// `/libpod_parent`, in every hierarchy, and never removes either. The tests remove those
/// they made: the live Podman environments of this test process are counted, and when the
/// last one goes, the dirs absent when the first one came are removed (once empty: conmon may
/// take a moment to exit after `rm -f`).
struct PodmanCgroups {
    live: usize,
    made: Vec<PathBuf>,
}

static PODMAN_CGROUPS: Mutex<PodmanCgroups> = Mutex::new(PodmanCgroups {
    live: 0,
    made: Vec::new(),
});

const PODMAN_PARENT: &str = "libpod_parent";

fn podman_cgroups_enter() {
    let mut g = PODMAN_CGROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if g.live == 0 {
        g.made = gantry_conformance::cgroupfs::mount_points()
            .into_iter()
            .map(|m| m.join(PODMAN_PARENT))
            .filter(|d| !d.exists())
            .collect();
    }
    g.live += 1;
}

fn podman_cgroups_leave() {
    let mut g = PODMAN_CGROUPS.lock().unwrap_or_else(|e| e.into_inner());
    g.live -= 1;
    if g.live > 0 {
        return;
    }
    for parent in std::mem::take(&mut g.made) {
        // Children first (conmon, any libpod-ID a failed test left), then the parent.
        for _ in 0..50 {
            let children: Vec<PathBuf> = std::fs::read_dir(&parent)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            for c in &children {
                let _ = std::fs::remove_dir(c);
            }
            if std::fs::remove_dir(&parent).is_ok() || !parent.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
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
        if !Path::new("/usr/bin/containerd").exists() {
            crate::skip("containerd is not installed (/usr/bin/containerd)");
            return None;
        }
        if !is_gantry() {
            crate::skip_not_gantry("the containerd tests run Gantry's documented configuration");
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
        self.import_image("default", "localhost/gantry-busybox:latest", "[\"sh\"]");
    }

    /// The busybox rootfs as image `name` with the image config's Cmd `cmd` (a JSON array),
    /// imported into containerd namespace `ns` (the CRI plugin's is k8s.io).
    pub fn import_image(&self, ns: &str, name: &str, cmd: &str) {
        let b = Bundle::new(&["true"]);
        let tar = self.dir.path().join("image.tar");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/oci-image.sh");
        let ok = Command::new(script)
            .arg(b.rootfs())
            .arg(name)
            .arg(&tar)
            .arg(cmd)
            .status()
            .unwrap();
        assert!(ok.success());
        let (code, _, err) = self.ctr(&["-n", ns, "image", "import", tar.to_str().unwrap()]);
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
        // The shims outlive the daemon: end every task and container first, in every
        // namespace (the CRI plugin's is k8s.io).
        let list = |args: &[&str]| -> Vec<String> {
            let (_, o, _) = self.ctr(args);
            o.split_whitespace().map(str::to_string).collect()
        };
        for ns in list(&["namespaces", "ls", "-q"]) {
            for id in list(&["-n", &ns, "task", "ls", "-q"]) {
                let _ = self.ctr(&["-n", &ns, "task", "kill", "-s", "KILL", &id]);
                let _ = self.ctr(&["-n", &ns, "task", "delete", "-f", &id]);
            }
            for id in list(&["-n", &ns, "container", "ls", "-q"]) {
                let _ = self.ctr(&["-n", &ns, "container", "rm", &id]);
            }
        }
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// The directory of process `pid`'s cgroup for `controller`, from /proc/PID/cgroup: the
/// controller's own hierarchy on a v1 or hybrid host (`/sys/fs/cgroup/CONTROLLER/PATH`), the
/// unified one on a v2 host (`/sys/fs/cgroup/PATH`).
pub fn cgroup_dir(pid: u32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut unified = None;
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            return Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'));
        }
        if ctrls.is_empty() {
            unified = Some(path.trim_start_matches('/').to_string());
        }
    }
    let dir = Path::new("/sys/fs/cgroup").join(unified.expect("no cgroup for the process"));
    assert!(
        dir.join("cgroup.controllers").exists(),
        "no {controller} hierarchy for pid {pid}:\n{text}"
    );
    dir
}

/// A limit in process `pid`'s cgroup: file `v1` of `controller` on a v1 host, `v2` on v2.
pub fn cgroup_limit(pid: u32, controller: &str, v1: &str, v2: &str) -> String {
    let dir = cgroup_dir(pid, controller);
    let f = if dir.starts_with(Path::new("/sys/fs/cgroup").join(controller)) {
        dir.join(v1)
    } else {
        dir.join(v2)
    };
    std::fs::read_to_string(&f)
        .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        .trim()
        .to_string()
}

/// Whether process `pid`'s cgroup is frozen, and every process in it: v1 freezer.state
/// FROZEN with each task in state D (how v1-frozen tasks show), v2 cgroup.events `frozen 1`
/// (the kernel sets it once every task is frozen). False when THAWED / `frozen 0` and no task
/// is in D.
pub fn cgroup_frozen(pid: u32) -> bool {
    let dir = cgroup_dir(pid, "freezer");
    let v1 = dir.join("freezer.state");
    if v1.exists() {
        let state = std::fs::read_to_string(&v1).unwrap();
        let tasks = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        let in_d: Vec<bool> = tasks
            .split_whitespace()
            .map(|t| {
                let stat = std::fs::read_to_string(format!("/proc/{t}/stat")).unwrap_or_default();
                // The state follows the ")" that ends the command name.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('D'))
            })
            .collect();
        assert!(!in_d.is_empty(), "no task in {}", dir.display());
        match state.trim() {
            "FROZEN" => {
                assert!(in_d.iter().all(|d| *d), "FROZEN, but a task is not in D");
                true
            }
            "THAWED" => {
                assert!(!in_d.iter().any(|d| *d), "THAWED, but a task is in D");
                false
            }
            s => panic!("{}: {s}", v1.display()),
        }
    } else {
        let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
        events.lines().any(|l| l == "frozen 1")
    }
}
