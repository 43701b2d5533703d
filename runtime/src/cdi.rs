//! Native GPU injection: the runtime as a CDI consumer. Before anything is created, the
//! container's device requests are resolved into CDI container edits, from spec files
//! (`cdi.k8s.io/*` annotations, `NVIDIA_VISIBLE_DEVICES`/`AMD_VISIBLE_DEVICES` or the
//! `gantry.gpu/devices` annotation holding fully qualified names) or made in memory from
//! gantry-gpu's discovery (jit: plain requests such as `NVIDIA_VISIBLE_DEVICES=0`), and
//! merged into the planned spec: linux.devices, linux.resources.devices, mounts, env, hooks,
//! additionalGids. The merged spec is the one the rest of create follows and state.json
//! keeps, so the cgroup drivers apply the device rules like any other and `exec`/`update` see
//! them. Every error names the spec file and the device; nothing has been created yet.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use gantry_gpu::cdispec::{self, ContainerEdits, QualifiedName, Registry, Resolved};
use gantry_gpu::request::{self, Request};
use gantry_gpu::roots::Roots;
use serde_json::{json, Value};

use crate::bundle::Bundle;

/// The global options of native injection.
#[derive(Debug, Clone, Default)]
pub struct GpuOpts {
    /// The CDI spec dirs (default /etc/cdi, /var/run/cdi), lowest priority first.
    pub spec_dirs: Option<Vec<PathBuf>>,
    /// Plain requests (`NVIDIA_VISIBLE_DEVICES=0`) get edits made from discovery.
    pub jit: bool,
    /// Where discovery looks (gantry-gpu's ROOTS).
    pub roots: Roots,
    /// The gantry-gpu binary a jit spec's createRuntime hook runs (default: next to this
    /// binary, else /usr/local/bin or /usr/bin).
    pub gpu_bin: Option<PathBuf>,
}

impl GpuOpts {
    fn dirs(&self) -> Vec<PathBuf> {
        match &self.spec_dirs {
            Some(d) => d.clone(),
            None => cdispec::DEFAULT_DIRS.iter().map(PathBuf::from).collect(),
        }
    }

    fn gpu_bin(&self) -> Option<PathBuf> {
        if let Some(p) = &self.gpu_bin {
            return Some(p.clone());
        }
        let mut candidates = Vec::new();
        if let Some(dir) =
            crate::exeseal::original_exe().and_then(|e| e.parent().map(Path::to_path_buf))
        {
            candidates.push(dir.join("gantry-gpu"));
        }
        candidates.push("/usr/local/bin/gantry-gpu".into());
        candidates.push("/usr/bin/gantry-gpu".into());
        candidates.into_iter().find(|p| p.is_file())
    }
}

/// What a container asks for.
#[derive(Debug, Default)]
pub struct Requests {
    /// Fully qualified names, each with where it was asked for.
    pub names: Vec<(QualifiedName, String)>,
    /// Plain requests (jit), with where they were asked for.
    pub plain: Option<(Request, String)>,
}

const VISIBLE: [&str; 2] = ["NVIDIA_VISIBLE_DEVICES", "AMD_VISIBLE_DEVICES"];

