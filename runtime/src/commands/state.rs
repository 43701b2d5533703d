use anyhow::Result;

use super::Globals;
use crate::state::{self, validate_id};

pub fn run(g: &Globals, id: &str) -> Result<()> {
    validate_id(id)?;
    let dir = g.root.join(id);
    let saved = match state::load_saved(&dir) {
        // A create that was killed: nothing of it runs, so `stopped`.
        Err(state::StateError::Creating(_)) if crate::recovery::is_abandoned(&dir) => {
            let report = crate::recovery::abandoned_report(&dir);
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        Err(state::StateError::Creating(id)) => {
            // Still being created: runtime-spec status `creating`.
            let report = state::creating_report(&dir).ok_or(state::StateError::Creating(id))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        other => other?,
    };
    let status = state::status_of(&dir, &saved);
    println!(
        "{}",
        serde_json::to_string_pretty(&state::report(&saved, status))?
    );
    Ok(())
}
