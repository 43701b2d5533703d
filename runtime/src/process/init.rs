//! The container's init, from the clone to the exec of the user's program. It runs in the
//! child of a fork-like clone3 (so it shares nothing with the runtime but copied memory), builds
//! the container step by step, reports any failure to the parent over the sync channel, and
//! waits on the exec fifo for `start`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::sync::{Channel, Msg};
use crate::bundle::Bundle;
use crate::namespaces::{self, NsPlan};
use crate::rootfs::{self, devices, mounts::MountCtx, Root};

/// Everything the init needs, prepared by the parent before the clone.
pub struct InitCtx<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub ns: &'a NsPlan,
    pub chan: Channel,
    /// The exec fifo, opened read-write by the parent before the clone: the init blocks reading
    /// it until `start` writes one byte.
    pub fifo: OwnedFd,
    pub console: Option<OwnedFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// How many fds after stdio pass through to the program (LISTEN_FDS + --preserve-fds).
    pub pass_fds: u32,
    /// Extra environment for the program (LISTEN_FDS/LISTEN_PID).
    pub extra_env: Vec<String>,
    /// linux.seccomp, compiled by the parent before the clone.
    pub seccomp: Option<crate::seccomp::Program>,
    /// The cgroups the init moves itself into (cgroups/selfjoin.rs), if the parent made them.
    pub cgroups: Option<crate::cgroups::selfjoin::SelfJoin>,
}

/// Run the init; never returns: the program is exec'd, or the init exits after reporting.
pub fn run(ctx: InitCtx) -> ! {
    let chan = &ctx.chan;
    match setup(&ctx) {
        Ok(exec) => {
            if let Err(e) = chan.send(&Msg::Ready) {
                eprintln!("gantry init: {e}");
                crate::sys::exit_now(1);
            }
            // Only a container the runtime recorded may wait for `start`: if the runtime was
            // killed before state.json, no command would ever start or delete this init, and it
            // would hold the caller's stdio for good.
            if !matches!(chan.recv(), Ok(Msg::Saved)) {
                crate::sys::exit_now(1);
            }
            finish(&ctx, exec)
        }
        Err(e) => chan.fail(e),
    }
}

/// The program to exec, found before the container is reported ready (none for a config
/// without `process`: config.md requires it only at start, which then fails).
struct Exec {
    program: Option<super::finalize::Program>,
    start_state: Vec<u8>,
    /// The seccomp filter is already on (a notify profile installs it during create).
    filtered: bool,
}

fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|x| x.typ() == t))
}

/// Wait for the parent to have joined us to the container's cgroup, then make the cgroup
/// namespace (rooted there) if the config asks for one.
fn enter_cgroup(ctx: &InitCtx) -> Result<(), String> {
    ctx.chan.expect(Msg::Go)?;
    if ctx.ns.new_cgroup {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| format!("unshare cgroup namespace: {e}"))?;
    }
    Ok(())
}

