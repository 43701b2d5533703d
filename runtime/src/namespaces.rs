//! Which namespaces a container gets: new ones made by the clone itself (so the init is pid 1
//! of its pid namespace with no second fork), ones joined by path, and the two made later by
//! the init itself: cgroup (after the parent has placed it in its cgroup, so that cgroup
//! becomes the namespace's root) and time (its offsets must be written before it is entered).

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

#[derive(Debug, Clone)]
pub struct NsPlan {
    /// Flags for clone3.
    pub clone_flags: CloneFlags,
    /// A new cgroup namespace, unshared by the init once it is in its cgroup.
    pub new_cgroup: bool,
    /// A new time namespace, unshared by the init after writing its offsets.
    pub new_time: bool,
    /// Joined by the parent before the clone (pid: only affects children).
    pub join_pid: Option<PathBuf>,
    /// Joined by the init, in this order.
    pub join: Vec<(CloneFlags, PathBuf)>,
    pub new_user: bool,
    /// A user namespace joined by path: entered by an intermediate process before the clone
    /// (the new namespaces must be created from inside it).
    pub join_user: Option<PathBuf>,
}

/// The order namespaces are joined in: user first (it decides what the others may do), pid
/// (entered around a clone), mount last (after it, host paths are gone).
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// The namespace's file name under /proc/PID/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

pub fn plan(linux: Option<&Linux>) -> Result<NsPlan, String> {
    let mut p = NsPlan {
        clone_flags: CloneFlags::empty(),
        new_cgroup: false,
        new_time: false,
        join_pid: None,
        join: Vec::new(),
        new_user: false,
        join_user: None,
    };
    let nss = linux
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default();
    for ns in nss {
        match (ns.typ(), ns.path()) {
            (LinuxNamespaceType::Cgroup, None) => p.new_cgroup = true,
            (LinuxNamespaceType::Time, None) => p.new_time = true,
            (LinuxNamespaceType::Pid, Some(path)) => p.join_pid = Some(path.clone()),
            (t, None) => {
                if t == LinuxNamespaceType::User {
                    p.new_user = true;
                }
                p.clone_flags |= flag(t)
            }
            (_, Some(_)) => {}
        }
    }
    for t in JOIN_ORDER
        .into_iter()
        .filter(|t| *t != LinuxNamespaceType::Pid)
    {
        if let Some(ns) = nss.iter().find(|n| n.typ() == t && n.path().is_some()) {
            let path = ns.path().clone().unwrap_or_default();
            if t == LinuxNamespaceType::User {
                p.join_user = Some(path);
            } else {
                p.join.push((flag(t), path));
            }
        }
    }
    Ok(p)
}

/// Join the namespace at `path`. Errors name the entry of `linux.namespaces` it came from.
pub fn join(linux: &Linux, kind: CloneFlags, path: &PathBuf) -> Result<(), String> {
    let at = || entry(linux, kind, path);
    let f = File::open(path).map_err(|e| format!("{}: open: {e}", at()))?;
    nix::sched::setns(f.as_fd(), kind).map_err(|e| match e {
        nix::Error::EINVAL => match kind_of(&f) {
            Some(k) if flag(k) == kind => format!("{}: setns: {e}", at()),
            _ => format!(
                "{}: setns: {e}: the file is not a {} namespace",
                at(),
                type_of(kind).map_or("?", spec_name)
            ),
        },
        e => format!("{}: setns: {e}", at()),
    })
}

/// `linux.namespaces[i] (network, path /x)`: the entry of the config that joins `path`.
fn entry(linux: &Linux, kind: CloneFlags, path: &PathBuf) -> String {
    let nss = linux.namespaces().as_deref().unwrap_or_default();
    match nss
        .iter()
        .position(|n| flag(n.typ()) == kind && n.path().as_ref() == Some(path))
    {
        Some(i) => format!(
            "linux.namespaces[{i}] ({}, path {})",
            spec_name(nss[i].typ()),
            path.display()
        ),
        None => format!("namespace {}", path.display()),
    }
}

