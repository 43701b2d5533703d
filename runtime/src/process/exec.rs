//! `exec`: a new process in a running container. The runtime enters the container's pid
//! namespace for the clone (so the child lands in it), puts the child in the container's
//! cgroup, and the child joins the other namespaces and confines itself as the container's
//! init did (finalize.rs), then execs. Success is seen as end-of-file on the close-on-exec
//! sync channel; a failure arrives as a message before it.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use libcgroups::common::CgroupManager;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::sync::{self, Msg, SyncError};
use crate::namespaces;
use crate::state::Saved;
use crate::sys::{self, Forked};

pub struct ExecOpts<'a> {
    pub process: Process,
    pub console_socket: Option<&'a Path>,
    /// A foreground exec with a terminal and no console socket proxies the pty itself.
    pub own_console: bool,
    pub preserve_fds: u32,
    /// `exec --cgroup`: sub-cgroups of the container's to run in.
    pub sub_cgroups: crate::cgroups::SubCgroups,
    /// A foreground exec: the process dies with the runtime process that waits for it (a
    /// SIGKILLed `gantry exec` leaves nothing in the container).
    pub die_with_parent: bool,
}

pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub console: Option<OwnedFd>,
}

/// The container's namespaces as seen through its init: (flag, path), user first, mount last.
fn container_namespaces(saved: &Saved) -> Vec<(LinuxNamespaceType, CloneFlags, PathBuf)> {
    let nss = saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    namespaces::JOIN_ORDER
        .into_iter()
        .filter(|t| nss.iter().any(|n| n.typ() == *t))
        .map(|t| {
            let path = PathBuf::from(format!(
                "/proc/{}/ns/{}",
                saved.pid,
                namespaces::proc_name(t)
            ));
            (t, namespaces::flag(t), path)
        })
        .collect()
}