fn setup(ctx: &InitCtx) -> Result<Exec, String> {
    let spec = &ctx.bundle.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let process = spec.process().as_ref();
    if let Some(c) = &ctx.cgroups {
        c.join()?;
    }
    // Before anything of the container is touched: only our own fds and the passed ones stay.
    let mut keep = vec![ctx.chan.as_raw_fd(), ctx.fifo.as_raw_fd()];
    keep.extend(ctx.console.as_ref().map(|c| c.as_raw_fd()));
    super::finalize::close_inherited(&keep, ctx.pass_fds)?;
    ctx.chan.expect(Msg::Maps)?;

    if ctx.ns.new_user || ctx.ns.join_user.is_some() {
        // The maps are in place: become root of the user namespace (where it maps one).
        let _ = nix::unistd::setresgid(0.into(), 0.into(), 0.into());
        let _ = nix::unistd::setresuid(0.into(), 0.into(), 0.into());
    }
    for (kind, path) in &ctx.ns.join {
        namespaces::join(&linux, *kind, path)?;
    }
    if ctx.ns.new_time {
        nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .map_err(|e| format!("unshare time namespace: {e}"))?;
        if linux.time_offsets().is_some() {
            // The parent writes them (namespaces::write_time_offsets says why).
            ctx.chan.send(&Msg::TimeNs).map_err(|e| e.to_string())?;
            ctx.chan.expect(Msg::TimeSet)?;
        }
    }
    set_names(spec)?;

    // The rootfs, up to the point where hooks run.
    let rootfs = &ctx.bundle.rootfs;
    // Without a mount namespace the parent has bound the rootfs (rootfs/host_root.rs).
    let own_mntns = has_ns(spec, LinuxNamespaceType::Mount);
    if own_mntns {
        rootfs::prepare_root(rootfs, linux.rootfs_propagation().as_deref())
            .map_err(|e| e.to_string())?;
    }
    let root = Root::open(rootfs).map_err(|e| e.to_string())?;
    let mctx = MountCtx {
        bundle: &ctx.bundle.dir,
        cgroupns: ctx.ns.new_cgroup || has_ns_path(spec, LinuxNamespaceType::Cgroup),
        // As runc: the label only where SELinux is on (elsewhere the option would fail).
        mount_label: linux
            .mount_label()
            .as_deref()
            .filter(|l| !l.is_empty() && crate::confine::lsm::selinux_enabled()),
    };
    let mnts = spec.mounts().clone().unwrap_or_default();
    let mut in_cgroup = false;
    for (i, m) in mnts.iter().enumerate() {
        // A cgroup filesystem shows the cgroup namespace's view: be in both first.
        if !in_cgroup && matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            enter_cgroup(ctx)?;
            in_cgroup = true;
        }
        rootfs::mounts::apply(&root, m, &mctx).map_err(|e| {
            let opts = m.options().as_deref().unwrap_or_default();
            // EINVAL from the filesystem is usually an option it does not take: say which
            // were passed to it.
            let data = rootfs::mount_opts::parse(opts)
                .ok()
                .and_then(|o| o.data_string())
                .filter(|_| e.is_einval());
            let hint = data.map_or(String::new(), |d| {
                format!(" (the filesystem refused its options {d:?})")
            });
            format!("mounts[{i}] ({}): {e}{hint}", m.destination().display())
        })?;
    }
    if !in_cgroup {
        enter_cgroup(ctx)?;
    }
    let dev_bound = mnts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    });
    let in_userns = has_ns(spec, LinuxNamespaceType::User);
    if !dev_bound {
        let mut devs = devices::defaults();
        devs.extend(linux.devices().iter().flatten().map(|d| {
            let mut dev = devices::Dev::from(d);
            dev.host = ctx.bundle.device_hosts.get(d.path()).cloned();
            dev
        }));
        for d in &devs {
            devices::create(&root, d, in_userns).map_err(|e| e.to_string())?;
        }
        let has_pts = mnts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts"));
        devices::symlinks(&root, has_pts).map_err(|e| e.to_string())?;
    }

    // prestart and createRuntime hooks run in the parent; createContainer ones here.
    ctx.chan.send(&Msg::RunHooks).map_err(|e| e.to_string())?;
    let state = match ctx.chan.recv() {
        Ok(Msg::Continue(s)) => s,
        Ok(Msg::Error(e)) => return Err(e),
        Ok(m) => return Err(format!("sync: unexpected {m:?}")),
        Err(e) => return Err(e.to_string()),
    };
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
    {
        hooks::run_hooks(hooks::HookKind::CreateContainer, h, &state).map_err(|e| e.to_string())?;
    }

    // As runc: a process.cwd missing from the rootfs is made (mode 0755, owned by the
    // container's root), inside the mounts, before the root goes read-only.
    if let Some(cwd) = process.map(|p| p.cwd().as_path()) {
        // Only where nothing is, not even a symlink (a magic link's checks come at the chdir).
        if !root.exists(cwd) {
            root.mkdir_all(cwd, 0o755)
                .map_err(|e| format!("process.cwd {}: {e}", cwd.display()))?;
        }
    }
    // sysctl before readonlyPaths (which usually cover /proc/sys), as runc orders them,
    // written through the container's own /proc, resolved inside the rootfs.
    for (k, v) in linux.sysctl().iter().flatten() {
        write_sysctl(&root, k, v)?;
    }
    for p in linux.masked_paths().iter().flatten() {
        rootfs::paths::mask(&root, Path::new(p)).map_err(|e| e.to_string())?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        rootfs::paths::readonly(&root, Path::new(p)).map_err(|e| e.to_string())?;
    }
    if let Some(adj) = process.and_then(|p| p.oom_score_adj()) {
        crate::sys::write_own_proc("/proc/self/oom_score_adj", adj.to_string().as_bytes())
            .map_err(|e| format!("process.oomScoreAdj {adj}: {e}"))?;
    }
    drop(root);

    if !own_mntns {
        rootfs::pivot::chroot_only(rootfs).map_err(|e| e.to_string())?;
    } else if ctx.no_pivot {
        rootfs::pivot::chroot(rootfs).map_err(|e| e.to_string())?;
    } else {
        rootfs::pivot::pivot(rootfs).map_err(|e| e.to_string())?;
    }
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    rootfs::finish_root(readonly, linux.rootfs_propagation().as_deref())
        .map_err(|e| e.to_string())?;
    if let Some(p) = linux.personality() {
        crate::confine::personality::apply(p)?;
    }
    if let Some(p) = linux.memory_policy() {
        crate::confine::sched::memory_policy(p)?;
    }

    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    let Some(process) = process else {
        return Ok(Exec {
            program: None,
            start_state: Vec::new(),
            filtered: false,
        });
    };
    if process.terminal().unwrap_or(false) {
        let sock = ctx
            .console
            .as_ref()
            .ok_or("process.terminal is true but no --console-socket was given")?;
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        super::console::setup(sock, size, true)?;
    }
    if !ctx.no_new_keyring {
        let in_userns = has_ns(&ctx.bundle.spec, LinuxNamespaceType::User);
        crate::confine::keyring::join_session(ctx.id, in_userns)?;
    }
    let program = super::finalize::confine_and_find(
        process,
        ctx.seccomp.as_ref(),
        &ctx.extra_env,
        ctx.pass_fds,
        &[ctx.chan.as_raw_fd(), ctx.fifo.as_raw_fd()],
    )?;
    // A profile with SCMP_ACT_NOTIFY: the agent gets the listener during create (the state
    // it receives says `creating`, as runc's), so the filter goes on now, not after `start`;
    // what the init does under it until the exec (a few sync messages, the fifo read) is
    // answered by that agent.
    let mut filtered = false;
    if let Some(p) = ctx.seccomp.as_ref().filter(|p| p.listener.is_some()) {
        let fd = crate::seccomp::install(p)
            .map_err(|e| e.to_string())?
            .ok_or("linux.seccomp: no listener fd from the notify filter")?;
        ctx.chan
            .send_fd(&Msg::SeccompFd, &fd)
            .map_err(|e| e.to_string())?;
        filtered = true;
    }
    Ok(Exec {
        program: Some(program),
        start_state: crate::state::with_status(&state, crate::state::Status::Created),
        filtered,
    })
}

