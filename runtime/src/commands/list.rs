use anyhow::Result;

use super::Globals;
use crate::cli::{ListArgs, ListFormat};
use crate::state;

pub fn run(g: &Globals, a: &ListArgs) -> Result<()> {
    let mut rows = Vec::new();
    if let Ok(entries) = std::fs::read_dir(g.root) {
        for e in entries.flatten() {
            let dir = e.path();
            if let Ok(saved) = state::load_saved(&dir) {
                let status = state::status_of(&dir, &saved);
                rows.push((saved, status));
            }
        }
    }
    rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    if a.quiet {
        for (s, _) in &rows {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match a.format {
        ListFormat::Json => {
            let v: Vec<_> = rows.iter().map(|(s, st)| state::report(s, *st)).collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        ListFormat::Table => {
            let mut lines = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for (s, st) in &rows {
                let r = state::report(s, *st);
                lines.push([
                    s.id.clone(),
                    r.pid.to_string(),
                    st.as_str().into(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    if s.owner.is_empty() {
                        "root".into()
                    } else {
                        s.owner.clone()
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
