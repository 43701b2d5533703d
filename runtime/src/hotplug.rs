//! `gantry device add|remove|list`: GPUs attached to and detached from a running (or paused)
//! container. A device is what native injection accepts: a CDI name (`nvidia.com/gpu=1`,
//! from the spec dirs) or a jit request (`nvidia:1`, a GPU UUID, `amd:0`); it is resolved by
//! the same code as at create (cdi.rs), on a config holding only that request, so the nodes,
//! their numbers and their checks are those create would give.
//!
//! add: the cgroup rule first (v1 devices.allow; on v2 the container's device program is
//! replaced by one compiled from all its rules), then the node in the container's mount
//! namespace (mknod, or a bind of the host node where a user namespace makes mknod'ed nodes
//! unusable), then the saved config gains the device and its rule, so `state`, `exec`,
//! `update` and `device list` see it. remove: the rule goes first (new opens fail at once),
//! then the node. Both are idempotent. This first version attaches device nodes; a vendor's
//! driver libraries come with the container's create (docs/gpu.md).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxNamespaceType, Spec,
};

use crate::bundle::Bundle;
use crate::commands::Globals;
use crate::state::{Saved, Status};

/// A device node to attach: where in the container, its host node, and its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub path: PathBuf,
    pub host: PathBuf,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub access: String,
}

/// Resolve `devices` (CDI names or jit requests) to the nodes create would inject for them.
pub fn resolve(g: &Globals, saved: &Saved, devices: &[String]) -> Result<Vec<Node>> {
    let mut names = Vec::new();
    let mut plain = Vec::new();
    for d in devices {
        if gantry_cdi::QualifiedName::looks_qualified(d) {
            names.push(d.clone());
        } else if let Some((vendor, list)) = d.split_once(':') {
            plain.push(format!("{vendor}:{list}"));
        } else if d.starts_with("GPU-") || d.starts_with("MIG-") {
            plain.push(format!("nvidia:{d}"));
        } else {
            bail!("device {d:?}: not a CDI name (vendor.com/class=name) nor VENDOR:ID (nvidia:1, amd:0) nor a GPU UUID");
        }
    }
    // A config with nothing but the request (and the container's own env for the
    // capabilities the jit spec reads), resolved as create would.
    let mut spec: serde_json::Value = serde_json::json!({
        "ociVersion": "1.3.0",
        "root": {"path": saved.rootfs},
        "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": saved.config.process().as_ref()
            .and_then(|p| p.env().clone()).unwrap_or_default()
            .into_iter().filter(|e| !e.starts_with("NVIDIA_VISIBLE_DEVICES=") && !e.starts_with("AMD_VISIBLE_DEVICES="))
            .collect::<Vec<_>>()},
        "linux": {},
        "annotations": {},
    });
    if !names.is_empty() {
        spec["annotations"]["cdi.k8s.io/gantry-device-add"] = names.join(",").into();
    }
    if !plain.is_empty() {
        spec["annotations"][gantry_cdi::request::ANNOTATION] = plain.join(";").into();
    }
    let spec: Spec = serde_json::from_value(spec)?;
    let mut b = Bundle {
        dir: saved.bundle.clone(),
        spec,
        rootfs: saved.rootfs.clone(),
        device_hosts: Default::default(),
    };
    let mut opts = g.gpu.clone();
    opts.jit = true;
    crate::cdi::apply(&mut b, &opts).context("device add")?;
    let linux = b.spec.linux().clone().unwrap_or_default();
    let rules = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let nodes: Vec<Node> = linux
        .devices()
        .iter()
        .flatten()
        .map(|d| {
            let access = rules
                .iter()
                .find(|r| r.major() == Some(d.major()) && r.minor() == Some(d.minor()))
                .and_then(|r| r.access().clone())
                .unwrap_or_else(|| "rwm".into());
            Node {
                path: d.path().clone(),
                host: b
                    .device_hosts
                    .get(d.path())
                    .cloned()
                    .unwrap_or_else(|| d.path().clone()),
                major: d.major(),
                minor: d.minor(),
                mode: d.file_mode().unwrap_or(0o666),
                access,
            }
        })
        .collect();
    if nodes.is_empty() {
        bail!(
            "device add: {} resolved to no device node",
            devices.join(" ")
        );
    }
    Ok(nodes)
}

/// The container's devices (char nodes of linux.devices).
pub fn list(saved: &Saved) -> Vec<(PathBuf, i64, i64)> {
    saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default()
        .iter()
        .map(|d| (d.path().clone(), d.major(), d.minor()))
        .collect()
}

fn check_alive(saved: &Saved, status: Status) -> Result<()> {
    match status {
        Status::Running | Status::Paused | Status::Created => Ok(()),
        s => bail!(
            "container {}: cannot change the devices of a {} container",
            saved.id,
            s.as_str()
        ),
    }
}

