//! The producer side of CDI (Container Device Interface): a spec for the host's GPUs of one
//! vendor, from the same inventory and plan the hook uses, written with the typed structs of
//! `cdispec` (so what is written is what the consumer reads and checks).
//!
//! - NVIDIA (`nvidia.com/gpu`): a device per GPU and per MIG device, named by the strategies
//!   asked for (index `0` and MIG `1:0`, UUID, type-index `gpu0` and `mig1:0`), each with the
//!   GPU's own node, its DRM card and render nodes (with graphics or display among the
//!   capabilities) and a MIG device's caps nodes; `all`; the driver's control nodes,
//!   libraries, tools and firmware as common edits, with the symlinks and the ld.so.cache
//!   refresh as a createContainer hook (`gantry-gpu cdi-hook`) whose `env` is set.
//! - AMD (`amd.com/gpu`): a device per GPU (index, UUID `GPU-<unique_id>`, type-index) with
//!   its card and render nodes, `all`; `/dev/kfd` as a common edit.
//! - Intel (`intel.com/gpu`): a device per GPU (index, type-index) with its card and render
//!   nodes, `all`.
//!
//! The cdiVersion is the lowest the spec's features need (`Spec::minimum_version`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cdispec::{self, ContainerEdits, Device, DeviceNode, Hook, Mount, Spec};
use crate::cli::NameStrategy;
use crate::inventory::{Gpu, Inventory, Node, Vendor};
use crate::plan::{self, Kind, LibTargets, Plan};
use crate::request::Capability;
use crate::roots::Roots;
use crate::select::Selection;

/// The kind NVIDIA's toolkit uses, so that device requests written for it work unchanged.
pub const KIND: &str = "nvidia.com/gpu";

/// The kind of a vendor's specs, as the vendors' own toolkits name them.
pub fn default_kind(v: Vendor) -> &'static str {
    match v {
        Vendor::Nvidia => KIND,
        Vendor::Amd => "amd.com/gpu",
        Vendor::Intel => "intel.com/gpu",
    }
}

/// What to generate, besides the host's GPUs.
pub struct Options<'a> {
    /// The kind (default: the vendor's); checked against CDI's name rules.
    pub kind: Option<&'a str>,
    /// How devices are named (empty: index and uuid).
    pub strategies: &'a [NameStrategy],
    /// Whether to add the `all` device.
    pub all_device: bool,
    /// NVIDIA: the capabilities whose files are mounted, where libraries go, the hook binary.
    pub caps: &'a BTreeSet<Capability>,
    pub targets: &'a LibTargets,
    pub hook: &'a Path,
}

fn node(roots: &Roots, n: &Node) -> DeviceNode {
    DeviceNode {
        path: n.path.display().to_string(),
        host_path: Some(roots.dev(&n.path).display().to_string()),
        typ: Some("c".into()),
        major: Some(n.major.into()),
        minor: Some(n.minor.into()),
        permissions: Some("rw".into()),
        ..Default::default()
    }
}

fn push_unique(list: &mut Vec<DeviceNode>, nodes: &[DeviceNode]) {
    for n in nodes {
        if !list.iter().any(|x| x.path == n.path) {
            list.push(n.clone());
        }
    }
}

/// The names of one device under the strategies: (index name, uuid, type-index name).
fn names(strategies: &[NameStrategy], index: &str, uuid: Option<&str>, typed: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in strategies {
        let n = match s {
            NameStrategy::Index => Some(index.to_string()),
            NameStrategy::Uuid => uuid.map(str::to_string),
            NameStrategy::TypeIndex => Some(typed.to_string()),
        };
        if let Some(n) = n.filter(|n| !out.contains(n)) {
            out.push(n);
        }
    }
    out
}

