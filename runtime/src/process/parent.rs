//! The runtime's side of `create`: plan, state dir, clone, id maps, cgroup, hooks, state.
//! Every step that acquires something is undone if a later one fails, so a failed create
//! leaves no state dir, cgroup or process behind.

use std::cell::Cell;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use super::init::{self, InitCtx};
use super::sync::{self, Msg};
use crate::bundle::{self, Bundle};
use crate::cgroups;
use crate::namespaces;
use crate::setup_oom::SetupOomKill;
use crate::state::{self, ContainerDir, Saved, Status};
use crate::sys::{self, Forked};

/// Options of `create` and `run`.
pub struct CreateOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    pub cgroup_root: Option<&'a Path>,
    /// Native GPU injection (CDI specs, jit).
    pub gpu: &'a crate::cdi::GpuOpts,
    /// A foreground `run`: with process.terminal and no --console-socket, take the pty
    /// master ourselves (returned in `Created::console`).
    pub own_console: bool,
}

/// A container whose init waits for `start`.
pub struct Created {
    pub dir: ContainerDir,
    pub saved: Saved,
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Our end of the console socket, when `own_console` was asked for and used.
    pub console: Option<OwnedFd>,
}

/// Undo list for a create in progress.
struct Undo<'a> {
    dir: Option<ContainerDir>,
    child: Option<(i32, OwnedFd)>,
    cgroup: Option<(libcgroups::common::AnyCgroupManager, cgroups::Placement)>,
    /// The rootfs bound on the host for a container without a mount namespace.
    host_bind: Option<std::path::PathBuf>,
    /// The container's resctrl groups (linux.intelRdt).
    resctrl: Option<crate::resctrl::Group>,
    /// The memory cgroup under a limit, and where an OOM kill of the init is reported.
    oom: Option<crate::setup_oom::Watch>,
    oom_seen: &'a Cell<Option<SetupOomKill>>,
    _root: &'a Path,
}

