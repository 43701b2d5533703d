//! Every command and flag Podman 4.3 (through conmon) and containerd 1.6 (its runc v2 shim)
//! pass to their runtime: a wrapper placed as the runtime records each call's argv and exit
//! status, then runs Gantry with the same argv. A workload of each engine's common operations
//! must succeed; then every recorded argv must parse with Gantry's own command line
//! (`gantry::cli::Cli`, the parser of the binary), every call must have succeeded in Gantry,
//! and every flag seen must be listed in the engine's page (docs/podman.md, docs/containerd.md:
//! "Flags ... passes").
//! Skipped when the engine is not installed or $GANTRY is not Gantry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{CommandFactory, Parser};
use gantry::cli::Cli;
use gantry_tests::engines::{output as out, Containerd, Podman};
use gantry_tests::*;

/// A runtime in front of Gantry that records each call: `calls/T.PID.argv` (NUL-separated
/// arguments) before running it, `calls/T.PID.rc` (its exit status) after.
struct Recorder {
    dir: TempDir,
}

struct Call {
    argv: Vec<String>,
    rc: Option<i32>,
}

impl Recorder {
    fn new() -> Recorder {
        let dir = TempDir::new("recorder");
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("calls")).unwrap();
        let script = format!(
            "#!/bin/sh\n\
             f={calls}/$(date +%s%N).$$\n\
             printf '%s\\0' \"$@\" >\"$f.argv\"\n\
             {gantry} \"$@\"\n\
             rc=$?\n\
             echo $rc >\"$f.rc\"\n\
             exit $rc\n",
            calls = dir.path().join("calls").display(),
            gantry = runtime_bin().display(),
        );
        // Named gantry, so that an engine that looks at the runtime's name sees Gantry's.
        let w = dir.path().join("bin/gantry");
        std::fs::write(&w, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
        Recorder { dir }
    }

    fn wrapper(&self) -> PathBuf {
        self.dir.path().join("bin/gantry")
    }

    fn calls(&self) -> Vec<Call> {
        let calls = self.dir.path().join("calls");
        let mut names: Vec<String> = std::fs::read_dir(&calls)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".argv").map(str::to_string))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let raw = std::fs::read(calls.join(format!("{n}.argv"))).unwrap();
                let argv = raw
                    .split(|&b| b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>();
                // printf '%s\0' ends every argument with a NUL: drop the empty tail.
                let argv = argv[..argv.len().saturating_sub(1)].to_vec();
                let rc = std::fs::read_to_string(calls.join(format!("{n}.rc")))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                Call { argv, rc }
            })
            .collect()
    }
}

/// The global flags, the command and its flags, as literally passed (`--flag=v` as `--flag`).
fn split_argv(argv: &[String]) -> (Vec<String>, String, Vec<String>) {
    let cli = Cli::command();
    let name = |t: &str| t.split('=').next().unwrap().to_string();
    let mut globals = Vec::new();
    let mut i = 0;
    while i < argv.len() && argv[i].starts_with('-') {
        let t = &argv[i];
        globals.push(name(t));
        let long = t.trim_start_matches('-');
        let takes_value = !t.contains('=')
            && cli
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .is_some_and(|a| a.get_action().takes_values());
        i += if takes_value { 2 } else { 1 };
    }
    let command = argv.get(i).cloned().unwrap_or_default();
    let flags = argv
        .iter()
        .skip(i + 1)
        .filter(|t| t.starts_with('-'))
        .map(|t| name(t))
        .collect();
    (globals, command, flags)
}

/// The assertions shared by both engines; returns command → flags seen (globals under "").
fn check_calls(engine: &str, calls: &[Call]) -> BTreeMap<String, BTreeSet<String>> {
    assert!(!calls.is_empty(), "{engine} never called the runtime");
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for c in calls {
        println!("{engine}: {:?} -> {:?}", c.argv, c.rc);
        // The binary's own parser: an unknown flag, a bad value or a missing argument fails.
        let parsed =
            Cli::try_parse_from(std::iter::once("gantry".to_string()).chain(c.argv.clone()));
        if let Err(e) = parsed {
            problems.push(format!("{:?} does not parse: {e}", c.argv));
        }
        match c.rc {
            Some(0) => {}
            rc => problems.push(format!("{:?} exited {rc:?}", c.argv)),
        }
        let (globals, command, flags) = split_argv(&c.argv);
        seen.entry(String::new()).or_default().extend(globals);
        seen.entry(command).or_default().extend(flags);
    }
    assert!(problems.is_empty(), "{engine}:\n{}", problems.join("\n"));
    // The table a reader sees: printed with --nocapture.
    for (cmd, flags) in &seen {
        let cmd = if cmd.is_empty() { "(global)" } else { cmd };
        let flags: Vec<String> = flags.iter().map(|f| format!("`{f}`")).collect();
        println!("| {engine} | {cmd} | {} |", flags.join(" "));
    }
    check_doc(engine, &seen);
    seen
}

