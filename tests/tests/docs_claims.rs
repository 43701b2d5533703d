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
