//! The consumer side of CDI (Container Device Interface): typed spec files, fully qualified
//! device names (`vendor.com/class=name`), a registry of the spec files in the spec
//! directories, and the resolution of requested names to the edits to apply, in CDI's order.
//! Typed serde structs of our own: the CNCF's Rust crate (container-device-interface) pulls
//! jsonschema with reqwest, hyper and rustls, a network stack that has no place in a root
//! runtime (docs/gpu.md).
//!
//! Every error names the spec file (or the request) and the device at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directories CDI specs are read from when none are given (CDI's defaults; a later one
/// has the higher priority).
pub const DEFAULT_DIRS: [&str; 2] = ["/etc/cdi", "/var/run/cdi"];

/// The annotation prefix of CDI requests (`cdi.k8s.io/<anything>: vendor.com/class=name,...`).
pub const ANNOTATION_PREFIX: &str = "cdi.k8s.io/";

/// The newest cdiVersion whose fields are understood.
pub const MAX_VERSION: (u64, u64, u64) = (0, 8, 0);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub cdi_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default, skip_serializing_if = "ContainerEdits::is_empty")]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEdits {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_nodes: Vec<DeviceNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
    /// Not applied by Gantry: a spec that sets it is refused rather than half applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<serde_json::Value>,
    /// Not applied by Gantry (CDI 0.8): refused when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_devices: Option<serde_json::Value>,
}

