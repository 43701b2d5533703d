//! Output formats: TAP, a side-by-side table (markdown), and JSON.

use std::fmt::Write;

use serde_json::json;

use crate::check::Check;
use crate::runner::{CheckResult, RuntimeRun, Status};

/// TAP 13: one stream, the runtimes one after another, each introduced by a comment.
/// A known gap is `not ok ... # TODO`, which TAP consumers count as an expected failure.
pub fn tap(checks: &[&Check], runs: &[RuntimeRun]) -> String {
    let mut s = tap_header(checks.len() * runs.len());
    let mut n = 0;
    for run in runs {
        s.push_str(&tap_runtime(&run.runtime));
        for (c, r) in checks.iter().zip(&run.results) {
            n += 1;
            s.push_str(&tap_line(n, c, r));
        }
        s.push_str(&tap_summary(run));
    }
    s
}

/// The pieces of [`tap`], for a stream printed as checks finish.
pub fn tap_header(total: usize) -> String {
    format!("TAP version 13\n1..{total}\n")
}

pub fn tap_runtime(runtime: &std::path::Path) -> String {
    format!("# runtime: {}\n", runtime.display())
}

/// Test point `n` (1-based across all runtimes).
pub fn tap_line(n: usize, c: &Check, r: &CheckResult) -> String {
    let line = match (&r.status, &r.known_gap) {
        (Status::Pass, _) => format!("ok {n} - {}", c.name),
        (Status::Skip(why), _) => format!("ok {n} - {} # SKIP {}", c.name, one_line(why)),
        (Status::Fail(why), Some(gap)) => format!(
            "not ok {n} - {} # TODO known gap: {gap}: {}",
            c.name,
            one_line(why)
        ),
        (Status::Fail(why), None) => format!("not ok {n} - {} # {}", c.name, one_line(why)),
    };
    line + "\n"
}

pub fn tap_summary(run: &RuntimeRun) -> String {
    format!("# {}: {}\n", run.name, summary(run))
}

pub fn summary(run: &RuntimeRun) -> String {
    let pass = run.count(|r| r.status == Status::Pass);
    let skip = run.count(|r| matches!(r.status, Status::Skip(_)));
    let gaps = run.count(|r| r.known_gap.is_some());
    let fail = run.count(CheckResult::is_new_failure);
    format!(
        "{pass} passed, {fail} failed, {gaps} known gaps, {skip} skipped of {}",
        run.results.len()
    )
}

fn cell(r: &CheckResult) -> &'static str {
    match (&r.status, &r.known_gap) {
        (Status::Pass, _) => "pass",
        (Status::Skip(_), _) => "skip",
        (Status::Fail(_), Some(_)) => "FAIL (gap)",
        (Status::Fail(_), None) => "FAIL",
    }
}

/// A markdown table, one column per runtime, then the reasons for every failure and skip.
pub fn table(checks: &[&Check], runs: &[RuntimeRun]) -> String {
    let mut s = String::from("| requirement | level | spec |");
    for run in runs {
        let _ = write!(s, " {} |", run.name);
    }
    s.push_str("\n|---|---|---|");
    s.push_str(&"---|".repeat(runs.len()));
    s.push('\n');
    for (i, c) in checks.iter().enumerate() {
        let _ = write!(s, "| `{}` | {} | {} |", c.name, c.level.as_str(), c.spec);
        for run in runs {
            let _ = write!(s, " {} |", cell(&run.results[i]));
        }
        s.push('\n');
    }
    s.push_str("| **passed** | | |");
    for run in runs {
        let _ = write!(
            s,
            " **{}/{}** |",
            run.count(|r| r.status == Status::Pass),
            run.results.len()
        );
    }
    s.push_str("\n\n");
    for run in runs {
        let _ = writeln!(
            s,
            "{} ({}): {}\n",
            run.name,
            run.runtime.display(),
            summary(run)
        );
        for (c, r) in checks.iter().zip(&run.results) {
            match &r.status {
                Status::Fail(why) => {
                    let gap = r
                        .known_gap
                        .as_deref()
                        .map(|g| format!(" (known gap: {g})"))
                        .unwrap_or_default();
                    let _ = writeln!(s, "- FAIL `{}`{gap}: {}", c.name, one_line(why));
                }
                Status::Skip(why) => {
                    let _ = writeln!(s, "- skip `{}`: {}", c.name, one_line(why));
                }
                Status::Pass => {}
            }
        }
        s.push('\n');
    }
    s
}

