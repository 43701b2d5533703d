//! fork + exec of one hook process.
//!
//! Everything the child needs (argv, envp, fds) is built before fork, so that between
//! fork and exec the child only makes async-signal-safe system calls: the runtime may
//! be multi-threaded, and another thread may hold the allocator or any lock at fork
//! time. This is why the child is not written with `std::process::Command`: it cannot
//! exec an fd, nor pass an environment entry verbatim.

use crate::error::SpawnStage;
use nix::sched::CloneFlags;
use oci_spec::runtime::Hook;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// argv and envp as the C arrays execve wants. The pointer arrays point into the
/// `CString` heap buffers, which do not move when this struct moves.
pub(crate) struct ExecPlan {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
}

fn cstring(what: &str, bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{what} contains a NUL byte"))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

impl ExecPlan {
    /// argv = `args` (args[0] is argv[0]) or just the path; envp = exactly `env`.
    pub(crate) fn new(hook: &Hook) -> Result<Self, String> {
        let path = hook.path();
        if !path.is_absolute() {
            return Err("path must be absolute".into());
        }
        let path = cstring("path", path.as_os_str().as_bytes())?;
        let argv = match hook.args() {
            Some(args) => args
                .iter()
                .map(|a| cstring("args", a.as_bytes()))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![path.clone()],
        };
        let envp = hook
            .env()
            .iter()
            .flatten()
            .map(|e| cstring("env", e.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExecPlan {
            path,
            argv_ptrs: null_terminated(&argv),
            _argv: argv,
            envp_ptrs: null_terminated(&envp),
            _envp: envp,
        })
    }

    #[cfg(test)]
    fn strings(v: &[CString]) -> Vec<&[u8]> {
        v.iter().map(|a| a.as_bytes()).collect()
    }
}

/// A namespace to join, opened in the runtime's namespaces.
pub(crate) struct NsFd {
    pub(crate) nstype: CloneFlags,
    pub(crate) path: PathBuf,
    pub(crate) fd: OwnedFd,
}

pub(crate) fn open_namespaces(list: &[(CloneFlags, PathBuf)]) -> Result<Vec<NsFd>, SpawnError> {
    list.iter()
        .map(|(nstype, path)| {
            let file =
                File::open(path).map_err(|e| (SpawnStage::OpenNamespace(path.clone()), e))?;
            Ok(NsFd {
                nstype: *nstype,
                path: path.clone(),
                fd: file.into(),
            })
        })
        .collect()
}

/// The hook executable, opened O_PATH in the runtime namespace so that it is exec'd
/// from there even after the child joined another mount namespace.
pub(crate) struct Executable {
    fd: OwnedFd,
    /// `#!` scripts: the kernel hands the interpreter /dev/fd/N, so N must survive exec.
    is_script: bool,
}

impl Executable {
    pub(crate) fn open(path: &Path) -> Result<Self, SpawnError> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path)
            .map_err(|e| (SpawnStage::OpenExecutable, e))?;
        let is_script = starts_with_shebang(&file);
        Ok(Executable {
            fd: file.into(),
            is_script,
        })
    }
}

/// Reads the first two bytes through a reopen of the O_PATH fd (the same inode, no
/// second path lookup). Unreadable files are treated as binaries.
fn starts_with_shebang(file: &File) -> bool {
    let mut magic = [0u8; 2];
    File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"#!"
}

/// How the child finds its program.
pub(crate) enum Target<'a> {
    /// execve(path), resolved where the runtime runs, like execv.
    Path,
    /// Join these namespaces, then execveat(exe, "", AT_EMPTY_PATH).
    Fd {
        exe: &'a Executable,
        namespaces: &'a [NsFd],
    },
}

pub(crate) type SpawnError = (SpawnStage, io::Error);

/// Child stage codes sent over the status pipe (the child cannot send a SpawnStage).
const STAGE_STDIO: u32 = 1;
const STAGE_SETNS: u32 = 2;
const STAGE_CLOSE_FDS: u32 = 3;
const STAGE_EXEC: u32 = 4;

