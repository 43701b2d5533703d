//! clap_complete's bash script, made right for these programs:
//! - a program named with a dash (gantry-gpu): clap_complete sets `cmd` to
//!   `gantry__gpu__subcmd__info` but labels the cases `gantry__subcmd__gpu__subcmd__info`, so
//!   nothing below the top level completed (`gantry-gpu info --format <TAB>`); the labels are
//!   renamed to what `cmd` holds;
//! - hidden flags and commands (runc 1.1's --kernel-memory, --cgroup-root) are offered by
//!   clap_complete: they are dropped from each command's words;
//! - gantry: container ids for the commands that act on an existing container, from
//!   `gantry list -q` with the --root given on the line, as runc's Debian completion does with
//!   `runc list -q`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use clap::Command;

/// clap_complete's separator between a command's names in a case label.
const SEP: &str = "__subcmd__";

/// The commands whose first positional is an existing container's id (not create, run and
/// restore, which name a new one).
const ID_COMMANDS: &[&str] = &[
    "state",
    "start",
    "kill",
    "delete",
    "exec",
    "update",
    "events",
    "pause",
    "resume",
    "ps",
    "checkpoint",
    "device add",
    "device remove",
    "device list",
];

pub fn fix(script: &str, cmd: &Command, program: &str) -> String {
    let top = program.replace('-', "__");
    let wrong = format!("{}{SEP}", program.replace('-', SEP));
    let mut out = if program.contains('-') {
        script.replace(&wrong, &format!("{top}{SEP}"))
    } else {
        script.to_string()
    };
    let mut hidden = BTreeMap::new();
    hidden_words(cmd, &top, &mut hidden);
    out = drop_hidden(&out, &hidden);
    if program == "gantry" {
        out = with_ids(&out, cmd, &top);
    }
    out
}

/// Case label → the words of its hidden flags and subcommands.
fn hidden_words(cmd: &Command, label: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    let mut words = BTreeSet::new();
    for a in cmd.get_arguments().filter(|a| a.is_hide_set()) {
        words.extend(
            a.get_long_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|l| format!("--{l}")),
        );
        words.extend(
            a.get_short_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|s| format!("-{s}")),
        );
    }
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            words.insert(sub.get_name().to_string());
        }
        let sub_label = format!("{label}{SEP}{}", sub.get_name().replace('-', SEP));
        hidden_words(sub, &sub_label, out);
    }
    out.insert(label.to_string(), words);
}

/// Each `opts="..."` line without the hidden words of the case it is in.
fn drop_hidden(script: &str, hidden: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut label = "";
    let mut out = String::new();
    for line in script.lines() {
        // The case labels of `case "${cmd}" in` are indented by exactly 8 spaces.
        if let Some(l) = line
            .strip_prefix("        ")
            .and_then(|l| l.strip_suffix(')'))
            .filter(|l| !l.starts_with(' ') && hidden.contains_key(*l))
        {
            label = l;
        }
        let words = hidden.get(label);
        match line
            .trim_start()
            .strip_prefix("opts=\"")
            .and_then(|l| l.strip_suffix('"'))
        {
            Some(opts) if words.is_some_and(|w| !w.is_empty()) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                let kept: Vec<&str> = opts
                    .split(' ')
                    .filter(|o| !words.is_some_and(|w| w.contains(*o)))
                    .collect();
                let _ = writeln!(out, "{indent}opts=\"{}\"", kept.join(" "));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Every flag of the tree that takes a value (its next word is not a positional).
fn value_flags(cmd: &Command, out: &mut BTreeSet<String>) {
    for a in cmd.get_arguments().filter(|a| !a.is_positional()) {
        if a.get_action().takes_values() {
            out.extend(
                a.get_long_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(|l| format!("--{l}")),
            );
            out.extend(
                a.get_short_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(|s| format!("-{s}")),
            );
        }
    }
    for sub in cmd.get_subcommands() {
        value_flags(sub, out);
    }
}

/// The generated `_gantry`, wrapped: where a command takes an existing container's id and
/// none is on the line yet, the ids are the completions (flags only after a `-`).
fn with_ids(script: &str, cmd: &Command, top: &str) -> String {
    for path in ID_COMMANDS {
        let mut c = cmd;
        for name in path.split(' ') {
            c = c
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("ID_COMMANDS: no command `{path}`"));
        }
    }
    let mut flags = BTreeSet::new();
    value_flags(cmd, &mut flags);
    let flags: Vec<String> = flags.into_iter().collect();
    let parents: BTreeSet<&str> = ID_COMMANDS
        .iter()
        .filter_map(|p| p.split_once(' ').map(|(parent, _)| parent))
        .collect();
    let parents: Vec<&str> = parents.into_iter().collect();
    let commands: Vec<String> = ID_COMMANDS.iter().map(|p| format!("\"{p}\"")).collect();
    let wrapper = format!(
        r#"
# Container ids (as runc's Debian completion offers `runc list -q`): `gantry list -q` from the
# gantry being completed, with the --root given on the line.
_{top}_container_ids() {{
    local i root=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            --root | -root)
                if [[ ${{COMP_WORDS[i + 1]}} == = ]]; then
                    root=(--root "${{COMP_WORDS[i + 2]}}")
                else
                    root=(--root "${{COMP_WORDS[i + 1]}}")
                fi
                ;;
            --root=* | -root=*) root=(--root "${{COMP_WORDS[i]#*=}}") ;;
        esac
    done
    "${{COMP_WORDS[0]}}" "${{root[@]}}" list -q 2>/dev/null
}}

_{top}_with_ids() {{
    _{top} "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD - 1]}}"
    local value_flags=" {flags} "
    # A flag's value is being completed: clap's words stay (runc's single-dash -root too).
    [[ $cur == -* || $prev == = || $value_flags == *" $prev "* || $value_flags == *" -$prev "* ]] && return 0
    local i w path="" args=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        if [[ $w == -* ]]; then
            # A flag's value is the next word (or the one after a `=` bash split off).
            if [[ $value_flags == *" $w "* || $value_flags == *" -$w "* ]]; then
                ((i++))
                [[ ${{COMP_WORDS[i]}} == = ]] && ((i++))
            elif [[ ${{COMP_WORDS[i + 1]}} == = ]]; then
                ((i += 2))
            fi
            continue
        fi
        case "$path" in
            "" | {parents}) path="${{path:+$path }}$w" ;;
            *) ((args++)) ;;
        esac
    done
    case "$path" in
        {commands})
            ((args == 0)) && COMPREPLY=($(compgen -W "$(_{top}_container_ids)" -- "$cur"))
            ;;
    esac
    return 0
}}
"#,
        flags = flags.join(" "),
        parents = parents.join(" | "),
        commands = commands.join(" | "),
    );
    // The wrapper is what `complete` calls; it is defined before those lines run.
    let complete = format!("complete -F _{top} ");
    let at = script
        .find("\nif [[ \"${BASH_VERSINFO[0]}\" -eq 4")
        .expect("clap_complete's `complete` lines");
    let (body, tail) = script.split_at(at);
    format!(
        "{body}\n{}{}",
        wrapper.trim_start_matches('\n'),
        tail.replace(&complete, &format!("complete -F _{top}_with_ids "))
    )
}
