//! The binary's exit status: non-zero for a failure not listed in the known gaps, zero once it
//! is listed (and a stale entry is reported), 2 for bad input. /bin/false stands in for a
//! runtime that fails every command.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_gantry-conformance");
/// Fails against a runtime that cannot create; passes against one that refuses everything.
const FAILS: &str = "runtime.lifecycle.create.status-created";
const PASSES: &str = "runtime.lifecycle.state.unknown-id-errors";

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// A known-gaps file, removed on drop.
struct GapsFile(std::path::PathBuf);

impl GapsFile {
    fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for GapsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn gaps(text: &str) -> GapsFile {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "conformance-gaps-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&p, text).unwrap();
    GapsFile(p)
}

#[test]
fn a_new_failure_fails_the_run() {
    let o = run(&["--runtime", "/bin/false", "--filter", FAILS]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let tap = String::from_utf8_lossy(&o.stdout);
    assert!(tap.contains(&format!("not ok 1 - {FAILS}")), "{tap}");
}

#[test]
fn a_listed_failure_does_not() {
    let g = gaps(&format!("false {FAILS}  # cannot create\n"));
    let o = run(&[
        "--runtime",
        "/bin/false",
        "--filter",
        FAILS,
        "--known-gaps",
        g.as_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("# TODO known gap: cannot create"));
}

#[test]
fn a_stale_gap_is_reported() {
    let g = gaps(&format!(
        "false {PASSES}  # it passes now\nfalse {FAILS}  # x\n"
    ));
    let o = run(&[
        "--runtime",
        "/bin/false",
        "--filter",
        PASSES,
        "--known-gaps",
        g.as_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("known gap {PASSES} now passes")),
        "{err}"
    );
}

#[test]
fn bad_input_exits_2() {
    let o = run(&["--runtime", "/nonexistent/runtime"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let g = gaps("only-one-field\n");
    let o = run(&["--runtime", "/bin/false", "--known-gaps", g.as_str()]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}