fn has_ns_path(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|x| x.typ() == t && x.path().is_some()))
}

/// Write one sysctl through the container's procfs as mounted (its verified root fd), or,
/// when the config mounts none, through a fresh detached procfs: never by a path the rootfs
/// (which a hostile container may share and swap) can redirect (rootfs/pseudo.rs).
fn write_sysctl(root: &Root, key: &str, value: &str) -> Result<(), String> {
    let rel = PathBuf::from("sys").join(key.replace('.', "/"));
    let flags = nix::fcntl::OFlag::O_WRONLY;
    let f = match root
        .pseudos
        .borrow()
        .resolve(&Path::new("/proc").join(&rel), flags)
    {
        Some(r) => r.map(std::fs::File::from).map_err(|e| e.to_string()),
        None => rootfs::pseudo::detached_procfs()
            .map_err(|e| format!("a procfs for the sysctl writes: {e}"))
            .and_then(|proc| {
                crate::sys::open_beneath(&proc, &rel, flags)
                    .map(std::fs::File::from)
                    .map_err(|e| e.to_string())
            }),
    }
    .map_err(|e| format!("linux.sysctl {key}: {e}"))?;
    std::io::Write::write_all(&mut &f, value.as_bytes())
        .map_err(|e| format!("linux.sysctl {key}={value}: {e}"))
}