pub fn spawn(saved: &Saved, o: ExecOpts) -> Result<Spawned> {
    let process = &o.process;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("exec: no command given (args or --process)");
    }
    crate::passfds::check(0, o.preserve_fds).map_err(|e| anyhow!("exec: {e}"))?;
    let super::console::ConsoleChannel {
        theirs: console,
        ours: own_console,
    } = super::console::channel(
        process.terminal().unwrap_or(false),
        o.console_socket,
        o.own_console,
    )?;
    let seccomp = saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(crate::seccomp::build)
        .transpose()?;
    let nss = container_namespaces(saved);
    // Open every namespace before the clone: the init could exit meanwhile.
    let mut ns_files = Vec::new();
    for (t, flag, path) in &nss {
        let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
        ns_files.push((*t, *flag, f));
    }
    // Without a mount namespace the init is chrooted in the host's: go where it is.
    let chroot = if nss.iter().any(|(t, _, _)| *t == LinuxNamespaceType::Mount) {
        None
    } else {
        let p = format!("/proc/{}/root", saved.pid);
        Some(File::open(&p).with_context(|| format!("open {p}"))?)
    };
    let (parent_chan, child_chan) = sync::pair().context("sync socketpair")?;
    let runtime_pidfd = match o.die_with_parent {
        true => Some(sys::pidfd_open(std::process::id() as i32).context("pidfd of the runtime")?),
        false => None,
    };
    let own_pidns = File::open("/proc/self/ns/pid")?;
    let pidns = ns_files
        .iter()
        .position(|(t, _, _)| *t == LinuxNamespaceType::Pid);
    // Rootless, the container's namespaces belong to its user namespace: only from inside it
    // can they be entered, and the runtime cannot come back out (via_userns.rs). Root holds
    // every capability over descendant user namespaces and enters them from here.
    let userns = ns_files
        .iter()
        .position(|(t, _, _)| *t == LinuxNamespaceType::User)
        .filter(|_| !nix::unistd::geteuid().is_root());
    if let (Some(i), None) = (pidns, userns) {
        nix::sched::setns(ns_files[i].2.as_fd(), CloneFlags::CLONE_NEWPID)
            .context("enter the container's pid namespace")?;
    }
    // The process moves itself into the init's cgroups (cgroups/selfjoin.rs), unless it
    // goes to sub-cgroups or its CPU affinity must be set before the move.
    let selfjoin = if saved.cgroup.skipped
        || !o.sub_cgroups.is_empty()
        || process.exec_cpu_affinity().is_some()
    {
        None
    } else {
        crate::cgroups::selfjoin::for_exec(saved.pid)
            .transpose()
            .map_err(|e| anyhow!("exec: join the container's cgroup: {e}"))?
    };
    let into = selfjoin.as_ref().and_then(|s| s.clone_into());
    let forked = match userns {
        // SAFETY: exec is single-threaded here (no thread of its own runs at the clone).
        None => unsafe { sys::clone3_into(0, into) }.context("clone3 the exec process")?,
        Some(u) => {
            let pid = pidns.map(|i| &ns_files[i].2);
            // SAFETY: exec is single-threaded here (no thread of its own runs at the clone).
            unsafe { super::via_userns::clone(0, &ns_files[u].2, pid, into) }
                .context("enter the container's user and pid namespaces")?
        }
    };
    if let Some(u) = userns {
        // The child is in the user namespace already: setns to it again would be EINVAL.
        if let Forked::Child = forked {
            ns_files.remove(u);
        }
    } else if let (Forked::Parent { .. }, Some(_)) = (&forked, pidns) {
        // Only the runtime goes back; the child stays in the container's pid namespace.
        nix::sched::setns(own_pidns.as_fd(), CloneFlags::CLONE_NEWPID)
            .context("return to own pid namespace")?;
    }
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_chan);
            let r = child(
                &child_chan,
                process,
                &ns_files,
                console.as_ref(),
                seccomp.as_ref(),
                o.preserve_fds,
                &Settle {
                    chroot: chroot.as_ref(),
                    personality: saved
                        .config
                        .linux()
                        .as_ref()
                        .and_then(|l| l.personality().as_ref()),
                    memory_policy: saved
                        .config
                        .linux()
                        .as_ref()
                        .and_then(|l| l.memory_policy().as_ref()),
                    die_with_parent: runtime_pidfd.as_ref(),
                    keyring: (!saved.no_new_keyring).then(|| {
                        let userns = nss.iter().any(|(t, _, _)| *t == LinuxNamespaceType::User);
                        (saved.id.as_str(), userns)
                    }),
                    cgroups: selfjoin.as_ref(),
                },
            );
            child_chan.fail(r.unwrap_err())
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_chan);
    drop(console);
    let self_joined = selfjoin.is_some();
    drop(selfjoin);
    let fail = |e: anyhow::Error| {
        let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    if !saved.cgroup.skipped && !self_joined {
        // With sub-cgroups the process goes straight where asked (libcgroups' manager joins
        // only the container's own cgroup; runc writes cgroupfs directly in that case too).
        if o.sub_cgroups.is_empty() {
            let mgr =
                crate::cgroups::manager(&saved.cgroup, &saved.id).map_err(|e| fail(e.into()))?;
            mgr.add_task(nix::unistd::Pid::from_raw(pid))
                .map_err(|e| fail(anyhow!("exec: join the container's cgroup: {e}")))?;
        }
        // libcgroups' manager covers its controllers only: join every other hierarchy the
        // init is in too (name=systemd, the hybrid cgroup2 mount), as runc does.
        if let Err(e) = crate::cgroups::join_init_hierarchies(saved.pid, pid, &o.sub_cgroups) {
            if matches!(e, crate::cgroups::CgroupError::SubCgroup(_)) {
                return Err(fail(anyhow!("exec --cgroup: {e}")));
            }
            if nix::unistd::geteuid().is_root() {
                return Err(fail(anyhow!("exec: {e}")));
            }
            crate::logger::info(&format!("rootless exec: {e}"));
        }
    }
    // runc puts exec'd processes in the container's resctrl group too.
    if let (Some(rdt), Some(root)) = (
        saved
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.intel_rdt().as_ref()),
        crate::resctrl::mount_point(),
    ) {
        crate::resctrl::Group::of(&root, &saved.id, rdt)
            .join(pid)
            .map_err(|e| fail(anyhow!("exec: {e}")))?;
    }
    parent_chan.send(&Msg::Go).map_err(|e| fail(e.into()))?;
    let mut reply = parent_chan.recv_fd();
    if let (Ok((Msg::SeccompFd, Some(fd))), Some(l)) =
        (&reply, seccomp.as_ref().and_then(|p| p.listener.as_ref()))
    {
        // runc does the same for exec: the agent gets each process's own listener.
        let st = crate::state::oci_state(saved, crate::state::Status::Running);
        let st: serde_json::Value = serde_json::from_slice(&st).map_err(|e| fail(e.into()))?;
        crate::seccomp::notify::send(l, fd, pid, st).map_err(|e| fail(e.into()))?;
        reply = parent_chan.recv_fd();
    }
    match reply.map(|(m, _)| m) {
        Err(SyncError::Closed) => {} // close-on-exec: the program is running
        Ok(Msg::Error(e)) => {
            drop(parent_chan); // the child lingers until we close (Channel::fail)
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            bail!("exec: {e}")
        }
        Ok(m) => return Err(fail(anyhow!("exec: unexpected {m:?}"))),
        Err(e) => return Err(fail(e.into())),
    }
    Ok(Spawned {
        pid,
        pidfd,
        console: own_console,
    })
}

