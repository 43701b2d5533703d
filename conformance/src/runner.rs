//! Runs the registry against a runtime, two checks at a time, and collects the results.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::check::{Check, Ctx, Failure};
use crate::gaps::KnownGaps;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail(String),
    Skip(String),
}

pub struct CheckResult {
    pub status: Status,
    /// The known-gaps entry for a failure, if there is one: the failure does not count.
    pub known_gap: Option<String>,
    pub elapsed: Duration,
}

impl CheckResult {
    /// A failure not listed as a known gap.
    pub fn is_new_failure(&self) -> bool {
        matches!(self.status, Status::Fail(_)) && self.known_gap.is_none()
    }
}

pub struct RuntimeRun {
    pub runtime: PathBuf,
    /// The basename, as known-gaps files name runtimes.
    pub name: String,
    /// One result per check, in the registry's order.
    pub results: Vec<CheckResult>,
}

impl RuntimeRun {
    pub fn count(&self, f: impl Fn(&CheckResult) -> bool) -> usize {
        self.results.iter().filter(|r| f(r)).count()
    }
}

pub fn runtime_name(runtime: &Path) -> String {
    runtime
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| runtime.display().to_string())
}

/// Run `checks` against `runtime`, `jobs` at a time; `done(i, result)` is called as check `i`
/// finishes (from the thread that ran it), so results can be shown before all are in.
pub fn run(
    runtime: &Path,
    checks: &[&Check],
    jobs: usize,
    gaps: &KnownGaps,
    done: &(dyn Fn(usize, &CheckResult) + Sync),
) -> RuntimeRun {
    let name = runtime_name(runtime);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<CheckResult>>> = checks.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                let ctx = Ctx::new(runtime);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(check) = checks.get(i) else { break };
                    let r = run_one(&ctx, check, gaps.reason(&name, check.name));
                    done(i, &r);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }
            });
        }
    });
    let results = slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every check ran")
        })
        .collect();
    RuntimeRun {
        runtime: runtime.to_path_buf(),
        name,
        results,
    }
}

fn run_one(ctx: &Ctx, check: &Check, gap: Option<&str>) -> CheckResult {
    let start = Instant::now();
    let status = match (check.run)(ctx) {
        Ok(()) => Status::Pass,
        Err(Failure::Fail(why)) => Status::Fail(why),
        Err(Failure::Skip(why)) => Status::Skip(why),
    };
    let known_gap = match status {
        Status::Fail(_) => gap.map(str::to_string),
        _ => None,
    };
    CheckResult {
        status,
        known_gap,
        elapsed: start.elapsed(),
    }
}