/// Reads the requests of `spec`: `cdi.k8s.io/*` annotations, the VISIBLE_DEVICES variables
/// and the `gantry.gpu/devices` annotation. Qualified names go to `names`; the rest, as
/// gantry-gpu's hook reads them, to `plain`.
pub fn requests(spec: &oci_spec::runtime::Spec) -> Result<Requests> {
    let mut r = Requests::default();
    let annotations: BTreeMap<String, String> = spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (k, v) in &annotations {
        if !k.starts_with(cdispec::ANNOTATION_PREFIX) {
            continue;
        }
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let q = QualifiedName::parse(item).map_err(|e| anyhow!("annotation {k}: {e}"))?;
            r.names.push((q, format!("annotation {k}")));
        }
    }
    let env: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    // The last definition of a variable counts, as in the process's environment.
    let mut plain_env: Vec<String> = Vec::new();
    let mut plain_from: Vec<String> = Vec::new();
    for var in VISIBLE {
        let Some(value) = env.iter().rev().find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == var)
                .map(|(_, v)| v.to_string())
        }) else {
            continue;
        };
        let mut rest = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if QualifiedName::looks_qualified(item) {
                let q =
                    QualifiedName::parse(item).map_err(|e| anyhow!("process.env {var}: {e}"))?;
                r.names.push((q, format!("process.env {var}")));
            } else {
                rest.push(item);
            }
        }
        if !rest.is_empty() || value.trim().is_empty() {
            plain_env.push(format!("{var}={}", rest.join(",")));
            if request::device_list(&rest.join(",")).is_some() {
                plain_from.push(format!("{var}={}", rest.join(",")));
            }
        }
    }
    let mut plain_ann: Vec<(String, String)> = Vec::new();
    if let Some(v) = annotations.get(request::ANNOTATION) {
        let mut rest = Vec::new();
        for entry in v.split([';', ' ']).filter(|e| !e.trim().is_empty()) {
            if QualifiedName::looks_qualified(entry) {
                let q = QualifiedName::parse(entry)
                    .map_err(|e| anyhow!("annotation {}: {e}", request::ANNOTATION))?;
                r.names
                    .push((q, format!("annotation {}", request::ANNOTATION)));
            } else {
                rest.push(entry);
            }
        }
        if !rest.is_empty() {
            plain_ann.push((request::ANNOTATION.to_string(), rest.join(";")));
            plain_from.push(format!(
                "annotation {}={}",
                request::ANNOTATION,
                rest.join(";")
            ));
        }
    }
    if !plain_from.is_empty() {
        // The other variables (capabilities, requirements) as the hook reads them.
        let mut full: Vec<String> = env
            .iter()
            .filter(|e| !VISIBLE.iter().any(|v| e.starts_with(&format!("{v}="))))
            .cloned()
            .collect();
        full.extend(plain_env);
        let req = Request::parse(&full, plain_ann.iter().map(|(k, v)| (k, v)))?;
        if !req.devices.is_empty() {
            r.plain = Some((req, plain_from.join(", ")));
        }
    }
    Ok(r)
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
    if let (true, Some((req, by))) = (o.jit, &reqs.plain) {
        if let Some(h) = gpu_hook(&bundle.spec) {
            // The config's own GPU hook serves plain requests; injecting them twice would
            // mount everything twice.
            crate::logger::debug(&format!("jit CDI: {by} left to the config's hook {h}"));
        } else if let Some(r) = jit(bundle, o, req, by)? {
            resolved.push(r);
        }
    }
    let mut m = Merger::new(bundle)?;
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

/// jit: the edits gantry-gpu's hook would make, from discovery, as one in-memory spec.
/// `None` when the host has no driver of a vendor asked for with `all` or `none` only (a CUDA
/// image's own NVIDIA_VISIBLE_DEVICES=all on a host without GPUs runs as without the
/// toolkit); a GPU asked for by id must exist.
fn jit(bundle: &Bundle, o: &GpuOpts, req: &Request, by: &str) -> Result<Option<Resolved>> {
    let root = pathrs::Root::open(&bundle.rootfs)
        .with_context(|| format!("open rootfs {}", bundle.rootfs.display()))?;
    let targets = gantry_gpu::plan::LibTargets::for_image(|p: &Path| root.resolve(p).is_ok());
    drop(root);
    let (_, plan) = match gantry_gpu::hook::plan_for(&o.roots, req, &targets) {
        Ok(p) => p,
        Err(e) => {
            let no_driver = matches!(
                e.downcast_ref::<gantry_gpu::select::SelectError>(),
                Some(gantry_gpu::select::SelectError::NoGpus { .. })
            );
            let by_id = req
                .devices
                .values()
                .any(|l| matches!(l, request::DeviceList::List(_)));
            if no_driver && !by_id {
                crate::logger::info(&format!("jit CDI: {by}: nothing injected: {e}"));
                return Ok(None);
            }
            return Err(e.context(format!("jit CDI for {by}")));
        }
    };
    for n in &plan.notes {
        crate::logger::debug(&format!("jit CDI: {n}"));
    }
    let edits = cdispec::edits_of_plan(&plan, &o.roots, o.gpu_bin().as_deref())
        .map_err(|e| anyhow!("jit CDI for {by}: {e}"))?;
    Ok(Some(Resolved {
        origin: PathBuf::from(format!("jit ({by})")),
        device: None,
        edits,
    }))
}

/// Where an edit came from, for error messages.
fn origin(r: &Resolved) -> String {
    match &r.device {
        Some(d) => format!("CDI spec {}, device {d}", r.origin.display()),
        None if r.origin.starts_with("jit") => r.origin.display().to_string(),
        None => format!("CDI spec {} (common edits)", r.origin.display()),
    }
}

