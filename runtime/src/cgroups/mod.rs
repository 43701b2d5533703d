//! Cgroup placement through libcgroups: the path (runc's rules), joining the init before the
//! user program runs, applying `linux.resources`, and removal at delete. Its parts:
//! placement (where the cgroup is), selfjoin (the init and exec's process join it
//! themselves), v1_extra, v2_devices, hugetlb and rdma (what libcgroups does not apply),
//! systemd (unit naming), view (the hierarchies mounted here), freezer (paused or not).

mod error;
mod freezer;
pub mod hugetlb;
mod placement;
mod rdma;
pub mod selfjoin;
pub mod systemd;
pub mod v1_extra;
pub mod v2_devices;
pub mod view;

use std::path::{Path, PathBuf};

use libcgroups::common::{
    create_cgroup_manager_with_root, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Spec};

pub use error::CgroupError;
pub use freezer::is_frozen;
pub use placement::{path_for, systemd_fs_path, Placement};
pub use rdma::rdma_available;

pub fn manager(p: &Placement, id: &str) -> Result<AnyCgroupManager, CgroupError> {
    if p.skipped {
        return Err(CgroupError::Skipped);
    }
    if p.systemd {
        crate::cgroups::systemd::unit(&p.path).map_err(|msg| CgroupError::Manager {
            path: p.path.clone(),
            msg,
        })?;
    }
    let root = p.root.as_deref().unwrap_or(Path::new("/sys/fs/cgroup"));
    // libcgroups drives systemd only on a unified host; on v1 a systemd path is mapped to
    // the directory systemd itself would use.
    let unified = nix::sys::statfs::statfs(root)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let (path, systemd) = if p.systemd && !unified {
        (systemd_fs_path(&p.path), false)
    } else {
        (p.path.clone(), p.systemd)
    };
    create_cgroup_manager_with_root(
        p.root.as_deref(),
        CgroupConfig {
            cgroup_path: path,
            systemd_cgroup: systemd,
            container_name: id.to_string(),
        },
    )
    .map_err(|e| CgroupError::Manager {
        path: p.path.clone(),
        msg: e.to_string(),
    })
}

/// How often a cgroup whose parent vanished under it is made again.
const VANISHED_RETRIES: usize = 8;

/// `f` made again, up to VANISHED_RETRIES more times, while its error is one `again` accepts.
fn retried<T, E>(mut f: impl FnMut() -> Result<T, E>, again: impl Fn(&E) -> bool) -> Result<T, E> {
    for _ in 0..VANISHED_RETRIES {
        match f() {
            Err(e) if again(&e) => {}
            r => return r,
        }
    }
    f()
}

/// `add_task`, made again when it fails: a shared parent (such as `/gantry`) that another
/// container's delete found empty and removed between our mkdir of the parent and of the leaf
/// fails it with ENOENT, from whichever controller's code met it (each wraps the error in a
/// type of its own). add_task is idempotent (mkdir -p, then the pid written), and once the
/// leaf exists in every hierarchy with the pid in it no parent can be removed, so a retry
/// succeeds; an error that stays is returned after the last try.
fn add_task(mgr: &AnyCgroupManager, pid: i32) -> Result<(), libcgroups::common::AnyManagerError> {
    retried(|| mgr.add_task(Pid::from_raw(pid)), |_| true)
}

/// `create_dir_all`, made again while a shared parent vanishes under it (see `add_task`).
pub(crate) fn create_dir_all_racing(d: &Path) -> std::io::Result<()> {
    retried(
        || std::fs::create_dir_all(d),
        |e| e.kind() == std::io::ErrorKind::NotFound,
    )
}

