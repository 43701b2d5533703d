use std::path::{Path, PathBuf};

use crate::spec::check_version;
use crate::*;

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
