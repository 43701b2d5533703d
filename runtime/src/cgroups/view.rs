//! The host's cgroup hierarchies as this process sees them, from one mountinfo read, instead
//! of libcgroups' two procfs reads (mountinfo and /proc/self/cgroup) per controller.

use std::path::{Path, PathBuf};

use crate::mountinfo::Mount;

/// The v1 controllers libcgroups' v1 manager handles, by the names the kernel gives them
/// (libcgroups' `CONTROLLERS`, in its order).
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// The cgroup mounts (v1 and v2) of this process's mount namespace, in mountinfo's order.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub mounts: Vec<Mount>,
}

impl View {
    /// One read of /proc/self/mountinfo (an unreadable one is an empty view).
    pub fn read() -> View {
        View::from_mounts(crate::mountinfo::own().unwrap_or_default())
    }

    pub fn from_mounts(all: Vec<Mount>) -> View {
        View {
            mounts: all
                .into_iter()
                .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
                .collect(),
        }
    }

    /// Where libcgroups' v1 manager finds `ctrl`: the first v1 mount whose mount point ends
    /// with the controller's name (or a co-mounted pair's), as `get_subsystem_mount_point`.
    pub fn v1_mount_point(&self, ctrl: &str) -> Option<&Path> {
        let names: &[&str] = match ctrl {
            "net_cls" => &["net_cls,net_prio", "net_prio,net_cls", "net_cls"],
            "net_prio" => &["net_cls,net_prio", "net_prio,net_cls", "net_prio"],
            "cpu" => &["cpu,cpuacct", "cpu"],
            "cpuacct" => &["cpu,cpuacct", "cpuacct"],
            _ => std::slice::from_ref(&ctrl),
        };
        self.mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .find(|m| names.iter().any(|n| m.mount_point.ends_with(n)))
            .map(|m| m.mount_point.as_path())
    }

    /// The directories of cgroup `rel` (a path below each hierarchy's root) that libcgroups'
    /// v1 manager would use: one per controller this process is in and that is mounted here;
    /// each directory once (co-mounted controllers, a hierarchy listed twice).
    pub fn v1_dirs(&self, rel: &Path, own: &[OwnCgroup]) -> Vec<(&'static str, PathBuf)> {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let mut out: Vec<(&'static str, PathBuf)> = Vec::new();
        for ctrl in V1_CONTROLLERS {
            if !own.iter().any(|c| c.controllers.iter().any(|x| x == ctrl)) {
                continue;
            }
            if let Some(mp) = self.v1_mount_point(ctrl) {
                let d = mp.join(rel);
                if !out.iter().any(|(_, o)| *o == d) {
                    out.push((ctrl, d));
                }
            }
        }
        out
    }

    /// Whether this is a v1 (or hybrid) layout: some v1 controller hierarchy is mounted.
    pub fn has_v1(&self) -> bool {
        self.mounts
            .iter()
            .any(|m| m.fstype == "cgroup" && !m.super_opts.contains("name="))
    }
}

/// One line of /proc/PID/cgroup: the hierarchy's controllers (empty for cgroup2) and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCgroup {
    pub controllers: Vec<String>,
    pub path: String,
}

/// /proc/PID/cgroup's lines (`ID:CONTROLLERS:PATH`).
pub fn parse_proc_cgroup(text: &str) -> Vec<OwnCgroup> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            Some(OwnCgroup {
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// This process's cgroups (one read of /proc/self/cgroup; none if unreadable).
pub fn own_cgroups() -> Vec<OwnCgroup> {
    parse_proc_cgroup(&std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default())
}

/// The cgroup mounts of this process's mount namespace (one mountinfo read).
pub fn mounts() -> Vec<Mount> {
    View::read().mounts
}

/// The directory of one `/proc/PID/cgroup` line's hierarchy and path, if it is mounted here
/// (a v1 line's controllers all in the mount's options; cgroup2 for an empty list).
pub fn hierarchy_dir(mounts: &[Mount], ctrls: &str, path: &str) -> Option<PathBuf> {
    mounts
        .iter()
        .find(|m| {
            let kind = if ctrls.is_empty() {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup" && ctrls.split(',').all(|c| m.has_super_opt(c))
            };
            kind && Path::new(path).starts_with(&m.root)
        })
        .map(|m| {
            let rel = Path::new(path)
                .strip_prefix(&m.root)
                .unwrap_or(Path::new(""));
            m.mount_point.join(rel)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
132 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
";

    #[test]
    fn each_controller_dir_once_even_when_a_hierarchy_is_listed_twice() {
        let v = View::from_mounts(crate::mountinfo::parse(HYBRID));
        let own = parse_proc_cgroup("9:name=systemd:/\n4:memory:/x\n2:cpuacct:/\n1:cpu:/\n0::/\n");
        let dirs = v.v1_dirs(Path::new("/a/b"), &own);
        let names: Vec<_> = dirs.iter().map(|(c, _)| *c).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory"]);
        assert_eq!(dirs[0].1, PathBuf::from("/sys/fs/cgroup/cpu/a/b"));
        assert!(v.has_v1());
    }

    #[test]
    fn co_mounted_controllers_share_a_dir() {
        let v = View::from_mounts(crate::mountinfo::parse(
            "1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        ));
        let own = parse_proc_cgroup("1:cpu,cpuacct:/\n");
        let dirs = v.v1_dirs(Path::new("c"), &own);
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].1, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c"));
    }

    #[test]
    fn a_pure_v2_layout_has_no_v1() {
        let v = View::from_mounts(crate::mountinfo::parse(
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        ));
        assert!(!v.has_v1());
        assert!(v.v1_dirs(Path::new("c"), &[]).is_empty());
    }
}