fn set_names(spec: &Spec) -> Result<(), String> {
    let uts = has_ns(spec, LinuxNamespaceType::Uts);
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !uts {
            return Err("hostname: setting it needs a UTS namespace in linux.namespaces".into());
        }
        nix::unistd::sethostname(h).map_err(|e| format!("hostname {h:?}: {e}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !uts {
            return Err("domainname: setting it needs a UTS namespace in linux.namespaces".into());
        }
        // SAFETY: pointer and length of a live byte slice.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(format!(
                "domainname {d:?}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Wait for `start`, run startContainer hooks, exec. Errors now can only go to stderr: the
/// parent has already returned.
fn finish(ctx: &InitCtx, exec: Exec) -> ! {
    let mut f = File::from(
        ctx.fifo
            .try_clone()
            .unwrap_or_else(|_| crate::sys::exit_now(1)),
    );
    let mut b = [0u8; 1];
    loop {
        match f.read(&mut b) {
            Ok(1) => break,
            Ok(_) => crate::sys::exit_now(1),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => crate::sys::exit_now(1),
        }
    }
    // From here a failure leaves a mark in the fifo for `start` to find once we are gone.
    // The mark is "E" and the error, in one write of at most PIPE_BUF bytes (atomic), so
    // that `start` can report why.
    let fail = |f: &mut File, msg: String| -> ! {
        eprintln!("gantry: {msg}");
        let mut mark = format!("E{msg}").into_bytes();
        mark.truncate(libc::PIPE_BUF);
        let _ = std::io::Write::write_all(f, &mark);
        crate::sys::exit_now(127)
    };
    let Some(program) = exec.program else {
        fail(
            &mut f,
            "process: missing from config.json (it is required to start the container)".into(),
        )
    };
    let spec = &ctx.bundle.spec;
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        // As runc: a hook without `env` inherits the init's environment, which is the
        // program's by now (process.env, HOME, LISTEN_FDS).
        let h: Vec<_> = h
            .iter()
            .cloned()
            .map(|mut hook| {
                if hook.env().is_none() {
                    let env = program.env.iter();
                    hook.set_env(Some(env.map(|e| e.to_string_lossy().into()).collect()));
                }
                hook
            })
            .collect();
        if let Err(e) = hooks::run_hooks(hooks::HookKind::StartContainer, &h, &exec.start_state) {
            fail(&mut f, e.to_string());
        }
    }
    // Signals the runtime blocked or ignored must not stay so for the program.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    if let Some(p) = ctx.seccomp.as_ref().filter(|_| !exec.filtered) {
        // Last, so that nothing of the runtime's own runs under the container's filter (it
        // may deny close_range, capset, chdir...): only the execve below does.
        if let Err(e) = crate::seccomp::install(p) {
            fail(&mut f, e.to_string());
        }
    }
    let e = nix::unistd::execve(&program.path, &program.args, &program.env).unwrap_err();
    fail(&mut f, format!("exec {:?}: {e}", program.path))
}
