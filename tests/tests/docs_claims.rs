//! What the README and docs say of the binaries, checked against the binaries themselves: the
//! conformance suite's check count and results, and the command lists of `gantry` and
//! `gantry-gpu`. A number in a doc is either generated or checked here, never just typed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use gantry_tests::fakegpu::{gpu_bin, workspace};

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn bin(name: &str) -> PathBuf {
    let p = workspace().join("target/release").join(name);
    assert!(p.exists(), "{} (cargo build --release)", p.display());
    p
}

fn stdout(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The subcommands clap lists under "Commands:" in `--help`, without `help` itself.
fn help_commands(bin: &std::path::Path, args: &[&str]) -> BTreeSet<String> {
    let help = stdout(Command::new(bin).args(args).arg("--help"));
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The fenced block of `text` whose first line starts with `head`.
fn block<'a>(text: &'a str, head: &str) -> &'a str {
    let start = text
        .find(&format!("```\n{head}"))
        .unwrap_or_else(|| panic!("no ``` block starting with {head:?}"));
    let body = &text[start + 4..];
    &body[..body.find("```").unwrap()]
}

/// The commands a README usage block names: each line indented by exactly two spaces holds
/// one or more `COMMAND ARGS`, separated by ` | `.
fn usage_commands(block: &str) -> BTreeSet<String> {
    block
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("  ") && l.as_bytes().get(2).is_some_and(u8::is_ascii_lowercase))
        .flat_map(|l| top_level_parts(l.trim()))
        .filter_map(|part| part.split_whitespace().next().map(str::to_string))
        .collect()
}

/// `a [--x | y] | b` split at the ` | ` outside brackets: `a [--x | y]`, `b`.
fn top_level_parts(line: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in line.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '|' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

#[test]
fn readme_lists_every_gantry_command() {
    let readme = read("README.md");
    let documented = usage_commands(block(&readme, "gantry ["));
    let real = help_commands(&bin("gantry"), &[]);
    assert_eq!(
        documented, real,
        "README's gantry usage against `gantry --help`"
    );
}

/// The long global flags `--help` lists (every options heading), without --help/--version.
fn help_global_flags(bin: &std::path::Path) -> BTreeSet<String> {
    let help = stdout(Command::new(bin).arg("--help"));
    help.lines()
        .skip_while(|l| *l != "Options:")
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .split_once(", ")
                .filter(|_| l.starts_with('-') && !l.starts_with("--"))
                .map_or(l, |(_, r)| r);
            l.strip_prefix("--")
                .and_then(|f| f.split([' ', '=']).next())
                .map(|f| format!("--{f}"))
        })
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

#[test]
fn readme_lists_every_gantry_global_flag() {
    let readme = read("README.md");
    let usage = block(&readme, "gantry [");
    // The global flags are those before the first command line.
    let globals: String = usage
        .lines()
        .take_while(|l| {
            !(l.starts_with("  ") && l.as_bytes().get(2).is_some_and(u8::is_ascii_lowercase))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let documented: BTreeSet<String> = globals
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter(|w| w.starts_with("--"))
        .map(str::to_string)
        .collect();
    let real = help_global_flags(&bin("gantry"));
    assert_eq!(
        documented, real,
        "README's gantry global flags against `gantry --help`"
    );
}

#[test]
fn readme_lists_every_gantry_gpu_command() {
    let readme = read("README.md");
    let documented = usage_commands(block(&readme, "gantry-gpu ["));
    let real = help_commands(&gpu_bin(), &[]);
    assert_eq!(
        documented, real,
        "README's gantry-gpu usage against `gantry-gpu --help`"
    );
}

/// One runtime's summary line in docs/conformance.md: `NAME (PATH): P passed, F failed, G
/// known gaps, S skipped of N`, as (P, S, N).
fn summary(doc: &str, name: &str) -> (u32, u32, u32) {
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("{name} (")))
        .unwrap_or_else(|| panic!("docs/conformance.md has no summary line for {name}"));
    let nums: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // The path may hold digits too: the five counts are the last five numbers.
    let n = nums.len();
    assert!(n >= 5, "{line}");
    (nums[n - 5], nums[n - 2], nums[n - 1])
}

/// The number right after `word ` in `text` (e.g. "passes 237").
fn number_after(text: &str, word: &str) -> u32 {
    let i = text
        .find(word)
        .unwrap_or_else(|| panic!("README says nothing like {word:?}"));
    text[i + word.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?}"))
}

#[test]
fn conformance_numbers_in_the_docs_match_the_suite() {
    let list = stdout(
        Command::new(bin("gantry-conformance"))
            .args(["--runtime", "unused", "--list"])
            .stdout(std::process::Stdio::piped()),
    );
    let checks = list.lines().filter(|l| !l.trim().is_empty()).count() as u32;
    let doc = read("docs/conformance.md");
    let (g_pass, g_skip, g_of) = summary(&doc, "gantry");
    assert_eq!(
        g_of, checks,
        "docs/conformance.md was taken with {g_of} checks; the suite has {checks}: regenerate it (scripts/conformance-table.sh)"
    );
    let (r_pass, _, r_of) = summary(&doc, "runc");
    let (c_pass, _, c_of) = summary(&doc, "crun");
    assert_eq!((r_of, c_of), (checks, checks), "runc's and crun's rows");
    // Words are compared with the README's line breaks taken as spaces.
    let readme = read("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for (phrase, want, what) in [
        ("Of the", checks, "the check count"),
        ("Gantry passes", g_pass, "Gantry's passes"),
        ("skips", g_skip, "Gantry's skips"),
        ("runc 1.1.5 passes", r_pass, "runc's passes"),
        ("crun 1.8.1 passes", c_pass, "crun's passes"),
    ] {
        assert_eq!(number_after(&readme, phrase), want, "README: {what}");
    }
}

