//! Running one hook: stdin feeding, output capture and the timeout, all driven by one
//! poll(2) over the pipes and the hook's pidfd. No threads, no sleeps.

use crate::error::{HookError, HookId, SpawnStage};
use crate::output::{push_bounded, HookOutput};
use crate::spawn::{self, ExecPlan, Executable, NsFd, Target};
use crate::sys::{self, SigpipeGuard};
use crate::HookKind;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Runs one hook in the runtime's namespaces: argv = `args` (or the path), env =
/// exactly `env`, `state_json` on stdin, stdout and stderr captured (the last
/// [`crate::OUTPUT_LIMIT`] bytes of each). With a `timeout` the hook gets SIGKILL when
/// it expires. Success is exit status 0.
///
/// The hook is a child of the calling process and is reaped here: the caller must not
/// reap children it does not own (`waitpid(-1)`, SIGCHLD set to SIG_IGN) meanwhile.
/// Blocks the calling thread until the hook exits or times out; returns as soon as
/// the hook exits, even if a background child of the hook keeps its stdout open.
pub fn run_hook(
    kind: HookKind,
    index: usize,
    hook: &Hook,
    state_json: &[u8],
) -> Result<HookOutput, HookError> {
    run_one(HookId::new(kind, index, hook), hook, state_json, None)
}

/// `namespaces` = Some: open the executable here, join them in the child, exec by fd.
/// Its start and end go to the registered logger (observe.rs).
pub(crate) fn run_one(
    id: HookId,
    hook: &Hook,
    state_json: &[u8],
    namespaces: Option<&[NsFd]>,
) -> Result<HookOutput, HookError> {
    let started = Instant::now();
    let r = run_observed(id.clone(), hook, state_json, namespaces);
    crate::observe::ended(&id, started.elapsed(), &r);
    r
}

fn run_observed(
    id: HookId,
    hook: &Hook,
    state_json: &[u8],
    namespaces: Option<&[NsFd]>,
) -> Result<HookOutput, HookError> {
    let invalid = |reason: String| HookError::Invalid {
        hook: id.clone(),
        reason,
    };
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => return Err(invalid(format!("timeout must be > 0, got {t}"))),
        Some(t) => Some(t as u64),
        None => None,
    };
    let plan = ExecPlan::new(hook).map_err(invalid)?;
    let spawn_err = |(stage, source): spawn::SpawnError| HookError::Spawn {
        hook: id.clone(),
        stage,
        source,
    };
    let exe = match namespaces {
        Some(_) => Some(Executable::open(hook.path()).map_err(spawn_err)?),
        None => None,
    };
    let target = match (&exe, namespaces) {
        (Some(exe), Some(namespaces)) => Target::Fd { exe, namespaces },
        _ => Target::Path,
    };

    let pipe = || -> Result<(OwnedFd, OwnedFd), HookError> {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| spawn_err((SpawnStage::Pipe, e.into())))
    };
    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    for fd in [&stdin_w, &stdout_r, &stderr_r] {
        sys::set_nonblocking(fd.as_fd()).map_err(|e| spawn_err((SpawnStage::Pipe, e)))?;
    }

    // Blocked before the fork too: the child resets its mask before exec.
    let sigpipe = SigpipeGuard::block();
    let (pid, pidfd) = spawn::spawn(
        &plan,
        &target,
        [stdin_r.as_fd(), stdout_w.as_fd(), stderr_w.as_fd()],
    )
    .map_err(spawn_err)?;
    crate::observe::started(&id, pid, hook, timeout);
    let mut child = Child {
        pid,
        pidfd,
        reaped: false,
    };
    // Our copies of the child's ends must go, or we would never see EOF.
    drop((stdin_r, stdout_w, stderr_w));

    let started = Instant::now();
    let mut io = Io {
        stdin: (!state_json.is_empty()).then(|| File::from(stdin_w)),
        input: state_json,
        written: 0,
        stdout: Some(File::from(stdout_r)),
        stderr: Some(File::from(stderr_r)),
        output: HookOutput::default(),
        sigpipe: &sigpipe,
    };
    let deadline = timeout.and_then(|t| started.checked_add(Duration::from_secs(t)));
    let ending = io.pump(&child, deadline);
    let output = std::mem::take(&mut io.output);
    match ending {
        Err(source) => Err(HookError::Io { hook: id, source }),
        Ok(Ending::TimedOut) => {
            child.kill_and_wait();
            Err(HookError::Timeout {
                hook: id,
                seconds: timeout.unwrap_or_default(),
                output,
            })
        }
        Ok(Ending::Exited) => match child.wait() {
            Ok(WaitStatus::Exited(_, 0)) => Ok(output),
            Ok(WaitStatus::Exited(_, code)) => Err(HookError::Exited {
                hook: id,
                code,
                output,
            }),
            Ok(WaitStatus::Signaled(_, signal, _)) => Err(HookError::Signaled {
                hook: id,
                signal,
                output,
            }),
            Ok(other) => Err(HookError::Io {
                hook: id,
                source: io::Error::other(format!("unexpected wait status {other:?}")),
            }),
            Err(source) => Err(HookError::Io { hook: id, source }),
        },
    }
}

