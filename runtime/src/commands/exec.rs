//! `exec`: run another program in a running container, as runc's exec does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sys::signal::SigmaskHow;
use oci_spec::runtime::{Capability, Process};

use super::Globals;
use crate::cli::ExecArgs;
use crate::process::exec::{self, ExecOpts};
use crate::state::Status;

/// A capability name as `--cap` takes it: CAP_SYS_ADMIN, SYS_ADMIN, cap_sys_admin.
fn parse_cap(name: &str) -> Result<Capability> {
    let up = name.trim().to_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    bare.parse().map_err(|_| {
        anyhow::anyhow!(
            "exec --cap {name}: unknown capability (known: {})",
            known_caps()
        )
    })
}

/// The capability names Gantry knows, for errors.
fn known_caps() -> String {
    let mut known: Vec<String> = caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .filter(|c| c[4..].parse::<Capability>().is_ok())
        .collect();
    known.sort();
    known.join(", ")
}

/// An unknown capability in a --process file, named by its field (serde's own message says
/// only "no variant for CAP_BOGUS").
fn check_process_caps(v: &serde_json::Value) -> Result<()> {
    let Some(sets) = v.get("capabilities").and_then(|c| c.as_object()) else {
        return Ok(());
    };
    for (set, names) in sets {
        for (i, name) in names.as_array().into_iter().flatten().enumerate() {
            let Some(name) = name.as_str() else { continue };
            let bare = name.strip_prefix("CAP_").unwrap_or(name);
            if bare.parse::<Capability>().is_err() {
                bail!(
                    "capabilities.{set}[{i}]: unknown capability {name:?} (known: {})",
                    known_caps()
                );
            }
        }
    }
    Ok(())
}

/// The process to run: --process FILE as given, or the container's process with the
/// command line's changes; `root` is the container's root directory, where --user's names
/// are looked up.
fn process_for(a: &ExecArgs, base: Option<&Process>, root: &Path) -> Result<Process> {
    if let Some(f) = &a.process {
        let text = std::fs::read(f).with_context(|| format!("read --process {}", f.display()))?;
        let what = || format!("--process {}: invalid process JSON", f.display());
        let v: serde_json::Value = serde_json::from_slice(&text).with_context(what)?;
        check_process_caps(&v).with_context(what)?;
        return serde_json::from_value(v).with_context(what);
    }
    let mut p = base.cloned().unwrap_or_default();
    if a.command.is_empty() {
        bail!("exec: no command given");
    }
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.into());
    }
    if let Some(u) = &a.user {
        // As runc: --user UID keeps process.user.gid of config.json; UID:GID sets both;
        // names are the container's.
        let (uid, gid) = crate::confine::user::resolve_spec(root, u, p.user().gid())
            .map_err(|e| anyhow::anyhow!("exec --user {u}: {e}"))?;
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid);
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap = parse_cap(name)?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(prof) = &a.apparmor {
        p.set_apparmor_profile(Some(prof.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

pub fn run(g: &Globals, a: &ExecArgs) -> Result<i32> {
    let (dir, saved, status) = super::open(g, &a.id)?;
    match status {
        Status::Running | Status::Created => {}
        Status::Paused if a.ignore_paused => {}
        Status::Paused => bail!(
            "cannot exec in container {}: it is paused (resume it first, or exec with --ignore-paused)",
            a.id
        ),
        s => bail!("cannot exec in container {} in state {}", a.id, s.as_str()),
    }
    let root = PathBuf::from(format!("/proc/{}/root", saved.pid));
    let process = process_for(a, saved.config.process().as_ref(), &root)?;
    let sub_cgroups = crate::cgroups::SubCgroups::parse(&a.cgroup)?;
    drop(dir); // others may act on the container while this exec runs
    if !a.detach {
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    }
    let set = super::run::forwarded();
    if !a.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    }
    let spawned = exec::spawn(
        &saved,
        ExecOpts {
            process,
            console_socket: a.console_socket.as_deref(),
            own_console: !a.detach,
            preserve_fds: a.preserve_fds,
            sub_cgroups,
            die_with_parent: !a.detach,
        },
    )?;
    if let Some(p) = &a.pid_file {
        crate::process::parent::write_pid_file(p, spawned.pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    let master = spawned
        .console
        .as_ref()
        .map(crate::process::tty_proxy::recv_master)
        .transpose()?;
    super::run::wait_foreground(&set, spawned.pid, &spawned.pidfd, master.as_ref())
}

#[cfg(test)]
mod tests {
    use super::parse_cap;
    use oci_spec::runtime::Capability;

    #[test]
    fn process_file_caps_name_the_field() {
        let v = serde_json::json!({"capabilities": {"bounding": ["CAP_KILL", "CAP_BOGUS"]}});
        let e = super::check_process_caps(&v).unwrap_err().to_string();
        assert!(
            e.contains("capabilities.bounding[1]: unknown capability \"CAP_BOGUS\"")
                && e.contains("CAP_SYS_ADMIN"),
            "{e}"
        );
        let ok = serde_json::json!({"capabilities": {"effective": ["CAP_KILL"]}});
        super::check_process_caps(&ok).unwrap();
    }

    #[test]
    fn cap_names() {
        for n in ["CAP_SYS_ADMIN", "SYS_ADMIN", "cap_sys_admin", "sys_admin"] {
            assert_eq!(parse_cap(n).unwrap(), Capability::SysAdmin, "{n}");
        }
        let e = parse_cap("CAP_BOGUS").unwrap_err().to_string();
        assert!(
            e.contains("exec --cap CAP_BOGUS: unknown capability") && e.contains("CAP_SYS_ADMIN"),
            "{e}"
        );
    }
}
