//! Thin wrappers over the syscalls that nix 0.29 does not cover (clone3, pidfds, close_range,
//! pivot_root). Each keeps its `unsafe` to one line with the reason it is sound.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `struct clone_args` from <linux/sched.h> (size VER2: 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What `clone3` returned in the calling process.
pub enum Forked {
    Parent { pid: i32, pidfd: OwnedFd },
    Child,
}

/// A fork-like clone3 (no CLONE_VM, no new stack): the child continues on a copy of the
/// caller's stack, in new namespaces given by `flags`, and the parent gets a pidfd for it.
///
/// # Safety
///
/// The caller must be single-threaded, as with fork(2) (which nix marks unsafe for the
/// same reason): only the calling thread exists in the child, so a lock another thread
/// held at the clone (the allocator's, stdio's, the logger's) would stay locked in it
/// forever. The runtime is single-threaded where it clones (its scoped threads are joined).
pub unsafe fn clone3(flags: u64) -> io::Result<Forked> {
    // SAFETY: the caller's contract is clone3_into's.
    unsafe { clone3_into(flags, None) }
}

/// CLONE_INTO_CGROUP (linux/sched.h): the child starts in the cgroup2 directory given by fd.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3`, the child born in the cgroup2 cgroup `cgroup` (an fd of its directory) if given:
/// no migration afterwards (cgroups/selfjoin.rs says why that matters).
///
/// # Safety
///
/// As [`clone3`]: the caller must be single-threaded.
pub unsafe fn clone3_into(flags: u64, cgroup: Option<RawFd>) -> io::Result<Forked> {
    let mut pidfd: RawFd = -1;
    let into = cgroup.map_or(0, |_| CLONE_INTO_CGROUP);
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64 | into,
        cgroup: cgroup.map_or(0, |fd| fd as u64),
        pidfd: &mut pidfd as *mut RawFd as u64,
        // With CLONE_PARENT the kernel takes the caller's exit signal and refuses another.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    // SAFETY: args is a valid clone_args of the size passed; without CLONE_VM and with a null
    // stack the kernel duplicates the address space as fork does, so the child may keep running
    // this Rust code on its own copy of the stack.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned fd in `pidfd`.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

// The pidfd wrappers are shared with the hook runner (gantry-sys).
pub use gantry_sys::pidfd::{
    open as pidfd_open, send_signal as pidfd_send_signal, wait_exit as pidfd_wait_exit,
};

/// Mark every fd from `first` up as close-on-exec, so that the exec'd program sees only what it
/// should while the runtime can still use its own fds until the exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOEXEC only changes fd flags.
    let r = unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Close every fd from 3 up except those in `keep`: what the runtime inherited or opened
/// (a caller's leaked directory, a cached procfs handle) must never be reachable from the
/// container, e.g. as its cwd through /proc/self/fd/N. Objects owning a closed fd must not be
/// dropped afterwards (the number may be reused): callers run this in a child that never
/// returns.
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep.iter().filter(|&&f| f > 2).map(|&f| f as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = 3u32;
    for k in keep.into_iter().chain([u32::MAX]) {
        if k > from {
            close_range(from, k - 1)?;
        }
        from = k.saturating_add(1);
    }
    Ok(())
}

fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range only closes fds; the caller owns the whole range (see above).
    if unsafe { libc::close_range(first, last, 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(e);
    }
    // Kernels before 5.9: list the open fds first (the listing's own fd is among them), then
    // close those in range.
    let open: Vec<u32> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|d| d.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|f| (first..=last).contains(f)) {
        // SAFETY: closing an fd in the range the caller owns; EBADF (the listing's) is fine.
        unsafe { libc::close(fd as RawFd) };
    }
    Ok(())
}

/// PR_SET_DUMPABLE: a non-dumpable process's /proc/PID/{exe,root,fd,mem...} are closed, and
/// ptrace refused, to anyone without CAP_SYS_PTRACE over the host (CVE-2019-5736). The
/// runtime is non-dumpable wherever a container could see it; execve of the container's
/// program resets the flag for that program.
pub fn set_dumpable(on: bool) -> io::Result<()> {
    nix::sys::prctl::set_dumpable(on).map_err(io::Error::from)
}

/// Write one of our own /proc/self files (oom_score_adj, timens_offsets). Non-dumpable, they
/// belong to the host's root, which a user namespace's root cannot write: then retry once,
/// dumpable just for that write.
pub fn write_own_proc(path: &str, data: &[u8]) -> io::Result<()> {
    match std::fs::write(path, data) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            set_dumpable(true)?;
            let r = std::fs::write(path, data);
            set_dumpable(false)?;
            r
        }
        r => r,
    }
}

/// Clear FD_CLOEXEC on one fd (for fds handed to the container on purpose).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd yields EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer is harmless.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Exit the current process at once, without running atexit handlers or flushing stdio
/// buffers that belong to the parent (the init child of a fork-like clone must not).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(code) }
}

/// `struct mount_attr` from <linux/mount.h>.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on a resolved fd and everything below it (runc's rro, rnosuid, ...).
pub fn mount_setattr_recursive(fd: &impl AsRawFd, set: u64, clr: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: valid fd, NUL-terminated empty path with AT_EMPTY_PATH, and a mount_attr of the
    // size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Open `rel` below the directory `dir` (with `flags`, close-on-exec), beneath it and without
/// following any symlink or magic link (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS): nothing a container renames or links can lead elsewhere.
pub fn open_beneath(
    dir: &impl AsRawFd,
    rel: &std::path::Path,
    flags: nix::fcntl::OFlag,
) -> nix::Result<OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    let fd = nix::fcntl::openat2(dir.as_raw_fd(), rel, how)?;
    // SAFETY: openat2 just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Bind what `src` is onto what `target` is, by fds alone (open_tree and move_mount): no path
/// is resolved, so nothing in a container's filesystem can redirect either end.
pub fn bind_fd_onto_fd(src: &impl AsRawFd, target: &impl AsRawFd) -> io::Result<()> {
    move_tree(&clone_tree(src)?, target)
}

/// A detached bind mount of what `src` is (open_tree OPEN_TREE_CLONE). Made in the mount
/// namespace `src` is in: it can then be attached in another (`move_tree`).
pub fn clone_tree(src: &impl AsRawFd) -> io::Result<OwnedFd> {
    let empty = c"";
    // SAFETY: a valid fd, a NUL-terminated empty path with AT_EMPTY_PATH; returns a new fd.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            src.as_raw_fd(),
            empty.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(tree as RawFd) })
}

/// Attach the detached mount `tree` onto what `target` is (move_mount, by fds).
pub fn move_tree(tree: &OwnedFd, target: &impl AsRawFd) -> io::Result<()> {
    let empty = c"";
    // SAFETY: two valid fds, empty NUL-terminated paths with the matching EMPTY_PATH flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` has data to read right now (a zero-timeout poll).
pub fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 0) > 0 && p.revents & libc::POLLIN != 0 }
}
