//! Device nodes: the defaults every container gets (runtime-spec "Default Devices") and
//! `linux.devices`. Made with mknod, or, in a user namespace where mknod is refused, by
//! bind-mounting the host's node onto an empty file.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::{fd_path, path_err, sys, Result, Root, RootfsError};

pub struct Dev {
    pub path: PathBuf,
    pub kind: LinuxDeviceType,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The host node to bind in a user namespace (default: `path` on the host).
    pub host: Option<PathBuf>,
}

/// /dev/null, zero, full, random, urandom and tty, as the spec lists them.
pub fn defaults() -> Vec<Dev> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| Dev {
        path: PathBuf::from("/dev").join(n),
        kind: LinuxDeviceType::C,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
        host: None,
    })
    .collect()
}

impl From<&LinuxDevice> for Dev {
    fn from(d: &LinuxDevice) -> Self {
        Dev {
            path: d.path().clone(),
            kind: d.typ(),
            major: d.major(),
            minor: d.minor(),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
            host: None,
        }
    }
}

/// Create one device node at its path inside the root.
pub fn create(root: &Root, d: &Dev, bind: bool) -> Result<()> {
    let what = format!("device {}", d.path.display());
    if let Some(parent) = d.path.parent() {
        root.mkdir_all(parent, 0o755)?;
    }
    if root.exists(&d.path) {
        root.root
            .remove_file(&d.path)
            .map_err(path_err(format!("{what}: remove existing file")))?;
    }
    if bind {
        // The host's node of the same path, as runc does in user namespaces.
        let target = root.ensure_file(&d.path)?;
        return mount(
            Some(d.host.as_deref().unwrap_or(&d.path)),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys(&what));
    }
    use std::os::unix::fs::PermissionsExt;
    let perm = std::fs::Permissions::from_mode(d.mode);
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    let inode = match d.kind {
        LinuxDeviceType::B => pathrs::InodeType::BlockDevice(perm, dev),
        LinuxDeviceType::C | LinuxDeviceType::U => pathrs::InodeType::CharacterDevice(perm, dev),
        LinuxDeviceType::P => pathrs::InodeType::Fifo(perm),
        LinuxDeviceType::A => {
            return Err(RootfsError::Path {
                what,
                msg: "type 'a' is not a device node type".into(),
            })
        }
    };
    root.root.create(&d.path, &inode).map_err(path_err(&what))?;
    // mknod honours the umask: set the mode exactly, and the owner, on the new node.
    let fd = root.resolve(&d.path)?;
    let p = fd_path(&fd);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(d.mode)).map_err(|e| {
        RootfsError::Path {
            what: format!("{what}: chmod"),
            msg: e.to_string(),
        }
    })?;
    nix::unistd::chown(&p, Some(d.uid.into()), Some(d.gid.into()))
        .map_err(sys(format!("{what}: chown")))
}

/// The standard /dev symlinks.
pub fn symlinks(root: &Root, with_ptmx: bool) -> Result<()> {
    let mut links = vec![
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/dev/core", "/proc/kcore"));
    }
    if with_ptmx {
        links.push(("/dev/ptmx", "pts/ptmx"));
    }
    for (link, target) in links {
        let link = Path::new(link);
        if root.exists(link) {
            if link != Path::new("/dev/ptmx") {
                continue;
            }
            root.root
                .remove_file(link)
                .map_err(path_err("remove /dev/ptmx"))?;
        }
        root.root
            .create(link, &pathrs::InodeType::Symlink(target.into()))
            .map_err(path_err(format!("symlink {}", link.display())))?;
    }
    Ok(())
}
