//! Skips that are never silent and never a pass. Rust's test harness has no "skipped" result,
//! so a test that cannot run on this host calls `skip(why)` and returns: the reason goes to
//! stderr and, when `$GANTRY_SKIP_LOG` is set (scripts/test.sh sets it), one line
//! `test-name<TAB>reason` is appended there, so the run reports its skips by name and counts
//! them apart from the passes.

use std::io::Write;

/// Record that the calling test does not run here, and why. The caller returns right after.
pub fn skip(why: impl AsRef<str>) {
    let why = why.as_ref().replace(['\n', '\t'], " ");
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    eprintln!("SKIP {name}: {why}");
    let Some(log) = std::env::var_os("GANTRY_SKIP_LOG") else {
        return;
    };
    // O_APPEND writes of one short line are atomic between test processes and threads.
    let line = format!("{name}\t{why}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("cannot record the skip in {}: {e}", log.to_string_lossy());
    }
}
