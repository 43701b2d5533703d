//! The GPU hook (`gantry-gpu hook`) on real containers, against a fake driver environment
//! (gpu-hook/tests/fixtures/fake-env.sh: a mock NVML library answering from a fixture, real
//! device nodes, real ELF driver libraries, procfs and sysfs files). Run against runc too
//! (GANTRY=/usr/sbin/runc): the hook is runtime-neutral.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_tests::fakegpu::FakeGpu;
use gantry_tests::*;
use serde_json::json;

const VERSION: &str = "550.54.14";

fn rdev(p: &Path) -> (u32, u32) {
    let r = std::fs::metadata(p).unwrap().rdev();
    (
        nix::sys::stat::major(r) as u32,
        nix::sys::stat::minor(r) as u32,
    )
}

/// How this host mounts cgroups.
#[derive(Debug, PartialEq, Eq)]
enum Cgroups {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers (devices among them) and a cgroup2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 at /sys/fs/cgroup, no v1 devices controller.
    Unified,
}

fn cgroups() -> Cgroups {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Cgroups::Unified
    } else if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        Cgroups::Hybrid
    } else {
        Cgroups::Legacy
    }
}

/// The container's v1 devices.list, or `None` on a pure cgroup v2 host, where device access is
/// a BPF program with no list to read (there the rules are proved by opening the nodes, in
/// cgroup_v2_device_program_is_extended_for_the_gpu). It asserts the container's v2 cgroup
/// has a device program attached then, the hook's work being to extend it.
fn devices_list(pid: i64) -> Option<String> {
    if cgroups() == Cgroups::Unified {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let rel = cg
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("a v2 cgroup");
        let dir = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
        assert!(dir.join("cgroup.procs").exists(), "{}", dir.display());
        return None;
    }
    let cg = pid_cgroup(pid, "devices").unwrap();
    Some(std::fs::read_to_string(cgroup_dir("devices", &cg).join("devices.list")).unwrap())
}

/// A container's device rules as v1 lists them; `None` on a pure v2 host (see devices_list).
struct DevList(Option<String>);

impl DevList {
    /// The rule is listed (always on v2, where there is no list to read).
    fn allows(&self, rule: &str) -> bool {
        self.0.as_ref().is_none_or(|l| l.lines().any(|x| x == rule))
    }
    /// No rule starts with `prefix` (always on v2).
    fn lacks(&self, prefix: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|l| !l.lines().any(|x| x.starts_with(prefix)))
    }
}

impl std::fmt::Display for DevList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("(cgroup v2: no list)"))
    }
}

fn uvm_major(f: &FakeGpu) -> u32 {
    rdev(&f.root("dev-root/dev/nvidia-uvm")).0
}

#[test]
fn nvidia_gpu_1_gets_its_node_libraries_and_cgroup_rule() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=1"],
        "ls /dev | grep nvidia | sort; ls /usr/lib64 | sort; /usr/bin/nvidia-smi",
    );
    let id = unique_id("gpu");
    let o = rt.create(&b, &id);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let root = PathBuf::from(format!("/proc/{pid}/root"));

    // Exactly GPU 1 and the compute/utility control nodes, with the host's numbers.
    assert_eq!(rdev(&root.join("dev/nvidia1")), (195, 1));
    assert_eq!(rdev(&root.join("dev/nvidiactl")), (195, 255));
    assert_eq!(rdev(&root.join("dev/nvidia-uvm")), (uvm_major(f), 0));
    assert!(
        !root.join("dev/nvidia0").exists(),
        "GPU 0 was not asked for"
    );
    assert!(
        !root.join("dev/nvidia-modeset").exists(),
        "no display capability"
    );

    // The device cgroup allows 195:1 and not 195:0.
    let list = DevList(devices_list(pid));
    assert!(list.allows("c 195:1 rw"), "{list}");
    assert!(list.allows("c 195:255 rw"), "{list}");
    assert!(list.lacks("c 195:0 "), "{list}");

    // Compute and utility libraries of the running driver's version, soname links, and an
    // ld.so.cache that lists libcuda.so.1.
    let lib = root.join("usr/lib64");
    for l in [
        "libcuda.so",
        "libnvidia-ml.so",
        "libnvidia-ptxjitcompiler.so",
    ] {
        assert!(lib.join(format!("{l}.{VERSION}")).is_file(), "{l} missing");
    }
    assert!(
        !lib.join(format!("libnvidia-encode.so.{VERSION}")).exists(),
        "video not asked for"
    );
    assert!(
        !lib.join("libcuda.so.535.104.05").exists(),
        "a stale driver library was injected"
    );
    assert_eq!(
        std::fs::read_link(lib.join("libcuda.so.1")).unwrap(),
        PathBuf::from(format!("libcuda.so.{VERSION}"))
    );
    assert_eq!(
        std::fs::read_link(lib.join("libcuda.so")).unwrap(),
        PathBuf::from("libcuda.so.1")
    );
    let cache = ld_cache_listing(&root);
    assert!(
        cache.contains("libcuda.so.1 (libc6,x86-64) => /usr/lib64/libcuda.so.1"),
        "{cache}"
    );
    // Read-only, and nothing written to the host's driver files.
    let ro = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "--", "sh", "-c"])
        .arg(format!("echo x > /usr/lib64/libcuda.so.{VERSION}"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ro.stderr).contains("Read-only file system"),
        "an injected library is writable: {ro:?}"
    );

    rt.ok(&["start", &id]);
    assert!(rt.wait_status(&id, "stopped"));
    rt.ok(&["delete", &id]);
}

