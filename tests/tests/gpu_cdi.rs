//! `gantry-gpu cdi generate`, `list` and `validate` on the fake driver environment: every
//! generated spec (NVIDIA, AMD, Intel; JSON and YAML) is checked against the CDI JSON
//! schema's rules (the CDI repository's schema/schema.json and defs.json: required fields,
//! no unknown properties, the types) by `schema_check` below, and against our own typed
//! structs with CDI's name rules and version table (`Spec::validate_strict`). No JSON-schema
//! crate: the one there is (jsonschema) pulls a network stack (docs/gpu.md).

use std::path::Path;

use gantry_gpu::cdispec::{valid_device_name, valid_kind, Spec};
use gantry_tests::fakegpu::FakeGpu;
use gantry_tests::TempDir;
use serde_json::Value;

fn keys_within(v: &Value, allowed: &[&str], required: &[&str], at: &str) -> Result<(), String> {
    let o = v.as_object().ok_or(format!("{at}: not an object"))?;
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("{at}: unknown property {k:?}"));
    }
    if let Some(k) = required.iter().find(|k| !o.contains_key(**k)) {
        return Err(format!("{at}: missing required {k:?}"));
    }
    Ok(())
}

fn strings(v: &Value, at: &str) -> Result<(), String> {
    match v.as_array() {
        Some(a) if a.iter().all(Value::is_string) => Ok(()),
        _ => Err(format!("{at}: not an array of strings")),
    }
}

fn edits_check(e: &Value, at: &str) -> Result<(), String> {
    keys_within(
        e,
        &[
            "env",
            "deviceNodes",
            "hooks",
            "mounts",
            "intelRdt",
            "additionalGids",
            "netDevices",
        ],
        &[],
        at,
    )?;
    if let Some(env) = e.get("env") {
        strings(env, &format!("{at}.env"))?;
    }
    for (i, n) in e["deviceNodes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{at}.deviceNodes[{i}]");
        keys_within(
            n,
            &[
                "path",
                "hostPath",
                "type",
                "major",
                "minor",
                "fileMode",
                "permissions",
                "uid",
                "gid",
            ],
            &["path"],
            &at,
        )?;
        for k in ["path", "hostPath", "type", "permissions"] {
            if n.get(k).is_some_and(|x| !x.is_string()) {
                return Err(format!("{at}.{k}: not a string"));
            }
        }
        for k in ["major", "minor", "fileMode", "uid", "gid"] {
            if n.get(k).is_some_and(|x| !x.is_i64()) {
                return Err(format!("{at}.{k}: not an integer"));
            }
        }
    }
    for (i, h) in e["hooks"].as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.hooks[{i}]");
        keys_within(
            h,
            &["hookName", "path", "args", "env", "timeout"],
            &["hookName", "path"],
            &at,
        )?;
        for k in ["args", "env"] {
            if let Some(x) = h.get(k) {
                strings(x, &format!("{at}.{k}"))?;
            }
        }
    }
    for (i, m) in e["mounts"].as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.mounts[{i}]");
        keys_within(
            m,
            &["hostPath", "containerPath", "type", "options"],
            &["hostPath", "containerPath"],
            &at,
        )?;
        if let Some(x) = m.get("options") {
            strings(x, &format!("{at}.options"))?;
        }
    }
    Ok(())
}

