use anyhow::{bail, Result};

use super::Globals;
use crate::cli::DeleteArgs;
use crate::state::{self, ContainerDir, Saved, Status};

/// Tear a container down: kill what is left (only with force), remove its cgroup and state,
/// then run poststop hooks (their failures are logged, as the spec says).
pub fn destroy(dir: ContainerDir, saved: &Saved, status: Status, force: bool) -> Result<()> {
    if status != Status::Stopped {
        if !force {
            bail!(
                "cannot delete container {} in state {}: stop it first, or use --force",
                saved.id,
                status.as_str()
            );
        }
        if status == Status::Paused {
            // A frozen init cannot die: thaw first.
            let mgr = crate::cgroups::manager(&saved.cgroup, &saved.id)?;
            use libcgroups::common::CgroupManager;
            let _ = mgr.freeze(libcgroups::common::FreezerState::Thawed);
        }
        state::kill_init(saved.pid, saved.pid_start);
    }
    // A container without a mount namespace: its mounts, on the host, go with the rootfs bind
    // (once: the marker goes first, so a second delete never unmounts the rootfs itself).
    let marker = dir.path.join(crate::rootfs::host_root::MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker)?;
        crate::rootfs::host_root::unbind(&saved.rootfs)?;
    }
    crate::cgroups::release(&saved.cgroup, &saved.id)?;
    if let (Some(rdt), Some(root)) = (
        saved
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.intel_rdt().as_ref()),
        crate::resctrl::mount_point(),
    ) {
        crate::resctrl::Group::of(&root, &saved.id, rdt).remove()?;
    }
    dir.remove()?;
    crate::logger::debug(&format!("deleted container {}", saved.id));
    if let Some(h) = saved
        .config
        .hooks()
        .as_ref()
        .and_then(|h| h.poststop().as_ref())
    {
        let st = state::oci_state(saved, Status::Stopped);
        // A failing poststop hook is logged and the rest still run (runtime-spec).
        for e in hooks::run_hooks_best_effort(hooks::HookKind::Poststop, h, &st) {
            crate::logger::warn(&e.to_string());
        }
    }
    Ok(())
}

pub fn run(g: &Globals, a: &DeleteArgs) -> Result<()> {
    let (dir, saved, status) = match super::open(g, &a.id) {
        Ok(x) => x,
        // runc: `delete --force` of a container that does not exist succeeds.
        Err(e)
            if a.force
                && matches!(
                    e.downcast_ref::<state::StateError>(),
                    Some(state::StateError::NotFound(_))
                ) =>
        {
            return Ok(())
        }
        // A create killed before it wrote state.json: release what it left (its init, its
        // cgroup) and the dir, with or without --force (the container never existed).
        Err(e)
            if matches!(
                e.downcast_ref::<state::StateError>(),
                Some(state::StateError::Abandoned(_))
            ) =>
        {
            return Ok(crate::recovery::clean(g.root, &a.id)?)
        }
        Err(e) => return Err(e),
    };
    destroy(dir, &saved, status, a.force)
}
