//! Whether a container is frozen, read from the freezer of its init's real cgroup.

use std::path::{Path, PathBuf};

use super::placement::Placement;
use super::view::{hierarchy_dir, mounts as cgroup_mounts};

/// The directory of `pid`'s own cgroup in one hierarchy (`ctrl` a v1 controller, or "" for
/// cgroup2), from /proc/PID/cgroup: where it really is, whatever driver put it there.
fn pid_cgroup_dir(pid: i32, ctrl: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mounts = cgroup_mounts();
    text.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = if ctrl.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == ctrl)
        };
        hit.then(|| hierarchy_dir(&mounts, ctrls, path)).flatten()
    })
}

/// Whether the container's freezer says it is frozen: v1 freezer.state, or cgroup.freeze on a
/// cgroup2 root, in the hierarchy its driver freezes (pause.rs: libcgroups' v1 manager, also
/// for the systemd driver on v1, or the v2 one). The cgroup is the init's real one, so any
/// driver's naming (systemd's slice:prefix:name) is followed.
pub fn is_frozen(c: &Placement, pid: i32) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    if c.skipped {
        return false;
    }
    let root = c.root.as_deref().unwrap_or(Path::new("/sys/fs/cgroup"));
    let v2 = statfs(root).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    let (ctrl, placed, file, frozen) = if v2 {
        ("", root.join(c.fs_rel()), "cgroup.freeze", "1")
    } else {
        (
            "freezer",
            root.join("freezer").join(c.fs_rel()),
            "freezer.state",
            "FROZEN",
        )
    };
    let dir = pid_cgroup_dir(pid, ctrl)
        .filter(|d| d.starts_with(root))
        .unwrap_or(placed);
    matches!(std::fs::read_to_string(dir.join(file)), Ok(s) if s.trim() == frozen)
}
