use anyhow::Result;

use super::Globals;
use crate::state::{self, validate_id};

pub fn run(g: &Globals, id: &str) -> Result<()> {
    validate_id(id)?;
    let dir = g.root.join(id);
    let saved = state::load_saved(&dir)?;
    let status = state::status_of(&dir, &saved);
    println!(
        "{}",
        serde_json::to_string_pretty(&state::report(&saved, status))?
    );
    Ok(())
}
