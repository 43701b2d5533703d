//! Run from a copy of the binary that no container can write (CVE-2019-5736).
//!
//! The init and an exec's child run the runtime's own code inside a container until their
//! execve. Non-dumpable, they are closed to a container without CAP_SYS_PTRACE over the host;
//! one with it could still open /proc/PID/exe and, once the runtime is gone, write the binary
//! through that fd. So `create`, `run` and `exec` re-execute themselves once, first thing, from
//! a read-only view of the binary: a detached overlayfs mount (fsopen/fsmount, never attached
//! anywhere) whose only real layer is the binary's directory, so that /proc/PID/exe is a file
//! on a read-only filesystem (EROFS) and the page cache is shared with the original; where
//! overlayfs cannot be mounted (rootless), a sealed memfd copy. See docs/security.md.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Set in the environment of the re-executed runtime (and removed by it at once), so that it
/// does not seal again.
const MARK: &str = "_GANTRY_EXESEAL";

static ORIGINAL: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The binary this process was started as, before the re-execution (`/proc/self/exe` of an
/// unsealed process).
pub fn original_exe() -> Option<std::path::PathBuf> {
    ORIGINAL
        .get()
        .cloned()
        .or_else(|| std::fs::read_link("/proc/self/exe").ok())
}

/// Re-execute from a sealed view of our binary, unless this process already is that. Returns
/// only in the sealed process (or with the error that kept us from sealing).
pub fn ensure() -> io::Result<()> {
    if let Some(orig) = std::env::var_os(MARK) {
        std::env::remove_var(MARK);
        let _ = ORIGINAL.set(std::path::PathBuf::from(orig));
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")?;
    let (dir, name) = match (exe.parent(), exe.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => {
            return Err(io::Error::other(format!(
                "odd binary path {}",
                exe.display()
            )))
        }
    };
    let argv = cstrings(std::env::args_os())?;
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    // The mark carries the original binary's path (its directory holds gantry-gpu).
    let mut mark = OsString::from(format!("{MARK}="));
    mark.push(exe.as_os_str());
    env.push(mark);
    let envp = cstrings(env)?;
    let name = CString::new(name.as_bytes()).map_err(io::Error::other)?;
    let err = match overlay_view(dir) {
        Ok(mnt) => execveat(mnt.as_raw_fd(), &name, &argv, &envp, 0),
        Err(_) => {
            let copy = memfd_copy(&exe)?;
            execveat(copy.as_raw_fd(), c"", &argv, &envp, libc::AT_EMPTY_PATH)
        }
    };
    Err(err)
}

fn cstrings(it: impl IntoIterator<Item = OsString>) -> io::Result<Vec<CString>> {
    it.into_iter()
        .map(|s| CString::new(s.as_bytes()).map_err(io::Error::other))
        .collect()
}

fn check(r: libc::c_long) -> io::Result<RawFd> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as RawFd)
    }
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// A detached mount of filesystem `fs` with string options `opts`, read-only.
fn detached(fs: &std::ffi::CStr, opts: &[(&std::ffi::CStr, &str)]) -> io::Result<OwnedFd> {
    // SAFETY: fsopen takes a NUL-terminated name and flags; it returns a new fd we own.
    let ctx = check(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: the fd was just returned to us and nothing else owns it.
    let ctx = unsafe { OwnedFd::from_raw_fd(ctx) };
    for (k, v) in opts {
        let v = CString::new(*v).map_err(io::Error::other)?;
        // SAFETY: fsconfig SET_STRING with NUL-terminated key and value on our context fd.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: fsconfig CMD_CREATE takes no key or value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    // SAFETY: fsmount on our configured context; it returns a new fd we own.
    let mnt = check(unsafe {
        libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
    })?;
    // SAFETY: as above, a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt) })
}

/// The binary's directory as the top layer of a read-only overlay. overlayfs wants two lower
/// layers without an upper one, and refuses overlapping ones. The second is an existing
/// directory apart from the binary's (/dev, else /etc): its entries only show beside the
/// binary in a view that nothing but our execveat walks (nodev, nosuid). A mount of our own
/// for it would cost a second detached mount, whose close waits for an RCU grace period.
/// Where no such directory serves, an empty detached tmpfs does (named through our fd table).
fn overlay_view(dir: &Path) -> io::Result<OwnedFd> {
    let top = dir
        .to_str()
        .filter(|d| !d.contains([':', ',', '\\']))
        .ok_or_else(|| io::Error::other("binary directory unusable as a layer"))?;
    let apart = ["/dev", "/etc"]
        .into_iter()
        .find(|o| !dir.starts_with(o) && !Path::new(o).starts_with(dir));
    if let Some(other) = apart {
        if let Ok(m) = detached(c"overlay", &[(c"lowerdir", &format!("{top}:{other}"))]) {
            return Ok(m);
        }
    }
    let empty = detached(c"tmpfs", &[(c"mode", "0500"), (c"size", "4k")])?;
    let lower = format!("{top}:/proc/self/fd/{}", empty.as_raw_fd());
    detached(c"overlay", &[(c"lowerdir", &lower)])
}

/// A sealed in-memory copy (no write, grow, shrink, or unsealing).
fn memfd_copy(exe: &Path) -> io::Result<OwnedFd> {
    let name = c"gantry";
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new fd.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let fd = check(fd as libc::c_long)?;
    // SAFETY: a fresh fd nothing else owns.
    let mem = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut src = File::open(exe)?;
    let mut dst = File::from(mem);
    io::copy(&mut src, &mut dst)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS with an integer argument on our memfd.
    if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(dst.into())
}

/// execveat(2); returns only on failure.
fn execveat(
    dirfd: RawFd,
    path: &std::ffi::CStr,
    argv: &[CString],
    envp: &[CString],
    flags: libc::c_int,
) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NUL-terminated path, and argv/envp arrays of NUL-terminated strings ending in a
    // null pointer, all alive across the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            dirfd,
            path.as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            flags,
        )
    };
    io::Error::last_os_error()
}
