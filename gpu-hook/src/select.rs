//! Matching a request against the inventory: which GPUs (and MIG devices) a container gets.
//! An identifier that names no GPU is an error listing the GPUs that exist.

use crate::discover::nvml::normalize_bus_id;
use crate::inventory::{Gpu, Inventory, Mig, Vendor};
use crate::request::{DeviceList, Request};

#[derive(Debug, Clone)]
pub struct Picked {
    pub gpu: Gpu,
    pub mig: Option<Mig>,
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub picked: Vec<Picked>,
    /// The vendors whose driver (control nodes, libraries) the container gets.
    pub vendors: Vec<Vendor>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("{vendor} GPUs were requested but this host has none{why}")]
    NoGpus { vendor: Vendor, why: String },
    #[error("no {vendor} GPU {id:?}; this host has: {have}")]
    Unknown {
        vendor: Vendor,
        id: String,
        have: String,
    },
}

fn describe(gpus: &[&Gpu]) -> String {
    let list: Vec<String> = gpus
        .iter()
        .map(|g| {
            let mut s = format!("{} ({}", g.index, g.pci_bus_id);
            if let Some(u) = &g.uuid {
                s += &format!(", {u}");
            }
            for m in &g.migs {
                s += &format!(", {}:{}", g.index, m.index);
                if let Some(u) = &m.uuid {
                    s += &format!(" {u}");
                }
            }
            s + ")"
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn same_bus(a: &str, b: &str) -> bool {
    let n = |s: &str| {
        let s = normalize_bus_id(s);
        // A bus id without a domain ("01:00.0") is in domain 0000.
        if s.matches(':').count() == 1 {
            format!("0000:{s}")
        } else {
            s
        }
    };
    n(a) == n(b)
}

/// One identifier: an index, `GPU:MIG`, a (unique prefix of a) GPU or MIG UUID, a PCI bus id.
fn resolve(gpus: &[&Gpu], vendor: Vendor, id: &str) -> Result<Picked, SelectError> {
    let unknown = || SelectError::Unknown {
        vendor,
        id: id.into(),
        have: describe(gpus),
    };
    let pick = |g: &Gpu, m: Option<&Mig>| Picked {
        gpu: g.clone(),
        mig: m.cloned(),
    };
    if let Ok(i) = id.parse::<u32>() {
        return gpus
            .iter()
            .find(|g| g.index == i)
            .map(|g| pick(g, None))
            .ok_or_else(unknown);
    }
    if let Some((g, m)) = id.split_once(':') {
        if let (Ok(g), Ok(m)) = (g.parse::<u32>(), m.parse::<u32>()) {
            let gpu = gpus.iter().find(|x| x.index == g).ok_or_else(unknown)?;
            let mig = gpu.migs.iter().find(|x| x.index == m).ok_or_else(unknown)?;
            return Ok(pick(gpu, Some(mig)));
        }
    }
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("mig-") {
        for g in gpus {
            for m in &g.migs {
                if m.uuid
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(id))
                {
                    return Ok(pick(g, Some(m)));
                }
            }
        }
        return Err(unknown());
    }
    let by_uuid: Vec<&&Gpu> = gpus
        .iter()
        .filter(|g| {
            g.uuid
                .as_deref()
                .is_some_and(|u| u.to_ascii_lowercase().starts_with(&lower))
        })
        .collect();
    if by_uuid.len() == 1 {
        return Ok(pick(by_uuid[0], None));
    }
    gpus.iter()
        .find(|g| same_bus(&g.pci_bus_id, id))
        .map(|g| pick(g, None))
        .ok_or_else(unknown)
}

/// AMD's index ranges (`AMD_VISIBLE_DEVICES=0-2`, as AMD's container toolkit takes them):
/// `A-B` with A <= B is the indices A to B; anything else is itself.
fn expand_range(vendor: Vendor, id: &str) -> Vec<String> {
    if vendor == Vendor::Amd {
        if let Some((a, b)) = id.split_once('-') {
            if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                if a <= b && b - a < 1024 {
                    return (a..=b).map(|i| i.to_string()).collect();
                }
            }
        }
    }
    vec![id.to_string()]
}

pub fn select(req: &Request, inv: &Inventory, notes: &[String]) -> Result<Selection, SelectError> {
    let mut sel = Selection::default();
    for (&vendor, list) in &req.devices {
        let gpus: Vec<&Gpu> = inv.of(vendor).collect();
        let has_driver = match vendor {
            Vendor::Nvidia => inv.nvidia.is_some(),
            _ => !gpus.is_empty(),
        };
        if !has_driver {
            let why = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            return Err(SelectError::NoGpus { vendor, why });
        }
        sel.vendors.push(vendor);
        let picked: Vec<Picked> = match list {
            DeviceList::NoGpus => Vec::new(),
            // `all` means every whole GPU, and every MIG device of GPUs in MIG mode.
            DeviceList::All => gpus
                .iter()
                .flat_map(|g| {
                    if g.mig_enabled && !g.migs.is_empty() {
                        g.migs
                            .iter()
                            .map(|m| Picked {
                                gpu: (*g).clone(),
                                mig: Some(m.clone()),
                            })
                            .collect::<Vec<_>>()
                    } else {
                        vec![Picked {
                            gpu: (*g).clone(),
                            mig: None,
                        }]
                    }
                })
                .collect(),
            DeviceList::List(ids) => ids
                .iter()
                .flat_map(|id| expand_range(vendor, id))
                // A GPU in MIG mode selected whole gets its own node only (monitoring, as
                // with NVIDIA's toolkit); its MIG devices are selected by `GPU:MIG` or UUID.
                .map(|id| resolve(&gpus, vendor, &id))
                .collect::<Result<_, _>>()?,
        };
        for p in picked {
            let dup = sel.picked.iter().any(|q| {
                q.gpu.vendor == p.gpu.vendor
                    && q.gpu.index == p.gpu.index
                    && q.mig.as_ref().map(|m| m.index) == p.mig.as_ref().map(|m| m.index)
            });
            if !dup {
                sel.picked.push(p);
            }
        }
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Node, NvidiaDriver};

    fn gpu(i: u32, mig: bool) -> Gpu {
        Gpu {
            vendor: Vendor::Nvidia,
            index: i,
            uuid: Some(format!("GPU-{i}{i}{i}-aaaa")),
            name: "NVIDIA A100".into(),
            pci_bus_id: format!("0000:0{}:00.0", i + 1),
            architecture: None,
            brand: None,
            compute_capability: None,
            nodes: vec![Node {
                path: format!("/dev/nvidia{i}").into(),
                major: 195,
                minor: i,
            }],
            mig_enabled: mig,
            migs: if mig {
                vec![Mig {
                    index: 0,
                    uuid: Some("MIG-xyz".into()),
                    gpu_instance: 1,
                    compute_instance: 0,
                    nodes: vec![],
                    refused: vec![],
                }]
            } else {
                vec![]
            },
            refused: vec![],
        }
    }

    fn inv() -> Inventory {
        Inventory {
            nvidia: Some(NvidiaDriver {
                version: "550.54.14".into(),
                cuda_version: Some("12.4".into()),
                source: "nvml",
                control: vec![],
            }),
            amd_kfd: None,
            gpus: vec![gpu(0, false), gpu(1, false), gpu(2, true)],
            refused: vec![],
            notes: vec![],
            majors: Default::default(),
        }
    }

    fn pick(v: &str) -> Result<Vec<(u32, Option<u32>)>, SelectError> {
        let r = Request::parse(&[format!("NVIDIA_VISIBLE_DEVICES={v}")], []).unwrap();
        Ok(select(&r, &inv(), &[])?
            .picked
            .iter()
            .map(|p| (p.gpu.index, p.mig.as_ref().map(|m| m.index)))
            .collect())
    }

    #[test]
    fn by_index_uuid_bus_id_and_mig() {
        assert_eq!(pick("1").unwrap(), vec![(1, None)]);
        assert_eq!(pick("GPU-111").unwrap(), vec![(1, None)]);
        assert_eq!(pick("00000000:01:00.0").unwrap(), vec![(0, None)]);
        assert_eq!(pick("02:00.0").unwrap(), vec![(1, None)]);
        assert_eq!(pick("2:0").unwrap(), vec![(2, Some(0))]);
        assert_eq!(pick("MIG-xyz").unwrap(), vec![(2, Some(0))]);
        assert_eq!(pick("0,0,1").unwrap(), vec![(0, None), (1, None)]);
    }

    #[test]
    fn all_none_and_mig_mode() {
        assert_eq!(
            pick("all").unwrap(),
            vec![(0, None), (1, None), (2, Some(0))]
        );
        assert_eq!(pick("none").unwrap(), vec![]);
        assert_eq!(pick("2").unwrap(), vec![(2, None)], "a MIG-mode GPU whole");
    }

    #[test]
    fn an_unknown_id_names_the_gpus_that_exist() {
        let e = pick("7").unwrap_err().to_string();
        assert!(e.contains("no nvidia GPU \"7\""), "{e}");
        assert!(e.contains("0 (0000:01:00.0, GPU-000-aaaa)"), "{e}");
        assert!(pick("GPU-nope").is_err());
    }

    #[test]
    fn no_driver_is_an_error() {
        let r = Request::parse(&["NVIDIA_VISIBLE_DEVICES=all".to_string()], []).unwrap();
        let e = select(&r, &Inventory::default(), &["NVML: cannot load".into()]).unwrap_err();
        assert!(e.to_string().contains("NVML: cannot load"), "{e}");
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn amd_index_ranges_expand_and_others_do_not() {
        assert_eq!(expand_range(Vendor::Amd, "0-2"), ["0", "1", "2"]);
        assert_eq!(expand_range(Vendor::Amd, "1-1"), ["1"]);
        assert_eq!(expand_range(Vendor::Amd, "2-1"), ["2-1"]);
        assert_eq!(
            expand_range(Vendor::Amd, "GPU-00000000000f4241"),
            ["GPU-00000000000f4241"]
        );
        assert_eq!(expand_range(Vendor::Nvidia, "0-1"), ["0-1"]);
    }
}
