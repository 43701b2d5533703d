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

    // Man pages: gantry.8 and one per command, each well-formed roff.
    let man8 = root.join("share/man/man8");
    for page in [
        "gantry.8",
        "gantry-create.8",
        "gantry-exec.8",
        "gantry-kill.8",
        "gantry-checkpoint.8",
        "gantry-restore.8",
        "gantry-gpu.8",
        "gantry-gpu-hook.8",
        "gantry-gpu-cdi.8",
    ] {
        let p = man8.join(page);
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
            assert!(out.contains("NAME") && out.contains("gantry"), "{out}");
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
    let (ok, out, err) = run(Command::new("bash").arg("-c").arg(format!(
        "source {}; COMP_WORDS=(gantry cre); COMP_CWORD=1; COMP_LINE='gantry cre'; COMP_POINT=10; _gantry gantry cre gantry; echo \"${{COMPREPLY[@]}}\"",
        bash.display()
    )));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "create", "bash completion of `gantry cre`");
    let gpu_bash = root.join("share/bash-completion/completions/gantry-gpu");
    let (ok, out, err) = run(Command::new("bash").arg("-c").arg(format!(
        "source {}; COMP_WORDS=(gantry-gpu in); COMP_CWORD=1; COMP_LINE='gantry-gpu in'; COMP_POINT=13; _gantry__gpu gantry-gpu in gantry-gpu; echo \"${{COMPREPLY[@]}}\"",
        gpu_bash.display()
    )));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "info", "bash completion of `gantry-gpu in`");
    let zsh = root.join("share/zsh/site-functions/_gantry");
    let fish = root.join("share/fish/vendor_completions.d/gantry.fish");
    assert!(zsh.exists() && fish.exists());
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
    assert!(!man8.join("gantry-gpu.8").exists() && !gpu_bash.exists());
}