impl Undo<'_> {
    fn disarm(&mut self) -> (ContainerDir, i32, OwnedFd) {
        self.cgroup = None;
        self.resctrl = None;
        self.host_bind = None;
        let (pid, fd) = self.child.take().expect("child");
        (self.dir.take().expect("dir"), pid, fd)
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some((pid, fd)) = self.child.take() {
            let _ = sys::pidfd_send_signal(&fd, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Some(rootfs) = self.host_bind.take() {
            if let Err(e) = crate::rootfs::host_root::unbind(&rootfs) {
                crate::logger::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(g) = self.resctrl.take() {
            if let Err(e) = g.remove() {
                crate::logger::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some((mgr, path)) = self.cgroup.take() {
            // Read before the cgroup goes: an init the OOM killer took is the real error.
            self.oom_seen
                .set(self.oom.as_ref().and_then(|w| w.oom_kill()));
            if let Err(e) = cgroups::remove(&mgr, &path) {
                crate::logger::warn(&format!("cleanup: {e}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

/// How many fds after stdio go to the container (LISTEN_FDS + --preserve-fds, each checked
/// open by `passfds::check`), and the env to add.
fn passed_fds(preserve: u32) -> Result<(u32, Vec<String>)> {
    let listen = crate::passfds::listen_fds();
    crate::passfds::check(listen, preserve).map_err(|e| anyhow!(e))?;
    let env = if listen > 0 {
        vec![format!("LISTEN_FDS={listen}"), "LISTEN_PID=1".to_string()]
    } else {
        Vec::new()
    };
    Ok((listen + preserve, env))
}

pub fn create(o: CreateOpts) -> Result<Created> {
    let oom = Cell::new(None);
    create_watched(o, &oom).map_err(|e| match oom.take() {
        // The init's death explains whatever create saw next (a closed sync channel).
        Some(kill) => {
            crate::logger::debug(&format!("create failed: {e:#}"));
            anyhow::Error::new(kill)
        }
        None => e,
    })
}

fn create_watched(o: CreateOpts, oom_seen: &Cell<Option<SetupOomKill>>) -> Result<Created> {
    let (pass_fds, extra_env) = passed_fds(o.preserve_fds)?;
    state::validate_id(o.id)?;
    let existing = o.root.join(o.id);
    if existing.exists() {
        // A create of this id that was killed before it finished is cleaned up; anything else
        // is a duplicate.
        if !crate::recovery::is_abandoned(&existing) {
            bail!("container {} already exists", o.id);
        }
        crate::recovery::clean(o.root, o.id)?;
    }
    let mut bundle = bundle::load(o.bundle)?;
    // GPUs (CDI edits) into the plan, before anything is created.
    crate::cdi::apply(&mut bundle, o.gpu)?;
    let bundle = bundle;
    let spec = &bundle.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let ns = namespaces::plan(Some(&linux)).map_err(|e| anyhow!(e))?;
    // runc: a private root propagation with a move + chroot root is "not safe".
    if o.no_pivot
        && matches!(
            linux.rootfs_propagation().as_deref(),
            Some("private" | "rprivate")
        )
    {
        bail!("config.json: linux.rootfsPropagation: [r]private is not safe without pivot_root (--no-pivot)");
    }
    let has_mnt = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Mount);
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(crate::seccomp::build)
        .transpose()?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let super::console::ConsoleChannel {
        theirs: console,
        ours: own_console,
    } = super::console::channel(terminal, o.console_socket, o.own_console)?;

    let mut undo = Undo {
        dir: Some(ContainerDir::create(o.root, o.id)?),
        child: None,
        cgroup: None,
        host_bind: None,
        resctrl: None,
        oom: None,
        oom_seen,
        _root: o.root,
    };
    let dir_path = undo.dir.as_ref().expect("dir").path.clone();
    undo.dir.as_ref().expect("dir").note_bundle(&bundle.dir)?;
    if !has_mnt {
        // No mount namespace: the container's mounts are the host's, all under this bind.
        std::fs::write(dir_path.join(crate::rootfs::host_root::MARKER), b"")
            .context("note the rootfs bind")?;
        crate::rootfs::host_root::bind(&bundle.rootfs)?;
        undo.host_bind = Some(bundle.rootfs.clone());
    }
    let fifo_path = dir_path.join(state::EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o600)).context("make exec fifo")?;
    // Read-write: opening never blocks, and the init's read blocks until `start` writes.
    let fifo: OwnedFd = File::options()
        .read(true)
        .write(true)
        .open(&fifo_path)
        .context("open exec fifo")?
        .into();

    let mut placement = cgroups::Placement {
        path: cgroups::path_for(spec, o.id, o.systemd_cgroup),
        systemd: o.systemd_cgroup,
        root: o.cgroup_root.map(Path::to_path_buf),
        skipped: false,
        created_parents: Vec::new(),
    };
    placement.note_missing_parents();
    let rootless = !nix::unistd::geteuid().is_root();
    let (parent_chan, child_chan) = sync::pair().context("sync socketpair")?;

    // The init moves itself into its cgroups (cgroups/selfjoin.rs: no RCU grace period), so
    // they are made and opened now. Not through the intermediate process that joins a user
    // namespace by path (the parent joins that init as before).
    // They are made before the init exists: record the cgroup first (pid 0: no init yet), so
    // that a create killed from here on is still cleaned up by a later delete.
    crate::recovery::record(
        &dir_path,
        &crate::recovery::Creating {
            pid: 0,
            pid_start: 0,
            cgroup: placement.clone(),
        },
    )?;
    let mut selfjoin = match ns.join_user {
        None => crate::cgroups::selfjoin::for_create(&placement).transpose()?,
        Some(_) => None,
    };
    // A pid namespace joined by path applies to children only: enter it for the clone, then
    // return to our own.
    let own_pidns = match &ns.join_pid {
        Some(p) if ns.join_user.is_none() => {
            let own = File::open("/proc/self/ns/pid")?;
            namespaces::join(&linux, CloneFlags::CLONE_NEWPID, p).map_err(|e| anyhow!(e))?;
            Some(own)
        }
        _ => None,
    };
    let forked = match clone_init(
        ns.clone_flags.bits() as u64,
        ns.join_user.as_deref(),
        ns.join_pid.as_deref(),
        selfjoin.as_ref().and_then(|s| s.clone_into()),
    ) {
        Ok(f) => f,
        Err(e) => {
            if let Some(s) = selfjoin.take() {
                s.undo();
            }
            return Err(e.context("clone3 the container init"));
        }
    };
    if let (Some(own), Forked::Parent { .. }) = (&own_pidns, &forked) {
        // Only the runtime goes back; the init stays where it was cloned.
        nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
            .context("return to own pid namespace")?;
    }
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_chan);
            // Close our copy of the state dir lock (it would block `start` until the exec),
            // and never run the parent's cleanup here.
            drop(undo.dir.take());
            undo.cgroup = None;
            undo.host_bind = None;
            std::mem::forget(undo);
            init::run(InitCtx {
                id: o.id,
                bundle: &bundle,
                ns: &ns,
                chan: child_chan,
                fifo,
                console,
                no_pivot: o.no_pivot,
                no_new_keyring: o.no_new_keyring,
                pass_fds,
                extra_env,
                seccomp,
                cgroups: selfjoin.take(),
            })
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    // Our copies of the files the init joins through are no longer needed.
    let self_joined = selfjoin.take().is_some();
    drop(child_chan);
    drop(console);
    undo.child = Some((pid, pidfd.try_clone()?));
    // The cgroup manager is built only now: on v1 it opens a procfs handle (pathrs caches it
    // for the process), which the init must never inherit (CVE-2024-21626).
    let mgr = cgroups::manager(&placement, o.id)?;
    undo.cgroup = Some((mgr, placement.clone()));
    // What a later delete needs if we are killed before state.json: the init and the cgroup
    // (made below). The start time tells the init from a process that reuses its pid.
    let pid_start = state::proc_stat(pid)
        .map(|(_, s)| s)
        .ok_or_else(|| anyhow!("the container init (pid {pid}) died during create"))?;
    crate::recovery::record(
        &dir_path,
        &crate::recovery::Creating {
            pid,
            pid_start,
            cgroup: placement.clone(),
        },
    )?;

    if ns.new_user {
        crate::idmap::write(pid, &linux, rootless)?;
    }
    if let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        move_net_devices(devices, &ns, pid)?;
    }
    // The init builds its rootfs while we join it to the cgroup; it waits for Go before
    // anything that needs the cgroup (its cgroup namespace, a cgroup mount, the program).
    send_or_init_error(&parent_chan, &Msg::Maps)?;
    if ns.new_time && linux.time_offsets().is_some() {
        parent_chan.expect(Msg::TimeNs).map_err(|e| anyhow!(e))?;
        namespaces::write_time_offsets(pid, &linux).map_err(|e| anyhow!(e))?;
        parent_chan.send(&Msg::TimeSet)?;
    }
    let (mgr, _) = undo.cgroup.as_ref().expect("cgroup");
    undo.oom = crate::setup_oom::Watch::before_limits(mgr, &placement, spec);
    match cgroups::join_and_apply(mgr, &placement, pid, spec, self_joined) {
        Ok(()) => {}
        // Rootless, as runc and crun do: without a cgroup delegated to us (it cannot be made
        // or joined: permission denied), run without one. Any other failure, such as
        // applying linux.resources to a cgroup we could make, fails the create (and the undo
        // list removes that cgroup).
        Err(e @ cgroups::CgroupError::Join { .. }) if rootless && e.is_permission() => {
            // Limits asked for cannot be applied without a cgroup: an error, as in runc
            // ("cannot set ... limit: container could not join or create cgroup").
            let wanted = linux
                .resources()
                .as_ref()
                .map(cgroups::limits_requested)
                .unwrap_or_default();
            if !wanted.is_empty() {
                bail!(
                    "linux.resources.{}: cannot be applied: the container runs rootless and cannot join or create its cgroup ({e})",
                    wanted.join(", linux.resources.")
                );
            }
            crate::logger::info(&format!("rootless: running without a cgroup: {e}"));
            placement.skipped = true;
            if let Some((mgr, p)) = undo.cgroup.take() {
                let _ = cgroups::remove(&mgr, &p);
            }
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(rdt) = linux.intel_rdt() {
        // bundle::check found resctrl mounted; the init is not running the program yet.
        let root = crate::resctrl::mount_point()
            .ok_or_else(|| anyhow!("linux.intelRdt: resctrl is no longer mounted"))?;
        undo.resctrl = Some(crate::resctrl::apply(&root, o.id, rdt, pid)?);
    }
    send_or_init_error(&parent_chan, &Msg::Go)?;

    let saved = Saved {
        id: o.id.to_string(),
        pid,
        pid_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::logger::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: placement,
        config: spec.clone(),
        no_new_keyring: o.no_new_keyring,
    };
    parent_chan.expect(Msg::RunHooks).map_err(|e| anyhow!(e))?;
    let hook_state = state::oci_state(&saved, Status::Creating);
    run_runtime_hooks(&bundle, &hook_state)?;
    if let Some(l) = seccomp.as_ref().and_then(|p| p.listener.as_ref()) {
        // The init's notify filter is on: its listener goes to the agent now, before start.
        let state: serde_json::Value = serde_json::from_slice(&hook_state)?;
        parent_chan.send(&Msg::Continue(hook_state))?;
        match parent_chan.recv_fd()? {
            (Msg::SeccompFd, Some(fd)) => crate::seccomp::notify::send(l, &fd, pid, state)?,
            (Msg::Error(e), _) => bail!(e),
            (m, _) => bail!("sync: expected the seccomp listener fd, got {m:?}"),
        }
    } else {
        parent_chan.send(&Msg::Continue(hook_state))?;
    }
    parent_chan.expect(Msg::Ready).map_err(|e| anyhow!(e))?;

    let dir = undo.dir.as_ref().expect("dir");
    dir.save(&saved)?;
    // The init waits for this before it waits for `start` (it exits on end-of-file instead).
    parent_chan.send(&Msg::Saved)?;
    if let Some(p) = o.pid_file {
        write_pid_file(p, pid)?;
    }
    crate::logger::debug(&format!(
        "created container {} (init pid {pid}, bundle {}, cgroup {})",
        o.id,
        bundle.dir.display(),
        saved.cgroup.path.display()
    ));
    let (dir, pid, pidfd) = undo.disarm();
    Ok(Created {
        dir,
        saved,
        pid,
        pidfd,
        console: own_console,
    })
}

/// linux.netDevices: into the network namespace the init joins by path (it may not have
/// joined yet; the path names the same namespace), or the one it was cloned into (bundle.rs
/// refuses netDevices without a network namespace entry).
fn move_net_devices(
    devices: &std::collections::HashMap<String, oci_spec::runtime::LinuxNetDevice>,
    ns: &namespaces::NsPlan,
    pid: i32,
) -> Result<()> {
    let path = ns
        .join
        .iter()
        .find(|(flag, _)| *flag == CloneFlags::CLONE_NEWNET)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| format!("/proc/{pid}/ns/net").into());
    let netns = File::open(&path).with_context(|| {
        format!(
            "linux.netDevices: open network namespace {}",
            path.display()
        )
    })?;
    crate::netdev::move_all(devices, &netns)?;
    Ok(())
}

/// Send `m` to the init; if it is gone, the error it sent before it exited (a mount that failed
/// while we joined the cgroup) is the one to report, not the broken pipe.
fn send_or_init_error(chan: &sync::Channel, m: &Msg) -> Result<()> {
    match chan.send(m) {
        Ok(()) => Ok(()),
        Err(e) => match chan.recv() {
            Ok(Msg::Error(why)) => Err(anyhow!(why)),
            _ => Err(e.into()),
        },
    }
}

/// Clone the init. Joining a user namespace by path takes an intermediate process
/// (via_userns.rs): the new namespaces must be created from inside that user namespace while
/// the runtime stays in its own.
fn clone_init(
    flags: u64,
    join_user: Option<&Path>,
    join_pid: Option<&Path>,
    cgroup: Option<std::os::fd::RawFd>,
) -> Result<Forked> {
    let Some(userns) = join_user else {
        // SAFETY: create is single-threaded here (no thread of its own runs at the clone).
        return Ok(unsafe { sys::clone3_into(flags, cgroup) }?);
    };
    let user = File::open(userns).with_context(|| format!("open {}", userns.display()))?;
    let pidns = match join_pid {
        Some(p) => Some(File::open(p).with_context(|| format!("open {}", p.display()))?),
        None => None,
    };
    // SAFETY: create is single-threaded here (no thread of its own runs at the clone).
    unsafe { super::via_userns::clone(flags, &user, pidns.as_ref(), None) }
        .with_context(|| format!("join the user namespace {}", userns.display()))
}

/// prestart (deprecated, still used by NVIDIA's hook) and createRuntime hooks, in the runtime's
/// namespaces, after the container's namespaces exist and before pivot_root.
fn run_runtime_hooks(bundle: &Bundle, state: &[u8]) -> Result<()> {
    let Some(h) = bundle.spec.hooks() else {
        return Ok(());
    };
    if let Some(list) = h.prestart() {
        hooks::run_hooks(hooks::HookKind::Prestart, list, state)?;
    }
    if let Some(list) = h.create_runtime() {
        hooks::run_hooks(hooks::HookKind::CreateRuntime, list, state)?;
    }
    Ok(())
}

/// Write the pid file atomically (containerd reads it as soon as create returns).
pub fn write_pid_file(p: &Path, pid: i32) -> Result<()> {
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        p.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, pid.to_string())
        .with_context(|| format!("write pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, p).with_context(|| format!("write pid file {}", p.display()))
}