#[test]
fn the_program_sees_the_devices_and_runs_the_tools() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=all"],
        "ls /dev | grep '^nvidia[0-9]' | sort | tr '\\n' ' '; echo; /usr/bin/nvidia-smi",
    );
    let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-all"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0].trim(), "nvidia0 nvidia1");
    assert!(l[1].contains("NVIDIA-SMI"), "{out}");
}

#[test]
fn an_unknown_gpu_is_an_error_naming_the_ones_that_exist() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(&["NVIDIA_VISIBLE_DEVICES=7"], "true");
    let id = unique_id("gpu-bad");
    let o = rt.create(&b, &id);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no nvidia GPU") && err.contains("7"), "{err}");
    assert!(err.contains("0000:01:00.0"), "{err}");
    assert!(
        rt.state(&id).is_none(),
        "a failed create left the container behind"
    );
}

#[test]
fn unmet_cuda_requirement_refuses_the_container() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99.0"],
        "true",
    );
    let o = rt.create(&b, &unique_id("gpu-req"));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("NVIDIA_REQUIRE_CUDA"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let b = f.bundle(
        &[
            "NVIDIA_VISIBLE_DEVICES=0",
            "NVIDIA_REQUIRE_CUDA=cuda>=99.0",
            "NVIDIA_DISABLE_REQUIRE=true",
        ],
        "true",
    );
    let (code, _, err) = rt.run_fg(&b, &unique_id("gpu-req"));
    assert_eq!(code, 0, "{err}");
}

/// An image whose library directory is a symlink out of the rootfs (CVE-2024-0132's class):
/// the symlink is followed inside the rootfs, never on the host.
#[test]
fn a_symlink_in_the_image_cannot_redirect_injection_to_the_host() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();

    // Pointing at a path the rootfs has: the libraries land there, inside the rootfs.
    let host_dir = format!("/opt/gantry-escape-{}", std::process::id());
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=0"],
        &format!("ls {host_dir}/libcuda.so.1 /usr/lib64/libcuda.so.1"),
    );
    std::fs::create_dir_all(b.rootfs().join(host_dir.trim_start_matches('/'))).unwrap();
    std::fs::create_dir_all(b.rootfs().join("usr")).unwrap();
    std::os::unix::fs::symlink(&host_dir, b.rootfs().join("usr/lib64")).unwrap();
    let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-escape"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        !Path::new(&host_dir).exists(),
        "the hook followed the image's symlink on the host"
    );

    // Pointing at a host directory the rootfs lacks: refused, and the host untouched.
    let host = TempDir::new("gpu-escape");
    let b = f.bundle(&["NVIDIA_VISIBLE_DEVICES=0"], "true");
    std::fs::create_dir_all(b.rootfs().join("usr")).unwrap();
    std::os::unix::fs::symlink(host.path(), b.rootfs().join("usr/lib64")).unwrap();
    let id = unique_id("gpu-escape");
    let o = rt.create(&b, &id);
    assert_eq!(
        std::fs::read_dir(host.path()).unwrap().count(),
        0,
        "the hook wrote to the host through the image's symlink"
    );
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("/usr/lib64"), "{err}");
        assert!(rt.state(&id).is_none());
    } else {
        rt.ok(&["delete", "--force", &id]);
    }
}

