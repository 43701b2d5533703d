//! The `mounts` of config.json, in order, onto destinations resolved inside the rootfs.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

use super::mount_opts::{self, MountOpts};
use super::{fd_path, sys, Result, Root, RootfsError};

/// What the mounts need to know about their surroundings.
pub struct MountCtx<'a> {
    pub bundle: &'a Path,
    /// The container has its own cgroup namespace (cgroup filesystems can be mounted fresh).
    pub cgroupns: bool,
    /// `linux.mountLabel`, when SELinux is enabled.
    pub mount_label: Option<&'a str>,
}

/// Mount data with the SELinux context of `linux.mountLabel` for filesystems that take one
/// (not proc and sysfs, whose labels the kernel sets), as runc's label.FormatMountLabel.
pub fn with_mount_label(data: Option<String>, typ: &str, label: Option<&str>) -> Option<String> {
    let Some(label) = label.filter(|_| !matches!(typ, "proc" | "sysfs")) else {
        return data;
    };
    let ctx = format!("context=\"{label}\"");
    Some(match data {
        Some(d) if !d.is_empty() => format!("{d},{ctx}"),
        _ => ctx,
    })
}

/// The flags of the mount at `p` that an unprivileged remount may not clear (they are locked
/// when the mount came from a more privileged namespace), so remounts must keep them.
pub fn locked_flags(p: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(p) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

fn mount_type(m: &Mount, o: &MountOpts) -> String {
    match m.typ().as_deref() {
        Some(t) if !t.is_empty() && t != "none" => t.to_string(),
        _ if o.is_bind() => "bind".to_string(),
        t => t.unwrap_or("none").to_string(),
    }
}

/// Apply one config mount.
pub fn apply(root: &Root, m: &Mount, ctx: &MountCtx) -> Result<()> {
    let o = mount_opts::parse(m.options().as_deref().unwrap_or_default())?;
    let typ = mount_type(m, &o);
    let dest = m.destination();
    let what = format!("mount {} on {}", typ, dest.display());
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(root, dest, &o, ctx);
    }
    if o.is_bind() || typ == "bind" {
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            ctx.bundle.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| RootfsError::Path {
            what: what.clone(),
            msg: format!("source {}: {e}", src.display()),
        })?;
        let target = if meta.is_dir() {
            root.mkdir_all(dest, 0o755)?
        } else {
            root.ensure_file(dest)?
        };
        let tpath = fd_path(&target);
        let bind = MsFlags::MS_BIND | (o.flags & MsFlags::MS_REC);
        mount(Some(&src), &tpath, None::<&str>, bind, None::<&str>).map_err(sys(&what))?;
        // The bind ignores the other flags: apply them by a remount, keeping the locked ones.
        let extra = o.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            let target = root.resolve(dest)?;
            let tpath = fd_path(&target);
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | locked_flags(&tpath);
            mount(None::<&str>, &tpath, None::<&str>, flags, None::<&str>)
                .map_err(sys(format!("{what} (remount)")))?;
        }
        return finish(root, dest, &o, &what);
    }
    let covered = if o.copyup && typ == "tmpfs" {
        super::copyup::before(root, dest)
    } else {
        None
    };
    let target = root.mkdir_all(dest, 0o755)?;
    let tpath = fd_path(&target);
    let src = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
    let data = with_mount_label(o.data_string(), &typ, ctx.mount_label);
    mount(
        Some(&src),
        &tpath,
        Some(typ.as_str()),
        o.flags,
        data.as_deref(),
    )
    .map_err(sys(&what))?;
    // Borrowed apart: recording resolves the parent through the mounts recorded so far.
    let mut pseudos = std::mem::take(&mut *root.pseudos.borrow_mut());
    let r = pseudos.record(&typ, dest, root);
    *root.pseudos.borrow_mut() = pseudos;
    r?;
    if let Some(old) = &covered {
        super::copyup::copy(root, old, dest)?;
    }
    finish(root, dest, &o, &what)
}

/// Propagation and recursive attributes, on the new mount (resolved again: it now covers the
/// old directory).
fn finish(root: &Root, dest: &Path, o: &MountOpts, what: &str) -> Result<()> {
    if o.propagation.is_empty() && o.attr_set == 0 && o.attr_clr == 0 {
        return Ok(());
    }
    let target = root.resolve(dest)?;
    let tpath = fd_path(&target);
    for p in &o.propagation {
        mount(None::<&str>, &tpath, None::<&str>, *p, None::<&str>)
            .map_err(sys(format!("{what} (propagation)")))?;
    }
    if o.attr_set != 0 || o.attr_clr != 0 {
        crate::sys::mount_setattr_recursive(&target, o.attr_set, o.attr_clr).map_err(|e| {
            RootfsError::Path {
                what: format!("{what} (recursive options)"),
                msg: e.to_string(),
            }
        })?;
    }
    Ok(())
}