/// docs/podman.md's containers.conf is the example file the Podman tests run, word for word,
/// and keeps that Podman apart from the host's other one: file locks and a tmp_dir of its own
/// (not /run/libpod and the /libpod_lock shared memory).
#[test]
fn podman_conf_is_the_tested_file_and_shares_no_locks() {
    let page = read("docs/podman.md");
    let example = read("docs/examples/podman-containers.conf");
    let start = page
        .find("```toml\n# Gantry as Podman's runtime")
        .expect("docs/podman.md: no containers.conf block")
        + "```toml\n".len();
    let shown = &page[start..start + page[start..].find("```").unwrap()];
    assert_eq!(
        shown.trim_end(),
        example.trim_end(),
        "docs/podman.md's block against docs/examples/podman-containers.conf"
    );
    let engine: Vec<&str> = example
        .lines()
        .skip_while(|l| *l != "[engine]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .collect();
    assert!(engine.contains(&"lock_type = \"file\""), "{engine:?}");
    let tmp = engine
        .iter()
        .find_map(|l| l.strip_prefix("tmp_dir = "))
        .expect("no tmp_dir in [engine]");
    assert!(!tmp.contains("/run/libpod"), "tmp_dir {tmp}");
    // The test harness runs this very file (its tmp_dir moved under its temporary dir).
    let harness = read("tests/src/engines.rs");
    assert!(harness.contains("docs/examples/podman-containers.conf"));
    assert!(harness.contains(&format!("tmp_dir = {}", tmp.replace('"', "\\\""))));
}

/// docs/containerd.md: the shim sends `kill --all` for `ctr task kill --all` and `ctr task
/// delete --force` only (engine_flags.rs records every call and checks that), not after every
/// init exit as the page once said.
#[test]
fn containerd_kill_all_claim() {
    let page = read("docs/containerd.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        !page.contains("after every init exit"),
        "docs/containerd.md"
    );
    assert!(
        page.contains("`kill --all ID SIGNAL` (for `ctr task kill --all`, and for `ctr task delete --force` of a running task;"),
        "docs/containerd.md's kill --all sentence"
    );
    let test = read("tests/tests/engine_flags.rs");
    assert!(
        test.contains("\"task\", \"delete\", \"--force\"") && test.contains("kill_all_windows")
    );
}

/// docs/kubernetes.md names /usr/local/bin/gantry-gpu-runtime: `make install` puts it there
/// (packaging.rs installs and checks it).
#[test]
fn the_gpu_runtime_kubernetes_md_names_is_installed() {
    assert!(read("docs/kubernetes.md").contains("/usr/local/bin/gantry-gpu-runtime"));
    let make = read("Makefile");
    assert!(
        make.contains("$(DESTDIR)$(BINDIR)/gantry-gpu-runtime"),
        "the Makefile's install target"
    );
    assert!(read("tests/tests/packaging.rs").contains("bin/gantry-gpu-runtime"));
}

/// Every seccomp architecture the docs name is among those `gantry features` lists, and the
/// list holds the three filtered with their own numbers and the others docs/architecture.md
/// says are accepted (runtime/src/commands/features.rs checks each is accepted).
#[test]
fn seccomp_architectures_in_docs_and_features_agree() {
    let f: serde_json::Value =
        serde_json::from_str(&stdout(Command::new(bin("gantry")).arg("features"))).unwrap();
    let archs: BTreeSet<String> = f["linux"]["seccomp"]["archs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for want in [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
    ] {
        assert!(archs.contains(want), "features lacks {want}: {archs:?}");
    }
    assert!(archs.len() > 3, "{archs:?}");
    for doc in ["README.md", "docs/architecture.md", "docs/security.md"] {
        let text = read(doc);
        for (i, _) in text.match_indices("SCMP_ARCH_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != "SCMP_ARCH_NATIVE" {
                assert!(
                    archs.contains(&name),
                    "{doc} names {name}, features does not"
                );
            }
        }
    }
}

/// `gantry-gpu info` on a host without a GPU driver (empty roots here) says so and where it
/// looked, instead of printing a bare table header.
#[test]
fn gpu_info_without_a_driver_says_where_it_looked() {
    let empty = gantry_tests::TempDir::new("no-driver");
    let e = empty.path();
    let out = stdout(
        Command::new(gpu_bin())
            .arg("--driver-root")
            .arg(e)
            .arg("--dev-root")
            .arg(e)
            .arg("--proc-root")
            .arg(e.join("proc"))
            .arg("--sysfs-root")
            .arg(e.join("sys"))
            .arg("info"),
    );
    assert!(
        out.starts_with("No GPU found: no NVIDIA driver, and no AMD or Intel GPU. Looked at:\n"),
        "{out}"
    );
    assert!(!out.contains("VENDOR"), "{out}");
    for place in [
        e.join("proc/driver/nvidia/gpus"),
        e.join("sys/class/drm"),
        e.join("sys/class/kfd/kfd/topology/nodes"),
    ] {
        assert!(
            out.contains(&format!("{}: absent", place.display())),
            "{}: {out}",
            place.display()
        );
    }
    assert!(out.contains("libnvidia-ml.so.1"), "{out}");
}