#[test]
fn info_and_list_read_the_fake_driver() {
    let f = FakeGpu::new(&[]);
    let (ok, out, err) = f.gpu(&["info", "--format", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["nvidia"]["version"], VERSION);
    assert_eq!(v["nvidia"]["source"], "nvml");
    assert_eq!(v["gpus"].as_array().unwrap().len(), 2);
    assert_eq!(v["gpus"][1]["nodes"][0]["path"], "/dev/nvidia1");

    // Without NVML, the same GPUs from /proc/driver/nvidia.
    let (ok, out, err) = f.gpu(&[
        "--nvml-lib",
        "/nonexistent/libnvidia-ml.so.1",
        "info",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let p: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(p["nvidia"]["source"], "procfs");
    assert_eq!(p["nvidia"]["version"], VERSION);
    for i in 0..2 {
        assert_eq!(p["gpus"][i]["uuid"], v["gpus"][i]["uuid"]);
        assert_eq!(p["gpus"][i]["pci_bus_id"], v["gpus"][i]["pci_bus_id"]);
    }

    let (ok, out, err) = f.gpu(&[
        "list",
        "-e",
        "NVIDIA_VISIBLE_DEVICES=0",
        "-e",
        "NVIDIA_DRIVER_CAPABILITIES=video",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("/dev/nvidia0 (c 195:0)"), "{out}");
    assert!(
        out.contains(&format!("libnvidia-encode.so.{VERSION}")),
        "{out}"
    );
    assert!(
        !out.contains("libcuda.so"),
        "compute was not asked for: {out}"
    );
}

#[test]
fn a_mig_device_gets_its_gpu_and_caps_nodes() {
    let f = FakeGpu::new(&["--nvidia", "2", "--mig-gpu", "1"]);
    let rt = Rt::new();
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=1:1"],
        "ls /dev/nvidia-caps; ls /dev | grep '^nvidia[0-9]'",
    );
    let id = unique_id("gpu-mig");
    let o = rt.create(&b, &id);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    // MIG 1:1 is GPU instance 2, compute instance 0: caps minors 156 and 157.
    let caps = rdev(&f.root("dev-root/dev/nvidia-caps/nvidia-cap156")).0;
    assert_eq!(
        rdev(&root.join("dev/nvidia-caps/nvidia-cap156")),
        (caps, 156)
    );
    assert_eq!(
        rdev(&root.join("dev/nvidia-caps/nvidia-cap157")),
        (caps, 157)
    );
    assert!(
        !root.join("dev/nvidia-caps/nvidia-cap147").exists(),
        "another MIG device's caps"
    );
    assert_eq!(rdev(&root.join("dev/nvidia1")), (195, 1));
    assert!(!root.join("dev/nvidia0").exists());
    let list = DevList(devices_list(pid));
    assert!(list.allows(&format!("c {caps}:157 rw")), "{list}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn amd_and_intel_gpus_by_annotation_and_env() {
    let f = FakeGpu::new(&["--nvidia", "0", "--amd", "2", "--intel", "1"]);
    let rt = Rt::new();
    // AMD GPU 1 (card1, renderD129) with /dev/kfd; Intel GPU 0 is card2, renderD130.
    let mut b = f.bundle(&["AMD_VISIBLE_DEVICES=1"], "true");
    b.edit(|c| c["annotations"] = json!({"gantry.gpu/devices": "intel:0"}));
    let id = unique_id("gpu-amd");
    let o = rt.create(&b, &id);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let kfd = rdev(&f.root("dev-root/dev/kfd"));
    assert_eq!(rdev(&root.join("dev/kfd")), kfd);
    assert_eq!(rdev(&root.join("dev/dri/card1")), (226, 1));
    assert_eq!(rdev(&root.join("dev/dri/renderD129")), (226, 129));
    assert_eq!(rdev(&root.join("dev/dri/card2")), (226, 2));
    assert_eq!(rdev(&root.join("dev/dri/renderD130")), (226, 130));
    assert!(
        !root.join("dev/dri/card0").exists(),
        "AMD GPU 0 was not asked for"
    );
    assert!(
        !root.join("usr/lib64").exists(),
        "no NVIDIA files for AMD and Intel"
    );
    let list = DevList(devices_list(pid));
    for rule in [
        "c 226:129 rw",
        "c 226:130 rw",
        &format!("c {}:{} rw", kfd.0, kfd.1),
    ] {
        assert!(list.allows(rule), "{rule} not in {list}");
    }
    assert!(list.lacks("c 226:128 "), "{list}");
    rt.ok(&["delete", "--force", &id]);

    // An AMD index that does not exist names the ones that do.
    let b = f.bundle(&["AMD_VISIBLE_DEVICES=5"], "true");
    let o = rt.create(&b, &unique_id("gpu-amd"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("0000:41:00.0"));
}

/// In a user namespace, where mknod is refused, the nodes are bind-mounted; the device cgroup
/// is left alone with --no-cgroups (as for rootless containers).
#[test]
fn injection_into_a_user_namespaced_container() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let mut b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=0"],
        "id -u; ls /usr/lib64/libcuda.so.1; head -c1 /dev/nvidia0 2>&1; true",
    );
    chown_tree(&b.rootfs(), 100000);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        map_ids(c, 100000);
        let args = c["hooks"]["createRuntime"][0]["args"]
            .as_array_mut()
            .unwrap();
        args.push(json!("--no-cgroups"));
        // Allow the node in the runtime's own rules instead.
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 195, "minor": 0, "access": "rw"}));
    });
    let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-userns"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "0");
    assert_eq!(l[1], "/usr/lib64/libcuda.so.1");
    // The fake node has no driver behind it: opening reaches the kernel (ENXIO), which means
    // neither the mount (nodev) nor the cgroup refused it.
    assert!(l[2].contains("No such device or address"), "{out}");
}

