use anyhow::{bail, Result};

use super::Globals;
use crate::cli::DeleteArgs;
use crate::state::{self, ContainerDir, Saved, Status};
use crate::sys;

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
        if let Ok(fd) = sys::pidfd_open(saved.pid) {
            if state::init_alive(saved) {
                let _ = sys::pidfd_send_signal(&fd, libc::SIGKILL);
                // Wait for it to die (bounded: a process stuck in D state must not hang us).
                let _ = sys::pidfd_wait_exit(&fd, 10_000);
            }
        }
    }
    if !saved.cgroup.skipped && !crate::cgroups::remove_if_empty(&saved.cgroup)? {
        let mgr = crate::cgroups::manager(&saved.cgroup, &saved.id)?;
        crate::cgroups::remove(&mgr, &saved.cgroup)?;
    }
    // A container without a mount namespace: its mounts, on the host, go with the rootfs bind
    // (once: the marker goes first, so a second delete never unmounts the rootfs itself).
    let marker = dir.path.join(crate::rootfs::host_root::MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker)?;
        crate::rootfs::host_root::unbind(&saved.rootfs)?;
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
        Err(e) => return Err(e),
    };
    destroy(dir, &saved, status, a.force)
}
