//! docs/kubernetes.md: the containerd CRI runtime handler it documents is loaded by a real
//! containerd 1.6 (started from docs/examples/containerd-gantry.toml, the file the page quotes)
//! and runs a pod with Gantry through the CRI API (tests/scripts/cri.py) with only BinaryName
//! naming it; the engine pages quote every example file verbatim, and the CRI-O drop-in and
//! RuntimeClass say what the page says. No kubelet or crictl is needed.

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

/// Each engine page quotes its examples whole (indentation aside, for the ones inside list
/// items) and links them, and every file in examples/ is quoted by a page.
#[test]
fn engine_pages_quote_the_examples() {
    let trim = |s: &str| -> String {
        s.lines()
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let pages: &[(&str, &[&str])] = &[
        (
            "kubernetes.md",
            &[
                "containerd-gantry.toml",
                "containerd-cdi.toml",
                "containerd-gpu.toml",
                "crio-gantry.conf",
                "runtimeclass.yaml",
                "gpu-pod.yaml",
            ],
        ),
        ("containerd.md", &["containerd-gantry.toml"]),
        ("podman.md", &["podman-containers.conf"]),
    ];
    for (page, examples) in pages {
        let text = trim(&std::fs::read_to_string(docs().join(page)).unwrap());
        for name in *examples {
            assert!(
                text.contains(trim(&example(name)).trim_end()),
                "docs/{page} does not quote docs/examples/{name} as it is"
            );
            assert!(
                text.contains(&format!("examples/{name}")),
                "{page}: {name} not linked"
            );
        }
    }
    for e in std::fs::read_dir(docs().join("examples")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            pages.iter().any(|(_, ex)| ex.contains(&name.as_str())),
            "docs/examples/{name} is quoted by no engine page"
        );
    }
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
    if !Path::new("/usr/bin/containerd").exists() {
        return skip("containerd is not installed (/usr/bin/containerd)");
    }
    if !is_gantry() {
        return skip_not_gantry("the check runs Gantry's documented handler");
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
    let _shim_root = ShimRoot::note(); // dropped after the daemon and its shims
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

/// `tests/scripts/cri.py SOCKET ARGS...`: the CRI calls a kubelet makes (no crictl here).
fn cri(sock: &Path, args: &[&str]) -> (i32, String, String) {
    gantry_tests::engines::output(
        Command::new("/usr/bin/python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cri.py"))
            .arg(sock)
            .args(args)
            .output()
            .unwrap(),
    )
}

/// Removes the test's pods through the CRI (which also unmounts their shm) before the
/// daemon goes, whatever the test's outcome.
struct Pods<'a>(&'a Path, Vec<String>);

impl Drop for Pods<'_> {
    fn drop(&mut self) {
        for p in &self.1 {
            let _ = cri(self.0, &["stopp", p]);
            let _ = cri(self.0, &["rmp", p]);
        }
    }
}

