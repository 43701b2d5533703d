//! `checkpoint` and `restore` through CRIU, with runc's flags. runc drives CRIU over its RPC
//! socket (`criu swrk`); Gantry runs CRIU's command line with the same options, so the whole
//! invocation is one argv (logged with --debug). As runc: the images go to --image-path
//! (default ./checkpoint), CRIU's log to --work-path (default: the image path) as dump.log or
//! restore.log, the init's stdio is recorded in descriptors.json beside the images for restore,
//! and a checkpoint without --leave-running or --pre-dump ends the container. `--criu PATH`
//! names the binary (default: criu from PATH). A failed CRIU run is an error quoting CRIU's
//! own errors from its log, and whether `criu check` passes on this host.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::SigmaskHow;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::Globals;
use crate::cli::{CheckpointArgs, CriuArgs, RestoreArgs};
use crate::state::{ContainerDir, Saved, Status};

/// The CRIU binary: --criu as given (a path), or that name (default `criu`) found in PATH.
fn criu_bin(g: &Globals) -> Result<PathBuf> {
    match g.criu {
        Some(p) if p.components().count() > 1 => {
            if !p.exists() {
                bail!("--criu {}: no such file", p.display());
            }
            Ok(p.to_path_buf())
        }
        name => {
            let name = name.unwrap_or(Path::new("criu"));
            let path =
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    anyhow!(
                        "checkpoint and restore need CRIU: no {} in PATH (install it, e.g. apt-get install criu, or give --criu PATH)",
                        name.display()
                    )
                })
        }
    }
}

/// --image-path and --work-path, absolute.
pub struct Dirs {
    pub image: PathBuf,
    pub work: PathBuf,
}

/// --image-path and --work-path, absolute (CRIU runs with another cwd's meaning in mind).
fn dirs(c: &CriuArgs) -> Result<(PathBuf, PathBuf)> {
    let cwd = std::env::current_dir().context("current directory")?;
    let image = cwd.join(
        c.image_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoint")),
    );
    let work = c
        .work_path
        .as_ref()
        .map(|w| cwd.join(w))
        .unwrap_or(image.clone());
    Ok((image, work))
}

/// The options dump and restore share, in runc's order of its RPC fields.
fn common(c: &CriuArgs, out: &mut Vec<String>) {
    for (on, flag) in [
        (c.tcp_established, "--tcp-established"),
        (c.ext_unix_sk, "--ext-unix-sk"),
        (c.shell_job, "--shell-job"),
        (c.file_locks, "--file-locks"),
        (c.auto_dedup, "--auto-dedup"),
    ] {
        if on {
            out.push(flag.into());
        }
    }
    out.push("--manage-cgroups".into());
    if let Some(m) = &c.manage_cgroups_mode {
        out.extend(["--manage-cgroups-mode".into(), m.clone()]);
    }
}

/// Bind mounts, which CRIU cannot dump: each is external, keyed by its destination (as runc).
fn bind_mounts(spec: &Spec) -> Vec<(String, String)> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| {
            m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind")
        })
        .map(|m| {
            (
                m.destination().to_string_lossy().into_owned(),
                m.source()
                    .as_ref()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Whether the container has a network namespace of its own (not the host's, not joined by
/// path): otherwise CRIU must take it as external (runc's extRootNetNS).
fn own_netns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| {
            nss.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        })
}

/// The container's freezer cgroup, which CRIU freezes the tree with (--freeze-cgroup).
fn freezer_dir(saved: &Saved) -> Option<PathBuf> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    let c = &saved.cgroup;
    if c.skipped {
        return None;
    }
    let root = c.root.clone().unwrap_or_else(|| "/sys/fs/cgroup".into());
    let rel = c.fs_rel_abs();
    let rel = rel.strip_prefix("/").unwrap_or(&rel);
    let v2 = statfs(&root).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    let dir = if v2 {
        root.join(rel)
    } else {
        root.join("freezer").join(rel)
    };
    dir.is_dir().then_some(dir)
}

/// The argv of `criu dump` (or `pre-dump`) for a container, after the binary.
pub fn dump_argv(
    saved: &Saved,
    a: &CheckpointArgs,
    image: &Path,
    work: &Path,
    freezer: Option<&Path>,
    net_inode: Option<u64>,
) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut v: Vec<String> = vec![
        if a.pre_dump { "pre-dump" } else { "dump" }.into(),
        "--tree".into(),
        saved.pid.to_string(),
        "--images-dir".into(),
        s(image),
        "--work-dir".into(),
        s(work),
        "--log-file".into(),
        "dump.log".into(),
        "-v4".into(),
        "--root".into(),
        s(&saved.rootfs),
    ];
    common(&a.criu, &mut v);
    if a.leave_running && !a.pre_dump {
        v.push("--leave-running".into());
    }
    if a.pre_dump || a.parent_path.is_some() {
        v.push("--track-mem".into());
    }
    if let Some(p) = &a.parent_path {
        v.extend(["--prev-images-dir".into(), s(p)]);
    }
    if a.criu.lazy_pages {
        v.push("--lazy-pages".into());
    }
    if let Some(ps) = &a.page_server {
        let (addr, port) = ps.rsplit_once(':').unwrap_or((ps, ""));
        v.extend([
            "--page-server".into(),
            "--address".into(),
            addr.into(),
            "--port".into(),
            port.into(),
        ]);
    }
    if let Some(f) = freezer {
        v.extend(["--freeze-cgroup".into(), s(f)]);
    }
    for (dest, _) in bind_mounts(&saved.config) {
        v.extend(["--external".into(), format!("mnt[{dest}]:{dest}")]);
    }
    if let Some(ino) = net_inode {
        v.extend(["--external".into(), format!("net[{ino}]:extRootNetNS")]);
    }
    v
}

