//! Results as they come, instead of all at the end of a run of half a minute or more: the TAP
//! lines of finished checks on stdout, in the registry's order (a check that finishes before
//! an earlier one waits for it, so the stream is the same TAP as before), and, only when
//! stderr is a terminal, a progress line there that each finished check redraws.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use crate::check::Check;
use crate::report;
use crate::runner::{CheckResult, RuntimeRun};

pub struct Stream<'a> {
    checks: &'a [&'a Check],
    tap: bool,
    progress: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    runtime: String,
    /// Test points of the runtimes before this one.
    offset: usize,
    /// The next check of this runtime to print.
    next: usize,
    /// Finished checks waiting for an earlier one, by index.
    pending: BTreeMap<usize, String>,
    finished: usize,
}

/// Erases the progress line (carriage return, erase to the end of the line).
const CLEAR: &str = "\r\x1b[K";

impl<'a> Stream<'a> {
    /// `tap`: stream TAP on stdout; `progress`: draw the progress line on stderr.
    pub fn new(checks: &'a [&'a Check], runtimes: usize, tap: bool, progress: bool) -> Self {
        if tap {
            out(&report::tap_header(checks.len() * runtimes));
        }
        Stream {
            checks,
            tap,
            progress,
            state: Mutex::new(State::default()),
        }
    }

    pub fn begin(&self, runtime: &Path) {
        let mut st = self.lock();
        st.runtime = crate::runner::runtime_name(runtime);
        st.next = 0;
        st.pending.clear();
        if self.tap {
            out(&report::tap_runtime(runtime));
        }
    }

    /// Check `i` of the current runtime finished.
    pub fn done(&self, i: usize, r: &CheckResult) {
        let mut guard = self.lock();
        let st = &mut *guard;
        st.finished += 1;
        if self.tap {
            let line = report::tap_line(st.offset + i + 1, self.checks[i], r);
            st.pending.insert(i, line);
            let mut ready = String::new();
            while let Some(line) = st.pending.remove(&st.next) {
                ready.push_str(&line);
                st.next += 1;
            }
            if !ready.is_empty() {
                self.clear();
                out(&ready);
            }
        }
        if self.progress {
            let total = self.checks.len();
            let done = st.finished - st.offset;
            err(&format!(
                "{CLEAR}{}: {done}/{total} checks done, last {}",
                st.runtime, self.checks[i].name
            ));
        }
    }

    pub fn end(&self, run: &RuntimeRun) {
        let mut st = self.lock();
        st.offset += self.checks.len();
        st.finished = st.offset;
        self.clear();
        if self.tap {
            out(&report::tap_summary(run));
        }
    }

    fn clear(&self) {
        if self.progress {
            err(CLEAR);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Written and flushed at once: stdout is block-buffered when it is a pipe or a file.
fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

fn err(s: &str) {
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}