/// On cgroup v2 the runtime's device program denies the GPU nodes until the hook extends it:
/// the injected node opens, other devices stay denied. On a pure v2 host the container goes to
/// the default cgroup root (any runtime); on a hybrid one Gantry puts it on the unified mount
/// (`--cgroup-root`, which runc lacks); a v1-only host has no v2 to test, and says so.
#[test]
fn cgroup_v2_device_program_is_extended_for_the_gpu() {
    let mode = cgroups();
    if mode == Cgroups::Legacy || (mode == Cgroups::Hybrid && !is_gantry()) {
        return skip(format!(
            "no cgroup v2 device path to test: {mode:?} cgroups with {:?}",
            runtime_bin()
        ));
    }
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let mut b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=0"],
        "head -c1 /dev/nvidia0 2>&1; head -c0 /dev/fuse 2>&1; head -c1 /dev/zero | wc -c; true",
    );
    let id = unique_id("gpu-v2");
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("/gantry-e2e-v2-{id}"));
        c["linux"]["devices"] =
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    });
    let o = if mode == Cgroups::Unified {
        rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id])
    } else {
        run_on_unified(&rt, &b, &id)
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let l: Vec<&str> = out.lines().collect();
    // No driver behind the fake node: the open reaches it (ENXIO) instead of being denied.
    assert!(l[0].contains("No such device or address"), "{out}");
    assert!(l[1].contains("Operation not permitted"), "{out}");
    // The runtime's default devices still work (gpu-hook/tests/cgroup_v2.rs has the rest).
    assert_eq!(l[2].trim(), "1", "{out}");
}

#[test]
fn cdi_spec_names_every_gpu_mig_device_and_all() {
    let f = FakeGpu::new(&["--nvidia", "2", "--mig-gpu", "1"]);
    let (ok, out, err) = f.gpu(&["cdi", "generate", "--lib-dir", "/usr/lib64"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "nvidia.com/gpu");
    let names: Vec<&str> = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for n in ["0", "1", "1:0", "1:1", "all"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("GPU-")));
    assert!(names.iter().any(|n| n.starts_with("MIG-")));
    // MIG 1:1 carries its GPU's node and its two caps nodes.
    let mig = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "1:1")
        .unwrap();
    let paths: Vec<&str> = mig["containerEdits"]["deviceNodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "/dev/nvidia1",
            "/dev/nvidia-caps/nvidia-cap156",
            "/dev/nvidia-caps/nvidia-cap157"
        ]
    );
    // Graphics (all capabilities by default) brings the ICD files.
    assert!(
        out.contains("/usr/share/vulkan/icd.d/nvidia_icd.json"),
        "{out}"
    );
}

/// What the image already has at a target: a file where a library goes is covered (the
/// image's copy stays untouched underneath), a symlink at a link path is replaced.
#[test]
fn files_the_image_already_has_follow_the_stated_policy() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=0"],
        &format!("head -c4 /usr/lib64/libcuda.so.{VERSION} | od -An -c | tr -d ' '; readlink /usr/lib64/libcuda.so"),
    );
    let lib = b.rootfs().join("usr/lib64");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join(format!("libcuda.so.{VERSION}")),
        "stub from the image\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/nonexistent/libcuda.so", lib.join("libcuda.so")).unwrap();
    let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-policy"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0], "177ELF",
        "the driver's library does not cover the image's: {out}"
    );
    assert_eq!(l[1], "libcuda.so.1");
    assert_eq!(
        std::fs::read_to_string(lib.join(format!("libcuda.so.{VERSION}"))).unwrap(),
        "stub from the image\n"
    );
}

/// NVML present but failing (nvmlInit returns an error): the GPUs still come from procfs,
/// and info says why.
#[test]
fn a_broken_nvml_falls_back_to_procfs() {
    let f = FakeGpu::new(&[]);
    let broken = TempDir::new("nvml-broken");
    let fixture = broken.path().join("fixture");
    std::fs::write(&fixture, "driver 550.54.14\nfail-init\n").unwrap();
    let o = Command::new(gantry_tests::fakegpu::gpu_bin())
        .args(f.flags())
        .args(["info", "--format", "json"])
        .env("GANTRY_MOCK_NVML_FIXTURE", &fixture)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["nvidia"]["source"], "procfs");
    assert_eq!(v["gpus"].as_array().unwrap().len(), 2);
    let notes = v["notes"].to_string();
    assert!(notes.contains("nvmlInit"), "{notes}");
}

fn file_id(p: &Path) -> (u64, u64) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.dev(), m.ino())
}