/// Put `pid` into the container's cgroup (unless it joined by itself: `self_joined`, see
/// cgroups/selfjoin.rs) and apply the resources of the spec.
pub fn join_and_apply(
    mgr: &AnyCgroupManager,
    placement: &Placement,
    pid: i32,
    spec: &Spec,
    self_joined: bool,
) -> Result<(), CgroupError> {
    let path = &placement.path;
    if !self_joined {
        add_task(mgr, pid).map_err(|e| CgroupError::Join {
            path: path.to_path_buf(),
            pid,
            msg: e.to_string(),
        })?;
        join_extra(placement, pid)?;
    }
    let empty = LinuxResources::default();
    let linux = spec.linux().as_ref();
    let resources = linux.and_then(|l| l.resources().as_ref()).unwrap_or(&empty);
    // On v1, hugepage limits libcgroups cannot apply (no v1 hugetlb here) go to cgroup2.
    let (rest, unified_hugetlb) = match mgr {
        AnyCgroupManager::V1(_) => crate::cgroups::hugetlb::split(resources),
        _ => (resources.clone(), None),
    };
    let rest = without_kernel_memory(rest);
    let opt = ControllerOpt {
        resources: &rest,
        disable_oom_killer: resources
            .memory()
            .as_ref()
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false),
        oom_score_adj: spec.process().as_ref().and_then(|p| p.oom_score_adj()),
        freezer_state: None,
    };
    mgr.apply(&opt).map_err(|e| CgroupError::Apply {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    rdma::apply_rdma(placement, resources)?;
    if let Some(limits) = unified_hugetlb {
        apply_unified_hugetlb(placement, &limits)?;
    }
    if let AnyCgroupManager::V2(_) = mgr {
        let root = placement
            .root
            .as_deref()
            .unwrap_or(Path::new("/sys/fs/cgroup"));
        let dir = root.join(path.strip_prefix("/").unwrap_or(path));
        let devices = resources.devices().as_deref().unwrap_or_default();
        crate::cgroups::v2_devices::apply(&dir, devices).map_err(|msg| CgroupError::Apply {
            path: path.to_path_buf(),
            msg,
        })?;
    }
    if let AnyCgroupManager::V1(_) = mgr {
        // On v1 a systemd path is the directory systemd would use (see manager()).
        let rel = if placement.systemd {
            systemd_fs_path(path)
        } else {
            path.to_path_buf()
        };
        crate::cgroups::v1_extra::apply(resources, &rel).map_err(|msg| CgroupError::Apply {
            path: path.to_path_buf(),
            msg,
        })?;
    }
    Ok(())
}

/// The `linux.resources` fields that set limits (all but devices, which runc also leaves to
/// a rootless container's lack of a cgroup): without a cgroup they cannot be applied.
pub fn limits_requested(r: &LinuxResources) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut add = |set: bool, name| {
        if set {
            out.push(name)
        }
    };
    add(r.memory().is_some(), "memory");
    add(r.cpu().is_some(), "cpu");
    add(r.pids().is_some(), "pids");
    add(r.block_io().is_some(), "blockIO");
    add(
        r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
        "hugepageLimits",
    );
    add(r.network().is_some(), "network");
    add(r.rdma().as_ref().is_some_and(|h| !h.is_empty()), "rdma");
    add(
        r.unified().as_ref().is_some_and(|h| !h.is_empty()),
        "unified",
    );
    out
}

/// `linux.resources.memory.kernel` is dropped with a warning, as runc 1.1 does ("Kernel memory
/// settings are ignored and will be removed"): the kernel deprecated kmem limits (5.4) and
/// since 6.1 accepts and ignores them on v1; v2 has none. kernelTCP still applies on v1.
pub fn without_kernel_memory(mut r: LinuxResources) -> LinuxResources {
    if let Some(mut m) = r.memory().filter(|m| m.kernel().is_some()) {
        crate::logger::warn(
            "linux.resources.memory.kernel is ignored: kernel memory limits are deprecated and not enforced by this kernel (as runc does)",
        );
        m.set_kernel(None);
        r.set_memory(Some(m));
    }
    r
}

/// Hugepage limits on the hybrid cgroup2 mount, in the container's directory there (made and
/// joined by join_extra, which does so for cgroupfs paths only).
pub fn apply_unified_hugetlb(
    placement: &Placement,
    limits: &[oci_spec::runtime::LinuxHugepageLimit],
) -> Result<(), CgroupError> {
    let err = |msg: String| CgroupError::Apply {
        path: placement.path.clone(),
        msg,
    };
    let on_unified = extra_dirs(placement)
        .iter()
        .any(|d| d.starts_with("/sys/fs/cgroup/unified"));
    if !on_unified {
        return Err(err(
            "linux.resources.hugepageLimits: this host's hugetlb controller is on its cgroup2 mount only, where the container has no cgroup (systemd driver or another cgroup root)".into(),
        ));
    }
    crate::cgroups::hugetlb::apply_unified(&placement.path, limits).map_err(err)
}

