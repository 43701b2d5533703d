//! A CDI spec (Container Device Interface, cdiVersion 0.5.0) for the host's NVIDIA GPUs, from
//! the same inventory and plan the hook uses: one device per GPU (by index and by UUID), per
//! MIG device (`GPU:MIG` and MIG UUID) and `all`; the driver's control nodes, libraries,
//! tools and firmware as common edits; symlinks and the ld.so.cache refresh as a
//! createContainer hook (`gantry-gpu cdi-hook`). Engines that speak CDI (Podman, containerd,
//! CRI-O) then inject the GPUs themselves: `--device nvidia.com/gpu=0`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::inventory::{Gpu, Inventory, Node, Vendor};
use crate::plan::{self, Kind, LibTargets, Plan};
use crate::request::Capability;
use crate::roots::Roots;
use crate::select::Selection;

/// The kind NVIDIA's toolkit uses, so that device requests written for it work unchanged.
pub const KIND: &str = "nvidia.com/gpu";

fn node(roots: &Roots, n: &Node) -> Value {
    json!({
        "path": n.path,
        "hostPath": roots.dev(&n.path),
        "type": "c",
        "major": n.major,
        "minor": n.minor,
        "permissions": "rw",
    })
}

fn device(name: String, nodes: Vec<Value>) -> Value {
    json!({"name": name, "containerEdits": {"deviceNodes": nodes}})
}

/// The spec for `inv`'s NVIDIA GPUs. `hook` is the gantry-gpu binary the engines will run.
pub fn generate(
    kind: &str,
    roots: &Roots,
    inv: &Inventory,
    caps: &BTreeSet<Capability>,
    targets: &LibTargets,
    hook: &Path,
) -> Result<Value, String> {
    let driver = inv
        .nvidia
        .as_ref()
        .ok_or("no NVIDIA driver found (see `gantry-gpu info`)")?;
    let gpu_nodes = |g: &Gpu| -> Vec<Value> { g.nodes.iter().map(|n| node(roots, n)).collect() };
    let mut devices = Vec::new();
    let mut all = Vec::new();
    for g in inv.of(Vendor::Nvidia) {
        devices.push(device(g.index.to_string(), gpu_nodes(g)));
        if let Some(u) = &g.uuid {
            devices.push(device(u.clone(), gpu_nodes(g)));
        }
        all.extend(gpu_nodes(g));
        for m in &g.migs {
            let mut nodes = gpu_nodes(g);
            nodes.extend(m.nodes.iter().map(|n| node(roots, n)));
            all.extend(m.nodes.iter().map(|n| node(roots, n)));
            devices.push(device(format!("{}:{}", g.index, m.index), nodes.clone()));
            if let Some(u) = &m.uuid {
                devices.push(device(u.clone(), nodes));
            }
        }
    }
    devices.push(device("all".into(), all));

    // The driver without GPUs: control nodes, files, links (NVIDIA_VISIBLE_DEVICES=none).
    let sel = Selection {
        picked: Vec::new(),
        vendors: vec![Vendor::Nvidia],
    };
    let common: Plan = plan::build(roots, inv, &sel, caps, targets);
    let mut refused = common.refused.clone();
    for g in inv.of(Vendor::Nvidia) {
        let migs = g.migs.iter().flat_map(|m| &m.refused);
        refused.extend(g.refused.iter().chain(migs).map(|r| r.to_string()));
    }
    if !refused.is_empty() {
        return Err(format!(
            "device nodes disagree with /proc/devices: {}",
            refused.join("; ")
        ));
    }
    let mounts: Vec<Value> = common
        .mounts
        .iter()
        .map(|m| {
            let mut opts = vec![if m.writable { "rw" } else { "ro" }, "nosuid", "nodev"];
            opts.push(if m.kind == Kind::Dir { "rbind" } else { "bind" });
            json!({"hostPath": m.host, "containerPath": m.container, "options": opts})
        })
        .collect();
    let mut args: Vec<String> = vec!["gantry-gpu".into(), "cdi-hook".into()];
    for s in &common.symlinks {
        args.push("--link".into());
        args.push(format!("{}::{}", s.target.display(), s.link.display()));
    }
    for d in &common.ldconfig_dirs {
        args.push("--ldconfig-dir".into());
        args.push(d.display().to_string());
    }
    Ok(json!({
        "cdiVersion": "0.5.0",
        "kind": kind,
        "devices": devices,
        "containerEdits": {
            // The engine injects the GPUs: a legacy hook in the image must not do it again.
            "env": ["NVIDIA_VISIBLE_DEVICES=void", format!("GANTRY_GPU_DRIVER_VERSION={}", driver.version)],
            "deviceNodes": common.devices.iter().map(|n| node(roots, n)).collect::<Vec<_>>(),
            "mounts": mounts,
            // env set: a hook without it inherits the image's under runc and crun.
            "hooks": [{"hookName": "createContainer", "path": hook, "args": args,
                       "env": [crate::cdispec::HOOK_ENV]}],
        }
    }))
}

/// `--link TARGET::LINK` as the cdi-hook takes it.
pub fn parse_link(s: &str) -> Result<crate::plan::Symlink, String> {
    let (target, link) = s
        .split_once("::")
        .ok_or_else(|| format!("--link {s:?}: expected TARGET::LINK"))?;
    if !link.starts_with('/') {
        return Err(format!(
            "--link {s:?}: the link must be an absolute container path"
        ));
    }
    Ok(crate::plan::Symlink {
        link: PathBuf::from(link),
        target: PathBuf::from(target),
    })
}