/// The CDI schema's rules, and CDI's name rules for kind and device names.
fn schema_check(v: &Value) -> Result<(), String> {
    keys_within(
        v,
        &[
            "cdiVersion",
            "kind",
            "annotations",
            "devices",
            "containerEdits",
        ],
        &["cdiVersion", "kind", "devices"],
        "spec",
    )?;
    let kind = v["kind"].as_str().ok_or("kind: not a string")?;
    valid_kind(kind)?;
    v["cdiVersion"].as_str().ok_or("cdiVersion: not a string")?;
    let devs = v["devices"].as_array().ok_or("devices: not an array")?;
    for (i, d) in devs.iter().enumerate() {
        let at = format!("devices[{i}]");
        keys_within(
            d,
            &["name", "annotations", "containerEdits"],
            &["name", "containerEdits"],
            &at,
        )?;
        valid_device_name(
            d["name"]
                .as_str()
                .ok_or(format!("{at}.name: not a string"))?,
        )?;
        edits_check(&d["containerEdits"], &format!("{at}.containerEdits"))?;
    }
    if let Some(e) = v.get("containerEdits") {
        edits_check(e, "containerEdits")?;
    }
    Ok(())
}

/// A generated spec, checked: schema rules, typed parse, strict validation, and the
/// cdiVersion the lowest its features need. Returns it as JSON.
fn checked(text: &str, yaml: bool) -> Value {
    let v: Value = if yaml {
        serde_norway::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}: {text}"))
    } else {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}: {text}"))
    };
    schema_check(&v).unwrap_or_else(|e| panic!("schema: {e}: {text}"));
    let s = Spec::parse_as(text.as_bytes(), yaml).unwrap();
    s.validate_strict().unwrap();
    assert_eq!(s.cdi_version, s.minimum_version());
    v
}

fn names(v: &Value) -> Vec<String> {
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

fn nodes_of<'a>(v: &'a Value, name: &str) -> Vec<&'a str> {
    let d = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name);
    d.unwrap_or_else(|| panic!("no device {name}: {v}"))["containerEdits"]["deviceNodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect()
}