/// Our running child. Dropping it unreaped kills and reaps it, so that no error path
/// (or panic) leaves a hook behind.
struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    reaped: bool,
}

impl Child {
    fn wait(&mut self) -> io::Result<WaitStatus> {
        loop {
            match waitpid(Pid::from_raw(self.pid), None) {
                Err(nix::errno::Errno::EINTR) => continue,
                // Also on error (ECHILD: the runtime set SIGCHLD to SIG_IGN and the
                // kernel reaped it): never touch this pid again.
                other => {
                    self.reaped = true;
                    return other.map_err(io::Error::from);
                }
            }
        }
    }

    /// Kills the hook and every process left in its process group (a shell's children, a
    /// helper it forked), then reaps the hook.
    fn kill_and_wait(&mut self) {
        // Through the pidfd: cannot hit a recycled pid.
        let _ = sys::pidfd_kill(self.pidfd.as_fd());
        // The group's id is the hook's pid, which stays ours until we reap it, so this
        // cannot reach a group that another process made since.
        // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let _ = self.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_and_wait();
        }
    }
}

enum Ending {
    Exited,
    TimedOut,
}

struct Io<'a> {
    stdin: Option<File>,
    input: &'a [u8],
    written: usize,
    stdout: Option<File>,
    stderr: Option<File>,
    output: HookOutput,
    sigpipe: &'a SigpipeGuard,
}

const STDIN: usize = 0;
const STDOUT: usize = 1;
const STDERR: usize = 2;
const PIDFD: usize = 3;

fn pollfd(fd: Option<&File>, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.map_or(-1, |f| f.as_raw_fd()),
        events,
        revents: 0,
    }
}

impl Io<'_> {
    /// Feeds stdin and collects output until the hook exits or the deadline passes.
    fn pump(&mut self, child: &Child, deadline: Option<Instant>) -> io::Result<Ending> {
        loop {
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Ending::TimedOut);
                    }
                    // Round up so that we never wake just before the deadline.
                    left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32
                }
            };
            let mut fds = [
                pollfd(self.stdin.as_ref(), libc::POLLOUT),
                pollfd(self.stdout.as_ref(), libc::POLLIN),
                pollfd(self.stderr.as_ref(), libc::POLLIN),
                libc::pollfd {
                    fd: child.pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            match sys::poll(&mut fds, timeout_ms) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            if fds[STDIN].revents != 0 {
                self.write_stdin();
            }
            if fds[STDOUT].revents != 0 {
                drain(&mut self.stdout, &mut self.output.stdout)?;
            }
            if fds[STDERR].revents != 0 {
                drain(&mut self.stderr, &mut self.output.stderr)?;
            }
            if fds[PIDFD].revents != 0 {
                // What the hook wrote before exiting is in the pipes now; take it, but do
                // not wait for EOF: a background child of the hook may keep them open.
                drain(&mut self.stdout, &mut self.output.stdout)?;
                drain(&mut self.stderr, &mut self.output.stderr)?;
                return Ok(Ending::Exited);
            }
        }
    }

    /// Writes as much as the pipe takes; closes stdin when done or when the hook closed
    /// its end (EPIPE: a hook need not read its state).
    fn write_stdin(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        while self.written < self.input.len() {
            match stdin.write(&self.input[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    if e.kind() == ErrorKind::BrokenPipe {
                        self.sigpipe.consume();
                    }
                    break;
                }
            }
        }
        self.stdin = None;
    }
}

/// Reads what is available now; closes the stream at EOF.
fn drain(stream: &mut Option<File>, buf: &mut Vec<u8>) -> io::Result<()> {
    let Some(file) = stream.as_mut() else {
        return Ok(());
    };
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => {
                *stream = None;
                return Ok(());
            }
            Ok(n) => push_bounded(buf, &chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
