//! Switching to process.user: groups, gid, uid, keeping capabilities across the switch.

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