/// Created (not started) with the hook; returns the container's root as the host sees it.
fn created(rt: &Rt, b: &Bundle, tag: &str) -> (String, i64, PathBuf) {
    let id = unique_id(tag);
    let o = rt.create(b, &id);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    (id, pid, PathBuf::from(format!("/proc/{pid}/root")))
}

/// GSP firmware, the persistence daemon's socket and the MPS pipe directory are the host's
/// own files, bind-mounted (same inode), not copies.
#[test]
fn firmware_the_persistenced_socket_and_the_mps_directory_are_bind_mounted() {
    use std::os::unix::fs::FileTypeExt;
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(&["NVIDIA_VISIBLE_DEVICES=0"], "true");
    let (id, _, root) = created(&rt, &b, "gpu-files");
    let dr = f.root("driver-root");
    for fw in ["gsp_ga10x.bin", "gsp_tu10x.bin"] {
        let rel = format!("lib/firmware/nvidia/{VERSION}/{fw}");
        assert_eq!(
            std::fs::read(root.join(&rel)).unwrap(),
            std::fs::read(dr.join(&rel)).unwrap(),
            "{rel}"
        );
    }
    let sock = root.join("run/nvidia-persistenced/socket");
    assert!(
        std::fs::symlink_metadata(&sock)
            .unwrap()
            .file_type()
            .is_socket(),
        "the persistenced socket is not a socket in the container"
    );
    assert_eq!(
        file_id(&sock),
        file_id(&dr.join("run/nvidia-persistenced/socket"))
    );
    let mps = root.join("tmp/nvidia-mps");
    assert_eq!(file_id(&mps), file_id(&dr.join("tmp/nvidia-mps")));
    assert!(std::fs::symlink_metadata(mps.join("control"))
        .unwrap()
        .file_type()
        .is_fifo());
    rt.ok(&["delete", "--force", &id]);

    // Utility alone: no MPS directory (compute), but the socket and firmware.
    let b = f.bundle(
        &[
            "NVIDIA_VISIBLE_DEVICES=0",
            "NVIDIA_DRIVER_CAPABILITIES=utility",
        ],
        "true",
    );
    let (id, _, root) = created(&rt, &b, "gpu-files");
    assert!(!root.join("tmp/nvidia-mps").exists());
    assert!(root.join("run/nvidia-persistenced/socket").exists());
    assert!(root
        .join(format!("lib/firmware/nvidia/{VERSION}/gsp_ga10x.bin"))
        .exists());
    rt.ok(&["delete", "--force", &id]);
}

/// graphics and display: the selected GPU's DRM nodes (nvidia-drm), /dev/nvidia-modeset, the
/// Vulkan and EGL ICD files and the GL libraries; nothing of compute.
#[test]
fn graphics_and_display_get_drm_nodes_modeset_and_icd_files() {
    let f = FakeGpu::new(&["--nvidia-drm", "1"]);
    let rt = Rt::new();
    let b = f.bundle(
        &[
            "NVIDIA_VISIBLE_DEVICES=1",
            "NVIDIA_DRIVER_CAPABILITIES=graphics,display",
        ],
        "true",
    );
    let (id, pid, root) = created(&rt, &b, "gpu-gfx");
    assert_eq!(rdev(&root.join("dev/nvidia-modeset")), (195, 254));
    // NVIDIA GPU 1 is card1 / renderD129 here (no AMD or Intel GPUs).
    assert_eq!(rdev(&root.join("dev/dri/card1")), (226, 1));
    assert_eq!(rdev(&root.join("dev/dri/renderD129")), (226, 129));
    assert!(!root.join("dev/dri/card0").exists(), "GPU 0's card");
    assert!(
        !root.join("dev/nvidia-uvm").exists(),
        "compute not asked for"
    );
    let dr = f.root("driver-root");
    for icd in [
        "usr/share/vulkan/icd.d/nvidia_icd.json",
        "usr/share/glvnd/egl_vendor.d/10_nvidia.json",
        "usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json",
    ] {
        assert_eq!(
            std::fs::read(root.join(icd)).unwrap(),
            std::fs::read(dr.join(icd)).unwrap(),
            "{icd}"
        );
    }
    let lib = root.join("usr/lib64");
    assert!(lib.join(format!("libGLX_nvidia.so.{VERSION}")).is_file());
    assert_eq!(
        std::fs::read_link(lib.join("libEGL_nvidia.so.0")).unwrap(),
        PathBuf::from(format!("libEGL_nvidia.so.{VERSION}"))
    );
    assert!(!lib.join(format!("libcuda.so.{VERSION}")).exists());
    let list = DevList(devices_list(pid));
    for rule in ["c 226:1 rw", "c 226:129 rw", "c 195:254 rw"] {
        assert!(list.allows(rule), "{rule} not in {list}");
    }
    assert!(list.lacks("c 226:128 rw"), "{list}");
    rt.ok(&["delete", "--force", &id]);
}

