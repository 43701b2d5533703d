//! What a container asks for: `cdi.k8s.io/*` annotations, `NVIDIA_VISIBLE_DEVICES` and
//! `AMD_VISIBLE_DEVICES`, and the `gantry.gpu/devices` annotation. Fully qualified names are
//! resolved from the spec dirs; the rest (plain requests) is handed to gantry-gpu (jit.rs).

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use gantry_cdi::{request, QualifiedName};
use serde::Serialize;

/// What a container asks for.
#[derive(Debug, Default)]
pub struct Requests {
    /// Fully qualified names, each with where it was asked for.
    pub names: Vec<(QualifiedName, String)>,
    /// Plain requests (jit), with where they were asked for.
    pub plain: Option<(Plain, String)>,
}

/// A plain request as gantry-gpu's `cdi jit` reads it on stdin: the container's environment
/// (the qualified names of the VISIBLE_DEVICES variables taken out) and the plain entries of
/// the `gantry.gpu/devices` annotation.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plain {
    pub env: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

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
        if !k.starts_with(gantry_cdi::ANNOTATION_PREFIX) {
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
    for var in request::VISIBLE_DEVICES {
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
        // As on the variables: an entry that asks for nothing (`amd:void`) is no request.
        let asks = rest.iter().any(|e| {
            e.split_once(':')
                .is_none_or(|(_, l)| request::device_list(l).is_some())
        });
        if !rest.is_empty() {
            plain_ann.push((request::ANNOTATION.to_string(), rest.join(";")));
        }
        if asks {
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
            .filter(|e| {
                !request::VISIBLE_DEVICES
                    .iter()
                    .any(|v| e.starts_with(&format!("{v}=")))
            })
            .cloned()
            .collect();
        full.extend(plain_env);
        let plain = Plain {
            env: full,
            annotations: plain_ann.into_iter().collect(),
        };
        r.plain = Some((plain, plain_from.join(", ")));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::test_spec::spec;
    use super::*;

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
        let (plain, by) = r.plain.unwrap();
        assert_eq!(by, "NVIDIA_VISIBLE_DEVICES=1");
        assert_eq!(plain.env, ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=1"]);
        assert!(plain.annotations.is_empty());
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
        let (plain, _) = r.plain.unwrap();
        assert_eq!(plain.annotations["gantry.gpu/devices"], "amd:all");
        let r = requests(&spec(&[], &[("gantry.gpu/devices", "amd:void")])).unwrap();
        assert!(r.plain.is_none());
    }
}
