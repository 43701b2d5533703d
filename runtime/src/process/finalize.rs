//! The last steps before exec, shared by a container's init and by `exec`: rlimits, LSM exec
//! labels, capabilities around the user switch, no_new_privs, seccomp, cwd, umask, the
//! program looked up in the container's PATH, and the fds that may survive the exec.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gantry_sys::is_executable;
use oci_spec::runtime::Process;

use crate::confine;
use crate::seccomp;

/// What to execve.
pub struct Program {
    pub path: CString,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
}

/// Close every fd but stdio, the passed ones (3..3+pass_fds), the log file and `keep` (the
/// sync channel, the exec fifo, the console socket): done right after the clone and again
/// before the chdir, so no fd of the runtime or its caller can become the container's cwd
/// (CVE-2024-21626). Close-on-exec is not enough: the runtime runs container-facing code
/// (chdir, hooks) before its exec.
pub fn close_inherited(keep: &[RawFd], pass_fds: u32) -> Result<(), String> {
    let mut all: Vec<RawFd> = keep.to_vec();
    all.extend((3..3 + pass_fds).map(|f| f as RawFd));
    all.extend(crate::logger::raw_fd());
    crate::sys::close_fds_except(&all).map_err(|e| format!("close inherited fds: {e}"))
}

/// Confine the calling process as `process` says and find its program. The seccomp filter
/// (`filter`) is not installed here: the caller installs it as the very last step before the
/// exec, so that nothing of the runtime runs under it. Without no_new_privs that install needs
/// CAP_SYS_ADMIN, which is kept in the effective and permitted sets until then; the exec
/// drops it again (the new sets come from bounding, inheritable and ambient, not from the old
/// permitted set), so the program gets exactly what its config gives. `keep` are the
/// runtime's own fds still needed until the exec.
pub fn confine_and_find(
    process: &Process,
    filter: Option<&seccomp::Program>,
    extra_env: &[String],
    pass_fds: u32,
    keep: &[RawFd],
) -> Result<Program, String> {
    // While every capability is still held (an RT class or policy needs CAP_SYS_NICE).
    if let Some(p) = process.io_priority() {
        confine::sched::io_priority(p)?;
    }
    if let Some(s) = process.scheduler() {
        confine::sched::scheduler(s)?;
    }
    confine::rlimits::apply(process.rlimits().as_deref().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        confine::lsm::set_apparmor_exec(p)
            .map_err(|e| format!("process.apparmorProfile {p}: {e}"))?;
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        confine::lsm::set_selinux_exec(l).map_err(|e| format!("process.selinuxLabel {l}: {e}"))?;
    }
    let caps = confine::caps::plan(process.capabilities().as_ref()).map_err(|e| e.to_string())?;
    confine::caps::drop_bounding(&caps).map_err(|e| e.to_string())?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    confine::user::switch(process.user()).map_err(|e| e.to_string())?;
    confine::caps::apply(&caps, filter.is_some() && !nnp).map_err(|e| e.to_string())?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("process.noNewPrivileges: {e}"))?;
    }
    close_inherited(keep, pass_fds)?;
    enter_cwd(process.cwd())?;
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        umask as libc::mode_t,
    ));
    let program = find(process, extra_env)?;
    // Only stdio and the fds passed on purpose survive the exec.
    for fd in 3..3 + pass_fds {
        crate::sys::clear_cloexec(fd as i32).map_err(|e| format!("preserve fd {fd}: {e}"))?;
    }
    crate::sys::cloexec_from(3 + pass_fds).map_err(|e| format!("close_range: {e}"))?;
    Ok(program)
}

/// chdir to process.cwd, resolved from the container's root, and check that the result is
/// inside that root: a path through a magic link (/proc/self/fd/N on an fd from outside,
/// such as one passed with --preserve-fds) can land anywhere, and then getcwd(2) answers
/// "(unreachable)" instead of an absolute path.
fn enter_cwd(cwd: &Path) -> Result<(), String> {
    let what = || format!("process.cwd {}", cwd.display());
    nix::unistd::chdir(cwd).map_err(|e| format!("{}: {e}", what()))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: getcwd writes at most buf.len() bytes into the live buffer. The raw syscall,
    // because libc wrappers differ in how they report an unreachable cwd.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("{}: getcwd: {e}", what()));
    }
    if buf.first() != Some(&b'/') {
        return Err(format!(
            "{}: resolves outside the container's root filesystem (refused: a possible breakout through a leaked fd)",
            what()
        ));
    }
    Ok(())
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why execve(2) of `p` would fail, in its words: "no such file or directory" where nothing
/// is there, "permission denied" (EACCES) for a directory or a file the process may not
/// execute (engines tell that from a missing program: Podman reports "OCI permission denied").
fn check_program(p: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory in the container".to_string(),
        _ => e.to_string(),
    })?;
    if meta.is_dir() {
        return Err("permission denied (EACCES): it is a directory".into());
    }
    // As the process's own ids (the user switch is done): the kernel's check of execve.
    match nix::unistd::access(p, nix::unistd::AccessFlags::X_OK) {
        Ok(()) if meta.is_file() => Ok(()),
        Ok(()) => Err("permission denied (EACCES): not a regular file".into()),
        Err(nix::Error::EACCES) => Err(format!(
            "permission denied (EACCES): mode {:o}, not executable by uid {}",
            meta.permissions().mode() & 0o7777,
            nix::unistd::geteuid()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// args[0] looked up in the container's PATH (from process.env), as runc does, and the env.
pub fn find(process: &Process, extra_env: &[String]) -> Result<Program, String> {
    let args = process.args().clone().unwrap_or_default();
    let arg0 = args.first().ok_or("process.args is empty")?;
    let mut env = process.env().clone().unwrap_or_default();
    env.extend(extra_env.iter().cloned());
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            confine::user::home_for(process.user().uid())
        ));
    }
    let path = if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        check_program(&p).map_err(|e| format!("exec {arg0:?}: {e}"))?;
        p
    } else {
        let search = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        search
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
            .find(|p| is_executable(p))
            .ok_or_else(|| {
                format!("exec {arg0:?}: executable file not found in $PATH ({search})")
            })?
    };
    let cs = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    Ok(Program {
        path: cs(&path.to_string_lossy())?,
        args: args.iter().map(|a| cs(a)).collect::<Result<_, _>>()?,
        env: env.iter().map(|e| cs(e)).collect::<Result<_, _>>()?,
    })
}
