//! Where a cgroup controller's files are on this host, so that checks read a container's values
//! back on cgroup v1, pure cgroup v2 and hybrid hosts alike: a v1 hierarchy of its own
//! (/sys/fs/cgroup/memory), or a cgroup2 mount (/sys/fs/cgroup on a v2 host, the hybrid
//! /sys/fs/cgroup/unified) whose root offers it.

use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A mounted hierarchy holding one controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub version: Version,
    pub mount: PathBuf,
}

impl Hierarchy {
    /// The directory of cgroup `path` (as in /proc/PID/cgroup or a cgroupsPath) in it.
    pub fn dir(&self, path: &str) -> PathBuf {
        self.mount.join(path.trim_start_matches('/'))
    }
}

/// One cgroup mount of /proc/self/mountinfo: mount point, fs type, super options.
struct CgroupMount {
    point: PathBuf,
    v2: bool,
    options: Vec<String>,
}

fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = pre.split(' ').nth(4)?;
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let _source = post.next();
            let options = post.next().unwrap_or("").split(',').map(String::from);
            (fstype == "cgroup" || fstype == "cgroup2").then(|| CgroupMount {
                point: PathBuf::from(point),
                v2: fstype == "cgroup2",
                options: options.collect(),
            })
        })
        .collect()
}

/// Controllers that cgroup v2 builds in (cgroup.freeze, BPF device programs), never listed in
/// cgroup.controllers.
const V2_BUILTIN: &[&str] = &["freezer", "devices"];

/// The name cgroup v2 gives v1's `ctrl` (blkio became io; cpuacct's counters are in cpu).
fn v2_name(ctrl: &str) -> &str {
    match ctrl {
        "blkio" => "io",
        "cpuacct" => "cpu",
        c => c,
    }
}

/// The hierarchy that holds `ctrl` (a v1 name) here, given mountinfo and a reader of
/// cgroup.controllers.
fn find(
    mountinfo: &str,
    controllers: impl Fn(&Path) -> Option<String>,
    ctrl: &str,
) -> Option<Hierarchy> {
    let mounts = cgroup_mounts(mountinfo);
    if let Some(m) = mounts
        .iter()
        .find(|m| !m.v2 && m.options.iter().any(|o| o == ctrl))
    {
        return Some(Hierarchy {
            version: Version::V1,
            mount: m.point.clone(),
        });
    }
    mounts
        .iter()
        .filter(|m| m.v2)
        .find(|m| {
            let listed = controllers(&m.point)
                .is_some_and(|c| c.split_whitespace().any(|c| c == v2_name(ctrl)));
            // Built-ins belong to the v2 mount only where it is the one hierarchy (pure v2).
            listed || (V2_BUILTIN.contains(&ctrl) && mounts.iter().all(|o| o.v2))
        })
        .map(|m| Hierarchy {
            version: Version::V2,
            mount: m.point.clone(),
        })
}

/// The hierarchy that holds `ctrl` on this host, if any.
pub fn hierarchy(ctrl: &str) -> Option<Hierarchy> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    find(
        &mi,
        |p| std::fs::read_to_string(p.join("cgroup.controllers")).ok(),
        ctrl,
    )
}

/// `pid`'s cgroup path in hierarchy `h` (the v1 line naming `ctrl`, or v2's `0::` line).
pub fn pid_path(pid: i64, h: &Hierarchy, ctrl: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    path_in(&s, h.version, ctrl)
}

fn path_in(proc_cgroup: &str, version: Version, ctrl: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (id, c, p) = (it.next()?, it.next()?, it.next()?);
        let hit = match version {
            Version::V1 => c.split(',').any(|x| x == ctrl),
            Version::V2 => id == "0" && c.is_empty(),
        };
        hit.then(|| p.to_string())
    })
}

/// The mount point of every cgroup hierarchy (v1 and cgroup2) of this host.
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|mi| cgroup_mounts(&mi).into_iter().map(|m| m.point).collect())
        .unwrap_or_default()
}

/// Best effort: remove the (empty) cgroup `path` from every mounted hierarchy.
pub fn remove_everywhere(path: &str) {
    let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for m in cgroup_mounts(&mi) {
        let _ = std::fs::remove_dir(m.point.join(path.trim_start_matches('/')));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:16 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/freezer rw,nosuid shared:17 - cgroup cgroup rw,freezer
";
    const PURE_V2: &str =
        "30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";

    fn ctrls(list: &'static str) -> impl Fn(&Path) -> Option<String> {
        move |_| Some(list.to_string())
    }

    #[test]
    fn v1_controllers_win_on_hybrid_hosts() {
        let h = find(HYBRID, ctrls("hugetlb"), "cpuacct").unwrap();
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.mount, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        let f = find(HYBRID, ctrls("hugetlb"), "freezer").unwrap();
        assert_eq!(f.version, Version::V1);
    }

    #[test]
    fn a_controller_only_on_the_unified_mount_is_v2() {
        let h = find(HYBRID, ctrls("hugetlb"), "hugetlb").unwrap();
        assert_eq!(h.version, Version::V2);
        assert_eq!(h.dir("/a/b"), Path::new("/sys/fs/cgroup/unified/a/b"));
        assert_eq!(find(HYBRID, ctrls(""), "hugetlb"), None);
        assert_eq!(find(HYBRID, ctrls("hugetlb"), "pids"), None);
    }

    #[test]
    fn pure_v2_has_builtins_and_listed_controllers() {
        for c in ["memory", "pids", "freezer", "devices"] {
            let h = find(PURE_V2, ctrls("cpuset cpu io memory pids"), c).unwrap();
            assert_eq!(h.version, Version::V2, "{c}");
            assert_eq!(h.mount, Path::new("/sys/fs/cgroup"));
        }
        assert_eq!(find(PURE_V2, ctrls("memory"), "hugetlb"), None);
        assert!(find(PURE_V2, ctrls("cpu io"), "blkio").is_some());
        assert!(find(PURE_V2, ctrls("cpu io"), "cpuacct").is_some());
        assert_eq!(find(PURE_V2, ctrls("cpu io"), "net_cls"), None);
        // Built-ins are not claimed for a hybrid host's unified mount.
        assert_eq!(find(HYBRID, ctrls("hugetlb"), "devices"), None);
    }

    #[test]
    fn proc_cgroup_lines_by_version() {
        let pc = "4:memory:/a\n2:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n";
        assert_eq!(path_in(pc, Version::V1, "cpuacct").as_deref(), Some("/b"));
        assert_eq!(path_in(pc, Version::V1, "memory").as_deref(), Some("/a"));
        assert_eq!(path_in(pc, Version::V2, "memory").as_deref(), Some("/d"));
        assert_eq!(path_in(pc, Version::V1, "pids"), None);
    }
}