/// The cgroup hierarchies mounted on this host, from one mountinfo read (cgroups/view.rs):
/// (mount point, fs type, super options).
fn host_cgroup_mounts() -> Vec<(PathBuf, String, String)> {
    crate::cgroups::view::View::read()
        .mounts
        .into_iter()
        .map(|m| (m.mount_point, m.fstype, m.super_opts))
        .collect()
}

/// The container's own path in a hierarchy, from /proc/self/cgroup (the init already joined).
fn own_cgroup(fstype: &str, sopts: &str) -> Option<PathBuf> {
    let s = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    s.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let hit = if fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.split(',').all(|c| sopts.split(',').any(|o| o == c))
        };
        hit.then(|| PathBuf::from(path))
    })
}

/// A `cgroup` mount: on a v2 host, cgroup2 itself; on v1 or hybrid, a tmpfs with one directory
/// per hierarchy. With a cgroup namespace each hierarchy is mounted fresh (the container sees
/// its cgroup as the root); without one, the container's own directories are bind-mounted.
fn mount_cgroup(root: &Root, dest: &Path, o: &MountOpts, ctx: &MountCtx) -> Result<()> {
    let what = format!("mount cgroup on {}", dest.display());
    let flags = o.flags & !MsFlags::MS_RDONLY;
    let ro = o.flags.contains(MsFlags::MS_RDONLY);
    let hosts = host_cgroup_mounts();
    let unified = hosts
        .iter()
        .any(|(mp, t, _)| t == "cgroup2" && mp == Path::new("/sys/fs/cgroup"));
    let target = root.mkdir_all(dest, 0o755)?;
    if unified {
        return mount_one_cgroup(root, dest, "cgroup2", "", o.flags, ctx, &what);
    }
    mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .map_err(sys(&what))?;
    for (mp, fstype, sopts) in &hosts {
        let Ok(name) = mp.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        if name.as_os_str().is_empty() || name.components().count() != 1 {
            continue;
        }
        let sub = dest.join(name);
        let opts: Vec<&str> = sopts
            .split(',')
            .filter(|x| *x != "rw" && *x != "ro")
            .collect();
        mount_one_cgroup(
            root,
            &sub,
            fstype,
            &opts.join(","),
            flags | (o.flags & MsFlags::MS_RDONLY),
            ctx,
            &what,
        )?;
    }
    if ro {
        let target = root.resolve(dest)?;
        let tpath = fd_path(&target);
        mount(
            None::<&str>,
            &tpath,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
        )
        .map_err(sys(format!("{what} (read-only)")))?;
    }
    Ok(())
}

fn mount_one_cgroup(
    root: &Root,
    dest: &Path,
    fstype: &str,
    opts: &str,
    flags: MsFlags,
    ctx: &MountCtx,
    what: &str,
) -> Result<()> {
    let target = root.mkdir_all(dest, 0o755)?;
    let tpath = fd_path(&target);
    if ctx.cgroupns {
        let data = (!opts.is_empty()).then_some(opts);
        return mount(Some("cgroup"), &tpath, Some(fstype), flags, data).map_err(sys(what));
    }
    // No cgroup namespace: bind the container's own directory of this hierarchy.
    let host_mp = host_cgroup_mounts()
        .into_iter()
        .find(|(_, t, s)| {
            t == fstype
                && (fstype == "cgroup2" || s.split(',').any(|x| opts.split(',').any(|o| o == x)))
        })
        .map(|(mp, _, _)| mp);
    let (Some(mp), Some(own)) = (host_mp, own_cgroup(fstype, opts)) else {
        return Ok(());
    };
    let src = mp.join(own.strip_prefix("/").unwrap_or(&own));
    mount(
        Some(&src),
        &tpath,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys(what))?;
    if flags.contains(MsFlags::MS_RDONLY) {
        // Resolve again: the old fd names the directory under the new mount.
        let target = root.resolve(dest)?;
        let tpath = fd_path(&target);
        let f = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked_flags(&tpath);
        mount(None::<&str>, &tpath, None::<&str>, f, None::<&str>).map_err(sys(what))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_goes_into_the_data_of_filesystems_that_take_one() {
        let l = Some("system_u:object_r:container_file_t:s0");
        assert_eq!(
            with_mount_label(Some("mode=755".into()), "tmpfs", l).as_deref(),
            Some("mode=755,context=\"system_u:object_r:container_file_t:s0\"")
        );
        assert_eq!(
            with_mount_label(None, "mqueue", l).as_deref(),
            Some("context=\"system_u:object_r:container_file_t:s0\"")
        );
        assert_eq!(with_mount_label(None, "proc", l), None);
        assert_eq!(
            with_mount_label(Some("x".into()), "tmpfs", None).as_deref(),
            Some("x")
        );
    }
}
