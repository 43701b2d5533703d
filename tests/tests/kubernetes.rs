//! docs/kubernetes.md: the containerd CRI runtime handler it documents is loaded by a real
//! containerd 1.6 (started from docs/examples/containerd-gantry.toml, the file the page quotes)
//! and runs containers with Gantry; the page quotes every example file verbatim, and the CRI-O
//! drop-in and RuntimeClass say what the page says. No kubelet or crictl is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_tests::engines::Containerd;
use gantry_tests::*;

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(docs().join("examples").join(name)).unwrap()
}

/// The page quotes each example whole (indentation aside, for the ones inside list items).
#[test]
fn kubernetes_md_quotes_the_examples() {
    let trim = |s: &str| -> String {
        s.lines()
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let page = trim(&std::fs::read_to_string(docs().join("kubernetes.md")).unwrap());
    let mut n = 0;
    for e in std::fs::read_dir(docs().join("examples")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let text = trim(&example(&name));
        assert!(
            page.contains(text.trim_end()),
            "docs/kubernetes.md does not quote docs/examples/{name} as it is"
        );
        assert!(
            page.contains(&format!("examples/{name}")),
            "{name} not linked"
        );
        n += 1;
    }
    assert!(n >= 4, "only {n} examples");
}

#[test]
fn crio_dropin_and_runtimeclass_name_the_handler() {
    let crio = example("crio-gantry.conf");
    let lines: Vec<&str> = crio.lines().map(str::trim).collect();
    for want in [
        "[crio.runtime.runtimes.gantry]",
        "runtime_path = \"/usr/local/bin/gantry\"",
        "runtime_type = \"oci\"",
        "runtime_root = \"/run/gantry\"",
    ] {
        assert!(lines.contains(&want), "crio-gantry.conf lacks {want}");
    }
    let rc = example("runtimeclass.yaml");
    for want in [
        "apiVersion: node.k8s.io/v1",
        "kind: RuntimeClass",
        "  name: gantry",
        "handler: gantry",
    ] {
        assert!(
            rc.lines().any(|l| l == want),
            "runtimeclass.yaml lacks {want}"
        );
    }
    let pod = example("gpu-pod.yaml");
    assert!(pod.contains("runtimeClassName: gantry") && pod.contains("nvidia.com/gpu: 1"));
    let cdi = example("containerd-cdi.toml");
    assert!(cdi.contains("enable_cdi = true") && cdi.contains("cdi_spec_dirs"));
}

/// The table `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.gantry.options]` of a
/// TOML text: its `KEY = VALUE` lines, until the next table.
fn gantry_options(toml: &str) -> Vec<(String, String)> {
    let header = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.gantry.options]";
    toml.lines()
        .map(str::trim)
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

#[test]
fn containerd_loads_the_documented_gantry_handler() {
    if !Path::new("/usr/bin/containerd").exists() || !is_gantry() {
        return;
    }
    let snippet = example("containerd-gantry.toml");
    // What the page tells users to write, replaced by what this host needs: the built binary,
    // and the cgroupfs driver (no systemd here).
    let documented = gantry_options(&snippet);
    assert!(
        documented.contains(&("BinaryName".into(), "/usr/local/bin/gantry".into())),
        "{documented:?}"
    );
    assert!(snippet.contains("runtime_type = \"io.containerd.runc.v2\""));
    assert!(snippet.contains("SystemdCgroup = true"));
    let gantry = runtime_bin().canonicalize().unwrap();
    let gantry = gantry.display().to_string();
    let snippet = snippet
        .replace("\"/usr/local/bin/gantry\"", &format!("\"{gantry}\""))
        .replace("SystemdCgroup = true", "SystemdCgroup = false");

    // Its own root, state and sockets; the CRI plugin on (that is what Kubernetes talks to),
    // with the runc runtime that `containerd config default` defines next to the snippet (the
    // CRI plugin refuses a config whose default_runtime_name names no runtime).
    let Some(mut c) = Containerd::configure(
        true,
        &format!("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n{snippet}"),
    ) else {
        return;
    };

    // The effective configuration has the handler, its shim and its binary.
    let dump = Command::new("containerd")
        .arg("--config")
        .arg(c.config())
        .args(["config", "dump"])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    let section: String = dump
        .lines()
        .skip_while(|l| {
            l.trim() != "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.gantry]"
        })
        .take_while(|l| {
            !l.trim()
                .starts_with("[plugins.\"io.containerd.grpc.v1.cri\".containerd.untrusted")
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        section.contains("runtime_type = \"io.containerd.runc.v2\""),
        "config dump:\n{dump}"
    );
    let options = gantry_options(&section);
    assert!(
        options.contains(&("BinaryName".into(), gantry.clone())),
        "{options:?}\n{section}"
    );

    // The daemon, with the CRI plugin loaded and the handler in its runtime map.
    c.spawn();
    let log = c.log();
    let (code, plugins, err) = c.ctr(&["plugins", "ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plugins.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[0] == "io.containerd.grpc.v1" && f[1] == "cri" && f[3] == "ok"
        }),
        "the CRI plugin did not load:\n{plugins}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let cri = text
        .lines()
        .find(|l| l.contains("Start cri plugin with config"))
        .unwrap_or_else(|| panic!("no CRI startup line in the log:\n{text}"));
    let handler = cri
        .split("gantry:{")
        .nth(1)
        .unwrap_or_else(|| panic!("no gantry handler in the CRI config: {cri}"));
    assert!(
        handler.starts_with("Type:io.containerd.runc.v2 "),
        "{handler}"
    );
    let handler = handler
        .split("PrivilegedWithoutHostDevices")
        .next()
        .unwrap();
    assert!(
        handler.contains(&format!("BinaryName:{gantry} "))
            || handler.contains(&format!("BinaryName:{gantry}]")),
        "{handler}"
    );

    // And the runc v2 shim runs a container with that binary.
    c.import_busybox();
    let root = c.dir.path().join("runc-root").display().to_string();
    let (code, out, err) = c.ctr(&[
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runc.v2",
        "--runc-binary",
        &gantry,
        "--runc-root",
        &root,
        "localhost/gantry-busybox:latest",
        "k8s-handler",
        "sh",
        "-c",
        "echo from-the-gantry-handler",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "from-the-gantry-handler\n");
    // Gantry, not runc, holds the container: its own `state` reads it under the shim's root.
    let (code, _, err) = c.ctr(&[
        "run",
        "-d",
        "--runtime",
        "io.containerd.runc.v2",
        "--runc-binary",
        &gantry,
        "--runc-root",
        &root,
        "localhost/gantry-busybox:latest",
        "k8s-handler",
        "sleep",
        "300",
    ]);
    assert_eq!(code, 0, "{err}");
    // The shim's root is --runc-root/NAMESPACE.
    let o = Command::new(&gantry)
        .args(["--root", &format!("{root}/default"), "state", "k8s-handler"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(c.ctr(&["task", "kill", "-s", "KILL", "k8s-handler"]).0, 0);
}