/// What the child takes on from the container's init once in its namespaces.
struct Settle<'a> {
    /// The init's root, for a container without a mount namespace.
    chroot: Option<&'a File>,
    personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    /// A pidfd of the runtime process the child must die with (a foreground exec).
    die_with_parent: Option<&'a OwnedFd>,
    /// The container's session keyring to join: its id and whether it has a user namespace
    /// (None: created with --no-new-keyring).
    keyring: Option<(&'a str, bool)>,
    /// The cgroups the process moves itself into (cgroups/selfjoin.rs).
    cgroups: Option<&'a crate::cgroups::selfjoin::SelfJoin>,
}

/// PR_SET_PDEATHSIG SIGKILL: the kernel clears it when the credentials change, so it is set
/// right after the clone and again after the user switch, just before execve. A parent that
/// died before either call sends no signal: its pidfd (readable once it has exited) tells,
/// and the child goes too (else a SIGKILLed exec could leave its program running).
fn die_with_parent(parent: &OwnedFd) {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let mut p = [nix::poll::PollFd::new(
        parent.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    if nix::poll::poll(&mut p, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0) {
        sys::exit_now(1);
    }
}

/// The child: join or wait for the cgroup, join the namespaces, confine, exec. Returns only on
/// error.
fn child(
    chan: &sync::Channel,
    process: &Process,
    ns_files: &[(LinuxNamespaceType, CloneFlags, File)],
    console: Option<&OwnedFd>,
    seccomp: Option<&crate::seccomp::Program>,
    preserve_fds: u32,
    settle: &Settle,
) -> Result<(), String> {
    if let Some(p) = settle.die_with_parent {
        die_with_parent(p);
    }
    if let Some(c) = settle.cgroups {
        c.join()?;
    }
    // Before anything of the container is touched: only our own fds and the passed ones stay.
    let mut keep: Vec<RawFd> = ns_files.iter().map(|(_, _, f)| f.as_raw_fd()).collect();
    keep.push(chan.as_raw_fd());
    keep.extend(console.map(|c| c.as_raw_fd()));
    keep.extend(settle.chroot.map(|f| f.as_raw_fd()));
    keep.extend(settle.die_with_parent.map(|f| f.as_raw_fd()));
    super::finalize::close_inherited(&keep, preserve_fds)?;
    // config.md execCPUAffinity: `initial` until the move into the container's cgroup
    // (which resets the affinity to its cpuset), `final` after it.
    let affinity = process.exec_cpu_affinity().as_ref();
    let set = |l: &&str| !l.trim().is_empty(); // empty: the kernel decides
    if let Some(l) = affinity.and_then(|a| a.initial().as_deref()).filter(set) {
        crate::confine::sched::cpu_affinity("process.execCPUAffinity.initial", l)?;
    }
    chan.expect(Msg::Go)?;
    if let Some(l) = affinity
        .and_then(|a| a.cpu_affinity_final().as_deref())
        .filter(set)
    {
        crate::confine::sched::cpu_affinity("process.execCPUAffinity.final", l)?;
    }
    for (t, flag, f) in ns_files {
        if *t == LinuxNamespaceType::Pid {
            continue; // entered by the clone
        }
        nix::sched::setns(f.as_fd(), *flag)
            .map_err(|e| format!("join the container's {t} namespace: {e}"))?;
    }
    if let Some(root) = settle.chroot {
        nix::unistd::fchdir(root.as_raw_fd())
            .and_then(|_| nix::unistd::chroot("."))
            .map_err(|e| format!("chroot into the container's root: {e}"))?;
    }
    // Not the caller's session keyring: the container's, by name (made by its init).
    if let Some((id, userns)) = settle.keyring {
        crate::confine::keyring::join_session(id, userns)?;
    }
    if let Some(p) = settle.personality {
        crate::confine::personality::apply(p)?;
    }
    if let Some(p) = settle.memory_policy {
        crate::confine::sched::memory_policy(p)?;
    }
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    if let Some(sock) = console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        super::console::setup(sock, size, false)?;
    }
    let program = super::finalize::confine_and_find(
        process,
        seccomp,
        &[],
        preserve_fds,
        &[
            Some(chan.as_raw_fd()),
            settle.die_with_parent.map(|f| f.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>(),
    )?;
    // After the user switch, before the seccomp filter (which may not allow prctl).
    if let Some(p) = settle.die_with_parent {
        die_with_parent(p);
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    if let Some(p) = seccomp {
        // Last, so that nothing of the runtime's own runs under the container's filter (but
        // the send of a notify listener to the runtime, for its agent).
        if let Some(fd) = crate::seccomp::install(p).map_err(|e| e.to_string())? {
            chan.send_fd(&Msg::SeccompFd, &fd)
                .map_err(|e| e.to_string())?;
        }
    }
    let e = nix::unistd::execve(&program.path, &program.args, &program.env).unwrap_err();
    Err(format!("exec {:?}: {e}", program.path))
}