/// The spec for `inv`'s GPUs of `vendor`.
pub fn generate(
    vendor: Vendor,
    roots: &Roots,
    inv: &Inventory,
    o: &Options,
) -> Result<Spec, String> {
    let kind = o.kind.unwrap_or(default_kind(vendor));
    cdispec::valid_kind(kind).map_err(|e| format!("--kind: {e}"))?;
    let default = [NameStrategy::Index, NameStrategy::Uuid];
    let strategies = if o.strategies.is_empty() {
        &default[..]
    } else {
        o.strategies
    };
    let gpus: Vec<&Gpu> = inv.of(vendor).collect();
    let mut refused: Vec<String> = Vec::new();
    let mut devices: Vec<Device> = Vec::new();
    let mut all: Vec<DeviceNode> = Vec::new();
    let mut add = |names: Vec<String>, nodes: &[DeviceNode], all: &mut Vec<DeviceNode>| {
        push_unique(all, nodes);
        for name in names {
            devices.push(Device {
                name,
                container_edits: ContainerEdits {
                    device_nodes: nodes.to_vec(),
                    ..Default::default()
                },
                ..Default::default()
            });
        }
    };
    let mut common = ContainerEdits::default();
    match vendor {
        Vendor::Nvidia => {
            let driver = inv
                .nvidia
                .as_ref()
                .ok_or("no NVIDIA driver found (see `gantry-gpu info`)")?;
            let drm_too =
                o.caps.contains(&Capability::Graphics) || o.caps.contains(&Capability::Display);
            let mut notes = Vec::new();
            let drm = if drm_too {
                crate::discover::drm::discover(roots, &inv.majors, Vendor::Nvidia, &mut notes)
            } else {
                Vec::new()
            };
            for g in &gpus {
                refused.extend(g.refused.iter().map(|r| r.to_string()));
                let mut nodes: Vec<DeviceNode> = g.nodes.iter().map(|n| node(roots, n)).collect();
                if let Some(d) = drm.iter().find(|d| d.pci_bus_id == g.pci_bus_id) {
                    refused.extend(d.refused.iter().map(|r| r.to_string()));
                    push_unique(
                        &mut nodes,
                        &d.nodes.iter().map(|n| node(roots, n)).collect::<Vec<_>>(),
                    );
                }
                let i = g.index.to_string();
                add(
                    names(strategies, &i, g.uuid.as_deref(), &format!("gpu{i}")),
                    &nodes,
                    &mut all,
                );
                for m in &g.migs {
                    refused.extend(m.refused.iter().map(|r| r.to_string()));
                    // A MIG device: its GPU's own node and its caps nodes.
                    let mut mnodes: Vec<DeviceNode> =
                        g.nodes.iter().map(|n| node(roots, n)).collect();
                    mnodes.extend(m.nodes.iter().map(|n| node(roots, n)));
                    let mi = format!("{}:{}", g.index, m.index);
                    add(
                        names(strategies, &mi, m.uuid.as_deref(), &format!("mig{mi}")),
                        &mnodes,
                        &mut all,
                    );
                }
            }
            // The driver without GPUs: control nodes, files, links (NVIDIA_VISIBLE_DEVICES=none).
            let sel = Selection {
                picked: Vec::new(),
                vendors: vec![Vendor::Nvidia],
            };
            let plan: Plan = plan::build(roots, inv, &sel, o.caps, o.targets);
            refused.extend(plan.refused.iter().cloned());
            common = nvidia_common(roots, &plan, &driver.version, o.hook);
        }
        Vendor::Amd | Vendor::Intel => {
            if gpus.is_empty() {
                return Err(format!("no {vendor} GPU found (see `gantry-gpu info`)"));
            }
            for g in &gpus {
                refused.extend(g.refused.iter().map(|r| r.to_string()));
                let nodes: Vec<DeviceNode> = g.nodes.iter().map(|n| node(roots, n)).collect();
                let i = g.index.to_string();
                add(
                    names(strategies, &i, g.uuid.as_deref(), &format!("gpu{i}")),
                    &nodes,
                    &mut all,
                );
            }
            if vendor == Vendor::Amd {
                refused.extend(
                    inv.refused
                        .iter()
                        .filter(|r| r.path == Path::new("/dev/kfd"))
                        .map(|r| r.to_string()),
                );
                match &inv.amd_kfd {
                    Some(kfd) => common.device_nodes.push(node(roots, kfd)),
                    None if refused.is_empty() => {
                        return Err(
                            "AMD GPUs found but no /dev/kfd (amdgpu's KFD not loaded)".into()
                        )
                    }
                    None => {}
                }
            }
        }
    }
    if !refused.is_empty() {
        return Err(format!(
            "device nodes disagree with /proc/devices: {}",
            refused.join("; ")
        ));
    }
    if o.all_device {
        devices.push(Device {
            name: "all".into(),
            container_edits: ContainerEdits {
                device_nodes: all,
                ..Default::default()
            },
            ..Default::default()
        });
    }
    if devices.is_empty() {
        return Err(format!(
            "no {vendor} device to write (no GPU, and --no-all-device)"
        ));
    }
    let mut spec = Spec {
        cdi_version: String::new(),
        kind: kind.to_string(),
        devices,
        container_edits: common,
        ..Default::default()
    };
    spec.cdi_version = spec.minimum_version().to_string();
    spec.validate_strict()?;
    Ok(spec)
}

fn nvidia_common(roots: &Roots, plan: &Plan, version: &str, hook: &Path) -> ContainerEdits {
    let mounts = plan
        .mounts
        .iter()
        .map(|m| {
            let mut opts = vec![if m.writable { "rw" } else { "ro" }, "nosuid", "nodev"];
            opts.push(if m.kind == Kind::Dir { "rbind" } else { "bind" });
            Mount {
                host_path: m.host.display().to_string(),
                container_path: m.container.display().to_string(),
                typ: None,
                options: opts.into_iter().map(String::from).collect(),
            }
        })
        .collect();
    let args = cdi_hook_args(plan);
    ContainerEdits {
        // The engine injects the GPUs: a legacy hook in the image must not do it again.
        env: vec![
            "NVIDIA_VISIBLE_DEVICES=void".into(),
            format!("GANTRY_GPU_DRIVER_VERSION={version}"),
        ],
        device_nodes: plan.devices.iter().map(|n| node(roots, n)).collect(),
        mounts,
        // env set: a hook without it inherits the image's under runc and crun.
        hooks: vec![Hook {
            hook_name: "createContainer".into(),
            path: hook.display().to_string(),
            args,
            env: vec![cdispec::HOOK_ENV.into()],
            timeout: None,
        }],
        ..Default::default()
    }
}

/// `--link TARGET::LINK` as the cdi-hook takes it.
/// The argv of the createRuntime `gantry-gpu cdi-hook` that makes a plan's symlinks and
/// refreshes the ld.so.cache in the container.
pub fn cdi_hook_args(plan: &Plan) -> Vec<String> {
    let mut args: Vec<String> = vec!["gantry-gpu".into(), "cdi-hook".into()];
    for s in &plan.symlinks {
        args.push("--link".into());
        args.push(format!("{}::{}", s.target.display(), s.link.display()));
    }
    for d in &plan.ldconfig_dirs {
        args.push("--ldconfig-dir".into());
        args.push(d.display().to_string());
    }
    args
}

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
