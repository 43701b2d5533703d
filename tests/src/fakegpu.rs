//! A fake GPU host for the GPU tests: gpu-hook/tests/fixtures/fake-env.sh (a mock NVML
//! library answering from a fixture, real device nodes, real ELF driver libraries, procfs and
//! sysfs files), and bundles whose createRuntime hook is gantry-gpu pointed at it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::{Bundle, Rt};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn gpu_bin() -> PathBuf {
    let p = workspace().join("target/release/gantry-gpu");
    assert!(p.exists(), "cargo build --release -p gantry-gpu");
    p
}

/// A fake driver environment, built once per test process and per set of fake-env.sh
/// arguments (tests only read it), under cargo's per-target temporary directory, and removed
/// when the test process exits.
pub struct FakeGpu {
    dir: PathBuf,
}

/// The fake environments this process built, removed at exit (the test harness returns from
/// main, so libc's exit runs the atexit handlers).
static MADE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

extern "C" fn remove_made() {
    if let Ok(dirs) = MADE.lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl FakeGpu {
    pub fn new(args: &[&str]) -> &'static FakeGpu {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        static ENVS: OnceLock<Mutex<HashMap<String, &'static FakeGpu>>> = OnceLock::new();
        let key = args.join(" ");
        let mut envs = ENVS.get_or_init(Default::default).lock().unwrap();
        if let Some(f) = envs.get(&key) {
            return f;
        }
        if envs.is_empty() {
            // SAFETY: registers a plain extern "C" function with no arguments.
            unsafe { libc::atexit(remove_made) };
        }
        let dir = workspace().join("target/tmp").join(format!(
            "fake-gpu-{}-{}",
            std::process::id(),
            envs.len()
        ));
        MADE.lock().unwrap().push(dir.clone());
        let out = Command::new(workspace().join("gpu-hook/tests/fixtures/fake-env.sh"))
            .arg(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fake-env.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let f: &'static FakeGpu = Box::leak(Box::new(FakeGpu { dir }));
        envs.insert(key, f);
        f
    }

    pub fn root(&self, which: &str) -> PathBuf {
        self.dir.join(which)
    }

    /// The global flags that point gantry-gpu at this environment.
    pub fn flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (flag, dir) in [
            ("--driver-root", "driver-root"),
            ("--dev-root", "dev-root"),
            ("--proc-root", "proc-root"),
            ("--sysfs-root", "sysfs-root"),
        ] {
            v.push(flag.to_string());
            v.push(self.root(dir).display().to_string());
        }
        v
    }

    /// The global flags that point Gantry's own (jit) GPU discovery at this environment.
    pub fn runtime_flags(&self) -> Vec<String> {
        self.flags()
            .into_iter()
            .map(|f| match f.strip_prefix("--") {
                Some(name) => format!("--gpu-{name}"),
                None => f,
            })
            .collect()
    }

    /// `gantry [--cdi-spec-dirs DIR] --gpu-*-root ... ARGS`: Gantry with its own GPU
    /// discovery on this environment.
    pub fn gantry(&self, rt: &Rt, specs: Option<&Path>, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = Vec::new();
        if let Some(d) = specs {
            all.extend(["--cdi-spec-dirs".to_string(), d.display().to_string()]);
        }
        all.extend(self.runtime_flags());
        all.extend(args.iter().map(|s| s.to_string()));
        rt.run(&all.iter().map(String::as_str).collect::<Vec<_>>())
    }

    pub fn gpu(&self, args: &[&str]) -> (bool, String, String) {
        let o = Command::new(gpu_bin())
            .args(self.flags())
            .args(args)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// A bundle whose createRuntime hook is gantry-gpu on this environment.
    pub fn bundle(&self, env: &[&str], script: &str) -> Bundle {
        let mut b = Bundle::new(&[]);
        let mut args = vec!["gantry-gpu".to_string()];
        args.extend(self.flags());
        args.push("hook".into());
        b.edit(|c| {
            c["hooks"] = json!({"createRuntime": [{"path": gpu_bin(), "args": args}]});
            let e = c["process"]["env"].as_array_mut().unwrap();
            for v in env {
                e.push(json!(v));
            }
        })
        .sh(script);
        b
    }
}

/// The v1 devices.list of `pid`'s cgroup, or `None` (a recorded skip) where devices is not on
/// cgroup v1.
pub fn devices_list(pid: i64) -> Option<String> {
    if !crate::v1_or_skip(&["devices"]) {
        return None;
    }
    let cg = crate::pid_cgroup(pid, "devices").expect("a devices cgroup");
    Some(std::fs::read_to_string(crate::cgroup_dir("devices", &cg).join("devices.list")).unwrap())
}