pub fn remove(mgr: &AnyCgroupManager, placement: &Placement) -> Result<(), CgroupError> {
    let path = &placement.path;
    mgr.remove().map_err(|e| CgroupError::Remove {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    for d in extra_dirs(placement) {
        let _ = std::fs::remove_dir(d);
    }
    remove_parents(placement);
    Ok(())
}

/// A container's cgroup removed at delete: the cheap way where it is empty
/// (`remove_if_empty`), else through a libcgroups manager; nothing for a skipped one.
pub fn release(p: &Placement, id: &str) -> Result<(), CgroupError> {
    if p.skipped || remove_if_empty(p)? {
        return Ok(());
    }
    remove(&manager(p, id)?, p)
}

/// After the container's own cgroup: the parents create made, and gantry's default parent,
/// where empty.
fn remove_parents(p: &Placement) {
    remove_default_parent(&p.path);
    p.remove_created_parents();
}

/// A stopped container's cgroupfs cgroup, removed without a libcgroups manager (which reads
/// and checks /proc/self/mountinfo once per controller: most of a delete's 700 syscalls):
/// one mountinfo read, then an rmdir per hierarchy, where every directory is empty (no process,
/// no child cgroup). Ok(false) leaves everything as it was, for the manager's kill-and-remove:
/// a process or a child cgroup is left, or the placement is not a plain path on host mounts.
pub fn remove_if_empty(p: &Placement) -> Result<bool, CgroupError> {
    if p.skipped || p.systemd || p.root.is_some() {
        return Ok(false);
    }
    let rel = p.path.strip_prefix("/").unwrap_or(&p.path);
    let mounts = view::mounts();
    if mounts.is_empty() || mounts.iter().any(|m| m.root != "/") {
        return Ok(false);
    }
    // A hierarchy mounted twice (an overmounted /sys/fs/cgroup) is one directory: once.
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in mounts.iter().map(|m| m.mount_point.join(rel)) {
        if !dirs.contains(&d) && d.is_dir() {
            dirs.push(d);
        }
    }
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        // The entry's own type (getdents' d_type), not a stat of each of its ~30 files.
        let child = std::fs::read_dir(d)
            .map(|mut e| e.any(|x| x.is_ok_and(|x| x.file_type().is_ok_and(|t| t.is_dir()))))
            .unwrap_or(true);
        if !procs.trim().is_empty() || child {
            return Ok(false);
        }
    }
    for d in &dirs {
        match std::fs::remove_dir(d) {
            // Gone already (the same hierarchy at two mount points): removed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => r.map_err(|e| CgroupError::Remove {
                path: d.clone(),
                msg: e.to_string(),
            })?,
        }
    }
    remove_parents(p);
    Ok(true)
}

/// On a v1 host runc also puts the container in the named systemd hierarchy and, in hybrid
/// mode, in the cgroup2 one, at the same path (libcgroups' v1 driver manages neither), so
/// systemd and v2-aware tools see it where they expect.
pub(crate) fn extra_dirs(p: &Placement) -> Vec<PathBuf> {
    if p.root.is_some() || p.systemd {
        return Vec::new();
    }
    let rel = p.path.strip_prefix("/").unwrap_or(&p.path);
    let is_mount = |d: &str, magic| {
        nix::sys::statfs::statfs(d).is_ok_and(|s| s.filesystem_type() == magic)
            && nix::sys::statfs::statfs("/sys/fs/cgroup")
                .is_ok_and(|s| s.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    let mut out = Vec::new();
    if is_mount(
        "/sys/fs/cgroup/systemd",
        nix::sys::statfs::CGROUP_SUPER_MAGIC,
    ) {
        out.push(Path::new("/sys/fs/cgroup/systemd").join(rel));
    }
    if is_mount(
        "/sys/fs/cgroup/unified",
        nix::sys::statfs::CGROUP2_SUPER_MAGIC,
    ) {
        out.push(Path::new("/sys/fs/cgroup/unified").join(rel));
    }
    out
}

fn join_extra(p: &Placement, pid: i32) -> Result<(), CgroupError> {
    for d in extra_dirs(p) {
        let err = |e: std::io::Error| CgroupError::Join {
            path: d.clone(),
            pid,
            msg: e.to_string(),
        };
        create_dir_all_racing(&d).map_err(err)?;
        std::fs::write(d.join("cgroup.procs"), pid.to_string()).map_err(err)?;
    }
    Ok(())
}

/// The default path's parent (`/gantry`) is Gantry's own: remove it from every hierarchy once
/// it is empty, so no empty directory is left behind. Other parents belong to whoever made
/// them (a pod, a slice) and are left alone.
fn remove_default_parent(path: &Path) {
    if path.parent() != Some(Path::new("/gantry")) {
        return;
    }
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("gantry")).collect();
    dirs.push(PathBuf::from("/sys/fs/cgroup/gantry"));
    for d in dirs {
        // rmdir fails (EBUSY/ENOTEMPTY) while another container lives below: that is fine.
        let _ = std::fs::remove_dir(d);
    }
}

/// `exec --cgroup` arguments: sub-cgroups (relative to the container's cgroup) to run in, one
/// for every hierarchy (`PATH`, the only form on cgroup v2) or per controller
/// (`cpu,memory:PATH`, repeatable), parsed and checked as runc's getSubCgroupPaths.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SubCgroups {
    /// The sub-cgroup for every hierarchy.
    all: Option<PathBuf>,
    /// Per controller (v1 names, or `name=systemd`).
    by_controller: Vec<(String, PathBuf)>,
}

