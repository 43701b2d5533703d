//! Where a process's device rules go: its v1 devices cgroup and its cgroup v2 directory,
//! found from the real /proc/PID/cgroup and this process's mountinfo.

use std::path::{Path, PathBuf};

/// A /proc file that could not be read.
#[derive(Debug)]
pub struct ReadError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Where a process's device rules go: its v1 devices cgroup and its cgroup v2 directory, as
/// paths in this process's mount namespace. `None` where the process is in a hierarchy's
/// root (not a container's own cgroup; the root allows every device) or the hierarchy is not
/// mounted. A hybrid host has both; a pure v2 host only `v2`; a v1 host only `v1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub v1: Option<PathBuf>,
    pub v2: Option<PathBuf>,
    /// Whether /proc/PID/cgroup names either hierarchy at all (root or not).
    pub found: bool,
}

/// One hierarchy's directory: the /proc/PID/cgroup line `pick` chooses (None also for its
/// root, "/"), joined to the first mount in `mountinfo` of the filesystem type `fstype` that
/// `mount_ok` accepts and whose root contains the path (a mount of a subtree that does not
/// hold the process's cgroup is not a way to it). Returns (found the line, directory).
fn dir_in(
    cgroup: &str,
    mountinfo: &str,
    pick: impl Fn(&str, &str) -> bool,
    fstype: &str,
    mount_ok: impl Fn(&str) -> bool,
) -> (bool, Option<PathBuf>) {
    let Some(rel) = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        pick(id, ctrls).then_some(path)
    }) else {
        return (false, None);
    };
    if rel == "/" {
        return (true, None);
    }
    let rel = Path::new(rel);
    for line in mountinfo.lines() {
        // "36 25 0:31 / /sys/fs/cgroup/devices rw,... - cgroup cgroup rw,devices"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        if r.next() != Some(fstype) || !mount_ok(r.nth(1).unwrap_or("")) {
            continue;
        }
        let f: Vec<&str> = left.split_whitespace().collect();
        let (Some(root), Some(mnt)) = (f.get(3), f.get(4)) else {
            continue;
        };
        let Ok(inner) = rel.strip_prefix(root) else {
            continue;
        };
        return (true, Some(Path::new(mnt).join(inner)));
    }
    (true, None)
}

/// The targets of a process from its /proc/PID/cgroup and the mountinfo of the mount
/// namespace the directories are opened in (pure, for tests of every host layout).
pub fn locate(cgroup: &str, mountinfo: &str) -> Targets {
    let (f1, v1) = dir_in(
        cgroup,
        mountinfo,
        |_, ctrls| ctrls.split(',').any(|c| c == "devices"),
        "cgroup",
        |opts| opts.split(',').any(|o| o == "devices"),
    );
    let (f2, v2) = dir_in(
        cgroup,
        mountinfo,
        |id, ctrls| id == "0" && ctrls.is_empty(),
        "cgroup2",
        |_| true,
    );
    Targets {
        v1,
        v2,
        found: f1 || f2,
    }
}

/// The targets of `pid`, from the real /proc/PID/cgroup and our mountinfo.
pub fn targets(pid: i32) -> Result<Targets, ReadError> {
    let read = |p: String| {
        std::fs::read_to_string(&p).map_err(|source| ReadError {
            path: p.into(),
            source,
        })
    };
    Ok(locate(
        &read(format!("/proc/{pid}/cgroup"))?,
        &read("/proc/self/mountinfo".into())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
37 31 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
38 31 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
";
    const PURE_V2: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn a_pure_v2_container_gets_the_v2_path_only() {
        let t = locate("0::/system.slice/gantry-abc.scope\n", PURE_V2);
        assert_eq!(
            t.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/system.slice/gantry-abc.scope"))
        );
        assert_eq!(t.v1, None);
        assert!(t.found);
    }

    #[test]
    fn a_hybrid_host_gives_both_or_the_one_the_container_has() {
        let both = "5:devices:/gantry/c1\n4:memory:/gantry/c1\n0::/gantry/c1\n";
        let t = locate(both, HYBRID);
        assert_eq!(
            t.v1.as_deref(),
            Some(Path::new("/sys/fs/cgroup/devices/gantry/c1"))
        );
        assert_eq!(
            t.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/gantry/c1"))
        );
        // Placed on the unified hierarchy only (gantry --cgroup-root /sys/fs/cgroup/unified):
        // the root devices cgroup is not the container's and takes no rules.
        let t = locate("5:devices:/\n0::/gantry-e2e-v2/c2\n", HYBRID);
        assert_eq!(t.v1, None);
        assert_eq!(
            t.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/gantry-e2e-v2/c2"))
        );
        // In the roots of both: nothing to allow, but the cgroups were found.
        let t = locate("5:devices:/\n0::/\n", HYBRID);
        assert_eq!((t.v1, t.v2, t.found), (None, None, true));
        assert!(!locate("4:memory:/x\n", HYBRID).found);
    }

    #[test]
    fn a_mount_of_another_subtree_is_no_way_to_the_cgroup() {
        // A bind mount of one container's cgroup comes first in mountinfo; the process is in
        // another: only the whole hierarchy's mount reaches it.
        let info = format!(
            "40 31 0:27 /kubepods/pod1 /run/pod1-cgroup rw - cgroup2 cgroup2 rw\n{PURE_V2}"
        );
        let t = locate("0::/kubepods/pod2/c\n", &info);
        assert_eq!(
            t.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/kubepods/pod2/c"))
        );
        let t = locate("0::/kubepods/pod1/c\n", &info);
        assert_eq!(t.v2.as_deref(), Some(Path::new("/run/pod1-cgroup/c")));
    }
}
