//! Native GPU injection: the runtime as a CDI consumer. Before anything is created, the
//! container's device requests are resolved into CDI container edits, from spec files
//! (`cdi.k8s.io/*` annotations, `NVIDIA_VISIBLE_DEVICES`/`AMD_VISIBLE_DEVICES` or the
//! `gantry.gpu/devices` annotation holding fully qualified names) or, for plain requests such
//! as `NVIDIA_VISIBLE_DEVICES=0` (jit), from a spec gantry-gpu makes from its discovery, and
//! merged into the planned spec: linux.devices, linux.resources.devices, mounts, env, hooks,
//! additionalGids. The merged spec is the one the rest of create follows and state.json
//! keeps, so the cgroup drivers apply the device rules like any other and `exec`/`update` see
//! them. Every error names the spec file and the device; nothing has been created yet.
//!
//! The runtime links the CDI spec code (gantry-cdi) but no GPU code: discovery (NVML, sysfs,
//! the driver's files) is gantry-gpu's, run as a program (docs/architecture.md).

mod jit;
mod merge;
mod requests;

use std::path::{Path, PathBuf};

use anyhow::Result;
use gantry_cdi::{Registry, Resolved};
use serde_json::Value;

use crate::bundle::Bundle;

pub use jit::Discovery;
pub use requests::{requests, Plain, Requests};

/// The global options of native injection.
#[derive(Debug, Clone, Default)]
pub struct GpuOpts {
    /// The CDI spec dirs (default /etc/cdi, /var/run/cdi), lowest priority first.
    pub spec_dirs: Option<Vec<PathBuf>>,
    /// Plain requests (`NVIDIA_VISIBLE_DEVICES=0`) get edits made from discovery.
    pub jit: bool,
    /// Where gantry-gpu's discovery looks.
    pub roots: Discovery,
    /// The gantry-gpu that makes jit specs and that their createRuntime hook runs (default:
    /// next to this binary, else on PATH, else /usr/local/bin or /usr/bin).
    pub gpu_bin: Option<PathBuf>,
}

impl GpuOpts {
    fn dirs(&self) -> Vec<PathBuf> {
        match &self.spec_dirs {
            Some(d) => d.clone(),
            None => gantry_cdi::DEFAULT_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// Resolve the container's requests and merge their edits into `bundle.spec`; record the
/// host node of each injected device (a user-namespaced container binds it).
pub fn apply(bundle: &mut Bundle, o: &GpuOpts) -> Result<()> {
    let reqs = requests(&bundle.spec)?;
    if reqs.names.is_empty() && (reqs.plain.is_none() || !o.jit) {
        if reqs.plain.is_some() {
            crate::logger::debug("GPU request left alone: jit CDI is off (--no-cdi-jit)");
        }
        return Ok(());
    }
    let mut resolved: Vec<Resolved> = Vec::new();
    if !reqs.names.is_empty() {
        let reg = Registry::load(&o.dirs())?;
        resolved.extend(reg.resolve(&reqs.names)?);
    }
    if let (true, Some((plain, by))) = (o.jit, &reqs.plain) {
        if let Some(h) = gpu_hook(&bundle.spec) {
            // The config's own GPU hook serves plain requests; injecting them twice would
            // mount everything twice.
            crate::logger::debug(&format!("jit CDI: {by} left to the config's hook {h}"));
        } else {
            resolved.extend(jit::resolve(bundle, o, plain, by)?);
        }
    }
    let mut m = merge::Merger::new(bundle)?;
    for r in &resolved {
        m.edits(r)?;
    }
    m.finish(bundle)
}

/// A GPU hook in the config (gantry-gpu's, or NVIDIA's legacy one), which reads the same
/// plain requests.
fn gpu_hook(spec: &oci_spec::runtime::Spec) -> Option<String> {
    let v = serde_json::to_value(spec.hooks().as_ref()?).ok()?;
    let hooks = v
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten();
    for h in hooks {
        let path = Path::new(h["path"].as_str().unwrap_or_default());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let args: Vec<&str> = h["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let ours = name == "gantry-gpu" && args.contains(&"hook");
        if ours
            || matches!(
                name,
                "nvidia-container-runtime-hook" | "nvidia-container-toolkit"
            )
        {
            return Some(path.display().to_string());
        }
    }
    None
}

/// A config with `env` and annotations `ann`, for the unit tests of requests and merge.
#[cfg(test)]
mod test_spec {
    use serde_json::json;

    pub fn spec(env: &[&str], ann: &[(&str, &str)]) -> oci_spec::runtime::Spec {
        let v = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}, "env": env},
            "annotations": ann.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        serde_json::from_value(v).unwrap()
    }
}
