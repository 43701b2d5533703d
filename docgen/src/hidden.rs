//! Hidden flags (runc 1.1's --kernel-memory, the tests' --cgroup-root) out of the zsh and fish
//! completions, which clap_complete writes them into as it does for bash (bash.rs drops them
//! per command).

use std::collections::BTreeSet;

use clap::Command;

/// The long names of flags hidden wherever they appear in the tree.
pub fn longs(cmd: &Command) -> BTreeSet<String> {
    let (mut hidden, mut shown) = (BTreeSet::new(), BTreeSet::new());
    walk(cmd, &mut hidden, &mut shown);
    hidden.difference(&shown).cloned().collect()
}

fn walk(cmd: &Command, hidden: &mut BTreeSet<String>, shown: &mut BTreeSet<String>) {
    for a in cmd.get_arguments() {
        let set = if a.is_hide_set() {
            &mut *hidden
        } else {
            &mut *shown
        };
        set.extend(a.get_long().map(str::to_string));
    }
    for sub in cmd.get_subcommands() {
        walk(sub, hidden, shown);
    }
}

/// zsh: a flag's spec line, `'--NAME=[help]:VALUE:_files' \` or `'--NAME[help]' \`.
pub fn drop_zsh(script: &str, hidden: &BTreeSet<String>) -> String {
    keep_lines(script, |l| {
        let l = l.trim_start();
        hidden.iter().any(|h| {
            l.strip_prefix(&format!("'--{h}"))
                .is_some_and(|rest| rest.starts_with('=') || rest.starts_with('['))
        })
    })
}

/// fish: the `complete -c PROG ... -l NAME ...` line of the flag (the argument list fish parses
/// the line with keeps it, so a hidden flag typed still parses).
pub fn drop_fish(script: &str, hidden: &BTreeSet<String>) -> String {
    keep_lines(script, |l| {
        l.starts_with("complete ")
            && hidden
                .iter()
                .any(|h| l.contains(&format!(" -l {h} ")) || l.ends_with(&format!(" -l {h}")))
    })
}

fn keep_lines(script: &str, drop: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for line in script.lines().filter(|l| !drop(l)) {
        out.push_str(line);
        out.push('\n');
    }
    out
}
