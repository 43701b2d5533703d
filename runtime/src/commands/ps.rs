//! `ps`: the container's processes (from its cgroup), as a pid list or the host's `ps` table
//! filtered to them, as runc does.

use anyhow::{bail, Context, Result};

use super::Globals;
use crate::cli::ListFormat;

pub fn run(g: &Globals, id: &str, format: ListFormat, ps_args: &[String]) -> Result<()> {
    let (_dir, saved, _status) = super::open(g, id)?;
    let pids = crate::cgroups::pids(&saved.cgroup, &saved.id)?;
    if format == ListFormat::Json {
        if !ps_args.is_empty() {
            bail!("ps options cannot be used with --format json");
        }
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                println!("{l}");
            }
        }
    }
    Ok(())
}