impl ContainerEdits {
    pub fn is_empty(&self) -> bool {
        self == &ContainerEdits::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceNode {
    /// The path in the container.
    pub path: String,
    /// The node on the host (default: `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    /// The cgroup access (`r`, `w`, `m`; default `rwm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub host_path: String,
    pub container_path: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hook {
    pub hook_name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// The hook names CDI allows (the OCI hook points).
pub const HOOK_NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A fully qualified device name: `vendor.com/class=name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    /// `vendor.com/class`
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.kind, self.name)
    }
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// A vendor is a domain-like name (`nvidia.com`, `vendor.example-1.io`).
fn valid_vendor(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("empty vendor".into());
    }
    if !v.starts_with(alnum) || !v.ends_with(alnum) {
        return Err(format!(
            "vendor {v:?} must start and end with a letter or digit"
        ));
    }
    if let Some(c) = v.chars().find(|&c| !(alnum(c) || c == '.' || c == '-')) {
        return Err(format!("vendor {v:?} has the character {c:?}"));
    }
    // A DNS subdomain: at most 253 characters, labels of 1 to 63 that start and end with a
    // letter or digit.
    if v.len() > 253 {
        return Err(format!("vendor {v:?} is longer than 253 characters"));
    }
    for l in v.split('.') {
        if l.is_empty() || l.len() > 63 || !l.starts_with(alnum) || !l.ends_with(alnum) {
            return Err(format!(
                "vendor {v:?}: label {l:?} must be 1 to 63 letters, digits or '-', starting and ending with a letter or digit"
            ));
        }
    }
    Ok(())
}

/// A class (`gpu`, `gpu.shared`): letters, digits, `_`, `-`, `.`, starting with a letter.
fn valid_class(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("empty class".into());
    }
    if !c.starts_with(|x: char| x.is_ascii_alphabetic()) || !c.ends_with(alnum) {
        return Err(format!(
            "class {c:?} must start with a letter and end with a letter or digit"
        ));
    }
    if let Some(x) = c
        .chars()
        .find(|&x| !(alnum(x) || matches!(x, '_' | '-' | '.')))
    {
        return Err(format!("class {c:?} has the character {x:?}"));
    }
    if c.len() > 63 {
        return Err(format!("class {c:?} is longer than 63 characters"));
    }
    Ok(())
}

/// A device name (`0`, `GPU-1234`, `1:0`, `all`): letters, digits, `_`, `-`, `.`, `:`,
/// starting and ending with a letter or digit.
pub fn valid_device_name(n: &str) -> Result<(), String> {
    if n.is_empty() {
        return Err("empty device name".into());
    }
    if !n.starts_with(alnum) || !n.ends_with(alnum) {
        return Err(format!(
            "device name {n:?} must start and end with a letter or digit"
        ));
    }
    if let Some(x) = n
        .chars()
        .find(|&x| !(alnum(x) || matches!(x, '_' | '-' | '.' | ':')))
    {
        return Err(format!("device name {n:?} has the character {x:?}"));
    }
    Ok(())
}

/// A kind: `vendor.com/class`.
pub fn valid_kind(k: &str) -> Result<(), String> {
    let (v, c) = k
        .split_once('/')
        .ok_or_else(|| format!("kind {k:?} is not VENDOR/CLASS"))?;
    valid_vendor(v)?;
    valid_class(c)
}

impl QualifiedName {
    /// Whether `s` looks like a qualified name at all (has `/` before `=`): such a string is
    /// a CDI request, and a malformed one is an error, not a plain GPU id.
    pub fn looks_qualified(s: &str) -> bool {
        s.split_once('=').is_some_and(|(k, _)| k.contains('/'))
    }

    pub fn parse(s: &str) -> Result<QualifiedName, String> {
        let s = s.trim();
        let (kind, name) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not a CDI device name (vendor.com/class=name)"))?;
        valid_kind(kind).map_err(|e| format!("{s:?}: {e}"))?;
        valid_device_name(name).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(QualifiedName {
            kind: kind.into(),
            name: name.into(),
        })
    }
}

/// `0.5.0` -> (0, 5, 0); refuses what is not a version or is newer than `MAX_VERSION`.
fn check_version(v: &str) -> Result<(), String> {
    let nums: Option<Vec<u64>> = v.split('.').map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some(&[a, b, c]) if (a, b, c) <= MAX_VERSION => Ok(()),
        Some(&[_, _, _]) => Err(format!(
            "cdiVersion {v:?} is newer than the {}.{}.{} Gantry reads",
            MAX_VERSION.0, MAX_VERSION.1, MAX_VERSION.2
        )),
        _ => Err(format!("cdiVersion {v:?} is not a version (e.g. 0.6.0)")),
    }
}

impl ContainerEdits {
    /// Each edit well formed: absolute container paths, known node types, permissions of
    /// `rwm`, known hook names, `KEY=VALUE` env.
    pub fn validate(&self) -> Result<(), String> {
        for e in &self.env {
            if !e.contains('=') || e.starts_with('=') {
                return Err(format!("env {e:?} is not KEY=VALUE"));
            }
        }
        for d in &self.device_nodes {
            if !d.path.starts_with('/') {
                return Err(format!("deviceNodes: path {:?} is not absolute", d.path));
            }
            if let Some(h) = d.host_path.as_ref().filter(|h| !h.starts_with('/')) {
                return Err(format!(
                    "deviceNodes {}: hostPath {h:?} is not absolute",
                    d.path
                ));
            }
            if let Some(t) = d
                .typ
                .as_deref()
                .filter(|t| !matches!(*t, "c" | "b" | "u" | "p"))
            {
                return Err(format!(
                    "deviceNodes {}: type {t:?} (want c, b, u or p)",
                    d.path
                ));
            }
            if let Some(p) = &d.permissions {
                if p.is_empty() || p.chars().any(|c| !matches!(c, 'r' | 'w' | 'm')) {
                    return Err(format!(
                        "deviceNodes {}: permissions {p:?} (want some of r, w, m)",
                        d.path
                    ));
                }
            }
        }
        for m in &self.mounts {
            if !m.container_path.starts_with('/') {
                return Err(format!(
                    "mounts: containerPath {:?} is not absolute",
                    m.container_path
                ));
            }
            if m.host_path.is_empty() {
                return Err(format!("mounts {}: empty hostPath", m.container_path));
            }
        }
        for h in &self.hooks {
            if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
                return Err(format!(
                    "hooks: hookName {:?} (want one of {})",
                    h.hook_name,
                    HOOK_NAMES.join(", ")
                ));
            }
            if !h.path.starts_with('/') {
                return Err(format!("hooks: path {:?} is not absolute", h.path));
            }
        }
        if self.intel_rdt.is_some() {
            return Err("intelRdt is not supported by Gantry".into());
        }
        if self.net_devices.is_some() {
            return Err("netDevices is not supported by Gantry".into());
        }
        Ok(())
    }
}

/// The released cdiVersions, oldest first (the CDI repository's specs-go/version.go; 0.1.0
/// and 0.2.0 had another format).
pub const VERSIONS: [&str; 6] = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0"];

fn version_tuple(v: &str) -> Option<(u64, u64, u64)> {
    let nums: Option<Vec<u64>> = v.split('.').map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some(&[a, b, c]) => Some((a, b, c)),
        _ => None,
    }
}

impl Spec {
    /// Parse and check a spec file's text (JSON).
    pub fn parse(text: &[u8]) -> Result<Spec, String> {
        Spec::parse_as(text, false)
    }

    /// Parse and check a spec file's text, as YAML (which JSON also is) or JSON.
    pub fn parse_as(text: &[u8], yaml: bool) -> Result<Spec, String> {
        let spec: Spec = if yaml {
            serde_norway::from_slice(text).map_err(|e| e.to_string())?
        } else {
            serde_json::from_slice(text).map_err(|e| e.to_string())?
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Whether a file is read as YAML: any extension but `.json`.
    pub fn is_yaml_path(path: &Path) -> bool {
        path.extension().is_none_or(|e| e != "json")
    }

    fn all_edits(&self) -> impl Iterator<Item = &ContainerEdits> {
        std::iter::once(&self.container_edits)
            .chain(self.devices.iter().map(|d| &d.container_edits))
    }

    /// The lowest cdiVersion whose features this spec uses, by the rules of the CDI
    /// repository's specs-go/version.go: 0.7.0 for intelRdt or additionalGids; 0.6.0 for
    /// annotations or a dotted class (`nvidia.com/gpu.shared`); 0.5.0 for a device name
    /// that starts with a digit or a deviceNode hostPath; 0.4.0 for a mount type; else 0.3.0.
    pub fn minimum_version(&self) -> &'static str {
        if self
            .all_edits()
            .any(|e| e.intel_rdt.is_some() || !e.additional_gids.is_empty())
        {
            return "0.7.0";
        }
        let class_dotted = self
            .kind
            .split_once('/')
            .is_some_and(|(_, c)| c.contains('.'));
        if !self.annotations.is_empty()
            || self.devices.iter().any(|d| !d.annotations.is_empty())
            || class_dotted
        {
            return "0.6.0";
        }
        if self
            .devices
            .iter()
            .any(|d| !d.name.starts_with(|c: char| c.is_ascii_alphabetic()))
            || self
                .all_edits()
                .any(|e| e.device_nodes.iter().any(|n| n.host_path.is_some()))
        {
            return "0.5.0";
        }
        if self
            .all_edits()
            .any(|e| e.mounts.iter().any(|m| m.typ.is_some()))
        {
            return "0.4.0";
        }
        "0.3.0"
    }

    /// `validate`, and what `gantry-gpu cdi validate` adds: a released cdiVersion, at least
    /// the one the features used require.
    pub fn validate_strict(&self) -> Result<(), String> {
        self.validate()?;
        if !VERSIONS.contains(&self.cdi_version.as_str()) {
            return Err(format!(
                "cdiVersion {:?} is not a released version ({})",
                self.cdi_version,
                VERSIONS.join(", ")
            ));
        }
        let min = self.minimum_version();
        if version_tuple(&self.cdi_version) < version_tuple(min) {
            return Err(format!(
                "cdiVersion {} is too old for the features used: at least {min}",
                self.cdi_version
            ));
        }
        for (where_, e) in std::iter::once(("containerEdits".to_string(), &self.container_edits))
            .chain(
                self.devices
                    .iter()
                    .map(|d| (format!("device {:?}", d.name), &d.container_edits)),
            )
        {
            for h in &e.hooks {
                if h.timeout.is_some_and(|t| t <= 0) {
                    return Err(format!("{where_}: hook {}: timeout must be > 0", h.path));
                }
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        check_version(&self.cdi_version)?;
        valid_kind(&self.kind)?;
        self.container_edits
            .validate()
            .map_err(|e| format!("containerEdits: {e}"))?;
        if self.devices.is_empty() {
            return Err("no devices".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.devices {
            valid_device_name(&d.name).map_err(|e| format!("devices: {e}"))?;
            if !seen.insert(d.name.as_str()) {
                return Err(format!("devices: {:?} is defined twice", d.name));
            }
            d.container_edits
                .validate()
                .map_err(|e| format!("device {:?}: containerEdits: {e}", d.name))?;
        }
        Ok(())
    }
}

/// A spec and where it came from (the file, or `jit` for one made in memory).
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub spec: Spec,
}

/// Edits to apply, with the spec file and the device they come from (for errors).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The spec file (or `jit:...` for an in-memory spec).
    pub origin: PathBuf,
    /// The device, or `None` for the spec's common edits.
    pub device: Option<QualifiedName>,
    pub edits: ContainerEdits,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CdiError {
    #[error("CDI spec {path}: cannot read: {msg}")]
    Read { path: PathBuf, msg: String },
    #[error("CDI spec {path}: invalid: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("CDI spec dir {dir}: cannot read: {msg}")]
    Dir { dir: PathBuf, msg: String },
    #[error("CDI devices {first} and {second} both define {device}")]
    Duplicate {
        device: QualifiedName,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("unknown CDI device {device} (requested by {by}): {why}")]
    Unknown {
        device: QualifiedName,
        by: String,
        why: String,
    },
}

/// The spec files of the spec dirs, by kind and device name. Files are `*.json`, and
/// `*.yaml`/`*.yml` read as YAML, in name order. A later
/// directory overrides an earlier one for a device both define; two files of one directory
/// defining one device is an error (CDI's rules).
#[derive(Debug, Default)]
pub struct Registry {
    pub sources: Vec<Source>,
    pub dirs: Vec<PathBuf>,
    /// (kind, name) -> (index in `sources`, priority = index of its dir)
    devices: BTreeMap<(String, String), (usize, usize)>,
}

impl Registry {
    /// Read every spec file of `dirs` (a missing dir is no error). Any unreadable or invalid
    /// spec file fails the whole load: a broken spec could be the one that overrides another.
    pub fn load(dirs: &[PathBuf]) -> Result<Registry, CdiError> {
        let mut reg = Registry {
            dirs: dirs.to_vec(),
            ..Default::default()
        };
        for (prio, dir) in dirs.iter().enumerate() {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(CdiError::Dir {
                        dir: dir.clone(),
                        msg: e.to_string(),
                    })
                }
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("json" | "yaml" | "yml")
                    )
                })
                .collect();
            files.sort();
            for path in files {
                if path.is_dir() {
                    continue;
                }
                let text = std::fs::read(&path).map_err(|e| CdiError::Read {
                    path: path.clone(),
                    msg: e.to_string(),
                })?;
                let spec = Spec::parse_as(&text, Spec::is_yaml_path(&path)).map_err(|msg| {
                    CdiError::Invalid {
                        path: path.clone(),
                        msg,
                    }
                })?;
                reg.add(Source { path, spec }, prio)?;
            }
        }
        Ok(reg)
    }

    fn add(&mut self, src: Source, prio: usize) -> Result<(), CdiError> {
        let idx = self.sources.len();
        for d in &src.spec.devices {
            let key = (src.spec.kind.clone(), d.name.clone());
            match self.devices.get(&key) {
                Some(&(other, p)) if p == prio => {
                    return Err(CdiError::Duplicate {
                        device: QualifiedName {
                            kind: key.0,
                            name: key.1,
                        },
                        first: self.sources[other].path.clone(),
                        second: src.path.clone(),
                    })
                }
                _ => {
                    self.devices.insert(key, (idx, prio));
                }
            }
        }
        self.sources.push(src);
        Ok(())
    }

    /// The spec and device `name` resolves to.
    pub fn find(&self, name: &QualifiedName) -> Option<(&Source, &Device)> {
        let &(i, _) = self.devices.get(&(name.kind.clone(), name.name.clone()))?;
        let src = &self.sources[i];
        let dev = src.spec.devices.iter().find(|d| d.name == name.name)?;
        Some((src, dev))
    }

    /// The edits of `names` (each with who asked for it), in CDI's order: for each device in
    /// request order, its spec's common edits the first time that spec is used, then the
    /// device's own. A device asked for twice is applied once.
    pub fn resolve(&self, names: &[(QualifiedName, String)]) -> Result<Vec<Resolved>, CdiError> {
        let mut out = Vec::new();
        let mut specs_used: Vec<&Path> = Vec::new();
        let mut done: Vec<&QualifiedName> = Vec::new();
        for (name, by) in names {
            if done.contains(&name) {
                continue;
            }
            done.push(name);
            let Some((src, dev)) = self.find(name) else {
                let known: Vec<String> = self
                    .sources
                    .iter()
                    .filter(|s| s.spec.kind == name.kind)
                    .flat_map(|s| {
                        s.spec
                            .devices
                            .iter()
                            .map(move |d| format!("{} ({})", d.name, s.path.display()))
                    })
                    .collect();
                let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
                let why = if known.is_empty() {
                    format!(
                        "no spec of kind {} in {}",
                        name.kind,
                        if dirs.is_empty() {
                            "no spec dir".to_string()
                        } else {
                            dirs.join(", ")
                        }
                    )
                } else {
                    format!("kind {} has: {}", name.kind, known.join(", "))
                };
                return Err(CdiError::Unknown {
                    device: name.clone(),
                    by: by.clone(),
                    why,
                });
            };
            if !specs_used.contains(&src.path.as_path()) {
                specs_used.push(&src.path);
                if !src.spec.container_edits.is_empty() {
                    out.push(Resolved {
                        origin: src.path.clone(),
                        device: None,
                        edits: src.spec.container_edits.clone(),
                    });
                }
            }
            out.push(Resolved {
                origin: src.path.clone(),
                device: Some(name.clone()),
                edits: dev.container_edits.clone(),
            });
        }
        Ok(out)
    }
}

/// The environment every hook entry Gantry writes runs with: set explicitly, so that no
/// runtime hands it the image's (LD_PRELOAD and friends).
pub const HOOK_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A plan (what the hook would inject) as CDI container edits, for jit requests: device nodes
/// with their host path under the dev root and the numbers discovery read from them, the
/// files as read-only binds (nosuid, nodev), and the symlinks and ld.so.cache refresh as a
/// createRuntime hook running `hook` (`gantry-gpu cdi-hook`), with its env set: run by the
/// runtime in its own namespaces after the container's mounts exist, it can enter a
/// user-namespaced container's mount namespace, which a createContainer hook (run inside the
/// container's user namespace, facing a non-dumpable init) cannot.
pub fn edits_of_plan(
    plan: &crate::plan::Plan,
    roots: &crate::roots::Roots,
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
        options.push(
            if m.kind == crate::plan::Kind::Dir {
                "rbind"
            } else {
                "bind"
            }
            .into(),
        );
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
        let mut args: Vec<String> = vec!["gantry-gpu".into(), "cdi-hook".into()];
        for s in &plan.symlinks {
            args.push("--link".into());
            args.push(format!("{}::{}", s.target.display(), s.link.display()));
        }
        for d in &plan.ldconfig_dirs {
            args.push("--ldconfig-dir".into());
            args.push(d.display().to_string());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        let n = QualifiedName::parse("nvidia.com/gpu=0").unwrap();
        assert_eq!((n.kind.as_str(), n.name.as_str()), ("nvidia.com/gpu", "0"));
        assert_eq!(n.to_string(), "nvidia.com/gpu=0");
        assert!(QualifiedName::parse("nvidia.com/gpu.shared=GPU-a1:0").is_ok());
        assert!(QualifiedName::parse("nvidia.com/gpu").is_err());
        assert!(QualifiedName::parse("nvidia.com/=0").is_err());
        assert!(QualifiedName::parse("-x.com/gpu=0").is_err());
        assert!(QualifiedName::parse("x.com/gpu=a/b").is_err());
        assert!(QualifiedName::looks_qualified("x.com/gpu=0"));
        assert!(!QualifiedName::looks_qualified("GPU-123"));
        assert!(!QualifiedName::looks_qualified("0"));
    }

    fn write(dir: &Path, name: &str, v: serde_json::Value) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), serde_json::to_vec(&v).unwrap()).unwrap();
    }

    fn spec(kind: &str, devs: &[&str], env: &str) -> serde_json::Value {
        serde_json::json!({
            "cdiVersion": "0.6.0", "kind": kind,
            "containerEdits": {"env": [format!("COMMON={env}")]},
            "devices": devs.iter().map(|d| serde_json::json!({
                "name": d, "containerEdits": {"env": [format!("DEV={d}-{env}")]}
            })).collect::<Vec<_>>()
        })
    }

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("cdispec-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn resolves_in_cdi_order_with_priorities() {
        let t = tmp("order");
        write(&t.join("a"), "x.json", spec("v.com/gpu", &["0", "1"], "a"));
        write(&t.join("b"), "y.json", spec("v.com/gpu", &["1"], "b"));
        let reg = Registry::load(&[t.join("a"), t.join("b"), t.join("missing")]).unwrap();
        let q = |s: &str| (QualifiedName::parse(s).unwrap(), "test".to_string());
        let r = reg
            .resolve(&[q("v.com/gpu=0"), q("v.com/gpu=1"), q("v.com/gpu=0")])
            .unwrap();
        let envs: Vec<&str> = r.iter().map(|r| r.edits.env[0].as_str()).collect();
        assert_eq!(envs, ["COMMON=a", "DEV=0-a", "COMMON=b", "DEV=1-b"]);
        let e = reg.resolve(&[q("v.com/gpu=7")]).unwrap_err().to_string();
        assert!(e.contains("unknown CDI device v.com/gpu=7"), "{e}");
        assert!(e.contains("x.json"), "{e}");
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn invalid_and_duplicate_specs_name_the_file() {
        let t = tmp("bad");
        write(&t, "a.json", spec("v.com/gpu", &["0"], "a"));
        write(&t, "b.json", spec("v.com/gpu", &["0"], "b"));
        let e = Registry::load(std::slice::from_ref(&t))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.json") && e.contains("b.json"), "{e}");
        std::fs::remove_file(t.join("b.json")).unwrap();
        std::fs::write(t.join("c.json"), b"{not json").unwrap();
        let e = Registry::load(std::slice::from_ref(&t))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.json") && e.contains("invalid"), "{e}");
        write(
            &t,
            "c.json",
            serde_json::json!({"cdiVersion": "0.6.0", "kind": "v.com/gpu2",
                "devices": [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "dev/x"}]}}]}),
        );
        let e = Registry::load(std::slice::from_ref(&t))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not absolute"), "{e}");
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn minimum_versions_follow_the_cdi_table() {
        let mut s: Spec = serde_json::from_value(serde_json::json!({
            "cdiVersion": "0.3.0", "kind": "v.com/gpu",
            "devices": [{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/x"}]}}]
        }))
        .unwrap();
        assert_eq!(s.minimum_version(), "0.3.0");
        s.validate_strict().unwrap();
        s.container_edits.mounts.push(Mount {
            host_path: "/a".into(),
            container_path: "/a".into(),
            typ: Some("bind".into()),
            options: vec![],
        });
        assert_eq!(s.minimum_version(), "0.4.0");
        assert!(s.validate_strict().unwrap_err().contains("at least 0.4.0"));
        s.devices[0].name = "0".into();
        assert_eq!(s.minimum_version(), "0.5.0");
        s.kind = "v.com/gpu.shared".into();
        assert_eq!(s.minimum_version(), "0.6.0");
        s.devices[0].container_edits.additional_gids = vec![44];
        assert_eq!(s.minimum_version(), "0.7.0");
        s.cdi_version = "0.7.0".into();
        s.validate_strict().unwrap();
        s.cdi_version = "0.7.1".into();
        assert!(s.validate_strict().unwrap_err().contains("not a released"));
    }

    #[test]
    fn kinds_follow_the_name_rules() {
        for k in ["nvidia.com/gpu", "foo.bar.baz/foo-bar123.B_az", "a-b.io/x"] {
            assert!(valid_kind(k).is_ok(), "{k}");
        }
        let long = format!("v.com/{}", "a".repeat(64));
        for k in [
            "foo",
            "vendor.com/foo/",
            "vendor.com/foo/bar",
            "bad",
            "a..b/x",
            "-a.com/x",
            "a-.com/x",
            "v.com/",
            "v.com/_x",
            long.as_str(),
        ] {
            assert!(valid_kind(k).is_err(), "{k}");
        }
    }

    #[test]
    fn yaml_specs_are_read() {
        let t = tmp("yaml");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(
            t.join("a.yaml"),
            "cdiVersion: 0.5.0\nkind: v.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes:\n    - path: /dev/x\n",
        )
        .unwrap();
        let reg = Registry::load(std::slice::from_ref(&t)).unwrap();
        let (_, d) = reg
            .find(&QualifiedName::parse("v.com/gpu=0").unwrap())
            .unwrap();
        assert_eq!(d.container_edits.device_nodes[0].path, "/dev/x");
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn versions() {
        assert!(check_version("0.5.0").is_ok());
        assert!(check_version("0.8.0").is_ok());
        assert!(check_version("0.9.0").is_err());
        assert!(check_version("1").is_err());
    }
}
