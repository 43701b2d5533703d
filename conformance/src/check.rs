//! A check: one requirement of the runtime-spec, tested against one runtime binary.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{unique_id, Bundle, Rt};

/// The RFC 2119 level of the requirement a check tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Must,
    Should,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        }
    }
}

/// Why a check did not pass: it failed, or it cannot be tested here (never counted as a pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Fail(String),
    Skip(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Fail(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Fail(s.to_string())
    }
}

pub type Outcome = Result<(), Failure>;

#[derive(Clone)]
pub struct Check {
    /// `area.field.aspect`, e.g. `config.process.user.uid`.
    pub name: &'static str,
    /// The spec file and section, e.g. `config.md#user`.
    pub spec: &'static str,
    pub level: Level,
    pub run: fn(&Ctx) -> Outcome,
}

impl Check {
    pub const fn new(
        name: &'static str,
        spec: &'static str,
        level: Level,
        run: fn(&Ctx) -> Outcome,
    ) -> Check {
        Check {
            name,
            spec,
            level,
            run,
        }
    }
}

/// What a check gets: the runtime under test, and shortcuts for the common shapes.
pub struct Ctx {
    pub runtime: PathBuf,
}

impl Ctx {
    pub fn new(runtime: &Path) -> Ctx {
        Ctx {
            runtime: runtime.to_path_buf(),
        }
    }

    pub fn rt(&self) -> Rt {
        Rt::with_runtime(&self.runtime)
    }

    /// A busybox bundle (ociVersion 1.0.2) running `script` under sh, after `edit`.
    pub fn bundle(&self, edit: impl FnOnce(&mut Value), script: &str) -> Bundle {
        let mut b = Bundle::new(&[]);
        b.sh(script).edit(edit);
        b
    }

    /// Run `script` in the foreground in a bundle changed by `edit`; its stdout if it exits 0.
    pub fn sh(&self, edit: impl FnOnce(&mut Value), script: &str) -> Result<String, String> {
        let b = self.bundle(edit, script);
        run_fg_ok(&self.rt(), &b)
    }

    /// Whether create of a bundle changed by `edit` fails (and leaves no container behind).
    pub fn create_fails(&self, edit: impl FnOnce(&mut Value)) -> Outcome {
        let rt = self.rt();
        let b = self.bundle(edit, "true");
        let id = unique_id("conf");
        let o = rt.create(&b, &id);
        if o.status.success() {
            return Err(Failure::Fail(format!(
                "create succeeded (state: {})",
                rt.status(&id)
            )));
        }
        if rt.state(&id).is_some() {
            return Err("create failed but the container exists".into());
        }
        Ok(())
    }
}

/// Foreground `run`; stdout if the container exited 0, else an error with its output.
pub fn run_fg_ok(rt: &Rt, b: &Bundle) -> Result<String, String> {
    let (code, out, err) = rt.run_fg(b, &unique_id("conf"));
    if code != 0 {
        return Err(format!(
            "run exited {code}: stdout {:?} stderr {:?}",
            out.trim(),
            err.trim()
        ));
    }
    Ok(out)
}

/// `got == want`, or an error naming `what`.
pub fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(Failure::Fail(format!("{what}: got {got:?}, want {want:?}")))
    }
}

/// `cond`, or the error `msg`.
pub fn ensure(cond: bool, msg: impl Into<String>) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(Failure::Fail(msg.into()))
    }
}

/// A container made with `create` (and maybe started), with a host directory bound at /host;
/// the driver deletes it (--force) on drop.
pub struct Live {
    pub rt: Rt,
    pub bundle: Bundle,
    pub id: String,
    pub host: crate::harness::TempDir,
}

impl Live {
    /// Create (not start) a container running `script`, after `edit`.
    pub fn create(ctx: &Ctx, edit: impl FnOnce(&mut Value), script: &str) -> Result<Live, String> {
        Live::create_with(ctx, edit, script, |_, _| Ok(()))
    }

    /// Create, after `prepare` (given the bundle and the host dir) changed the files.
    pub fn create_with(
        ctx: &Ctx,
        edit: impl FnOnce(&mut Value),
        script: &str,
        prepare: impl FnOnce(&Bundle, &Path) -> Result<(), String>,
    ) -> Result<Live, String> {
        let host = crate::harness::TempDir::new("host");
        let mut bundle = Bundle::new(&[]);
        bundle.bind(host.path(), "/host").sh(script).edit(edit);
        prepare(&bundle, host.path())?;
        Live::from_bundle(ctx, bundle, host)
    }

    /// Create from a bundle already built, with `host` bound at /host in it.
    pub fn from_bundle(
        ctx: &Ctx,
        bundle: Bundle,
        host: crate::harness::TempDir,
    ) -> Result<Live, String> {
        let live = Live {
            rt: ctx.rt(),
            bundle,
            id: unique_id("conf"),
            host,
        };
        let b = live.bundle.path().to_string_lossy().into_owned();
        live.rt.try_ok(&["create", "--bundle", &b, &live.id])?;
        Ok(live)
    }

    /// Create and start.
    pub fn started(ctx: &Ctx, edit: impl FnOnce(&mut Value), script: &str) -> Result<Live, String> {
        let live = Live::create(ctx, edit, script)?;
        live.op(&["start"])?;
        Ok(live)
    }

    /// `runtime ARGS... ID`, an error if it fails.
    pub fn op(&self, args: &[&str]) -> Result<String, String> {
        let mut a = args.to_vec();
        a.push(&self.id);
        self.rt.try_ok(&a)
    }

    /// Whether `runtime ARGS... ID [EXTRA]` succeeds.
    pub fn op_succeeds(&self, args: &[&str], extra: &[&str]) -> bool {
        let mut a = args.to_vec();
        a.push(&self.id);
        a.extend_from_slice(extra);
        self.rt.run(&a).status.success()
    }

    pub fn state(&self) -> Result<Value, String> {
        self.rt
            .state(&self.id)
            .ok_or_else(|| format!("state {} failed", self.id))
    }

    pub fn status(&self) -> String {
        self.rt.status(&self.id)
    }

    pub fn pid(&self) -> Result<i64, String> {
        self.state()?["pid"]
            .as_i64()
            .filter(|p| *p > 0)
            .ok_or_else(|| "state has no positive pid".to_string())
    }

    /// Wait (bounded) for the status to become `want`.
    pub fn wait_status(&self, want: &str) -> Outcome {
        if self.rt.wait_status(&self.id, want) {
            Ok(())
        } else {
            Err(Failure::Fail(format!(
                "status stayed {:?}, want {want:?}",
                self.status()
            )))
        }
    }

    /// A file the container wrote under /host, once it exists (waits up to 5 s).
    pub fn wait_file(&self, name: &str) -> Result<String, String> {
        let p = self.host.path().join(name);
        for _ in 0..250 {
            if let Ok(s) = std::fs::read_to_string(&p) {
                if s.ends_with('\n') {
                    return Ok(s);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(format!("the container never wrote /host/{name}"))
    }

    pub fn host_file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.host.path().join(name)).ok()
    }
}

/// The namespace link of `pid` (or "self") for `ns`.
pub fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// The bundle as built (for `Live::create`, `Ctx::sh` and friends).
pub fn keep(_: &mut Value) {}
