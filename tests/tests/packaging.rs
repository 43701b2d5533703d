//! `make install DESTDIR=…` (the workspace Makefile): the binaries, the man pages and the shell
//! completions generated from gantry's clap definitions land where PREFIX says, and work.
//! Needs a release build of the workspace first (scripts/test.sh does it): the test runs no
//! cargo (`make install` on a built tree builds nothing).

use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_tests::TempDir;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The pages `program`'s commands need: PROGRAM-A-B for every command path its `--help` lists
/// (clap's `help` aside), at every depth.
fn command_pages(bin: &Path, program: &str, path: &[String], out: &mut Vec<String>) {
    let (ok, help, err) = run(Command::new(bin).args(path).arg("--help"));
    assert!(ok, "{program} {path:?} --help: {err}");
    let mut name = program.to_string();
    for p in path {
        name = format!("{name}-{p}");
    }
    out.push(name);
    let subs: Vec<String> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    for sub in subs {
        let mut p = path.to_vec();
        p.push(sub);
        command_pages(bin, program, &p, out);
    }
}

/// What the bash completion `script` offers for the command line `words` (the last one being
/// completed): the function `complete -p` names for the program, called as bash calls it.
fn complete(script: &Path, words: &[&str]) -> String {
    let program = Path::new(words[0]).file_name().unwrap().to_str().unwrap();
    // The function is registered for the program's name; a path on the line is completed by
    // the same function (the tests run the stand-in and the installed binary by path).
    let program = if program == "gantry-gpu" {
        "gantry-gpu"
    } else {
        "gantry"
    };
    let (ok, out, err) = run(Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$1" || exit 1
fn=$(complete -p "$2" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
shift 2
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
echo "${COMPREPLY[*]}""#,
        )
        .arg("bash")
        .arg(script)
        .arg(program)
        .args(words));
    assert!(ok && err.is_empty(), "completing {words:?}: {err}");
    out.trim().to_string()
}

