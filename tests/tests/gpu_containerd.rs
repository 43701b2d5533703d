//! GPUs under the real containerd 1.6 with the configuration docs/gpu.md gives, read from the
//! files it names: docs/examples/containerd-gpu.toml (the CRI runtime handler "gantry-gpu",
//! BinaryName gantry-gpu-runtime) and gpu-hook/scripts/gantry-gpu-runtime (the wrapper that
//! adds the hook). containerd
//! must accept the handler; a container run by containerd-shim-runc-v2 with that BinaryName
//! (`ctr run --runc-binary`, as the CRI plugin would run it; no CRI client here) and
//! NVIDIA_VISIBLE_DEVICES=1 gets GPU 1's node, the control nodes and the driver libraries
//! from the fake driver environment, opens the node (the device cgroup allows it) and nothing
//! of GPU 0; a container that asks for no GPU gets nothing. Skipped without containerd or
//! when the runtime under test is not Gantry (the harness runs containerd with Gantry only).

use std::path::{Path, PathBuf};

use gantry_tests::engines::Containerd;
use gantry_tests::fakegpu::{gpu_bin, workspace, FakeGpu};
use gantry_tests::*;

fn examples() -> PathBuf {
    workspace().join("docs/examples")
}

/// The BinaryName the documented handler names.
fn binary_name(toml: &str) -> String {
    toml.lines()
        .find_map(|l| l.trim().strip_prefix("BinaryName = "))
        .expect("BinaryName in containerd-gpu.toml")
        .trim_matches('"')
        .to_string()
}

/// An executable shell script.
fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn containerd_runs_a_gpu_container_with_the_documented_configuration() {
    let toml = std::fs::read_to_string(examples().join("containerd-gpu.toml")).unwrap();
    assert_eq!(binary_name(&toml), "/usr/local/bin/gantry-gpu-runtime");
    let page = std::fs::read_to_string(workspace().join("docs/gpu.md")).unwrap();
    assert!(
        page.contains(&format!("```toml\n{toml}```")),
        "docs/gpu.md does not show containerd-gpu.toml as it is"
    );
    let Some(mut c) = Containerd::configure(true, &toml) else {
        return; // Containerd::configure recorded why
    };
    // containerd 1.6 takes the handler as documented (a wrong key or table fails here).
    let dump = std::process::Command::new("containerd")
        .arg("--config")
        .arg(c.config())
        .args(["config", "dump"])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    let handler = dump
        .split("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.gantry-gpu")
        .skip(1)
        .collect::<String>();
    assert!(
        handler.contains("runtime_type = \"io.containerd.runc.v2\"")
            && handler.contains("BinaryName = \"/usr/local/bin/gantry-gpu-runtime\""),
        "containerd config dump: {dump}"
    );
    c.spawn();
    c.import_busybox();

    // The installed files, here in a directory of their own: the documented wrapper itself,
    // pointed (by its two variables) at this Gantry and at a gantry-gpu that reads the fake
    // driver environment.
    let f = FakeGpu::new(&[]);
    let dir = TempDir::new("gpu-containerd-bin");
    let bin = dir.path();
    let hook = bin.join("gantry-gpu");
    script(
        &hook,
        &format!(
            "exec {} {} \"$@\"",
            gpu_bin().display(),
            f.flags().join(" ")
        ),
    );
    let wrapper = bin.join("gantry-gpu-runtime");
    script(
        &wrapper,
        &format!(
            "GANTRY_GPU_RUNTIME={} GANTRY_GPU_HOOK={} exec {} \"$@\"",
            runtime_bin().display(),
            hook.display(),
            workspace()
                .join("gpu-hook/scripts/gantry-gpu-runtime")
                .display()
        ),
    );

    let ra = c.runc_args(&wrapper);
    let run = |id: &str, env: &[&str], cmd: &str| {
        let mut args: Vec<&str> = vec!["run", "--rm"];
        args.extend(ra.iter().map(String::as_str));
        for e in env {
            args.extend(["--env", e]);
        }
        args.extend(["localhost/gantry-busybox:latest", id, "sh", "-c", cmd]);
        c.ctr(&args)
    };
    let (code, out, err) = run(
        "gpu1",
        &["NVIDIA_VISIBLE_DEVICES=1"],
        "ls /dev | grep nvidia | sort | tr '\\n' ' '; echo; ls /usr/lib64/libcuda.so.1; head -c1 /dev/nvidia1 2>&1; true",
    );
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l.first().map(|s| s.trim()),
        Some("nvidia-uvm nvidia-uvm-tools nvidia1 nvidiactl"),
        "{out}\n{err}"
    );
    assert_eq!(l.get(1).copied(), Some("/usr/lib64/libcuda.so.1"), "{out}");
    // No driver behind the fake node: ENXIO means neither the mount nor the cgroup refused it.
    assert!(
        l.get(2)
            .is_some_and(|l| l.contains("No such device or address")),
        "{out}"
    );

    let (code, out, err) = run("nogpu", &[], "ls /dev | grep -c nvidia; true");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "0",
        "a container without a GPU request got nodes"
    );
}