/// The type as config.json spells it (`network`, where Display says `net`).
pub fn spec_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Network => "network",
        t => proc_name(t),
    }
}

fn type_of(kind: CloneFlags) -> Option<LinuxNamespaceType> {
    JOIN_ORDER.into_iter().find(|t| flag(*t) == kind)
}

/// The type of the namespace `f` is (NS_GET_NSTYPE); None for a file that is not one.
pub fn kind_of(f: &File) -> Option<LinuxNamespaceType> {
    use std::os::fd::AsRawFd;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd, which `f` keeps open.
    let t = unsafe { libc::ioctl(f.as_raw_fd(), libc::NS_GET_NSTYPE) };
    if t < 0 {
        return None;
    }
    type_of(CloneFlags::from_bits_retain(t))
}

/// A namespace path of the config checked before anything is made: it must be a namespace
/// of the type the entry says (setns would fail later with a bare EINVAL).
pub fn check_path(t: LinuxNamespaceType, path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Only a file of nsfs is opened: open(2) of whatever else the config names could block (a
    // fifo: create hung there) or act (a device node). statfs looks without opening.
    const NSFS_MAGIC: libc::c_long = 0x6e73_6673;
    let fs = nix::sys::statfs::statfs(path).map_err(|e| e.desc().to_string())?;
    if fs.filesystem_type().0 as libc::c_long != NSFS_MAGIC {
        return Err(format!("the file is not a {} namespace", spec_name(t)));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    match kind_of(&f) {
        Some(k) if k == t => Ok(()),
        Some(k) => Err(format!(
            "the file is a {} namespace, not a {} one",
            spec_name(k),
            spec_name(t)
        )),
        None => Err(format!("the file is not a {} namespace", spec_name(t))),
    }
}

/// Write the time offsets of the time namespace `pid` has just unshared (its children's, which
/// nothing has entered yet). The runtime writes them, not the init: the write needs
/// CAP_SYS_TIME in the user namespace owning the time namespace, which the runtime has (it
/// owns a new user namespace, or is root), and the file is the init's own only while it is
/// dumpable, which its switch to root of a new user namespace ends (so EACCES there).
pub fn write_time_offsets(pid: i32, linux: &Linux) -> Result<(), String> {
    let Some(offs) = linux.time_offsets() else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, o) in offs {
        let id = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => return Err(format!("linux.timeOffsets: unknown clock {other:?}")),
        };
        text.push_str(&format!(
            "{id} {} {}\n",
            o.secs().unwrap_or(0),
            o.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write(format!("/proc/{pid}/timens_offsets"), text)
        .map_err(|e| format!("linux.timeOffsets: write timens_offsets: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder};

    #[test]
    fn split_new_joined_and_late() {
        let nss = vec![
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Pid)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Mount)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Cgroup)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path("/proc/1/ns/net")
                .build()
                .unwrap(),
        ];
        let l = LinuxBuilder::default().namespaces(nss).build().unwrap();
        let p = plan(Some(&l)).unwrap();
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
        assert!(p.new_cgroup);
        assert_eq!(
            p.join,
            vec![(CloneFlags::CLONE_NEWNET, PathBuf::from("/proc/1/ns/net"))]
        );
    }

    /// A fifo as a namespace path was opened, and create blocked there for good.
    #[test]
    fn a_fifo_as_namespace_path_is_refused_without_opening_it() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("ns");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = check_path(LinuxNamespaceType::Network, &fifo).unwrap_err();
        assert!(e.contains("not a network namespace"), "{e}");
        assert!(check_path(
            LinuxNamespaceType::Network,
            std::path::Path::new("/proc/self/ns/net")
        )
        .is_ok());
        assert!(check_path(
            LinuxNamespaceType::Pid,
            std::path::Path::new("/proc/self/ns/net")
        )
        .is_err());
    }
}
