//! CDI container edits merged into the planned spec (as JSON): env, device nodes (checked
//! against their host nodes) and their cgroup rules, mounts (parents first), hooks and
//! additionalGids. Every conflict names both sides.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use gantry_cdi::{ContainerEdits, Resolved};
use serde_json::{json, Value};

use crate::bundle::Bundle;

/// Where an edit came from, for error messages.
fn origin(r: &Resolved) -> String {
    match &r.device {
        Some(d) => format!("CDI spec {}, device {d}", r.origin.display()),
        // Not Path::starts_with: that compares whole components ("jit (...)" is one).
        None if r.origin.to_string_lossy().starts_with("jit") => r.origin.display().to_string(),
        None => format!("CDI spec {} (common edits)", r.origin.display()),
    }
}

/// The spec as JSON, edited in place, with the origin of every device and mount it holds.
pub(super) struct Merger {
    spec: Value,
    /// path -> (type, major, minor, origin)
    devices: BTreeMap<String, (String, i64, i64, String)>,
    /// destination -> (the mount, origin)
    mounts: BTreeMap<String, (Value, String)>,
    new_mounts: Vec<Value>,
    hosts: BTreeMap<PathBuf, PathBuf>,
}

impl Merger {
    pub(super) fn new(bundle: &Bundle) -> Result<Merger> {
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

    pub(super) fn edits(&mut self, r: &Resolved) -> Result<()> {
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

    fn device(&mut self, d: &gantry_cdi::DeviceNode, from: &str) -> Result<()> {
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

    fn mount(&mut self, m: &gantry_cdi::Mount, from: &str) -> Result<()> {
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

    pub(super) fn finish(mut self, bundle: &mut Bundle) -> Result<()> {
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
    use super::super::test_spec::spec;
    use super::*;
    use gantry_cdi::QualifiedName;

    fn resolved(origin: &str, edits: Value) -> Resolved {
        Resolved {
            origin: PathBuf::from(origin),
            device: Some(QualifiedName::parse("x.com/gpu=0").unwrap()),
            edits: serde_json::from_value(edits).unwrap(),
        }
    }

    #[test]
    fn a_jit_origin_is_named_as_such() {
        let mut r = resolved("jit (NVIDIA_VISIBLE_DEVICES=0)", json!({}));
        r.device = None;
        assert_eq!(origin(&r), "jit (NVIDIA_VISIBLE_DEVICES=0)");
        r.origin = PathBuf::from("/etc/cdi/a.json");
        assert_eq!(origin(&r), "CDI spec /etc/cdi/a.json (common edits)");
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
}