/// The argv of `criu restore` for a bundle, after the binary. `netns_fd` is an fd of the
/// network namespace to restore into, when the container has none of its own.
pub fn restore_argv(
    spec: &Spec,
    rootfs: &Path,
    c: &CriuArgs,
    d: &Dirs,
    cgroup: &Path,
    descriptors: &[String],
    netns_fd: Option<i32>,
) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut v: Vec<String> = vec![
        "restore".into(),
        "--images-dir".into(),
        s(&d.image),
        "--work-dir".into(),
        s(&d.work),
        "--log-file".into(),
        "restore.log".into(),
        "-v4".into(),
        "--root".into(),
        s(rootfs),
        "--restore-detached".into(),
        "--pidfile".into(),
        s(&d.work.join("restore.pid")),
    ];
    common(c, &mut v);
    if c.lazy_pages {
        v.push("--lazy-pages".into());
    }
    v.extend(["--cgroup-root".into(), s(cgroup)]);
    for (dest, src) in bind_mounts(spec) {
        v.extend(["--external".into(), format!("mnt[{dest}]:{src}")]);
    }
    // The init's stdio pipes and sockets become ours (runc's InheritFd for descriptors.json).
    for (n, d) in descriptors.iter().enumerate().take(3) {
        if d.starts_with("pipe:") || d.starts_with("socket:") {
            v.extend(["--inherit-fd".into(), format!("fd[{n}]:{d}")]);
        }
    }
    if let Some(fd) = netns_fd {
        v.extend(["--inherit-fd".into(), format!("fd[{fd}]:extRootNetNS")]);
    }
    v
}

/// CRIU's own error lines from its log (the last few), or its stderr.
fn criu_errors(log: &Path, stderr: &str) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let pick = |t: &str| {
        let errs: Vec<&str> = t
            .lines()
            .filter(|l| l.contains("Error") || l.contains("error"))
            .map(str::trim)
            .collect();
        errs[errs.len().saturating_sub(3)..].join("; ")
    };
    let from_log = pick(&text);
    if !from_log.is_empty() {
        return from_log;
    }
    let from_stderr = pick(stderr);
    if !from_stderr.is_empty() {
        return from_stderr;
    }
    stderr
        .trim()
        .lines()
        .last()
        .unwrap_or("no error message")
        .into()
}

/// Run CRIU; on failure, an error with its own words, its log and `criu check`'s verdict.
/// `capture`: restore runs with our stdio (its --inherit-fd maps them), dump with pipes.
fn run_criu(bin: &Path, args: &[String], log: &Path, capture: bool) -> Result<()> {
    crate::logger::debug(&format!("{} {}", bin.display(), args.join(" ")));
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null());
    let (status, stderr) = if capture {
        let o = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("run {}", bin.display()))?;
        (o.status, String::from_utf8_lossy(&o.stderr).into_owned())
    } else {
        let st = cmd
            .status()
            .with_context(|| format!("run {}", bin.display()))?;
        (st, String::new())
    };
    if status.success() {
        return Ok(());
    }
    let check = Command::new(bin)
        .arg("check")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let verdict = match check {
        Ok(o) if o.status.success() => "`criu check` passes here".to_string(),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr).into_owned();
            let first = text
                .lines()
                .find(|l| l.contains("Error"))
                .or_else(|| text.lines().next())
                .unwrap_or("no message")
                .trim()
                .to_string();
            format!("`criu check` fails on this host too ({first}): CRIU cannot checkpoint or restore here")
        }
        Err(e) => format!("`criu check` did not run: {e}"),
    };
    bail!(
        "criu {} failed ({status}): {}; log file: {}; {verdict}",
        args.first().map(String::as_str).unwrap_or_default(),
        criu_errors(log, &stderr),
        log.display()
    )
}