/// The spec as JSON, edited in place, with the origin of every device and mount it holds.
struct Merger {
    spec: Value,
    /// path -> (type, major, minor, origin)
    devices: BTreeMap<String, (String, i64, i64, String)>,
    /// destination -> (the mount, origin)
    mounts: BTreeMap<String, (Value, String)>,
    new_mounts: Vec<Value>,
    hosts: BTreeMap<PathBuf, PathBuf>,
}

impl Merger {
    fn new(bundle: &Bundle) -> Result<Merger> {
        let spec = serde_json::to_value(&bundle.spec)?;
        let mut devices = BTreeMap::new();
        for d in spec["linux"]["devices"].as_array().into_iter().flatten() {
            devices.insert(
                d["path"].as_str().unwrap_or_default().to_string(),
                (
                    d["type"].as_str().unwrap_or_default().to_string(),
                    d["major"].as_i64().unwrap_or(0),
                    d["minor"].as_i64().unwrap_or(0),
                    "config.json linux.devices".to_string(),
                ),
            );
        }
        let mut mounts = BTreeMap::new();
        for mnt in spec["mounts"].as_array().into_iter().flatten() {
            if let Some(d) = mnt["destination"].as_str() {
                mounts.insert(
                    d.to_string(),
                    (mnt.clone(), "config.json mounts".to_string()),
                );
            }
        }
        Ok(Merger {
            spec,
            devices,
            mounts,
            new_mounts: Vec::new(),
            hosts: BTreeMap::new(),
        })
    }

    fn edits(&mut self, r: &Resolved) -> Result<()> {
        let from = origin(r);
        let e: &ContainerEdits = &r.edits;
        for kv in &e.env {
            let key = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
            let process = &mut self.spec["process"];
            if !process.is_object() {
                bail!("{from}: env {kv:?}: config.json has no process");
            }
            match process["env"].as_array_mut() {
                Some(env) => {
                    env.retain(|x| {
                        x.as_str().and_then(|s| s.split_once('=')).map(|(k, _)| k) != Some(key)
                    });
                    env.push(json!(kv));
                }
                None => process["env"] = json!([kv]),
            }
        }
        for d in &e.device_nodes {
            self.device(d, &from)?;
        }
        for m in &e.mounts {
            self.mount(m, &from)?;
        }
        for h in &e.hooks {
            let mut v = json!({"path": h.path});
            if !h.args.is_empty() {
                v["args"] = json!(h.args);
            }
            if !h.env.is_empty() {
                v["env"] = json!(h.env);
            }
            if let Some(t) = h.timeout {
                v["timeout"] = json!(t);
            }
            if !self.spec["hooks"].is_object() {
                self.spec["hooks"] = json!({});
            }
            let list = &mut self.spec["hooks"][&h.hook_name];
            match list.as_array_mut() {
                Some(l) => l.push(v),
                None => *list = json!([v]),
            }
        }
        for &gid in &e.additional_gids {
            // As CDI: the root group is never added.
            if gid == 0 {
                continue;
            }
            let user = &mut self.spec["process"]["user"];
            if !user.is_object() {
                bail!("{from}: additionalGids: config.json has no process.user");
            }
            let gids = &mut user["additionalGids"];
            match gids.as_array_mut() {
                Some(g) if g.iter().any(|x| x.as_u64() == Some(gid.into())) => {}
                Some(g) => g.push(json!(gid)),
                None => *gids = json!([gid]),
            }
        }
        Ok(())
    }