#[test]
fn the_schema_check_refuses_what_the_schema_refuses() {
    let ok = serde_json::json!({"cdiVersion": "0.5.0", "kind": "v.com/gpu",
        "devices": [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/x"}]}}]});
    schema_check(&ok).unwrap();
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut v = ok.clone();
        f(&mut v);
        schema_check(&v).unwrap_err()
    };
    assert!(bad(&|v| v["extra"] = 1.into()).contains("unknown property"));
    assert!(bad(&|v| {
        v.as_object_mut().unwrap().remove("kind");
    })
    .contains("kind"));
    assert!(bad(&|v| {
        v["devices"][0]
            .as_object_mut()
            .unwrap()
            .remove("containerEdits");
    })
    .contains("containerEdits"));
    assert!(
        bad(&|v| v["devices"][0]["containerEdits"]["deviceNodes"][0] =
            serde_json::json!({"hostPath": "/x"}))
        .contains("path")
    );
    assert!(bad(
        &|v| v["devices"][0]["containerEdits"]["hooks"] = serde_json::json!([{"path": "/x"}])
    )
    .contains("hookName"));
    assert!(bad(&|v| v["kind"] = "bad".into()).contains("VENDOR/CLASS"));
    assert!(bad(&|v| v["devices"][0]["name"] = "a/b".into()).contains("character"));
}

#[test]
fn nvidia_specs_name_gpus_migs_and_all_with_drm_nodes() {
    let f = FakeGpu::new(&["--nvidia", "2", "--mig-gpu", "1", "--nvidia-drm", "1"]);
    let (ok, out, err) = f.gpu(&["cdi", "generate", "--lib-dir", "/usr/lib64"]);
    assert!(ok, "{err}");
    let v = checked(&out, false);
    assert_eq!(
        (v["kind"].as_str(), v["cdiVersion"].as_str()),
        (Some("nvidia.com/gpu"), Some("0.5.0"))
    );
    let n = names(&v);
    for want in ["0", "1", "1:0", "1:1", "all"] {
        assert!(n.contains(&want.to_string()), "{want} not in {n:?}");
    }
    assert!(n.iter().any(|x| x.starts_with("GPU-")) && n.iter().any(|x| x.starts_with("MIG-")));
    // Each GPU's own DRM card and render node in its device (graphics is among `all`).
    let g1 = nodes_of(&v, "1");
    assert!(
        g1.contains(&"/dev/nvidia1") && g1.iter().any(|p| p.starts_with("/dev/dri/card")),
        "{g1:?}"
    );
    assert!(
        g1.iter().any(|p| p.starts_with("/dev/dri/renderD")),
        "{g1:?}"
    );
    assert!(!nodes_of(&v, "0")
        .iter()
        .any(|p| g1.contains(p) && p.starts_with("/dev/dri")));
    let all = nodes_of(&v, "all");
    assert!(g1.iter().all(|p| all.contains(p)), "{all:?}");
    // The hook sets env (docs/gpu.md, loader variables).
    let h = &v["containerEdits"]["hooks"][0];
    assert_eq!(
        h["env"][0].as_str().map(|e| e.starts_with("PATH=")),
        Some(true),
        "{h}"
    );

    // Compute only: no DRM nodes.
    let (ok, out, err) = f.gpu(&["cdi", "generate", "--capabilities", "compute,utility"]);
    assert!(ok, "{err}");
    assert_eq!(nodes_of(&checked(&out, false), "1"), ["/dev/nvidia1"]);

    // Strategies and --no-all-device.
    let (ok, out, err) = f.gpu(&[
        "cdi",
        "generate",
        "--device-name-strategy",
        "type-index",
        "--no-all-device",
    ]);
    assert!(ok, "{err}");
    let v = checked(&out, false);
    assert_eq!(names(&v), ["gpu0", "gpu1", "mig1:0", "mig1:1"]);
    let (ok, out, err) = f.gpu(&["cdi", "generate", "--device-name-strategy", "uuid"]);
    assert!(ok, "{err}");
    let n = names(&checked(&out, false));
    assert!(
        n.iter()
            .all(|x| x.starts_with("GPU-") || x.starts_with("MIG-") || x == "all"),
        "{n:?}"
    );

    // A dotted class needs 0.6.0; a kind that breaks CDI's name rules is refused.
    let (ok, out, err) = f.gpu(&["cdi", "generate", "--kind", "nvidia.com/gpu.shared"]);
    assert!(ok, "{err}");
    assert_eq!(checked(&out, false)["cdiVersion"], "0.6.0");
    for bad in [
        "bad",
        "nvidia.com/",
        "nvidia.com/gpu/x",
        "-nvidia.com/gpu",
        "nvidia..com/gpu",
    ] {
        let (ok, _, err) = f.gpu(&["cdi", "generate", &format!("--kind={bad}")]);
        assert!(!ok && err.contains("--kind"), "{bad}: {err}");
    }
}

#[test]
fn amd_and_intel_specs() {
    let f = FakeGpu::new(&["--nvidia", "0", "--amd", "2", "--intel", "1"]);
    let (ok, out, err) = f.gpu(&["cdi", "generate", "--vendor", "amd"]);
    assert!(ok, "{err}");
    let v = checked(&out, false);
    assert_eq!(v["kind"], "amd.com/gpu");
    let n = names(&v);
    assert_eq!(n[0], "0");
    // ROCm's UUIDs: GPU- and the KFD unique_id in hex (the fixture's 1000001).
    assert!(n.contains(&"GPU-00000000000f4242".to_string()), "{n:?}");
    assert_eq!(nodes_of(&v, "1"), ["/dev/dri/card1", "/dev/dri/renderD129"]);
    assert_eq!(nodes_of(&v, "all").len(), 4);
    assert_eq!(v["containerEdits"]["deviceNodes"][0]["path"], "/dev/kfd");

    let (ok, out, err) = f.gpu(&["cdi", "generate", "--vendor", "intel", "--format", "yaml"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("cdiVersion: 0.5.0\nkind: intel.com/gpu\n"),
        "not YAML: {out}"
    );
    let v = checked(&out, true);
    assert_eq!(names(&v), ["0", "all"]);
    assert_eq!(nodes_of(&v, "0"), ["/dev/dri/card2", "/dev/dri/renderD130"]);

    // Several specs need a directory.
    let (ok, _, err) = f.gpu(&["cdi", "generate", "--vendor", "all"]);
    assert!(!ok && err.contains("--output DIR"), "{err}");
}

/// AMD_VISIBLE_DEVICES index ranges and UUIDs select as AMD's toolkit does.
#[test]
fn amd_ranges_and_uuids_select() {
    let f = FakeGpu::new(&["--nvidia", "0", "--amd", "2", "--intel", "1"]);
    for (req, want) in [
        ("0-1", vec!["/dev/dri/card0", "/dev/dri/card1"]),
        ("GPU-00000000000f4242", vec!["/dev/dri/card1"]),
    ] {
        let (ok, out, err) = f.gpu(&["list", "-e", &format!("AMD_VISIBLE_DEVICES={req}")]);
        assert!(ok, "{req}: {err}");
        let cards: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("device  "))
            .filter_map(|l| l.split(' ').next())
            .filter(|p| p.starts_with("/dev/dri/card"))
            .collect();
        assert_eq!(cards, want, "{req}: {out}");
    }
}

/// Formats from --output's extension, every vendor to a directory, then `list` and
/// `validate` over them; a broken spec is refused by validate, naming it.
#[test]
fn formats_list_and_validate() {
    let f = FakeGpu::new(&["--amd", "1", "--intel", "1"]);
    let t = TempDir::new("cdi-gen");
    let y = t.path().join("nvidia.yaml");
    let (ok, _, err) = f.gpu(&["cdi", "generate", "--output", y.to_str().unwrap()]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&y).unwrap();
    assert!(
        text.starts_with("cdiVersion: 0.5.0\n"),
        "a .yaml output is not YAML: {text}"
    );
    checked(&text, true);

    let dir = t.path().join("all");
    std::fs::create_dir(&dir).unwrap();
    let (ok, _, err) = f.gpu(&[
        "cdi",
        "generate",
        "--vendor",
        "all",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "gantry-gpu-amd.json",
            "gantry-gpu-intel.json",
            "gantry-gpu-nvidia.json"
        ]
    );
    for file in &files {
        checked(&std::fs::read_to_string(dir.join(file)).unwrap(), false);
    }
    let (ok, out, err) = f.gpu(&["cdi", "list", "--spec-dir", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    let listed: Vec<&str> = out.lines().filter_map(|l| l.split('\t').next()).collect();
    for want in [
        "amd.com/gpu=0",
        "amd.com/gpu=all",
        "intel.com/gpu=0",
        "nvidia.com/gpu=1",
        "nvidia.com/gpu=all",
    ] {
        assert!(listed.contains(&want), "{want}: {out}");
    }
    let paths: Vec<String> = files
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let mut args = vec!["cdi", "validate", y.to_str().unwrap()];
    args.extend(paths.iter().map(String::as_str));
    let (ok, out, err) = f.gpu(&args);
    assert!(ok, "{err}");
    assert_eq!(
        out.matches(": valid: cdiVersion 0.5.0 (features need 0.5.0)")
            .count(),
        4,
        "{out}"
    );

    // Too old a cdiVersion for its features, and a bad device name.
    let bad = t.path().join("bad.json");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(&files[0])).unwrap()).unwrap();
    v["cdiVersion"] = "0.4.0".into();
    std::fs::write(&bad, v.to_string()).unwrap();
    let (ok, _, err) = f.gpu(&["cdi", "validate", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("bad.json: invalid") && err.contains("at least 0.5.0"),
        "{err}"
    );
    v["cdiVersion"] = "0.5.0".into();
    v["devices"][0]["name"] = "-x".into();
    std::fs::write(&bad, v.to_string()).unwrap();
    let (ok, _, err) = f.gpu(&["cdi", "validate", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("-x"), "{err}");
    assert!(Path::new(&bad).exists());
}