/// Forks and execs the hook with `stdio` as its fds 0, 1, 2. Returns once the exec
/// succeeded (the close-on-exec status pipe reached EOF) or with the child's error.
pub(crate) fn spawn(
    plan: &ExecPlan,
    target: &Target<'_>,
    stdio: [BorrowedFd<'_>; 3],
) -> Result<(libc::pid_t, OwnedFd), SpawnError> {
    let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| (SpawnStage::Pipe, e.into()))?;
    let stdio = stdio.map(|fd| fd.as_raw_fd());
    // SAFETY: in the child, child_main only makes async-signal-safe calls on data
    // prepared before the fork, and never returns (it execs or _exits).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err((SpawnStage::Fork, io::Error::last_os_error()));
    }
    if pid == 0 {
        child_main(plan, target, stdio, status_w.as_raw_fd());
    }
    drop(status_w);
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            kill_and_reap(pid);
            return Err((SpawnStage::PidfdOpen, e));
        }
    };
    let mut report = [0u8; 12];
    let mut status = File::from(status_r);
    let n = read_full(&mut status, &mut report);
    if n == 0 {
        return Ok((pid, pidfd));
    }
    // The child failed before exec and has _exited: reap it.
    kill_and_reap(pid);
    if n != report.len() {
        return Err((
            SpawnStage::Exec,
            io::Error::other("short status report from child"),
        ));
    }
    let word = |i: usize| u32::from_ne_bytes(report[i..i + 4].try_into().unwrap());
    let errno = io::Error::from_raw_os_error(word(8) as i32);
    let stage = match (word(0), target) {
        (STAGE_STDIO, _) => SpawnStage::Stdio,
        (STAGE_SETNS, Target::Fd { namespaces, .. }) => match namespaces.get(word(4) as usize) {
            Some(ns) => SpawnStage::JoinNamespace {
                nstype: ns.nstype,
                path: ns.path.clone(),
            },
            None => SpawnStage::Exec,
        },
        (STAGE_CLOSE_FDS, _) => SpawnStage::CloseFds,
        _ => SpawnStage::Exec,
    };
    Err((stage, errno))
}

fn read_full(file: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

/// Kills (harmless if it already exited) and reaps our own child.
pub(crate) fn kill_and_reap(pid: libc::pid_t) {
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
}

fn errno() -> i32 {
    // SAFETY: reads this thread's errno; async-signal-safe.
    unsafe { *libc::__errno_location() }
}

/// Reports a failed step to the parent and exits. Async-signal-safe: one write of a
/// 12-byte buffer (atomic on a pipe) and _exit.
fn child_fail(status_w: RawFd, stage: u32, extra: u32, err: i32) -> ! {
    let mut report = [0u8; 12];
    report[..4].copy_from_slice(&stage.to_ne_bytes());
    report[4..8].copy_from_slice(&extra.to_ne_bytes());
    report[8..].copy_from_slice(&(err as u32).to_ne_bytes());
    // SAFETY: write and _exit are async-signal-safe; the buffer is on our stack.
    unsafe {
        libc::write(status_w, report.as_ptr().cast(), report.len());
        libc::_exit(127)
    }
}

/// Runs in the forked child. Only raw system calls: no allocation, no locks, no panics
/// (no indexing that could fail, no unwrap).
fn child_main(plan: &ExecPlan, target: &Target<'_>, stdio: [RawFd; 3], status_w: RawFd) -> ! {
    // SAFETY: (the whole block) every call is an async-signal-safe system call on fds and
    // memory that were valid at fork time and are private to this process now.
    unsafe {
        // Exec keeps ignored signals ignored and the mask as is: give the hook defaults
        // (the runtime may ignore SIGPIPE, and run_hook blocks it while writing stdin).
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        // 1..=64 covers every Linux signal; invalid or reserved ones just fail.
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }

        // A process group of its own, so that a timeout kills whatever the hook started
        // too (run.rs); the group outlives no member, and the leader is reaped only after.
        libc::setpgid(0, 0);

        // Move the pipes above 2 first, so that dup2 onto 0..2 cannot clobber one of
        // them (possible when the runtime runs with 0, 1 or 2 closed).
        let mut high = [-1; 3];
        for (slot, fd) in high.iter_mut().zip(stdio) {
            *slot = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
            if *slot < 0 {
                child_fail(status_w, STAGE_STDIO, 0, errno());
            }
        }
        for (target_fd, fd) in (0..).zip(high) {
            if libc::dup2(fd, target_fd) < 0 {
                child_fail(status_w, STAGE_STDIO, 0, errno());
            }
        }

        if let Target::Fd { namespaces, .. } = target {
            for (i, ns) in (0u32..).zip(namespaces.iter()) {
                if libc::setns(ns.fd.as_raw_fd(), ns.nstype.bits()) < 0 {
                    child_fail(status_w, STAGE_SETNS, i, errno());
                }
            }
        }

        // Nothing but 0, 1, 2 may reach the hook. CLOEXEC rather than close: the status
        // pipe must stay open until the exec itself succeeds.
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) < 0
        {
            mark_cloexec_slow(status_w);
        }

        match target {
            Target::Path => {
                libc::execve(
                    plan.path.as_ptr(),
                    plan.argv_ptrs.as_ptr(),
                    plan.envp_ptrs.as_ptr(),
                );
            }
            Target::Fd { exe, .. } => {
                let fd = exe.fd.as_raw_fd();
                if exe.is_script {
                    libc::fcntl(fd, libc::F_SETFD, 0);
                }
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    c"".as_ptr(),
                    plan.argv_ptrs.as_ptr(),
                    plan.envp_ptrs.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
            }
        }
        child_fail(status_w, STAGE_EXEC, 0, errno())
    }
}