/// The engine's page (docs/podman.md, docs/containerd.md) lists every command it calls and
/// every flag it passes.
fn check_doc(engine: &str, seen: &BTreeMap<String, BTreeSet<String>>) {
    let page = format!("docs/{}.md", engine.to_lowercase());
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&page))
        .unwrap();
    let heading = format!("## Flags {engine} passes");
    let table = doc
        .split(&heading)
        .nth(1)
        .unwrap_or_else(|| panic!("{page} has no \"{heading}\" section"));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    for (cmd, flags) in seen {
        let cmd = if cmd.is_empty() { "(global)" } else { cmd };
        let row = rows
            .iter()
            .find(|r| r.len() > 3 && r[1].starts_with(engine) && r[2] == format!("`{cmd}`"))
            .unwrap_or_else(|| panic!("{page}: no row for {engine} `{cmd}`"));
        for f in flags {
            assert!(
                row[3].contains(&format!("`{f}`")),
                "{page}: {engine} `{cmd}` does not list `{f}`"
            );
        }
    }
}

/// Runs a shell command line under a pseudo-terminal (util-linux `script`), for the engines'
/// -t modes, which want a terminal on their own stdin. None when `script` is missing.
fn with_pty(cmdline: &str, env: &[(String, String)]) -> Option<(i32, String, String)> {
    if !Path::new("/usr/bin/script").exists() {
        return None;
    }
    Some(out(Command::new("script")
        .args(["-qefc", cmdline, "/dev/null"])
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .output()
        .unwrap()))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---- Podman: its own storage and config under a temporary dir (as podman.rs) ----

/// The shell command line of `podman ARGS` (for a pseudo-terminal through script(1)).
fn cmdline(p: &Podman, args: &[&str]) -> String {
    let mut s = format!(
        "podman --runtime {}",
        sh_quote(&p.runtime.display().to_string())
    );
    for a in args {
        s.push(' ');
        s.push_str(&sh_quote(a));
    }
    s
}

#[test]
fn podman_flags_all_accepted() {
    let rec = Recorder::new();
    let Some(p) = Podman::new(rec.wrapper()) else {
        return;
    };
    let img = "localhost/gantry-busybox";
    assert_eq!(
        p.ok(&["run", "--rm", img, "echo", "one-shot"]),
        "one-shot\n"
    );
    // A terminal: create gets --console-socket.
    let o = p.ok(&[
        "run",
        "--rm",
        "-t",
        img,
        "sh",
        "-c",
        "test -t 0 && echo tty",
    ]);
    assert_eq!(o.trim(), "tty");
    p.ok(&["run", "-d", "--name", "f1", img, "sleep", "300"]);
    assert_eq!(p.ok(&["exec", "f1", "echo", "exec-ok"]), "exec-ok\n");
    let o = p.ok(&["exec", "-t", "f1", "sh", "-c", "test -t 0 && echo exec-tty"]);
    assert_eq!(o.trim(), "exec-tty");
    // -i -t, from a terminal, when one can be had.
    if let Some((code, o, e)) = with_pty(
        &cmdline(
            &p,
            &["exec", "-it", "f1", "sh", "-c", "test -t 0 && echo exec-it"],
        ),
        &p.env(),
    ) {
        assert_eq!(code, 0, "{o}{e}");
        assert!(o.contains("exec-it"), "{o}");
    }
    p.ok(&["pause", "f1"]);
    let o = p.ok(&["inspect", "--format", "{{.State.Status}}", "f1"]);
    assert_eq!(o.trim(), "paused");
    p.ok(&["unpause", "f1"]);
    p.ok(&["update", "--memory", "128m", "f1"]);
    let o = p.ok(&[
        "exec",
        "f1",
        "sh",
        "-c",
        // cgroup v1's file, or v2's where the host is pure v2.
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(o.trim(), "134217728");
    p.ok(&["kill", "--signal", "KILL", "f1"]);
    p.ok(&["rm", "f1"]);
    p.ok(&["run", "-d", "--name", "f2", img, "sleep", "300"]);
    p.ok(&["stop", "-t", "1", "f2"]);
    let o = p.ok(&["inspect", "--format", "{{.State.Status}}", "f2"]);
    assert_eq!(o.trim(), "exited");
    p.ok(&["rm", "f2"]);
    // Removing a running container.
    p.ok(&["run", "-d", "--name", "f3", img, "sleep", "300"]);
    p.ok(&["rm", "-f", "-t", "0", "f3"]);

    let seen = check_calls("Podman", &rec.calls());
    for c in [
        "create", "start", "exec", "pause", "resume", "update", "kill", "delete",
    ] {
        assert!(seen.contains_key(c), "Podman never called `{c}`: {seen:?}");
    }
}

// ---- containerd: its own daemon under a temporary dir (as containerd.rs) ----

/// `ctr run` with `runtime` (the recorder) as the runc shim's binary.
fn ctr_run(c: &Containerd, runtime: &Path, extra: &[&str]) -> String {
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(c.runc_args(runtime));
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.ok(&args)
}

fn wait_stopped(c: &Containerd, id: &str) {
    for _ in 0..100 {
        if c.ok(&["task", "ls"])
            .lines()
            .any(|l| l.starts_with(id) && l.contains("STOPPED"))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("task {id} did not stop");
}

#[test]
fn containerd_flags_all_accepted() {
    let rec = Recorder::new();
    let Some(c) = Containerd::start() else {
        return;
    };
    let img = "localhost/gantry-busybox:latest";
    let o = ctr_run(
        &c,
        &rec.wrapper(),
        &["--rm", img, "once", "echo", "one-shot"],
    );
    assert_eq!(o, "one-shot\n");
    // A terminal for the container's init: create gets --console-socket.
    let cmdline = format!(
        "ctr --address {} run --rm -t --runc-binary {} --runc-root {} {img} tty1 sh -c 'test -t 0 && echo run-tty'",
        sh_quote(&c.address().display().to_string()),
        sh_quote(&rec.wrapper().display().to_string()),
        sh_quote(&c.dir.path().join("runc-root").display().to_string()),
    );
    if let Some((code, o, e)) = with_pty(&cmdline, &[]) {
        assert_eq!(code, 0, "{o}{e}");
        assert!(o.contains("run-tty"), "{o}");
    }
    ctr_run(&c, &rec.wrapper(), &["-d", img, "bg", "sleep", "300"]);
    let o = c.ok(&["task", "exec", "--exec-id", "e1", "bg", "echo", "exec-ok"]);
    assert_eq!(o, "exec-ok\n");
    // A terminal exec (ctr wants a terminal on its own stdin for -t).
    let cmdline = format!(
        "ctr --address {} task exec -t --exec-id e2 bg sh -c 'test -t 0 && echo exec-tty'",
        sh_quote(&c.address().display().to_string())
    );
    if let Some((code, o, e)) = with_pty(&cmdline, &[]) {
        assert_eq!(code, 0, "{o}{e}");
        assert!(o.contains("exec-tty"), "{o}");
    }
    c.ok(&["task", "pause", "bg"]);
    assert!(c
        .ok(&["task", "ls"])
        .lines()
        .any(|l| l.starts_with("bg") && l.contains("PAUSED")));
    c.ok(&["task", "resume", "bg"]);
    let o = c.ok(&["task", "metrics", "bg"]);
    assert!(o.contains("memory.usage_in_bytes"), "{o}");
    let o = c.ok(&["task", "ps", "bg"]);
    assert!(o.lines().count() >= 2, "{o}");
    c.ok(&["task", "kill", "-s", "KILL", "bg"]);
    wait_stopped(&c, "bg");
    c.ok(&["task", "delete", "bg"]);
    c.ok(&["container", "rm", "bg"]);
    // kill --all, and deleting a running task: the only ctr commands that make the shim send
    // `kill --all` (docs/containerd.md), each call's window of recorded calls noted.
    let mut kill_all_windows = Vec::new();
    ctr_run(&c, &rec.wrapper(), &["-d", img, "bg2", "sleep", "300"]);
    let from = rec.calls().len();
    c.ok(&["task", "kill", "-a", "-s", "KILL", "bg2"]);
    kill_all_windows.push(from..rec.calls().len());
    wait_stopped(&c, "bg2");
    c.ok(&["task", "delete", "bg2"]);
    c.ok(&["container", "rm", "bg2"]);
    ctr_run(&c, &rec.wrapper(), &["-d", img, "bg3", "sleep", "300"]);
    let from = rec.calls().len();
    c.ok(&["task", "delete", "--force", "bg3"]);
    kill_all_windows.push(from..rec.calls().len());
    c.ok(&["container", "rm", "bg3"]);

    let calls = rec.calls();
    let kill_all: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let (_, command, flags) = split_argv(&c.argv);
            command == "kill" && flags.iter().any(|f| f == "--all" || f == "-a")
        })
        .map(|(i, _)| i)
        .collect();
    for w in &kill_all_windows {
        assert!(
            kill_all.iter().any(|i| w.contains(i)),
            "no `kill --all` in calls {w:?}: {kill_all:?}"
        );
    }
    for i in &kill_all {
        assert!(
            kill_all_windows.iter().any(|w| w.contains(i)),
            "`kill --all` outside ctr task kill --all and task delete --force: {:?}",
            calls[*i].argv
        );
    }

    let seen = check_calls("containerd", &calls);
    for cmd in [
        "create", "start", "exec", "pause", "resume", "kill", "delete", "ps",
    ] {
        assert!(
            seen.contains_key(cmd),
            "containerd never called `{cmd}`: {seen:?}"
        );
    }
}
