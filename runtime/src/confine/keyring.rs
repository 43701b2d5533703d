//! The container's session keyring, as runc makes it: the init joins a new keyring named
//! `_ses.ID` instead of keeping the caller's (whose keys, an engine's or a login's, the
//! container must not possess), and makes it searchable so that `exec` joins the same one by
//! name instead of keeping its own caller's.

use std::ffi::CString;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;
/// Search permission for the owning user (without a user namespace, where the init and the
/// exec'd processes run as the same host uid) and for others (with one, where runc too grants
/// it: the keyring's owner is the mapped root, an exec may not run as it).
const USER_SEARCH: u32 = 0x0008_0000;
const OTHER_SEARCH: u32 = 0x0000_0008;

/// The keyring's name for container `id` (runc's).
pub fn name(id: &str) -> String {
    format!("_ses.{id}")
}

/// Join (or create) the session keyring of container `id`. Where keyrings are not to be had
/// (a kernel without them, an outer seccomp profile or LSM denying keyctl) the process goes on
/// with the keyring it has, as runc does on ENOSYS: the keyring is defence in depth, and the
/// caller's keyring is then one the caller could not keep from its own children either.
pub fn join_session(id: &str, in_userns: bool) -> Result<(), String> {
    let name = CString::new(name(id)).map_err(|_| format!("container id {id:?} has a NUL"))?;
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING with a NUL-terminated name that outlives the call.
    let serial =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if serial < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS | libc::EPERM | libc::EACCES) => Ok(()),
            _ => Err(format!("join session keyring {name:?}: {e}")),
        };
    }
    let perm = permissions(serial)?;
    let want = perm | if in_userns { OTHER_SEARCH } else { USER_SEARCH };
    if want != perm {
        // SAFETY: KEYCTL_SETPERM takes a key serial and a permission mask, no pointers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_SETPERM,
                serial,
                want as libc::c_long,
            )
        };
        if r < 0 {
            return Err(format!(
                "session keyring {name:?}: set permissions: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The permission mask of key `serial`, from its description ("type;uid;gid;perm;desc").
fn permissions(serial: libc::c_long) -> Result<u32, String> {
    let mut buf = vec![0u8; 512];
    // SAFETY: KEYCTL_DESCRIBE writes at most buf.len() bytes into buf, which stays alive and
    // unaliased for the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(format!(
            "session keyring: describe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // n is the description's full length with its NUL, which may exceed the buffer.
    buf.truncate((n as usize).min(buf.len()));
    parse_perm(&buf).ok_or_else(|| {
        format!(
            "session keyring: unreadable description {:?}",
            String::from_utf8_lossy(&buf)
        )
    })
}

fn parse_perm(desc: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(desc).ok()?.trim_end_matches('\0');
    u32::from_str_radix(text.split(';').nth(3)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_runcs() {
        assert_eq!(name("web-1"), "_ses.web-1");
    }

    #[test]
    fn permissions_come_from_the_fourth_field() {
        assert_eq!(
            parse_perm(b"keyring;0;0;3f030000;_ses.x\0"),
            Some(0x3f03_0000)
        );
        assert_eq!(parse_perm(b"keyring;0;0"), None);
        assert_eq!(parse_perm(b"keyring;0;0;zz;_ses.x"), None);
    }
}
