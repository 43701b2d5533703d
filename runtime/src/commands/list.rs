use anyhow::Result;

use super::Globals;
use crate::cli::{ListArgs, ListFormat};
use crate::state;

/// One container as `list` shows it: the runtime-spec state (runc's fields).
fn row(dir: &std::path::Path) -> Option<serde_json::Value> {
    match state::load_saved(dir) {
        Ok(saved) => {
            let status = state::status_of(dir, &saved);
            serde_json::to_value(state::report(&saved, status)).ok()
        }
        // A create killed before state.json: stopped. One still running: creating.
        Err(state::StateError::Creating(_)) if crate::recovery::is_abandoned(dir) => {
            Some(crate::recovery::abandoned_report(dir))
        }
        Err(state::StateError::Creating(_)) => state::creating_report(dir),
        Err(_) => None,
    }
}

pub fn run(g: &Globals, a: &ListArgs) -> Result<()> {
    let mut rows = Vec::new();
    if let Ok(entries) = std::fs::read_dir(g.root) {
        for e in entries.flatten() {
            // Dot entries are creates not yet given their id (state.rs).
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            rows.extend(row(&e.path()));
        }
    }
    let text = |v: &serde_json::Value, k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    rows.sort_by_key(|r| text(r, "id"));
    if a.quiet {
        for r in &rows {
            println!("{}", text(r, "id"));
        }
        return Ok(());
    }
    match a.format {
        ListFormat::Json => println!("{}", serde_json::to_string(&rows)?),
        ListFormat::Table => {
            let mut lines = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for r in &rows {
                let owner = text(r, "owner");
                lines.push([
                    text(r, "id"),
                    r["pid"].as_i64().unwrap_or(0).to_string(),
                    text(r, "status"),
                    text(r, "bundle"),
                    text(r, "created"),
                    if owner.is_empty() {
                        "root".into()
                    } else {
                        owner
                    },
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
                .collect();
            for l in &lines {
                let cells: Vec<String> = (0..6)
                    .map(|i| format!("{:w$}", l[i], w = widths[i]))
                    .collect();
                println!("{}", cells.join("   ").trim_end());
            }
        }
    }
    Ok(())
}