fn rule(n: &Node, allow: bool) -> Result<LinuxDeviceCgroup> {
    Ok(LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(LinuxDeviceType::C)
        .major(n.major)
        .minor(n.minor)
        .access(n.access.clone())
        .build()?)
}

/// Apply the container's device rules after a change: v1 by writing the one rule (`allow` or
/// `deny`), v2 by installing the program of all of them.
fn apply_rules(saved: &Saved, changed: &Node, allow: bool) -> Result<()> {
    if saved.cgroup.skipped {
        return Ok(()); // rootless without a cgroup: nothing restricts devices
    }
    let t = cgroup_devices::locate::targets(saved.pid).map_err(|e| anyhow!("device rules: {e}"))?;
    if let Some(dir) = &t.v1 {
        let (file, what) = if allow {
            ("devices.allow", "allow")
        } else {
            ("devices.deny", "deny")
        };
        let rule = format!(
            "c {}:{} {}",
            changed.major,
            changed.minor,
            if allow { &changed.access } else { "rwm" }
        );
        std::fs::write(dir.join(file), &rule)
            .with_context(|| format!("{what} {rule} in {}", dir.display()))?;
    }
    if let Some(dir) = &t.v2 {
        let rules = saved
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.devices().clone())
            .unwrap_or_default();
        crate::cgroups::v2_devices::apply(dir, &rules).map_err(|e| anyhow!(e))?;
    }
    Ok(())
}

fn userns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::User))
}

/// Run `f` in a thread that joined the container's mount namespace (its "/" and cwd are then
/// the container's root). The thread first takes its own fs_struct (unshare CLONE_FS): setns
/// refuses a mount namespace to a task sharing it, and the rest of the process stays on the
/// host.
fn in_mount_ns(saved: &Saved, f: impl FnOnce() -> Result<(), String> + Send) -> Result<()> {
    let pidfd = crate::sys::pidfd_open(saved.pid).context("the container's init is gone")?;
    if !crate::state::init_alive(saved) {
        bail!("container {} is not running", saved.id);
    }
    // Through the pidfd checked alive above: a recycled pid cannot give another namespace.
    let ns = pidfd;
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
                .map_err(|e| format!("unshare CLONE_FS: {e}"))?;
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| format!("join the container's mount namespace: {e}"))?;
            f()
        })
        .join()
        .map_err(|_| "the mount namespace thread panicked".to_string())?
    })
    .map_err(|e| anyhow!("container {}: {e}", saved.id))
}