impl SubCgroups {
    pub fn parse(args: &[String]) -> Result<SubCgroups, CgroupError> {
        let bad = |m: String| CgroupError::SubCgroup(format!("invalid --cgroup argument: {m}"));
        let mut s = SubCgroups::default();
        for a in args {
            match a.split_once(':') {
                Some((ctrls, path)) => {
                    let path = Self::relative(a, path)?;
                    for c in ctrls.split(',') {
                        if c.is_empty() {
                            return Err(bad(format!("{a} (empty <controller> prefix)")));
                        }
                        if s.by_controller.iter().any(|(k, _)| k == c) {
                            return Err(bad(format!("controller {c} specified multiple times")));
                        }
                        s.by_controller.push((c.to_string(), path.clone()));
                    }
                }
                None if args.len() != 1 => {
                    return Err(bad(format!("{a} (missing <controller>: prefix)")))
                }
                None => s.all = Some(Self::relative(a, a)?),
            }
        }
        Ok(s)
    }

    /// A sub-cgroup stays below the container's cgroup: no `..` (runc refuses a path that
    /// leaves it); a leading `/` is relative to the container's cgroup, as in runc.
    fn relative(arg: &str, path: &str) -> Result<PathBuf, CgroupError> {
        let p = Path::new(path.trim_start_matches('/'));
        if p.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        }) {
            return Err(CgroupError::SubCgroup(format!(
                "invalid --cgroup argument: {arg}: bad sub cgroup path (it must stay inside the container's cgroup)"
            )));
        }
        Ok(p.to_path_buf())
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.by_controller.is_empty()
    }

    /// The sub-cgroup for the hierarchy holding `ctrls` ("cpu,cpuacct", "" for cgroup2).
    fn for_hierarchy(&self, ctrls: &str) -> Option<&Path> {
        self.all.as_deref().or_else(|| {
            self.by_controller
                .iter()
                .find(|(c, _)| ctrls.split(',').any(|h| h == c))
                .map(|(_, p)| p.as_path())
        })
    }
}

/// Put `pid` in every cgroup hierarchy `init` is in, at the same place or in the sub-cgroup
/// asked for there (for exec: the process must be where the init is, in the named and cgroup2
/// hierarchies too). A sub-cgroup must exist (runc does not create it either); a controller
/// the container has no hierarchy for is an error.
pub fn join_init_hierarchies(init: i32, pid: i32, subs: &SubCgroups) -> Result<(), CgroupError> {
    let file = format!("/proc/{init}/cgroup");
    let text = std::fs::read_to_string(&file).map_err(|e| CgroupError::Join {
        path: PathBuf::from(&file),
        pid,
        msg: e.to_string(),
    })?;
    let mounts = view::mounts();
    let mut joins = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(dir) = view::hierarchy_dir(&mounts, ctrls, path) else {
            continue; // a hierarchy not mounted here: nothing to join
        };
        joins.push((ctrls, dir));
    }
    for (c, _) in &subs.by_controller {
        if !joins.iter().any(|(h, _)| h.split(',').any(|h| h == c)) {
            return Err(CgroupError::SubCgroup(format!(
                "unknown controller {c} in --cgroup: the container has no cgroup of it"
            )));
        }
    }
    for (ctrls, dir) in joins {
        let Some(sub) = subs.for_hierarchy(ctrls) else {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                CgroupError::Join {
                    path: dir.clone(),
                    pid,
                    msg: e.to_string(),
                }
            })?;
            continue;
        };
        // Opened without following symlinks below the container's cgroup: cgroupfs has none,
        // but the container may own its cgroup directory and must not steer us elsewhere.
        let target = dir.join(sub);
        let procs = std::fs::File::open(&dir)
            .and_then(|base| {
                crate::sys::open_beneath(
                    &base,
                    &sub.join("cgroup.procs"),
                    nix::fcntl::OFlag::O_WRONLY,
                )
                .map(std::fs::File::from)
                .map_err(std::io::Error::from)
            })
            .map_err(|e| {
                CgroupError::SubCgroup(if e.kind() == std::io::ErrorKind::NotFound {
                    format!("sub-cgroup {} does not exist", target.display())
                } else {
                    format!("sub-cgroup {}: {e}", target.display())
                })
            })?;
        std::io::Write::write_all(&mut &procs, pid.to_string().as_bytes()).map_err(|e| {
            CgroupError::Join {
                path: target,
                pid,
                msg: e.to_string(),
            }
        })?;
    }
    Ok(())
}

/// The pids in a container's cgroup (for `kill --all`).
pub fn pids(p: &Placement, id: &str) -> Result<Vec<i32>, CgroupError> {
    let mgr = manager(p, id)?;
    mgr.get_all_pids()
        .map(|v| v.into_iter().map(|p| p.as_raw()).collect())
        .map_err(|e| CgroupError::Manager {
            path: p.path.clone(),
            msg: e.to_string(),
        })
}
