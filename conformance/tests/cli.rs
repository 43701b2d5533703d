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

/// A directory of the test's own, removed on drop.
struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// TAP comes out as checks finish, not at the end: the first check's line is on stdout while
/// the second still runs (a stand-in runtime holds every `kill` while a file exists), and
/// stderr, not a terminal here, gets no progress line.
#[test]
fn tap_streams_as_checks_finish() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;
    let dir = Dir(std::env::temp_dir().join(format!("conformance-stream-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let hold = dir.0.join("hold");
    std::fs::write(&hold, "").unwrap();
    let rt = dir.0.join("runtime");
    std::fs::write(
        &rt,
        format!(
            "#!/bin/sh\ncase \" $* \" in *' kill '*) while [ -e {} ]; do sleep 0.05; done ;; esac\nexit 1\n",
            hold.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o755)).unwrap();
    // start, kill, delete and state of an unknown id, one at a time, in that order.
    let mut child = Command::new(BIN)
        .args([
            "--runtime",
            rt.to_str().unwrap(),
            "--filter",
            "unknown-id-errors",
        ])
        .args(["--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(" 1 - ")) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => seen.push(l),
            Err(e) => {
                let _ = child.kill();
                panic!("no TAP line for the first check while the second runs ({e}): {seen:?}");
            }
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the held check was let go: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l == "ok 1 - runtime.lifecycle.start.unknown-id-errors"),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|l| l.contains(" 2 - ")), "{seen:?}");
    std::fs::remove_file(&hold).unwrap();
    let o = child.wait_with_output().unwrap();
    seen.extend(rx.iter());
    let points = seen.iter().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(points, 4, "{seen:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains('\r') && !err.contains("checks done"),
        "{err:?}"
    );
}

/// On a terminal (util-linux `script` gives the run one), stderr gets the progress line.
#[test]
fn progress_line_on_a_terminal() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("skip: no /usr/bin/script to give the run a terminal");
        return;
    }
    let cmd = format!("{BIN} --runtime /bin/false --filter unknown-id-errors >/dev/null");
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let term = String::from_utf8_lossy(&o.stdout);
    assert!(term.contains("false: 4/4 checks done"), "{term:?}");
    // Erased before the summary lines.
    assert!(term.contains("\r\x1b[K"), "{term:?}");
}