/// Make the node in the container (as `/`): mknod, or a bind of the host node.
fn make_node(n: &Node, host: Option<&OwnedFd>) -> Result<(), String> {
    use pathrs::flags::OpenFlags;
    use std::os::unix::fs::PermissionsExt;
    let root = pathrs::Root::open("/").map_err(|e| format!("open the container's root: {e}"))?;
    if let Some(parent) = n.path.parent() {
        root.mkdir_all(parent, &std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
    }
    if root.resolve_nofollow(&n.path).is_ok() {
        return Ok(()); // there already (a device added twice, or by the image)
    }
    match host {
        None => {
            let dev = nix::sys::stat::makedev(n.major as u64, n.minor as u64);
            root.create(
                &n.path,
                &pathrs::InodeType::CharacterDevice(std::fs::Permissions::from_mode(n.mode), dev),
            )
            .map_err(|e| format!("mknod {}: {e}", n.path.display()))
        }
        Some(fd) => {
            // A user namespace's /dev holds only ids it maps (EOVERFLOW otherwise): create
            // the bind target as the owner of its directory (the container's root), for this
            // thread only (setfsuid is per thread).
            if let Some(parent) = n.path.parent() {
                let dir: OwnedFd = root
                    .resolve(parent)
                    .map_err(|e| format!("resolve {}: {e}", parent.display()))?
                    .into();
                let st = nix::sys::stat::fstat(dir.as_raw_fd())
                    .map_err(|e| format!("stat {}: {e}", parent.display()))?;
                // SAFETY: setfsgid/setfsuid take an id and only change this thread's
                // filesystem credentials.
                unsafe {
                    libc::setfsgid(st.st_gid);
                    libc::setfsuid(st.st_uid);
                }
            }
            root.create_file(
                &n.path,
                OpenFlags::O_WRONLY | OpenFlags::O_CLOEXEC,
                &std::fs::Permissions::from_mode(0o600),
            )
            .map_err(|e| format!("create {}: {e:#}", n.path.display()))?;
            let target: OwnedFd = root
                .resolve_nofollow(&n.path)
                .map_err(|e| format!("resolve {}: {e}", n.path.display()))?
                .into();
            crate::sys::move_tree(fd, &target)
                .map_err(|e| format!("bind {} onto {}: {e}", n.host.display(), n.path.display()))
        }
    }
}

/// Remove the node from the container (as `/`): unmount a bind, then unlink.
fn remove_node(n: &Node) -> Result<(), String> {
    let root = pathrs::Root::open("/").map_err(|e| format!("open the container's root: {e}"))?;
    let (Some(parent), Some(name)) = (n.path.parent(), n.path.file_name()) else {
        return Err(format!("{}: not a device path", n.path.display()));
    };
    let Ok(dir) = root.resolve(parent) else {
        return Ok(()); // gone already
    };
    let dir: OwnedFd = dir.into();
    // Relative to the resolved parent: nothing the container renames can redirect it.
    nix::unistd::fchdir(dir.as_raw_fd()).map_err(|e| format!("chdir {}: {e}", parent.display()))?;
    let _ = nix::mount::umount2(
        Path::new(name),
        nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW,
    );
    match nix::unistd::unlinkat(
        None,
        Path::new(name),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(nix::Error::ENOENT) => Ok(()),
        Err(e) => Err(format!("remove {}: {e}", n.path.display())),
    }
}

/// `device add`: every node of `devices`, rule first.
pub fn add(g: &Globals, id: &str, devices: &[String]) -> Result<()> {
    let (dir, mut saved, status) = crate::commands::open(g, id)?;
    check_alive(&saved, status)?;
    let nodes = resolve(g, &saved, devices)?;
    let bind = userns(&saved.config);
    for n in &nodes {
        let have = list(&saved);
        match have.iter().find(|(p, _, _)| *p == n.path) {
            Some((_, ma, mi)) if (*ma, *mi) == (n.major, n.minor) => continue, // idempotent
            Some((_, ma, mi)) => bail!(
                "device add: {} is {ma}:{mi} in the container already, not {}:{}",
                n.path.display(),
                n.major,
                n.minor
            ),
            None => {}
        }
        edit_config(&mut saved, |devs, rules| {
            devs.push(
                LinuxDeviceBuilder::default()
                    .path(n.path.clone())
                    .typ(LinuxDeviceType::C)
                    .major(n.major)
                    .minor(n.minor)
                    .file_mode(n.mode)
                    .build()?,
            );
            rules.push(rule(n, true)?);
            Ok(())
        })?;
        apply_rules(&saved, n, true)?;
        let host = if bind {
            // Cloned here, in the host's mount namespace: open_tree takes only a mount of
            // the caller's namespace.
            let node = open_host_node(&n.host)?;
            Some(
                crate::sys::clone_tree(&node)
                    .with_context(|| format!("clone a bind of {}", n.host.display()))?,
            )
        } else {
            None
        };
        in_mount_ns(&saved, || make_node(n, host.as_ref()))?;
        dir.save(&saved)?;
        crate::logger::info(&format!(
            "device add: {} ({}:{}) to {id}",
            n.path.display(),
            n.major,
            n.minor
        ));
    }
    Ok(())
}

/// `device remove`: the rule goes first, then the node; a device not there is fine.
pub fn remove(g: &Globals, id: &str, devices: &[String]) -> Result<()> {
    let (dir, mut saved, status) = crate::commands::open(g, id)?;
    check_alive(&saved, status)?;
    let nodes = resolve(g, &saved, devices)?;
    for n in &nodes {
        if !list(&saved)
            .iter()
            .any(|(p, ma, mi)| *p == n.path && (*ma, *mi) == (n.major, n.minor))
        {
            continue;
        }
        edit_config(&mut saved, |devs, rules| {
            devs.retain(|d| d.path() != &n.path);
            rules.retain(|r| {
                !(r.allow() && r.major() == Some(n.major) && r.minor() == Some(n.minor))
            });
            Ok(())
        })?;
        apply_rules(&saved, n, false)?;
        in_mount_ns(&saved, || remove_node(n))?;
        dir.save(&saved)?;
        crate::logger::info(&format!("device remove: {} from {id}", n.path.display()));
    }
    Ok(())
}

/// Edit the saved config's linux.devices and linux.resources.devices.
fn edit_config(
    saved: &mut Saved,
    f: impl FnOnce(&mut Vec<LinuxDevice>, &mut Vec<LinuxDeviceCgroup>) -> Result<()>,
) -> Result<()> {
    let mut linux = saved.config.linux().clone().unwrap_or_default();
    let mut devs = linux.devices().clone().unwrap_or_default();
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut rules = res.devices().clone().unwrap_or_default();
    f(&mut devs, &mut rules)?;
    res.set_devices(Some(rules));
    linux.set_resources(Some(res));
    linux.set_devices(Some(devs));
    saved.config.set_linux(Some(linux));
    Ok(())
}

/// The host node, opened before entering the container (a bind source by fd).
fn open_host_node(p: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open host node {}", p.display()))?;
    // SAFETY: open just returned this fd; nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}
