//! What a container asks for, read from its config.json: NVIDIA_VISIBLE_DEVICES,
//! NVIDIA_DRIVER_CAPABILITIES, NVIDIA_REQUIRE_*, NVIDIA_DISABLE_REQUIRE, AMD_VISIBLE_DEVICES
//! in process.env, and the vendor-neutral annotation `gantry.gpu/devices`.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::Vendor;

pub use gantry_cdi::request::{device_list, DeviceList, ANNOTATION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Compute,
    Utility,
    Video,
    Graphics,
    Display,
    Compat32,
    Ngx,
}

impl Capability {
    pub const ALL: [Capability; 7] = [
        Capability::Compute,
        Capability::Utility,
        Capability::Video,
        Capability::Graphics,
        Capability::Display,
        Capability::Compat32,
        Capability::Ngx,
    ];

    fn parse(s: &str) -> Option<Capability> {
        Capability::ALL
            .into_iter()
            .find(|c| format!("{c:?}").eq_ignore_ascii_case(s))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub devices: BTreeMap<Vendor, DeviceList>,
    pub capabilities: BTreeSet<Capability>,
    /// The values of NVIDIA_REQUIRE_* (each one must hold), unless NVIDIA_DISABLE_REQUIRE.
    pub requirements: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("NVIDIA_DRIVER_CAPABILITIES: unknown capability {0:?} (known: compute, utility, video, graphics, display, compat32, ngx, all)")]
    Capability(String),
    #[error(
        "annotation {ANNOTATION}: {0:?} is not VENDOR:DEVICES with VENDOR nvidia, amd or intel"
    )]
    Annotation(String),
}

impl Request {
    /// The request of a container from its environment (`KEY=VALUE` strings) and annotations.
    /// An empty `devices` means the container asked for no GPU.
    pub fn parse<'a>(
        env: &[String],
        annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Request, RequestError> {
        let env: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
        let mut devices = BTreeMap::new();
        if let Some(l) = env
            .get("NVIDIA_VISIBLE_DEVICES")
            .and_then(|v| device_list(v))
        {
            devices.insert(Vendor::Nvidia, l);
        }
        if let Some(l) = env.get("AMD_VISIBLE_DEVICES").and_then(|v| device_list(v)) {
            devices.insert(Vendor::Amd, l);
        }
        for (k, v) in annotations {
            if k != ANNOTATION {
                continue;
            }
            // "nvidia:0,1;amd:all" (also separated by spaces): each vendor named overrides
            // its environment variable.
            for entry in v.split([';', ' ']).filter(|e| !e.trim().is_empty()) {
                let (vendor, list) = entry
                    .split_once(':')
                    .ok_or_else(|| RequestError::Annotation(entry.into()))?;
                let vendor = Vendor::parse(vendor.trim())
                    .ok_or_else(|| RequestError::Annotation(entry.into()))?;
                match device_list(list) {
                    Some(l) => devices.insert(vendor, l),
                    None => devices.remove(&vendor),
                };
            }
        }
        let mut capabilities = BTreeSet::new();
        match env.get("NVIDIA_DRIVER_CAPABILITIES").map(|s| s.trim()) {
            None | Some("") => {
                capabilities.extend([Capability::Compute, Capability::Utility]);
            }
            Some(list) => {
                for c in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    if c == "all" {
                        capabilities.extend(Capability::ALL);
                    } else {
                        capabilities.insert(
                            Capability::parse(c)
                                .ok_or_else(|| RequestError::Capability(c.into()))?,
                        );
                    }
                }
            }
        }
        let disabled = env
            .get("NVIDIA_DISABLE_REQUIRE")
            .is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"));
        let requirements = if disabled {
            Vec::new()
        } else {
            env.iter()
                .filter(|(k, _)| k.starts_with("NVIDIA_REQUIRE_"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Ok(Request {
            devices,
            capabilities,
            requirements,
        })
    }

    pub fn vendors(&self) -> Vec<Vendor> {
        self.devices.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(env: &[&str], ann: &[(&str, &str)]) -> Result<Request, RequestError> {
        let env: Vec<String> = env.iter().map(|s| s.to_string()).collect();
        let ann: Vec<(String, String)> = ann
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Request::parse(&env, ann.iter().map(|(a, b)| (a, b)))
    }

    #[test]
    fn visible_devices_values() {
        assert_eq!(device_list("all"), Some(DeviceList::All));
        assert_eq!(device_list("none"), Some(DeviceList::NoGpus));
        assert_eq!(device_list("void"), None);
        assert_eq!(device_list(""), None);
        assert_eq!(
            device_list("0, GPU-abc,1:0"),
            Some(DeviceList::List(vec![
                "0".into(),
                "GPU-abc".into(),
                "1:0".into()
            ]))
        );
    }

    #[test]
    fn defaults_to_compute_and_utility() {
        let r = req(&["NVIDIA_VISIBLE_DEVICES=1"], &[]).unwrap();
        assert_eq!(
            r.devices[&Vendor::Nvidia],
            DeviceList::List(vec!["1".into()])
        );
        assert_eq!(
            r.capabilities.iter().copied().collect::<Vec<_>>(),
            vec![Capability::Compute, Capability::Utility]
        );
    }

    #[test]
    fn all_capabilities_and_unknown_ones() {
        let r = req(
            &[
                "NVIDIA_VISIBLE_DEVICES=all",
                "NVIDIA_DRIVER_CAPABILITIES=all",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(r.capabilities.len(), 7);
        assert_eq!(
            req(&["NVIDIA_DRIVER_CAPABILITIES=compute,warp"], &[]),
            Err(RequestError::Capability("warp".into()))
        );
    }

    #[test]
    fn the_annotation_overrides_the_environment() {
        let r = req(
            &["NVIDIA_VISIBLE_DEVICES=all"],
            &[(ANNOTATION, "nvidia:0,1;amd:all intel:0")],
        )
        .unwrap();
        assert_eq!(
            r.devices[&Vendor::Nvidia],
            DeviceList::List(vec!["0".into(), "1".into()])
        );
        assert_eq!(r.devices[&Vendor::Amd], DeviceList::All);
        assert_eq!(
            r.devices[&Vendor::Intel],
            DeviceList::List(vec!["0".into()])
        );
        assert!(req(&[], &[(ANNOTATION, "cuda:0")]).is_err());
    }

    #[test]
    fn requirements_unless_disabled() {
        let r = req(
            &["NVIDIA_REQUIRE_CUDA=cuda>=12.0", "NVIDIA_VISIBLE_DEVICES=0"],
            &[],
        )
        .unwrap();
        assert_eq!(r.requirements.len(), 1);
        let r = req(
            &["NVIDIA_REQUIRE_CUDA=cuda>=12.0", "NVIDIA_DISABLE_REQUIRE=1"],
            &[],
        )
        .unwrap();
        assert!(r.requirements.is_empty());
    }
}