/// Fallback for kernels without close_range (< 5.9): every fd up to the soft limit.
///
/// # Safety
/// Only async-signal-safe calls; meant for the forked child.
unsafe fn mark_cloexec_slow(status_w: RawFd) {
    let mut lim: libc::rlimit = std::mem::zeroed();
    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) < 0 {
        child_fail(status_w, STAGE_CLOSE_FDS, 0, errno());
    }
    let max = lim.rlim_cur.min(1 << 20) as RawFd;
    for fd in 3..max {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(path: &str, args: Option<Vec<&str>>, env: Option<Vec<&str>>) -> Hook {
        let mut h = Hook::default();
        h.set_path(path.into());
        h.set_args(args.map(|a| a.into_iter().map(String::from).collect()));
        h.set_env(env.map(|e| e.into_iter().map(String::from).collect()));
        h
    }

    #[test]
    fn argv_and_envp_follow_the_hook() {
        let plan =
            ExecPlan::new(&hook("/bin/x", Some(vec!["name", "-a"]), Some(vec!["A=1"]))).unwrap();
        assert_eq!(ExecPlan::strings(&plan._argv), [&b"name"[..], b"-a"]);
        assert_eq!(ExecPlan::strings(&plan._envp), [&b"A=1"[..]]);
        assert_eq!(plan.argv_ptrs.len(), 3);
        assert!(plan.argv_ptrs[2].is_null() && plan.envp_ptrs[1].is_null());

        let plan = ExecPlan::new(&hook("/bin/x", None, None)).unwrap();
        assert_eq!(ExecPlan::strings(&plan._argv), [&b"/bin/x"[..]]);
        assert_eq!(plan.envp_ptrs, [std::ptr::null()]);
    }

    #[test]
    fn nul_bytes_and_relative_paths_are_rejected() {
        let err = |h: Hook| ExecPlan::new(&h).err().unwrap();
        assert_eq!(
            err(hook("/bin/x", Some(vec!["a\0b"]), None)),
            "args contains a NUL byte"
        );
        assert_eq!(
            err(hook("/bin/x", None, Some(vec!["A=\0"]))),
            "env contains a NUL byte"
        );
        assert_eq!(err(hook("x", None, None)), "path must be absolute");
    }
}
