//! `pause` and `resume`: freeze and thaw every process of the container (cgroup freezer).

use anyhow::{bail, Result};
use libcgroups::common::{CgroupManager, FreezerState};

use super::Globals;
use crate::state::Status;

pub fn run(g: &Globals, id: &str, freeze: bool) -> Result<()> {
    let (_dir, saved, status) = super::open(g, id)?;
    match (freeze, status) {
        (true, Status::Running) | (true, Status::Created) | (false, Status::Paused) => {}
        (true, s) => bail!("cannot pause container {id} in state {}", s.as_str()),
        (false, s) => bail!(
            "cannot resume container {id} in state {}: it is not paused",
            s.as_str()
        ),
    }
    let mgr = crate::cgroups::manager(&saved.cgroup, &saved.id)?;
    let state = if freeze {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    };
    mgr.freeze(state).map_err(|e| {
        anyhow::anyhow!(
            "container {id}: {} failed: {e}",
            if freeze { "pause" } else { "resume" }
        )
    })
}