#[test]
fn make_install_destdir() {
    if !Path::new("/usr/bin/make").exists() {
        return gantry_tests::skip("no make (/usr/bin/make)");
    }
    let ws = workspace();
    for b in ["gantry", "gantry-gpu", "gantry-docgen"] {
        assert!(
            ws.join("target/release").join(b).exists(),
            "target/release/{b} missing: cargo build --release --workspace first"
        );
    }
    let dest = TempDir::new("destdir");
    let (ok, out, err) = run(Command::new("make")
        .arg("-C")
        .arg(&ws)
        .arg("install")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg("PREFIX=/usr")
        // A cargo call would mean the binaries were rebuilt: they must not be.
        .arg("CARGO=false"));
    assert!(ok, "make install failed:\n{out}\n{err}");
    let root = dest.path().join("usr");

    // The runtime, executable, answers --version.
    let gantry = root.join("bin/gantry");
    let (ok, out, err) = run(Command::new(&gantry).arg("--version"));
    assert!(ok, "{err}");
    assert!(out.starts_with("gantry "), "{out}");
    assert!(root.join("bin/gantry-gpu").exists());

    // The containerd 1.6 GPU handler docs/kubernetes.md names, pointing at this install.
    let gpu_runtime = root.join("bin/gantry-gpu-runtime");
    let (_, script, _) = run(Command::new("cat").arg(&gpu_runtime));
    assert!(
        script.contains("runtime=${GANTRY_GPU_RUNTIME:-/usr/bin/gantry}")
            && script.contains("hook=${GANTRY_GPU_HOOK:-/usr/bin/gantry-gpu}")
            && !script.contains("/usr/local/bin/gantry"),
        "{}:\n{script}",
        gpu_runtime.display()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&gpu_runtime)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "gantry-gpu-runtime's mode");
    let (ok, _, err) = run(Command::new("sh").arg("-n").arg(&gpu_runtime));
    assert!(ok, "sh -n gantry-gpu-runtime: {err}");

    // Man pages: one per command at every depth of both binaries, as their --help lists them.
    let man8 = root.join("share/man/man8");
    let mut pages = Vec::new();
    for program in ["gantry", "gantry-gpu"] {
        command_pages(&root.join("bin").join(program), program, &[], &mut pages);
    }
    for p in [
        "gantry-create",
        "gantry-checkpoint",
        "gantry-device-add",
        "gantry-gpu-cdi-generate",
        "gantry-gpu-info",
    ] {
        assert!(pages.iter().any(|q| q == p), "{p} not among {pages:?}");
    }
    for page in &pages {
        let p = man8.join(format!("{page}.8"));
        assert!(p.exists(), "{} missing", p.display());
        if Path::new("/usr/bin/groff").exists() {
            // -ww: all warnings; -z: no output; a malformed page warns on stderr.
            let (ok, _, err) = run(Command::new("groff").args(["-ww", "-z", "-man"]).arg(&p));
            assert!(ok && err.is_empty(), "{page}: {err}");
        }
        if Path::new("/usr/bin/man").exists() {
            let (ok, out, err) = run(Command::new("man")
                .arg("-l")
                .arg(&p)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "80"));
            assert!(ok, "man -l {page}: {err}");
            assert!(out.contains("NAME") && out.contains(page.as_str()), "{out}");
        }
    }
    // Every page a page refers to, NAME(8), is installed (clap's gantry-help(8) was not).
    for entry in std::fs::read_dir(&man8).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap().replace("\\-", "-");
        for line in text.lines() {
            if let Some(name) = line.strip_suffix("(8)").filter(|n| n.starts_with("gantry")) {
                assert!(
                    man8.join(format!("{name}.8")).exists(),
                    "{} links to {name}(8), which is not installed",
                    path.display()
                );
            }
        }
    }
    let (_, page, _) = run(Command::new("cat").arg(man8.join("gantry-create.8")));
    assert!(
        page.contains("pid\\-file"),
        "create's page lacks --pid-file:\n{page}"
    );

    // Completions: bash parses, and completes gantry's commands and flags.
    let bash = root.join("share/bash-completion/completions/gantry");
    let (ok, _, err) = run(Command::new("bash").arg("-n").arg(&bash));
    assert!(ok, "bash -n: {err}");
    assert_eq!(complete(&bash, &["gantry", "cre"]), "create");
    // Hidden flags (runc 1.1's --kernel-memory, the tests' --cgroup-root) are not offered.
    let update = complete(&bash, &["gantry", "update", "--"]);
    assert!(
        update.contains("--memory") && !update.contains("--kernel-memory"),
        "{update}"
    );
    let globals = complete(&bash, &["gantry", "--"]);
    assert!(
        globals.contains("--root") && !globals.contains("--cgroup-root"),
        "{globals}"
    );
    // Container ids from `gantry [--root R] list -q` of the gantry on the line: a stand-in
    // prints two ids and records how it was called.
    let fake_dir = TempDir::new("fake-gantry");
    let fake = fake_dir.path().join("gantry");
    let log = fake_dir.path().join("calls");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >>{}\ncase \"$*\" in *'list -q') echo c1; echo c2;; esac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = fake.to_str().unwrap();
    for (line, want) in [
        (vec![f, "kill", ""], "c1 c2"),
        (
            vec![f, "--root", "/r1", "exec", "--user", "0", "c"],
            "c1 c2",
        ),
        (vec![f, "-root", "/r2", "device", "add", ""], "c1 c2"),
        (vec![f, "--root", "=", "/r3", "state", "c2"], "c2"),
        // A new container's id, and a flag's value, are not completed from the list.
        (vec![f, "create", "--bundle", ""], ""),
        (vec![f, "kill", "-"], "-a -h --all --help"),
    ] {
        let got = complete(&bash, &line);
        if want.is_empty() {
            assert!(!got.contains("c1"), "{line:?}: {got}");
        } else {
            assert_eq!(got, want, "{line:?}");
        }
    }
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "list -q",
            "--root /r1 list -q",
            "--root /r2 list -q",
            "--root /r3 list -q"
        ],
        "the stand-in's calls"
    );
    // The installed gantry itself on an empty root: no ids, no error on the terminal.
    let empty = TempDir::new("empty-root");
    let g = gantry.to_str().unwrap();
    let e = empty.path().to_str().unwrap();
    assert_eq!(complete(&bash, &[g, "--root", e, "kill", ""]), "");

    // gantry-gpu's below the top level (its function names once did not match clap's cases).
    let gpu_bash = root.join("share/bash-completion/completions/gantry-gpu");
    assert_eq!(complete(&gpu_bash, &["gantry-gpu", "in"]), "info");
    assert_eq!(
        complete(&gpu_bash, &["gantry-gpu", "info", "--format", ""]),
        "table json"
    );
    assert_eq!(
        complete(
            &gpu_bash,
            &["gantry-gpu", "cdi", "generate", "--format", ""]
        ),
        "json yaml"
    );
    let cdi = complete(&gpu_bash, &["gantry-gpu", "cdi", ""]);
    assert!(
        cdi.contains("generate") && cdi.contains("validate"),
        "{cdi}"
    );
    let zsh = root.join("share/zsh/site-functions/_gantry");
    let fish = root.join("share/fish/vendor_completions.d/gantry.fish");
    assert!(zsh.exists() && fish.exists());
    // Hidden flags are not offered there either (fish's own argument list keeps them, so that
    // a line with one still parses).
    let zsh_text = std::fs::read_to_string(&zsh).unwrap();
    assert!(zsh_text.contains("'--memory="), "{zsh_text}");
    let fish_text = std::fs::read_to_string(&fish).unwrap();
    assert!(fish_text.contains(" -l memory "), "{fish_text}");
    for flag in ["kernel-memory", "kernel-memory-tcp", "cgroup-root"] {
        assert!(
            !zsh_text.contains(&format!("'--{flag}")),
            "zsh offers --{flag}"
        );
        assert!(
            !fish_text
                .lines()
                .any(|l| l.starts_with("complete ") && l.contains(&format!(" -l {flag} "))),
            "fish offers --{flag}"
        );
    }
    for (shell, file) in [("zsh", &zsh), ("fish", &fish)] {
        if Path::new("/usr/bin").join(shell).exists() {
            let (ok, _, err) = run(Command::new(shell).arg("-n").arg(file));
            assert!(ok, "{shell} -n: {err}");
        }
    }

    // And uninstall takes it all away again.
    let (ok, out, err) = run(Command::new("make")
        .arg("-C")
        .arg(&ws)
        .arg("uninstall")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg("PREFIX=/usr"));
    assert!(ok, "make uninstall failed:\n{out}\n{err}");
    assert!(!gantry.exists() && !man8.join("gantry.8").exists() && !bash.exists());
    assert!(!gpu_runtime.exists());
    assert!(!man8.join("gantry-gpu.8").exists() && !gpu_bash.exists());
}
