//! `gantry-gpu cdi jit`: a plain request (`NVIDIA_VISIBLE_DEVICES=0`, `amd:all`) as a CDI
//! spec made from discovery, for a runtime that applies CDI edits itself. Gantry's native
//! injection runs it (as nvidia-container-runtime runs nvidia-ctk) so that the runtime links
//! no GPU code: the runtime hands over the container's environment and its
//! `gantry.gpu/devices` annotation on stdin, and applies the spec printed on stdout.
//!
//! The spec has one device, [`DEVICE`], holding every edit. A host without the driver of a
//! vendor asked for with `all` or `none` only gives a device with no edits (a CUDA image's
//! own NVIDIA_VISIBLE_DEVICES=all on a host without GPUs runs as without the toolkit), and a
//! line starting [`NOTHING`] on stderr; a GPU asked for by id must exist.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

use crate::cdispec::{ContainerEdits, Device, DeviceNode, Hook, Mount, Spec, HOOK_ENV};
use crate::plan::{Kind, LibTargets, Plan};
use crate::request::{DeviceList, Request};
use crate::roots::Roots;

/// The kind of a jit spec (never read from the spec dirs).
pub const KIND: &str = "gantry.dev/jit";
/// The name of a jit spec's one device.
pub const DEVICE: &str = "request";
/// How the stderr line that says why nothing was injected starts.
pub const NOTHING: &str = "nothing injected: ";

/// What the runtime writes on stdin: the container's process.env and annotations.
#[derive(Debug, Default, Deserialize)]
pub struct Input {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The outcome: the spec, and notes for the runtime's log.
pub struct Jit {
    pub spec: Spec,
    pub notes: Vec<String>,
}

/// The jit spec of `input` for the container whose rootfs is `rootfs` (where its libraries
/// go depends on the image's layout); `hook` is the gantry-gpu its createRuntime hook runs.
pub fn spec(roots: &Roots, input: &Input, rootfs: &Path, hook: &Path) -> Result<Jit> {
    let req = Request::parse(&input.env, &input.annotations)?;
    let mut notes = Vec::new();
    let edits = if req.devices.is_empty() {
        ContainerEdits::default()
    } else {
        let root = pathrs::Root::open(rootfs)
            .with_context(|| format!("open rootfs {}", rootfs.display()))?;
        let targets = LibTargets::for_image(|p: &Path| root.resolve(p).is_ok());
        drop(root);
        match crate::hook::plan_for(roots, &req, &targets) {
            Ok((_, plan)) => {
                notes.extend(plan.notes.iter().cloned());
                edits_of_plan(&plan, roots, Some(hook)).map_err(|e| anyhow!(e))?
            }
            Err(e) => {
                let no_driver = matches!(
                    e.downcast_ref::<crate::select::SelectError>(),
                    Some(crate::select::SelectError::NoGpus { .. })
                );
                let by_id = req
                    .devices
                    .values()
                    .any(|l| matches!(l, DeviceList::List(_)));
                if !no_driver || by_id {
                    return Err(e);
                }
                notes.push(format!("{NOTHING}{e:#}"));
                ContainerEdits::default()
            }
        }
    };
    let mut spec = Spec {
        cdi_version: String::new(),
        kind: KIND.into(),
        devices: vec![Device {
            name: DEVICE.into(),
            container_edits: edits,
            ..Default::default()
        }],
        ..Default::default()
    };
    spec.cdi_version = spec.minimum_version().into();
    Ok(Jit { spec, notes })
}

/// A plan (what the hook would inject) as CDI container edits, for jit requests: device nodes
/// with their host path under the dev root and the numbers discovery read from them, the
/// files as read-only binds (nosuid, nodev), and the symlinks and ld.so.cache refresh as a
/// createRuntime hook running `hook` (`gantry-gpu cdi-hook`), with its env set: run by the
/// runtime in its own namespaces after the container's mounts exist, it can enter a
/// user-namespaced container's mount namespace, which a createContainer hook (run inside the
/// container's user namespace, facing a non-dumpable init) cannot.
pub fn edits_of_plan(
    plan: &Plan,
    roots: &Roots,
    hook: Option<&Path>,
) -> Result<ContainerEdits, String> {
    let mut e = ContainerEdits::default();
    for n in &plan.devices {
        e.device_nodes.push(DeviceNode {
            path: n.path.display().to_string(),
            host_path: Some(roots.dev(&n.path).display().to_string()),
            typ: Some("c".into()),
            major: Some(n.major.into()),
            minor: Some(n.minor.into()),
            permissions: Some("rw".into()),
            ..Default::default()
        });
    }
    for m in &plan.mounts {
        let mut options: Vec<String> = vec![
            if m.writable { "rw" } else { "ro" }.into(),
            "nosuid".into(),
            "nodev".into(),
        ];
        options.push(if m.kind == Kind::Dir { "rbind" } else { "bind" }.into());
        e.mounts.push(Mount {
            host_path: m.host.display().to_string(),
            container_path: m.container.display().to_string(),
            typ: Some("bind".into()),
            options,
        });
    }
    if !plan.symlinks.is_empty() || !plan.ldconfig_dirs.is_empty() {
        let hook = hook.ok_or(
            "the driver's symlinks and ld.so.cache refresh need gantry-gpu (its cdi-hook), which was not found",
        )?;
        let args = crate::cdi::cdi_hook_args(plan);
        e.hooks.push(Hook {
            hook_name: "createRuntime".into(),
            path: hook.display().to_string(),
            args,
            env: vec![HOOK_ENV.into()],
            timeout: None,
        });
    }
    Ok(e)
}