/// A Debian-like image (it has /usr/lib/x86_64-linux-gnu) gets the libraries there, compat32
/// puts the 32-bit ones into /usr/lib/i386-linux-gnu, video brings the codec libraries, and
/// the container's ld.so.cache lists both.
#[test]
fn debian_image_compat32_and_video() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(
        &[
            "NVIDIA_VISIBLE_DEVICES=0",
            "NVIDIA_DRIVER_CAPABILITIES=compute,video,compat32",
        ],
        "true",
    );
    std::fs::create_dir_all(b.rootfs().join("usr/lib/x86_64-linux-gnu")).unwrap();
    let (id, _, root) = created(&rt, &b, "gpu-deb");
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    for l in ["libcuda.so", "libnvidia-encode.so", "libnvcuvid.so"] {
        assert!(lib.join(format!("{l}.{VERSION}")).is_file(), "{l} missing");
    }
    assert!(
        !root.join("usr/lib64").exists(),
        "a Debian image has no lib64"
    );
    let lib32 = root.join(format!("usr/lib/i386-linux-gnu/libcuda.so.{VERSION}"));
    let head = std::fs::read(&lib32).unwrap();
    assert_eq!(&head[..5], b"\x7fELF\x01", "not a 32-bit ELF");
    let cache = ld_cache_listing(&root);
    assert!(
        cache.contains("libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1"),
        "{cache}"
    );
    assert!(
        cache.contains("libcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1"),
        "{cache}"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// The hook works at each hook point that runs before pivot_root: createContainer (run by the
/// container's init, in its namespaces) and prestart as well as createRuntime. The node opens
/// (ENXIO from the node itself: neither the mount nor the device cgroup refused it).
#[test]
fn the_hook_works_as_create_container_and_prestart() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    for stage in ["createContainer", "prestart"] {
        let mut b = f.bundle(
            &["NVIDIA_VISIBLE_DEVICES=0"],
            "ls /usr/lib64/libcuda.so.1; head -c1 /dev/nvidia0 2>&1; true",
        );
        b.edit(|c| {
            let h = c["hooks"]["createRuntime"].take();
            c["hooks"] = json!({ stage: h });
        });
        let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-stage"));
        assert_eq!(code, 0, "{stage}: {err}");
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(
            l.first().copied(),
            Some("/usr/lib64/libcuda.so.1"),
            "{stage}: {out}"
        );
        assert!(
            l.get(1)
                .is_some_and(|l| l.contains("No such device or address")),
            "{stage}: {out}"
        );
    }
}

/// NVIDIA_REQUIRE_DRIVER, _ARCH and _BRAND that the host does not meet refuse the container:
/// create fails naming the variable, and no container is left.
#[test]
fn unmet_driver_arch_and_brand_requirements_refuse_the_container() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    for req in [
        "NVIDIA_REQUIRE_DRIVER=driver>=999",
        "NVIDIA_REQUIRE_ARCH=arch>=9.0",
        "NVIDIA_REQUIRE_BRAND=brand=geforce",
    ] {
        let var = req.split('=').next().unwrap();
        let b = f.bundle(&["NVIDIA_VISIBLE_DEVICES=0", req], "true");
        let id = unique_id("gpu-req");
        let o = rt.create(&b, &id);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{req} was not refused");
        assert!(err.contains(var), "{req}: {err}");
        assert!(rt.state(&id).is_none(), "{req}: a container was left");
        assert!(rt.ids().is_empty(), "{req}: {:?} left", rt.ids());

        // The same through `list`: its exit code says so (no pipe hides it).
        let (ok, _, err) = f.gpu(&["list", "-e", "NVIDIA_VISIBLE_DEVICES=0", "-e", req]);
        assert!(!ok, "list accepted {req}");
        assert!(err.contains(var), "{err}");
    }
    // Met ones pass; with no GPU selected the GPU constraints cannot hold and are noted.
    let (ok, out, err) = f.gpu(&[
        "list",
        "-e",
        "NVIDIA_VISIBLE_DEVICES=none",
        "-e",
        "NVIDIA_REQUIRE_BRAND=brand=geforce",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("brand=geforce (no GPU selected)"), "{out}");
    let (ok, _, err) = f.gpu(&["list", "-e", "NVIDIA_REQUIRE_BRAND=brand=geforce"]);
    assert!(!ok, "list without a GPU request succeeded");
    assert!(err.contains("no GPU requested"), "{err}");
}