/// The runc shim makes its default root for k8s.io (/run/containerd/runc/k8s.io) on first
/// use: the dirs of it that the test made go again (empty, after the daemon), deepest first.
struct ShimRoot(Vec<&'static str>);

impl ShimRoot {
    fn note() -> ShimRoot {
        let dirs = ["/run/containerd/runc/k8s.io", "/run/containerd/runc"];
        ShimRoot(
            dirs.into_iter()
                .filter(|d| !Path::new(d).exists())
                .collect(),
        )
    }
}

impl Drop for ShimRoot {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// What Kubernetes does with the documented handler: a pod and a container in it through the
/// CRI API with `runtime_handler = "gantry"`, with nothing but the config's `BinaryName`
/// naming Gantry (no --runc-binary). BinaryName points at a wrapper that logs each call and
/// runs Gantry: the pod's sandbox and its container are created, started, exec'd into,
/// killed and deleted through it, Gantry's own `state` reads them under the shim's root, and
/// StopContainer / StopPodSandbox / RemovePodSandbox succeed.
#[test]
fn cri_pod_runs_under_gantry_through_binary_name() {
    if !Path::new("/usr/bin/containerd").exists() {
        return skip("containerd is not installed (/usr/bin/containerd)");
    }
    if !is_gantry() {
        return skip_not_gantry("the check runs Gantry's documented handler");
    }
    let grpc = Command::new("/usr/bin/python3")
        .args(["-c", "import grpc"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        grpc,
        "python3-grpcio is needed to drive the CRI API (scripts/deps.sh installs it)"
    );
    let gantry = runtime_bin().canonicalize().unwrap();
    let w = TempDir::new("cri-wrapper");
    let calls = w.path().join("calls");
    let wrapper = w.path().join("gantry");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >>{}\nexec {} \"$@\"\n",
            calls.display(),
            gantry.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The documented snippet; this host needs the cgroupfs driver (no systemd), a sandbox
    // ("pause") image it can import (no registry) and restrict_oom_score_adj: the CRI gives
    // sandboxes oomScoreAdj -998, which needs CAP_SYS_RESOURCE (runc fails the same way).
    let snippet = example("containerd-gantry.toml")
        .replace(
            "\"/usr/local/bin/gantry\"",
            &format!("\"{}\"", wrapper.display()),
        )
        .replace("SystemdCgroup = true", "SystemdCgroup = false");
    assert!(snippet.contains(&format!("BinaryName = \"{}\"", wrapper.display())));
    let _shim_root = ShimRoot::note(); // dropped after the daemon and its shims
    let Some(mut c) = Containerd::configure(
        true,
        &format!(
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"localhost/gantry-pause:latest\"\n  restrict_oom_score_adj = true\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n{snippet}"
        ),
    ) else {
        return;
    };
    c.spawn();
    c.import_image(
        "k8s.io",
        "localhost/gantry-pause:latest",
        "[\"sleep\", \"100000\"]",
    );
    c.import_image("k8s.io", "localhost/gantry-busybox:latest", "[\"sh\"]");
    let sock = c.address();
    let logs = TempDir::new("cri-logs");
    let logs = logs.path().to_str().unwrap();
    let mut pods = Pods(&sock, Vec::new());
    let name = format!("gantry-e2e-{}", std::process::id());

    let (code, pod, err) = cri(&sock, &["runp", &name, "gantry", logs]);
    assert_eq!(code, 0, "RunPodSandbox: {err}");
    let pod = pod.trim().to_string();
    pods.1.push(pod.clone());
    let (code, ctr, err) = cri(
        &sock,
        &[
            "create",
            &pod,
            &name,
            "gantry",
            logs,
            "localhost/gantry-busybox:latest",
            "sleep",
            "300",
        ],
    );
    assert_eq!(code, 0, "CreateContainer: {err}");
    let ctr = ctr.trim().to_string();
    let (code, _, err) = cri(&sock, &["start", &ctr]);
    assert_eq!(code, 0, "StartContainer: {err}");
    let (code, out, err) = cri(
        &sock,
        &[
            "exec",
            &ctr,
            "sh",
            "-c",
            "echo $((6 * 7)); tr '\\0' ' ' </proc/1/cmdline; exit 3",
        ],
    );
    // The container joined the pod's pid namespace (CRI's default for containers): its pid 1
    // is the sandbox's process, the pause image's command.
    assert_eq!(
        (code, out.as_str()),
        (3, "42\nsleep 100000 "),
        "ExecSync: {err}"
    );

    // Gantry holds both: its own state, under the runc shim's default root for k8s.io.
    let shim_root = "/run/containerd/runc/k8s.io";
    let state = |id: &str| {
        Command::new(&gantry)
            .args(["--root", shim_root, "state", id])
            .output()
            .unwrap()
    };
    for id in [&pod, &ctr] {
        let o = state(id);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(s["status"], "running", "{s}");
    }

    // What the kubelet does to end the pod; each call must succeed (not time out).
    for (what, args) in [
        ("StopContainer", ["stop", ctr.as_str()]),
        ("RemoveContainer", ["rm", ctr.as_str()]),
        ("StopPodSandbox", ["stopp", pod.as_str()]),
        ("RemovePodSandbox", ["rmp", pod.as_str()]),
    ] {
        let (code, _, err) = cri(&sock, &args);
        assert_eq!(code, 0, "{what}: {err}");
    }
    pods.1.clear();
    for id in [&pod, &ctr] {
        assert!(
            !state(id).status.success(),
            "{id} is still in Gantry's state"
        );
    }

    // Every call went through the wrapper BinaryName names, with the shim's root.
    let log = std::fs::read_to_string(&calls).unwrap();
    let called = |cmd: &str, id: &str| {
        log.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&"--root")
                && f.get(1) == Some(&shim_root)
                && f.contains(&cmd)
                && f.last() == Some(&id)
        })
    };
    for id in [&pod, &ctr] {
        for cmd in ["create", "start", "delete"] {
            assert!(
                called(cmd, id),
                "no `{cmd} ... {id}` through BinaryName:\n{log}"
            );
        }
    }
    assert!(called("exec", &ctr), "{log}");
}
