//! A CDI spec file: its types (serde), its checks, and the cdiVersion its fields need.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::name::{valid_device_name, valid_kind};
use crate::MAX_VERSION;

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

/// `0.5.0` -> (0, 5, 0); refuses what is not a version or is newer than `MAX_VERSION`.
pub(crate) fn check_version(v: &str) -> Result<(), String> {
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