    fn device(&mut self, d: &cdispec::DeviceNode, from: &str) -> Result<()> {
        let host = PathBuf::from(d.host_path.as_deref().unwrap_or(&d.path));
        let what = format!("{from}: device node {}", d.path);
        let meta = std::fs::metadata(&host)
            .map_err(|e| anyhow!("{what}: host node {}: {e}", host.display()))?;
        let ft = meta.file_type();
        let typ = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            bail!("{what}: host node {} is not a device node", host.display());
        };
        let (major, minor) = (
            nix::sys::stat::major(meta.rdev()) as i64,
            nix::sys::stat::minor(meta.rdev()) as i64,
        );
        if let Some(t) = d.typ.as_deref() {
            let t = if t == "u" { "c" } else { t };
            if t != typ {
                bail!(
                    "{what}: the spec says type {t}, host node {} is {typ}",
                    host.display()
                );
            }
        }
        if d.major.is_some_and(|m| m != major) || d.minor.is_some_and(|m| m != minor) {
            bail!(
                "{what}: the spec says {}:{}, host node {} is {major}:{minor}",
                d.major.map_or("?".into(), |m| m.to_string()),
                d.minor.map_or("?".into(), |m| m.to_string()),
                host.display()
            );
        }
        match self.devices.get(&d.path) {
            Some((t, ma, mi, _)) if (t.as_str(), *ma, *mi) == (typ, major, minor) => {}
            Some((t, ma, mi, other)) => bail!(
                "conflicting CDI edits for device node {}: {t} {ma}:{mi} from {other}, {typ} {major}:{minor} from {from}",
                d.path
            ),
            None => {
                self.devices.insert(
                    d.path.clone(),
                    (typ.to_string(), major, minor, from.to_string()),
                );
                let mut node = json!({"path": d.path, "type": typ, "major": major, "minor": minor});
                node["fileMode"] = json!(d.file_mode.unwrap_or(meta.mode() & 0o7777));
                node["uid"] = json!(d.uid.unwrap_or(0));
                node["gid"] = json!(d.gid.unwrap_or(0));
                if !self.spec["linux"].is_object() {
                    self.spec["linux"] = json!({});
                }
                let devs = &mut self.spec["linux"]["devices"];
                match devs.as_array_mut() {
                    Some(l) => l.push(node),
                    None => *devs = json!([node]),
                }
                if host != Path::new(&d.path) {
                    self.hosts.insert(PathBuf::from(&d.path), host.clone());
                }
            }
        }
        let access = d.permissions.clone().unwrap_or_else(|| "rwm".into());
        let rule =
            json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": access});
        let linux = &mut self.spec["linux"];
        if !linux["resources"].is_object() {
            linux["resources"] = json!({});
        }
        let rules = &mut linux["resources"]["devices"];
        match rules.as_array_mut() {
            Some(l) if l.contains(&rule) => {}
            Some(l) => l.push(rule),
            None => *rules = json!([rule]),
        }
        Ok(())
    }

    fn mount(&mut self, m: &cdispec::Mount, from: &str) -> Result<()> {
        let typ = m.typ.clone().unwrap_or_else(|| "bind".into());
        let mut options = m.options.clone();
        if typ == "bind" && !options.iter().any(|o| o == "bind" || o == "rbind") {
            options.push("bind".into());
        }
        if typ == "bind" && !Path::new(&m.host_path).exists() {
            bail!(
                "{from}: mount {}: hostPath {} does not exist",
                m.container_path,
                m.host_path
            );
        }
        let v = json!({
            "destination": m.container_path,
            "type": typ,
            "source": m.host_path,
            "options": options,
        });
        match self.mounts.get(&m.container_path) {
            Some((same, _)) if *same == v => Ok(()),
            Some((other, by)) => bail!(
                "conflicting CDI edits for mount {}: {} from {by}, {} from {from}",
                m.container_path,
                other["source"].as_str().unwrap_or("?"),
                m.host_path
            ),
            None => {
                self.mounts
                    .insert(m.container_path.clone(), (v.clone(), from.to_string()));
                self.new_mounts.push(v);
                Ok(())
            }
        }
    }

    fn finish(mut self, bundle: &mut Bundle) -> Result<()> {
        // As CDI: the added mounts in order of depth (a directory before what goes in it),
        // after the config's own.
        let depth = |v: &Value| {
            Path::new(v["destination"].as_str().unwrap_or_default())
                .components()
                .count()
        };
        self.new_mounts.sort_by_key(depth);
        if !self.new_mounts.is_empty() {
            match self.spec["mounts"].as_array_mut() {
                Some(l) => l.extend(self.new_mounts),
                None => self.spec["mounts"] = Value::Array(self.new_mounts),
            }
        }
        bundle.spec = serde_json::from_value(self.spec).context("the spec with CDI edits")?;
        bundle.device_hosts.extend(self.hosts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: &[&str], ann: &[(&str, &str)]) -> oci_spec::runtime::Spec {
        let v = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}, "env": env},
            "annotations": ann.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        serde_json::from_value(v).unwrap()
    }

    fn names(r: &Requests) -> Vec<String> {
        r.names.iter().map(|(q, _)| q.to_string()).collect()
    }

    #[test]
    fn requests_from_annotations_and_env() {
        let r = requests(&spec(
            &["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0,1", "PATH=/bin"],
            &[("cdi.k8s.io/gpu", "amd.com/gpu=1, nvidia.com/gpu=all")],
        ))
        .unwrap();
        assert_eq!(
            names(&r),
            ["amd.com/gpu=1", "nvidia.com/gpu=all", "nvidia.com/gpu=0"]
        );
        let (req, by) = r.plain.unwrap();
        assert_eq!(by, "NVIDIA_VISIBLE_DEVICES=1");
        assert_eq!(
            req.devices[&gantry_gpu::inventory::Vendor::Nvidia],
            request::DeviceList::List(vec!["1".into()])
        );
    }

    fn resolved(origin: &str, edits: Value) -> Resolved {
        Resolved {
            origin: PathBuf::from(origin),
            device: Some(QualifiedName::parse("x.com/gpu=0").unwrap()),
            edits: serde_json::from_value(edits).unwrap(),
        }
    }

    #[test]
    fn edits_merge_in_order_and_conflicts_name_both_sides() {
        let mut b = Bundle {
            dir: "/b".into(),
            spec: spec(&["A=1", "PATH=/bin"], &[]),
            rootfs: "/b/rootfs".into(),
            device_hosts: Default::default(),
        };
        let mut m = Merger::new(&b).unwrap();
        m.edits(&resolved(
            "/etc/cdi/a.json",
            json!({
                "env": ["A=2"],
                "mounts": [
                    {"hostPath": "/", "containerPath": "/a/b/c"},
                    {"hostPath": "/", "containerPath": "/a", "options": ["ro", "rbind"]}
                ],
                "hooks": [{"hookName": "createRuntime", "path": "/bin/true", "env": ["PATH=/bin"]}],
                "additionalGids": [0, 44, 44]
            }),
        ))
        .unwrap();
        // The same mount again is no conflict; another source at that destination is.
        m.edits(&resolved(
            "/etc/cdi/a.json",
            json!({"mounts": [{"hostPath": "/", "containerPath": "/a/b/c"}]}),
        ))
        .unwrap();
        let e = m
            .edits(&resolved(
                "/etc/cdi/b.json",
                json!({"mounts": [{"hostPath": "/tmp", "containerPath": "/a"}]}),
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("conflicting CDI edits for mount /a"), "{e}");
        assert!(
            e.contains("/etc/cdi/a.json") && e.contains("/etc/cdi/b.json"),
            "{e}"
        );
        m.finish(&mut b).unwrap();
        let v = serde_json::to_value(&b.spec).unwrap();
        assert_eq!(v["process"]["env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(v["process"]["user"]["additionalGids"], json!([44]));
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests, ["/a", "/a/b/c"], "parents first");
        assert_eq!(v["mounts"][1]["options"], json!(["bind"]));
        assert_eq!(v["hooks"]["createRuntime"][0]["env"], json!(["PATH=/bin"]));
    }

    #[test]
    fn a_device_node_must_be_the_host_node() {
        let b = Bundle {
            dir: "/b".into(),
            spec: spec(&[], &[]),
            rootfs: "/b/rootfs".into(),
            device_hosts: Default::default(),
        };
        let mut m = Merger::new(&b).unwrap();
        m.edits(&resolved(
            "/s.json",
            json!({"deviceNodes": [{"path": "/dev/null"}]}),
        ))
        .unwrap();
        let e = m
            .edits(&resolved(
                "/s.json",
                json!({"deviceNodes": [{"path": "/dev/zero", "major": 1, "minor": 3}]}),
            ))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the spec says 1:3, host node /dev/zero is 1:5"),
            "{e}"
        );
        let e = m
            .edits(&resolved(
                "/s.json",
                json!({"deviceNodes": [{"path": "/dev/null", "hostPath": "/dev/zero"}]}),
            ))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("conflicting CDI edits for device node /dev/null"),
            "{e}"
        );
        let e = m
            .edits(&resolved(
                "/s.json",
                json!({"deviceNodes": [{"path": "/dev/nope"}]}),
            ))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CDI spec /s.json, device x.com/gpu=0: device node /dev/nope"),
            "{e}"
        );
        let rules = &m.spec["linux"]["resources"]["devices"];
        assert_eq!(
            rules,
            &json!([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
        );
    }

    #[test]
    fn no_request_and_bad_names() {
        let r = requests(&spec(&["NVIDIA_VISIBLE_DEVICES=void"], &[])).unwrap();
        assert!(r.names.is_empty() && r.plain.is_none());
        let r = requests(&spec(&["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0"], &[])).unwrap();
        assert!(r.plain.is_none());
        let e = requests(&spec(&[], &[("cdi.k8s.io/x", "nvidia.com/gpu")])).unwrap_err();
        assert!(e.to_string().contains("annotation cdi.k8s.io/x"), "{e}");
        let r = requests(&spec(
            &[],
            &[("gantry.gpu/devices", "amd:all;nvidia.com/gpu=1")],
        ))
        .unwrap();
        assert_eq!(names(&r), ["nvidia.com/gpu=1"]);
        assert!(r.plain.is_some());
    }
}