/// `info`'s table shows each GPU's minor, MIG mode and MIG device count.
#[test]
fn info_table_shows_minor_mig_mode_and_mig_count() {
    let f = FakeGpu::new(&["--nvidia", "2", "--mig-gpu", "1"]);
    let (ok, out, err) = f.gpu(&["info"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["VENDOR", "INDEX", "MINOR", "PCI", "UUID", "MIG", "MIGS", "NAME"]
    );
    assert_eq!(rows[1][..3], ["nvidia", "0", "0"], "{out}");
    assert_eq!(rows[1][5..7], ["off", "0"], "{out}");
    assert_eq!(rows[2][..3], ["nvidia", "1", "1"], "{out}");
    assert_eq!(rows[2][5..7], ["on", "2"], "{out}");
    assert!(rows[3][0] == "1:0" && rows[4][0] == "1:1", "{out}");
}

/// /proc/devices is the truth for the dynamic majors: a uvm node under the dev root made with
/// another major is refused for a container that needs it (compute), and not used.
#[test]
fn a_uvm_node_with_the_wrong_major_is_refused() {
    let f = FakeGpu::new(&["--uvm-node-major", "240"]);
    let rt = Rt::new();
    let b = f.bundle(&["NVIDIA_VISIBLE_DEVICES=0"], "true");
    let id = unique_id("gpu-major");
    let o = rt.create(&b, &id);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a wrong uvm node was accepted");
    assert!(
        err.contains(
            "/dev/nvidia-uvm is 240:0 but /proc/devices gives nvidia-uvm major 509: expected 509:0"
        ),
        "{err}"
    );
    assert!(rt.state(&id).is_none() && rt.ids().is_empty());
    let (ok, _, err) = f.gpu(&["list", "-e", "NVIDIA_VISIBLE_DEVICES=0"]);
    assert!(!ok && err.contains("nvidia-uvm major 509"), "{err}");
    let (ok, out, _) = f.gpu(&["info"]);
    assert!(
        ok && out.contains("refused /dev/nvidia-uvm is 240:0"),
        "{out}"
    );

    // Utility only needs no uvm node: that container starts, without it.
    let b = f.bundle(
        &[
            "NVIDIA_VISIBLE_DEVICES=0",
            "NVIDIA_DRIVER_CAPABILITIES=utility",
        ],
        "ls /dev/nvidia-uvm 2>&1; ls /dev/nvidia0",
    );
    let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-major"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("No such file") && out.contains("/dev/nvidia0"),
        "{out}"
    );
}

