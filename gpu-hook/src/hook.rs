//! The OCI hook: from the runtime's state on stdin to an injected container.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::inventory::Inventory;
use crate::plan::{self, LibTargets, Plan};
use crate::request::Request;
use crate::roots::Roots;

pub struct HookOpts {
    /// Skip the device cgroup (rootless, or a runtime that allows the devices itself).
    pub no_cgroups: bool,
    pub ldconfig: PathBuf,
}

/// Everything before touching the container: request, discovery, selection, requirements, plan.
pub fn plan_for(roots: &Roots, req: &Request, targets: &LibTargets) -> Result<(Inventory, Plan)> {
    let inv = crate::discover::discover(roots, &req.vendors());
    let sel = crate::select::select(req, &inv, &inv.notes)?;
    let facts = crate::require::Facts {
        cuda: inv.nvidia.as_ref().and_then(|d| d.cuda_version.clone()),
        driver: inv.nvidia.as_ref().map(|d| d.version.clone()),
        gpus: sel
            .picked
            .iter()
            .filter(|p| p.gpu.vendor == crate::inventory::Vendor::Nvidia)
            .map(|p| (p.gpu.compute_capability.clone(), p.gpu.brand.clone()))
            .collect(),
    };
    let unknown = crate::require::check(&req.requirements, &facts)?;
    let mut plan = plan::build(roots, &inv, &sel, &req.capabilities, targets);
    if !unknown.is_empty() {
        plan.notes.push(format!(
            "not checked (unknown on this host): {}",
            unknown.join(", ")
        ));
    }
    plan.notes.extend(inv.notes.iter().cloned());
    if !plan.refused.is_empty() {
        anyhow::bail!(
            "device nodes under {} disagree with {}: {}",
            roots.dev_root.display(),
            roots.proc("devices").display(),
            plan.refused.join("; ")
        );
    }
    Ok((inv, plan))
}

pub fn run(roots: &Roots, opts: &HookOpts, stdin: impl std::io::Read) -> Result<()> {
    let state = hooks::author::read_state(stdin)?;
    let spec = hooks::author::load_config(&state)?;
    let env = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    let annotations = spec.annotations().clone().unwrap_or_default();
    let req = Request::parse(&env, annotations.iter())?;
    if req.devices.is_empty() {
        return Ok(()); // no GPU asked for
    }
    let rootfs = hooks::author::rootfs_path(&state, &spec);
    let pid = host_pid(hooks::author::init_pid(&state)?);
    let root =
        pathrs::Root::open(&rootfs).with_context(|| format!("open rootfs {}", rootfs.display()))?;
    let targets = LibTargets::for_image(|p: &Path| root.resolve(p).is_ok());
    drop(root);
    let (_, plan) = plan_for(roots, &req, &targets)?;
    crate::inject::inject(pid, &rootfs, &plan, &roots.dev_root, &opts.ldconfig)
        .context("inject into the container")?;
    if !opts.no_cgroups && !plan.devices.is_empty() {
        crate::cgroup::allow(pid, &plan.devices).context("device cgroup")?;
    }
    Ok(())
}

/// The state's pid as /proc (the host's, before pivot_root) numbers it. A runtime that runs
/// createContainer hooks from the container's init inside its new PID namespace may pass the
/// init's own view of itself (runc passes 1). When this process is in a PID namespace below
/// /proc's (several `NSpid` entries), the state's pid is one of that namespace: the ancestor
/// whose innermost pid it is.
pub fn host_pid(pid: i32) -> i32 {
    let nspids = |p: &str| -> Option<(Vec<i32>, i32)> {
        let text = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).map(str::trim);
        let ns = field("NSpid:")?
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        Some((ns, field("PPid:")?.parse().ok()?))
    };
    let Some((mine, mut parent)) = nspids("self") else {
        return pid;
    };
    if mine.len() < 2 {
        return pid;
    }
    let depth = mine.len();
    while parent > 1 {
        let Some((ns, pp)) = nspids(&parent.to_string()) else {
            break;
        };
        if ns.len() < depth {
            break; // left our PID namespace
        }
        if ns.len() == depth && ns.last() == Some(&pid) {
            return parent;
        }
        parent = pp;
    }
    pid
}