pub fn json(checks: &[&Check], runs: &[RuntimeRun]) -> String {
    let v: Vec<_> = runs
        .iter()
        .map(|run| {
            let results: Vec<_> = checks
                .iter()
                .zip(&run.results)
                .map(|(c, r)| {
                    let (status, reason) = match &r.status {
                        Status::Pass => ("pass", None),
                        Status::Fail(w) => ("fail", Some(w)),
                        Status::Skip(w) => ("skip", Some(w)),
                    };
                    json!({
                        "name": c.name, "spec": c.spec, "level": c.level.as_str(),
                        "status": status, "reason": reason, "knownGap": r.known_gap,
                        "ms": r.elapsed.as_millis() as u64,
                    })
                })
                .collect();
            json!({"runtime": run.runtime, "name": run.name, "results": results})
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// Markdown cells and TAP lines are one line each.
fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::check::{Check, Level};

    fn run(name: &str, statuses: Vec<(Status, Option<&str>)>) -> RuntimeRun {
        RuntimeRun {
            runtime: PathBuf::from(format!("/bin/{name}")),
            name: name.to_string(),
            results: statuses
                .into_iter()
                .map(|(status, gap)| CheckResult {
                    status,
                    known_gap: gap.map(str::to_string),
                    elapsed: Duration::ZERO,
                })
                .collect(),
        }
    }

    fn checks() -> Vec<Check> {
        ["config.a", "config.b", "config.c"]
            .into_iter()
            .map(|n| Check::new(n, "config.md#x", Level::Must, |_| Ok(())))
            .collect()
    }

    #[test]
    fn tap_lines() {
        let cs = checks();
        let refs: Vec<&Check> = cs.iter().collect();
        let r = run(
            "rt",
            vec![
                (Status::Pass, None),
                (Status::Fail("bad\nthing".into()), None),
                (Status::Fail("known".into()), Some("why")),
            ],
        );
        let out = tap(&refs, &[r]);
        assert!(out.contains("1..3\n"), "{out}");
        assert!(out.contains("ok 1 - config.a\n"), "{out}");
        assert!(out.contains("not ok 2 - config.b # bad thing\n"), "{out}");
        assert!(
            out.contains("not ok 3 - config.c # TODO known gap: why: known\n"),
            "{out}"
        );
    }

    #[test]
    fn table_side_by_side() {
        let cs = checks();
        let refs: Vec<&Check> = cs.iter().collect();
        let a = run("a", vec![(Status::Pass, None); 3]);
        let b = run(
            "b",
            vec![
                (Status::Pass, None),
                (Status::Skip("no".into()), None),
                (Status::Fail("x".into()), None),
            ],
        );
        let out = table(&refs, &[a, b]);
        assert!(
            out.starts_with("| requirement | level | spec | a | b |\n"),
            "{out}"
        );
        assert!(
            out.contains("| `config.c` | MUST | config.md#x | pass | FAIL |"),
            "{out}"
        );
        assert!(out.contains("**3/3** | **1/3** |"), "{out}");
    }

    #[test]
    fn json_per_runtime_and_check() {
        let cs = checks();
        let refs: Vec<&Check> = cs.iter().collect();
        let r = run(
            "rt",
            vec![
                (Status::Pass, None),
                (Status::Skip("no knob".into()), None),
                (Status::Fail("bad".into()), Some("listed")),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&json(&refs, &[r])).unwrap();
        let rt = &v.as_array().unwrap()[0];
        assert_eq!(rt["name"], "rt");
        assert_eq!(rt["runtime"], "/bin/rt");
        let res = rt["results"].as_array().unwrap();
        assert_eq!(res.len(), 3);
        assert_eq!(res[0]["name"], "config.a");
        assert_eq!(res[0]["status"], "pass");
        assert_eq!(res[0]["reason"], serde_json::Value::Null);
        assert_eq!(res[0]["level"], "MUST");
        assert_eq!(res[0]["spec"], "config.md#x");
        assert_eq!(res[1]["status"], "skip");
        assert_eq!(res[1]["reason"], "no knob");
        assert_eq!(res[2]["status"], "fail");
        assert_eq!(res[2]["knownGap"], "listed");
    }
}
