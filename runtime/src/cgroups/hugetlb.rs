//! `linux.resources.hugepageLimits` on a hybrid host whose hugetlb controller is on the cgroup2
//! mount (/sys/fs/cgroup/unified) rather than in a v1 hierarchy. libcgroups' v1 driver then
//! refuses the limits ("hugetlb is required ... not supported"), and runc 1.1 fails with "could
//! not join or create cgroup". Gantry already puts the container in that cgroup2 mount at its
//! path (cgroups/mod.rs, as runc does), so the limits are written there: hugetlb.<size>.max.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libcgroups::v1::ControllerType;
use oci_spec::runtime::{LinuxHugepageLimit, LinuxResources};

const FIELD: &str = "linux.resources.hugepageLimits";

/// Whether a v1 hugetlb hierarchy is mounted (then libcgroups handles the limits).
fn v1_has_hugetlb() -> bool {
    libcgroups::v1::util::get_subsystem_mount_point(&ControllerType::HugeTlb).is_ok()
}

/// The hybrid cgroup2 mount, if it has the hugetlb controller.
fn unified_root() -> Option<PathBuf> {
    let root = PathBuf::from("/sys/fs/cgroup/unified");
    std::fs::read_to_string(root.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
        .then_some(root)
}

/// For a v1 manager: the resources for libcgroups, and the hugepage limits to apply on the
/// cgroup2 mount instead (None when libcgroups can apply them itself, or there are none).
pub fn split(r: &LinuxResources) -> (LinuxResources, Option<Vec<LinuxHugepageLimit>>) {
    let limits = r.hugepage_limits().clone().filter(|l| !l.is_empty());
    match limits {
        Some(l) if !v1_has_hugetlb() => {
            let mut rest = r.clone();
            rest.set_hugepage_limits(None);
            (rest, Some(l))
        }
        _ => (r.clone(), None),
    }
}

/// The page sizes the controller offers in `dir`: from its `hugetlb.<size>.max` files.
fn page_sizes(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let size = n.strip_prefix("hugetlb.")?.strip_suffix(".max")?;
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    out.sort();
    out
}

/// Write `limits` to the container's directory `rel` (relative to the hierarchy root) of the
/// cgroup2 mount, enabling hugetlb from the root down to its parent. The container has been
/// placed in that directory already (cgroups::join_extra).
pub fn apply_unified(rel: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), String> {
    let root = unified_root().ok_or_else(|| {
        format!("{FIELD}: this host has no hugetlb cgroup controller (neither a v1 hierarchy nor on its cgroup2 mount)")
    })?;
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let dir = root.join(rel);
    let mut d = root.clone();
    for c in rel.components() {
        let ctl = d.join("cgroup.subtree_control");
        let on = std::fs::read_to_string(&ctl)
            .is_ok_and(|s| s.split_whitespace().any(|c| c == "hugetlb"));
        if !on {
            std::fs::write(&ctl, "+hugetlb")
                .map_err(|e| format!("{FIELD}: enable hugetlb in {}: {e}", ctl.display()))?;
        }
        d.push(c);
    }
    let sizes = page_sizes(&dir);
    for l in limits {
        let size = l.page_size();
        if !sizes.iter().any(|s| s == size) {
            return Err(format!(
                "{FIELD}: page size {size:?} is not one this kernel has (it has {})",
                sizes.join(", ")
            ));
        }
        // config-linux.md (1.3): the limit is on reservations where the kernel accounts them
        // (hugetlb.<size>.rsvd.max, Linux 5.7+), and on usage; libcgroups and runc write both.
        for name in [
            format!("hugetlb.{size}.max"),
            format!("hugetlb.{size}.rsvd.max"),
        ] {
            let file = dir.join(&name);
            if name.contains(".rsvd.") && !file.exists() {
                continue;
            }
            std::fs::write(&file, l.limit().to_string())
                .map_err(|e| format!("{FIELD}: write {} to {}: {e}", l.limit(), file.display()))?;
        }
    }
    Ok(())
}

/// Hugetlb usage per page size from the cgroup2 mount, for `events` when libcgroups has no v1
/// hugetlb to read: (usage, failcnt). cgroup2 records no maximum usage (runc reports 0).
pub fn unified_stats(rel: &Path) -> Option<HashMap<String, (u64, u64)>> {
    if v1_has_hugetlb() {
        return None;
    }
    let root = unified_root()?;
    let dir = root.join(rel.strip_prefix("/").unwrap_or(rel));
    if !dir.is_dir() {
        return None;
    }
    let read = |f: String| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let mut out = HashMap::new();
    for size in page_sizes(&dir) {
        let usage = read(format!("hugetlb.{size}.current"))
            .trim()
            .parse()
            .unwrap_or(0);
        // runc's failcnt on cgroup2: the "max" count of hugetlb.<size>.events.
        let failcnt = read(format!("hugetlb.{size}.events"))
            .lines()
            .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
            .unwrap_or(0);
        out.insert(size, (usage, failcnt));
    }
    Some(out)
}
