//! Switching to process.user: groups, gid, uid, keeping capabilities across the switch.

use std::path::Path;

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::User;

use super::{sys, Result};

/// `setgroups` is refused in a user namespace whose setgroups file says deny.
fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}

pub fn switch(user: &User) -> Result<()> {
    let gid = Gid::from_raw(user.gid());
    let uid = Uid::from_raw(user.uid());
    if setgroups_allowed() {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(sys("setgroups (process.user.additionalGids)"))?;
    }
    // Keep the permitted capabilities when leaving uid 0; the config's sets are applied after.
    nix::sys::prctl::set_keepcaps(true).map_err(sys("prctl(PR_SET_KEEPCAPS)"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(sys(format!("setresgid({gid})")))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(sys(format!("setresuid({uid})")))?;
    nix::sys::prctl::set_keepcaps(false).map_err(sys("prctl(PR_SET_KEEPCAPS)"))?;
    Ok(())
}

/// HOME for the process when the config sets none: the user's entry in the container's
/// /etc/passwd (read with a size bound: the file belongs to the container), else "/".
pub fn home_for(uid: u32) -> String {
    use std::io::Read;
    let mut buf = String::new();
    if let Ok(f) = std::fs::File::open("/etc/passwd") {
        let _ = f.take(1 << 20).read_to_string(&mut buf);
    }
    buf.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
        })
        .find(|h| h.starts_with('/'))
        .unwrap_or_else(|| "/".to_string())
}

/// One file of the container's (/etc/passwd, /etc/group) read from outside it: resolved in
/// `root` with pathrs (no symlink or `..` leads out of it), only a regular file, with a size
/// bound. None when the container has no such file.
fn read_in_root(root: &Path, file: &str) -> std::result::Result<Option<String>, String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened by the kernel's own walk: /proc/PID/root is a magic link pathrs will not follow.
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(root)
        .map_err(|e| format!("open {}: {e}", root.display()))?;
    let r = pathrs::Root::from_fd(dir);
    let Ok(handle) = r.resolve(file) else {
        return Ok(None);
    };
    let f = handle
        .reopen(
            pathrs::flags::OpenFlags::O_RDONLY
                | pathrs::flags::OpenFlags::O_NONBLOCK
                | pathrs::flags::OpenFlags::O_CLOEXEC,
        )
        .map_err(|e| format!("open the container's {file}: {e}"))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("the container's {file}: {e}"))?;
    if !meta.is_file() || meta.file_type().is_fifo() {
        return Err(format!("the container's {file} is not a regular file"));
    }
    let mut text = String::new();
    f.take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("read the container's {file}: {e}"))?;
    Ok(Some(text))
}

/// The entry named `name` of a passwd or group file: its id (field 3) and, for passwd, its
/// primary group (field 4).
fn entry(text: &str, name: &str) -> Option<(u32, Option<u32>)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 || f[0] != name {
            return None;
        }
        Some((f[2].parse().ok()?, f.get(3).and_then(|g| g.parse().ok())))
    })
}

/// `exec --user USER[:GROUP]`: names looked up in the container's /etc/passwd and /etc/group
/// (as seen in `root`, the container's root directory), numbers taken as they are. A user
/// given by name brings its primary group; a user given by number keeps `default_gid` (the
/// config's process.user.gid), as runc's `--user UID` does.
pub fn resolve_spec(
    root: &Path,
    spec: &str,
    default_gid: u32,
) -> std::result::Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, what: &str| -> std::result::Result<_, String> {
        if name.is_empty() {
            return Err(format!("an empty {what} name"));
        }
        let text = read_in_root(root, file)?
            .ok_or_else(|| format!("no {what} {name}: the container has no {file}"))?;
        entry(&text, name).ok_or_else(|| format!("no {what} {name} in the container's {file}"))
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let (uid, gid) = lookup("/etc/passwd", user, "user")?;
            (uid, gid)
        }
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("/etc/group", g, "group")?.0,
        },
        None => primary.unwrap_or(default_gid),
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::resolve_spec;

    #[test]
    fn user_and_group_names_from_the_container() {
        let dir = std::env::temp_dir().join(format!("gantry-user-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nstaff:x:50:alice\n").unwrap();
        assert_eq!(resolve_spec(&dir, "alice", 7), Ok((1000, 1001)));
        assert_eq!(resolve_spec(&dir, "alice:staff", 7), Ok((1000, 50)));
        assert_eq!(resolve_spec(&dir, "alice:9", 7), Ok((1000, 9)));
        assert_eq!(resolve_spec(&dir, "1000", 7), Ok((1000, 7)));
        assert_eq!(resolve_spec(&dir, "5:staff", 7), Ok((5, 50)));
        let e = resolve_spec(&dir, "bob", 0).unwrap_err();
        assert!(
            e.contains("no user bob in the container's /etc/passwd"),
            "{e}"
        );
        let e = resolve_spec(&dir, "0:wheel", 0).unwrap_err();
        assert!(
            e.contains("no group wheel in the container's /etc/group"),
            "{e}"
        );
        // A symlink out of the root resolves inside it.
        std::fs::remove_file(dir.join("etc/group")).unwrap();
        std::os::unix::fs::symlink("/etc/group", dir.join("etc/group")).unwrap();
        let e = resolve_spec(&dir, "0:root", 0);
        assert!(e.is_err(), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
