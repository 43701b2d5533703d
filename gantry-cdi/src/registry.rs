//! The spec files of the spec directories, and the resolution of requested names to edits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{ContainerEdits, Device, QualifiedName, Spec};

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