/// AMD GPUs are numbered as ROCm numbers them, by the KFD topology: with the topology in
/// reverse card order, AMD_VISIBLE_DEVICES=1 is card0 / renderD128 (KFD node 2), with /dev/kfd.
#[test]
fn amd_indices_follow_the_kfd_topology() {
    let f = FakeGpu::new(&["--nvidia", "0", "--amd", "2", "--kfd-reverse", "1"]);
    let rt = Rt::new();
    let b = f.bundle(&["AMD_VISIBLE_DEVICES=1"], "true");
    let (id, pid, root) = created(&rt, &b, "gpu-kfd");
    assert_eq!(rdev(&root.join("dev/dri/card0")), (226, 0));
    assert_eq!(rdev(&root.join("dev/dri/renderD128")), (226, 128));
    assert!(
        !root.join("dev/dri/card1").exists(),
        "AMD GPU 0 is card1 here"
    );
    assert!(!root.join("dev/dri/renderD129").exists());
    let kfd = rdev(&f.root("dev-root/dev/kfd"));
    assert_eq!(rdev(&root.join("dev/kfd")), kfd);
    let list = DevList(devices_list(pid));
    assert!(list.allows("c 226:128 rw"), "{list}");
    assert!(list.lacks("c 226:129 rw"), "{list}");
    rt.ok(&["delete", "--force", &id]);
    let (ok, out, err) = f.gpu(&["info", "--format", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gpus"][0]["pci_bus_id"], "0000:42:00.0");
    assert_eq!(v["gpus"][1]["pci_bus_id"], "0000:41:00.0");
}

/// A driver library in a directory only ld.so.conf names (/usr/lib/nvidia) is found through
/// the driver root's ld.so.cache and injected.
#[test]
fn a_library_found_through_the_ld_so_cache_is_injected() {
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = f.bundle(&["NVIDIA_VISIBLE_DEVICES=0"], "true");
    let (id, _, root) = created(&rt, &b, "gpu-ldcache");
    let lib = format!("libnvidia-pkcs11.so.{VERSION}");
    assert_eq!(
        file_id(&root.join("usr/lib64").join(&lib)),
        file_id(&f.root("driver-root/usr/lib/nvidia").join(&lib))
    );
    assert!(root
        .join(format!("usr/lib64/libcuda.so.{VERSION}"))
        .is_file());
    rt.ok(&["delete", "--force", &id]);
}

/// `ldconfig -p` of the rootfs' own ld.so.cache.
fn ld_cache_listing(root: &Path) -> String {
    let o = Command::new("/sbin/ldconfig")
        .arg("-p")
        .arg("-C")
        .arg(root.join("etc/ld.so.cache"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every command that writes to standard output takes a reader that stopped reading
/// (`gantry-gpu list | head -1`) as the end of the job: exit 0 and no error, not a
/// panic (Rust's println! on EPIPE) or an abort. The pipe's read end is closed before the
/// program starts, so its first write fails with EPIPE every time.
#[test]
fn output_into_a_closed_pipe_exits_quietly() {
    let f = FakeGpu::new(&["--nvidia", "2", "--mig-gpu", "1"]);
    for args in [
        &["list", "-e", "NVIDIA_VISIBLE_DEVICES=all"][..],
        &["list", "-e", "NVIDIA_VISIBLE_DEVICES=0", "--format", "json"],
        &["info"],
        &["info", "--format", "json"],
        &["cdi", "generate"],
    ] {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let o = Command::new(gantry_tests::fakegpu::gpu_bin())
            .args(f.flags())
            .args(args)
            .stdout(write)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {:?} {err}", o.status);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

/// DRM card and render nodes (AMD, Intel, NVIDIA's nvidia-drm ones for graphics) and MIG
/// nvidia-caps nodes under the dev root with another major than /proc/devices names
/// (`drm` 226, `nvidia-caps`) are refused like the GPU nodes: create fails naming the node,
/// its numbers and the expected ones, `list` exits 1, `info` lists them; a container that
/// needs none of them still starts.
#[test]
fn drm_and_caps_nodes_with_the_wrong_major_are_refused() {
    let rt = Rt::new();
    let refused = |f: &FakeGpu, env: &[&str], want: &str| {
        let b = f.bundle(env, "true");
        let id = unique_id("gpu-major");
        let o = rt.create(&b, &id);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{env:?}: a wrong node was accepted");
        assert!(err.contains(want), "{env:?}: {err}");
        assert!(rt.state(&id).is_none() && rt.ids().is_empty(), "{env:?}");
        let mut args = vec!["list"];
        for e in env {
            args.extend(["-e", e]);
        }
        let (ok, _, err) = f.gpu(&args);
        assert!(!ok && err.contains(want), "list {env:?}: {err}");
    };

    // AMD's card and render nodes.
    let f = FakeGpu::new(&["--nvidia", "0", "--amd", "1", "--drm-node-major", "227"]);
    refused(
        f,
        &["AMD_VISIBLE_DEVICES=0"],
        "/dev/dri/card0 is 227:0 but /proc/devices gives drm major 226: expected 226:0",
    );
    let (ok, out, err) = f.gpu(&["info"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("refused /dev/dri/renderD128 is 227:128"),
        "{out}"
    );
    assert!(!err.contains("no KFD topology node"), "{err}");

    // NVIDIA's DRM nodes, needed for graphics only.
    let f = FakeGpu::new(&["--nvidia-drm", "1", "--drm-node-major", "227"]);
    refused(
        f,
        &[
            "NVIDIA_VISIBLE_DEVICES=1",
            "NVIDIA_DRIVER_CAPABILITIES=graphics",
        ],
        "/dev/dri/renderD129 is 227:129 but /proc/devices gives drm major 226: expected 226:129",
    );
    let b = f.bundle(
        &["NVIDIA_VISIBLE_DEVICES=1"],
        "ls /dev/nvidia1; ls /dev/dri 2>&1; true",
    );
    let (code, out, err) = rt.run_fg(&b, &unique_id("gpu-major"));
    assert_eq!(code, 0, "compute needs no DRM node: {err}");
    assert!(
        out.contains("/dev/nvidia1") && out.contains("No such file"),
        "{out}"
    );

    // A MIG device's caps nodes; GPU 0 (no MIG) needs none and starts.
    let f = FakeGpu::new(&["--mig-gpu", "1", "--caps-node-major", "240"]);
    refused(
        f,
        &["NVIDIA_VISIBLE_DEVICES=1:1"],
        "/dev/nvidia-caps/nvidia-cap156 is 240:156 but /proc/devices gives nvidia-caps major 508: expected 508:156",
    );
    let (ok, out, _) = f.gpu(&["info"]);
    assert!(
        ok && out.contains("refused /dev/nvidia-caps/nvidia-cap157 is 240:157"),
        "{out}"
    );
    let (code, _, err) = rt.run_fg(
        &f.bundle(&["NVIDIA_VISIBLE_DEVICES=0"], "true"),
        &unique_id("gpu-major"),
    );
    assert_eq!(code, 0, "{err}");
    let (ok, _, err) = f.gpu(&["cdi", "generate"]);
    assert!(
        !ok && err.contains("nvidia-cap156 is 240:156"),
        "cdi: {err}"
    );
}