fn netns_inode(pid: i32) -> Result<u64> {
    let p = format!("/proc/{pid}/ns/net");
    Ok(std::fs::metadata(&p)
        .with_context(|| format!("stat {p}"))?
        .ino())
}

pub fn checkpoint(g: &Globals, a: &CheckpointArgs) -> Result<()> {
    let (dir, saved, status) = super::open(g, &a.id)?;
    match status {
        Status::Running | Status::Paused => {}
        Status::Created => bail!(
            "cannot checkpoint container {}: it is created, not started (start it first)",
            a.id
        ),
        s => bail!(
            "container not running: cannot checkpoint {} in state {}",
            a.id,
            s.as_str()
        ),
    }
    let bin = criu_bin(g)?;
    let (image, work) = dirs(&a.criu)?;
    for d in [&image, &work] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(d)
            .with_context(|| format!("mkdir {}", d.display()))?;
    }
    if a.criu.lazy_pages {
        let ok = Command::new(&bin)
            .args(["check", "--feature", "uffd-noncoop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("--lazy-pages: CRIU or the kernel here cannot restore lazily (`criu check --feature uffd-noncoop` fails)");
        }
    }
    // The init's stdio, which restore maps back (runc's descriptors.json).
    let descriptors: Vec<String> = (0..3)
        .map(|n| {
            std::fs::read_link(format!("/proc/{}/fd/{n}", saved.pid))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let desc_path = image.join("descriptors.json");
    std::fs::write(&desc_path, serde_json::to_vec(&descriptors)?)
        .with_context(|| format!("write {}", desc_path.display()))?;
    let net = if own_netns(&saved.config) {
        None
    } else {
        Some(netns_inode(saved.pid)?)
    };
    let freezer = freezer_dir(&saved);
    let args = dump_argv(&saved, a, &image, &work, freezer.as_deref(), net);
    run_criu(&bin, &args, &work.join("dump.log"), true)
        .map_err(|e| anyhow!("checkpoint container {}: {e:#}", a.id))?;
    if !(a.leave_running || a.pre_dump) {
        // CRIU has ended the tree: the container goes, as runc destroys it.
        let status = crate::state::status_of(&dir.path, &saved);
        super::delete::destroy(dir, &saved, status, true)?;
    }
    Ok(())
}

/// Returns the exit code: the restored container's in the foreground, 0 detached.
pub fn restore(g: &Globals, a: &RestoreArgs) -> Result<i32> {
    let bin = criu_bin(g)?;
    if !a.detach {
        // The restored tree is CRIU's; as CRIU exits it comes to us, and we wait for it.
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    }
    let bundle = crate::bundle::load(&a.bundle)?;
    let spec = &bundle.spec;
    let (image, work) = dirs(&a.criu)?;
    if !image.is_dir() {
        bail!(
            "restore container {}: no checkpoint at {} (--image-path)",
            a.id,
            image.display()
        );
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&work)
        .with_context(|| format!("mkdir {}", work.display()))?;
    let descriptors: Vec<String> = std::fs::read(image.join("descriptors.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let dir = ContainerDir::create(g.root, &a.id)?;
    let mut placement = crate::cgroups::Placement {
        path: crate::cgroups::path_for(spec, &a.id, g.systemd_cgroup),
        systemd: g.systemd_cgroup,
        root: g.cgroup_root.map(Path::to_path_buf),
        skipped: false,
        created_parents: Vec::new(),
    };
    placement.note_missing_parents();
    let restored = (|| -> Result<(i32, u64)> {
        // The namespace to restore into when the container has no network namespace of its
        // own: ours, or the one its config joins; kept open (not close-on-exec) for CRIU.
        let netns = if own_netns(spec) {
            None
        } else {
            let joined = spec
                .linux()
                .as_ref()
                .and_then(|l| l.namespaces().as_ref())
                .and_then(|nss| {
                    nss.iter()
                        .find(|n| n.typ() == LinuxNamespaceType::Network)
                        .and_then(|n| n.path().clone())
                });
            let p = joined.unwrap_or_else(|| "/proc/self/ns/net".into());
            let f = std::fs::File::open(&p).with_context(|| format!("open {}", p.display()))?;
            crate::sys::clear_cloexec(f.as_raw_fd())?;
            Some(f)
        };
        let args = restore_argv(
            spec,
            &bundle.rootfs,
            &a.criu,
            &Dirs {
                image: image.clone(),
                work: work.clone(),
            },
            &placement.fs_rel_abs(),
            &descriptors,
            netns.as_ref().map(|f| f.as_raw_fd()),
        );
        let _ = std::fs::remove_file(work.join("restore.pid"));
        run_criu(&bin, &args, &work.join("restore.log"), false)?;
        let pidf = work.join("restore.pid");
        let text = std::fs::read_to_string(&pidf)
            .with_context(|| format!("criu restore wrote no pid to {}", pidf.display()))?;
        let pid: i32 = text
            .trim()
            .parse()
            .with_context(|| format!("{}: not a pid: {text:?}", pidf.display()))?;
        let (_, start) = crate::state::proc_stat(pid)
            .ok_or_else(|| anyhow!("criu restore reported pid {pid}, which is not running"))?;
        let mgr = crate::cgroups::manager(&placement, &a.id)?;
        if let Err(e) = crate::cgroups::join_and_apply(&mgr, &placement, pid, spec, false) {
            crate::state::kill_init(pid, start);
            let _ = crate::cgroups::release(&placement, &a.id);
            return Err(e.into());
        }
        Ok((pid, start))
    })();
    let (pid, pid_start) = match restored {
        Ok(r) => r,
        Err(e) => {
            let _ = dir.remove();
            bail!("restore container {}: {e:#}", a.id);
        }
    };
    let saved = Saved {
        id: a.id.clone(),
        pid,
        pid_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::logger::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: placement,
        config: spec.clone(),
        no_new_keyring: false,
    };
    dir.save(&saved)?;
    if let Some(p) = &a.pid_file {
        crate::process::parent::write_pid_file(p, pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    // In the foreground, as `run`: forward signals, wait, delete, exit with its code (the
    // restored init was reparented to us, the subreaper, as CRIU exited).
    let set = super::run::forwarded();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    let pidfd = crate::sys::pidfd_open(pid).context("pidfd of the restored init")?;
    drop(dir);
    // Not our child after all (waitpid fails): its end is seen, its code is not.
    let code = super::run::wait_foreground(&set, pid, &pidfd, None).unwrap_or_default();
    let (dir, saved, status) = super::open(g, &a.id)?;
    super::delete::destroy(dir, &saved, status, true)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]}
            ],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        }))
        .unwrap()
    }

    #[test]
    fn dump_and_restore_argv() {
        let saved = Saved {
            id: "c".into(),
            pid: 42,
            pid_start: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: String::new(),
            annotations: Default::default(),
            cgroup: crate::cgroups::Placement {
                path: "/gantry/c".into(),
                systemd: false,
                root: None,
                skipped: false,
                created_parents: vec![],
            },
            config: spec(),
            no_new_keyring: false,
        };
        let a = CheckpointArgs {
            id: "c".into(),
            criu: CriuArgs {
                tcp_established: true,
                shell_job: true,
                manage_cgroups_mode: Some("full".into()),
                ..Default::default()
            },
            parent_path: None,
            leave_running: true,
            pre_dump: false,
            page_server: None,
        };
        let v = dump_argv(&saved, &a, "/i".as_ref(), "/w".as_ref(), None, Some(7));
        assert_eq!(
            v.join(" "),
            "dump --tree 42 --images-dir /i --work-dir /w --log-file dump.log -v4 --root /b/rootfs \
             --tcp-established --shell-job --manage-cgroups --manage-cgroups-mode full \
             --leave-running --external mnt[/data]:/data --external net[7]:extRootNetNS"
        );
        assert!(!own_netns(&spec()));
        let v = restore_argv(
            &spec(),
            "/b/rootfs".as_ref(),
            &CriuArgs::default(),
            &Dirs {
                image: "/i".into(),
                work: "/w".into(),
            },
            "/gantry/c".as_ref(),
            &["/dev/null".into(), "pipe:[5]".into(), "pipe:[6]".into()],
            Some(9),
        );
        assert_eq!(
            v.join(" "),
            "restore --images-dir /i --work-dir /w --log-file restore.log -v4 --root /b/rootfs \
             --restore-detached --pidfile /w/restore.pid --manage-cgroups --cgroup-root /gantry/c \
             --external mnt[/data]:/srv/data --inherit-fd fd[1]:pipe:[5] --inherit-fd fd[2]:pipe:[6] \
             --inherit-fd fd[9]:extRootNetNS"
        );
    }
}
