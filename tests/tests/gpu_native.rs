//! Native GPU injection (issue 13): Gantry alone, with no hook in config.json, gives a
//! container its GPU from a CDI spec (by `cdi.k8s.io/*` annotation, by a qualified name in
//! NVIDIA_VISIBLE_DEVICES) or from its own discovery (jit: NVIDIA_VISIBLE_DEVICES=0), on the
//! fake driver environment (gpu-hook/tests/fixtures/fake-env.sh). The device rule is in the
//! container's cgroup and in the saved config; a user-namespaced container gets the node by
//! bind mount; an unknown device, an invalid spec or conflicting edits are refused with
//! nothing left behind. Gantry's own feature: other runtimes skip.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use gantry_tests::fakegpu::{devices_list, FakeGpu};
use gantry_tests::*;
use serde_json::{json, Value};

const VERSION: &str = "550.54.14";

fn gantry_or_skip() -> bool {
    if !is_gantry() {
        skip_not_gantry("native CDI injection is Gantry's");
    }
    is_gantry()
}

fn rdev(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        m.file_type().is_char_device(),
        "{} is not a char device",
        p.display()
    );
    (
        nix::sys::stat::major(m.rdev()) as u32,
        nix::sys::stat::minor(m.rdev()) as u32,
    )
}

/// A CDI spec dir with one spec of kind nvidia.com/gpu: devices "0" and "1" (their nodes in
/// the fake dev root) and, as common edits, nvidiactl, libcuda and an env variable.
struct SpecDir {
    dir: TempDir,
}

impl SpecDir {
    fn new(f: &FakeGpu) -> SpecDir {
        let dir = TempDir::new("cdi");
        let dev = |n: &str| f.root("dev-root").join("dev").join(n);
        let lib = f
            .root("driver-root")
            .join(format!("usr/lib/x86_64-linux-gnu/libcuda.so.{VERSION}"));
        assert!(lib.is_file(), "{}", lib.display());
        let devices: Vec<Value> = [0, 1]
            .iter()
            .map(|i| {
                json!({
                    "name": i.to_string(),
                    "containerEdits": {"deviceNodes": [
                        {"path": format!("/dev/nvidia{i}"), "hostPath": dev(&format!("nvidia{i}"))}
                    ]}
                })
            })
            .collect();
        let spec = json!({
            "cdiVersion": "0.6.0",
            "kind": "nvidia.com/gpu",
            "devices": devices,
            "containerEdits": {
                "env": ["GANTRY_CDI_TEST=yes"],
                "deviceNodes": [{"path": "/dev/nvidiactl", "hostPath": dev("nvidiactl"), "permissions": "rw"}],
                "mounts": [{
                    "hostPath": lib,
                    "containerPath": format!("/usr/lib64/libcuda.so.{VERSION}"),
                    "options": ["ro", "nosuid", "nodev", "bind"]
                }],
                "additionalGids": [44]
            }
        });
        let d = SpecDir { dir };
        d.write("gpu.json", &spec);
        d
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    fn write(&self, name: &str, spec: &Value) {
        std::fs::write(self.file(name), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    }
}

/// `gantry --cdi-spec-dirs DIR --gpu-*-root ... ARGS`.
fn gantry(rt: &Rt, f: &FakeGpu, specs: &Path, args: &[&str]) -> std::process::Output {
    f.gantry(rt, Some(specs), args)
}

/// A busybox bundle with no hook, writing what it sees to /out/result (a host dir).
fn bundle(out: &Path, env: &[&str], ann: &[(&str, &str)]) -> Bundle {
    let mut b = Bundle::new(&[]);
    b.bind(out, "/out");
    b.edit(|c| {
        let e = c["process"]["env"].as_array_mut().unwrap();
        for v in env {
            e.push(json!(v));
        }
        let a: serde_json::Map<String, Value> =
            ann.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        c["annotations"] = Value::Object(a);
    })
    .sh(&format!(
        "{{ stat -c '%F %t:%T' /dev/nvidia0; head -c1 /dev/nvidia0 2>&1; \
         ls /usr/lib64/libcuda.so.{VERSION}; echo \"env=$GANTRY_CDI_TEST\"; id -G; \
         ls /dev | grep nvidia | sort | tr '\\n' ' '; echo; }} > /out/result 2>&1"
    ));
    assert!(b.config["hooks"].is_null(), "no hook in config.json");
    b
}

/// The config state.json keeps for `id`.
fn saved_config(rt: &Rt, id: &str) -> Value {
    let p = rt.root.path().join(id).join("state.json");
    let s: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    s["config"].clone()
}

/// Create with `flags`, check what the host sees (node, cgroup rule, saved config), start,
/// and return what the container saw.
fn create_check_start(
    rt: &Rt,
    f: &FakeGpu,
    specs: &Path,
    b: &Bundle,
    out: &Path,
    rule: &str,
) -> String {
    let id = unique_id("gpu-native");
    let o = gantry(
        rt,
        f,
        specs,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert_eq!(
        rdev(&PathBuf::from(format!("/proc/{pid}/root/dev/nvidia0"))),
        (195, 0)
    );
    if let Some(list) = devices_list(pid) {
        assert!(list.lines().any(|l| l == rule), "{rule} not in:\n{list}");
        assert!(
            !list.lines().any(|l| l.starts_with("c 195:1 ")),
            "GPU 1 was not asked for:\n{list}"
        );
    }
    let cfg = saved_config(rt, &id);
    let rules = cfg["linux"]["resources"]["devices"].as_array().unwrap();
    assert!(
        rules.iter().any(|r| r["allow"] == json!(true)
            && r["type"] == "c"
            && r["major"] == 195
            && r["minor"] == 0),
        "no 195:0 rule in the saved config: {rules:?}"
    );
    let devs = cfg["linux"]["devices"].as_array().unwrap();
    assert!(
        devs.iter()
            .any(|d| d["path"] == "/dev/nvidia0" && d["major"] == 195),
        "{devs:?}"
    );
    rt.ok(&["start", &id]);
    assert!(rt.wait_status(&id, "stopped"));
    rt.ok(&["delete", &id]);
    std::fs::read_to_string(out.join("result")).unwrap()
}

fn check_seen(seen: &str, from_spec: bool) {
    let l: Vec<&str> = seen.lines().collect();
    assert_eq!(l[0], "character special file c3:0", "{seen}");
    // No driver behind the fake node: the open reaches it (ENXIO) past cgroup and mount.
    assert!(l[1].contains("No such device or address"), "{seen}");
    assert_eq!(l[2], format!("/usr/lib64/libcuda.so.{VERSION}"), "{seen}");
    if from_spec {
        assert_eq!(l[3], "env=yes", "{seen}");
        assert!(
            l[4].split_whitespace().any(|g| g == "44"),
            "additionalGids: {seen}"
        );
        assert_eq!(l[5].trim(), "nvidia0 nvidiactl", "{seen}");
    }
}

#[test]
fn a_cdi_annotation_injects_the_device_from_a_spec_file() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let specs = SpecDir::new(f);
    let out = TempDir::new("out");
    let rt = Rt::new();
    let b = bundle(out.path(), &[], &[("cdi.k8s.io/gpu", "nvidia.com/gpu=0")]);
    let seen = create_check_start(&rt, f, specs.path(), &b, out.path(), "c 195:0 rwm");
    check_seen(&seen, true);
}

#[test]
fn a_qualified_name_in_nvidia_visible_devices_injects_the_device() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let specs = SpecDir::new(f);
    let out = TempDir::new("out");
    let rt = Rt::new();
    let b = bundle(
        out.path(),
        &["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=0"],
        &[],
    );
    let seen = create_check_start(&rt, f, specs.path(), &b, out.path(), "c 195:0 rwm");
    check_seen(&seen, true);
}

#[test]
fn a_plain_request_is_injected_jit_from_discovery() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let empty = TempDir::new("cdi-empty");
    let out = TempDir::new("out");
    let rt = Rt::new();
    let mut b = bundle(out.path(), &["NVIDIA_VISIBLE_DEVICES=0"], &[]);
    b.sh(&format!(
        "{{ stat -c '%F %t:%T' /dev/nvidia0; head -c1 /dev/nvidia0 2>&1; \
         ls /usr/lib64/libcuda.so.{VERSION}; readlink /usr/lib64/libcuda.so.1; \
         ls /dev | grep nvidia | sort | tr '\\n' ' '; echo; }} > /out/result 2>&1"
    ));
    let seen = create_check_start(&rt, f, empty.path(), &b, out.path(), "c 195:0 rw");
    check_seen(&seen, false);
    let l: Vec<&str> = seen.lines().collect();
    // The soname link, made by the jit spec's createRuntime hook (gantry-gpu cdi-hook).
    assert_eq!(l[3], format!("libcuda.so.{VERSION}"), "{seen}");
    assert_eq!(
        l[4].trim(),
        "nvidia-uvm nvidia-uvm-tools nvidia0 nvidiactl",
        "{seen}"
    );

    // --no-cdi-jit: the plain request is left alone.
    let b = bundle(out.path(), &["NVIDIA_VISIBLE_DEVICES=0"], &[]);
    let id = unique_id("gpu-nojit");
    let o = gantry(
        &rt,
        f,
        empty.path(),
        &[
            "--no-cdi-jit",
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = std::fs::read_to_string(out.path().join("result")).unwrap();
    assert!(seen.contains("can't stat '/dev/nvidia0'"), "{seen}");
}

#[test]
fn a_user_namespaced_container_gets_the_node_by_bind_mount() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let specs = SpecDir::new(f);
    let out = TempDir::new("out");
    let rt = Rt::new();
    let mut b = bundle(out.path(), &[], &[("cdi.k8s.io/gpu", "nvidia.com/gpu=0")]);
    chown_tree(&b.rootfs(), 100000);
    chown_tree(out.path(), 100000);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        map_ids(c, 100000);
    });
    let id = unique_id("gpu-native-userns");
    let o = gantry(
        &rt,
        f,
        specs.path(),
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    // A bind mount of the host's node (mknod is refused in a user namespace): the same inode.
    let inside = std::fs::metadata(format!("/proc/{pid}/root/dev/nvidia0")).unwrap();
    let host = std::fs::metadata(f.root("dev-root/dev/nvidia0")).unwrap();
    assert_eq!((inside.dev(), inside.ino()), (host.dev(), host.ino()));
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        mi.lines()
            .any(|l| l.split_whitespace().nth(4) == Some("/dev/nvidia0")),
        "/dev/nvidia0 is not a mount point:\n{mi}"
    );
    rt.ok(&["start", &id]);
    assert!(rt.wait_status(&id, "stopped"));
    rt.ok(&["delete", &id]);
    let seen = std::fs::read_to_string(out.path().join("result")).unwrap();
    check_seen(&seen, true);
}

/// A refused create: the error, and nothing left (state dir, cgroup, process, mount).
fn refused(rt: &Rt, f: &FakeGpu, specs: &Path, b: &Bundle) -> String {
    let id = unique_id("gpu-native-bad");
    let o = gantry(
        rt,
        f,
        specs,
        &["create", "--bundle", b.path().to_str().unwrap(), &id],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "create {id} succeeded");
    assert!(rt.ids().is_empty(), "a failed create left {:?}", rt.ids());
    for c in ["devices", "memory", "pids"] {
        let dir = cgroup_dir(c, &format!("/gantry/{id}"));
        assert!(!dir.exists(), "a failed create left {}", dir.display());
    }
    assert!(!any_process_with(&id), "a failed create left a process");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(b.path().to_str().unwrap()),
        "a failed create left a mount"
    );
    err
}

#[test]
fn an_unknown_device_an_invalid_spec_and_conflicts_are_refused() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let specs = SpecDir::new(f);
    let out = TempDir::new("out");
    let rt = Rt::new();

    let b = bundle(out.path(), &[], &[("cdi.k8s.io/gpu", "nvidia.com/gpu=7")]);
    let err = refused(&rt, f, specs.path(), &b);
    assert!(err.contains("unknown CDI device nvidia.com/gpu=7"), "{err}");
    assert!(err.contains("annotation cdi.k8s.io/gpu"), "{err}");
    assert!(
        err.contains(specs.file("gpu.json").to_str().unwrap()),
        "{err}"
    );

    // A jit request for a GPU the host lacks names the ones it has.
    let b = bundle(out.path(), &["NVIDIA_VISIBLE_DEVICES=7"], &[]);
    let err = refused(&rt, f, specs.path(), &b);
    assert!(err.contains("no nvidia GPU \"7\""), "{err}");

    // Two devices putting different nodes at one path.
    specs.write(
        "clash.json",
        &json!({"cdiVersion": "0.6.0", "kind": "example.com/gpu", "devices": [
            {"name": "a", "containerEdits": {"deviceNodes": [
                {"path": "/dev/nvidia0", "hostPath": f.root("dev-root/dev/nvidia1")}]}}
        ]}),
    );
    let b = bundle(
        out.path(),
        &[],
        &[("cdi.k8s.io/gpu", "nvidia.com/gpu=0,example.com/gpu=a")],
    );
    let err = refused(&rt, f, specs.path(), &b);
    assert!(
        err.contains("conflicting CDI edits for device node /dev/nvidia0"),
        "{err}"
    );
    assert!(
        err.contains("clash.json, device example.com/gpu=a"),
        "{err}"
    );

    // A spec whose node numbers are not the host node's.
    specs.write(
        "clash.json",
        &json!({"cdiVersion": "0.6.0", "kind": "example.com/gpu", "devices": [
            {"name": "a", "containerEdits": {"deviceNodes": [
                {"path": "/dev/x", "hostPath": f.root("dev-root/dev/nvidia1"), "major": 195, "minor": 0}]}}
        ]}),
    );
    let b = bundle(out.path(), &[], &[("cdi.k8s.io/x", "example.com/gpu=a")]);
    let err = refused(&rt, f, specs.path(), &b);
    assert!(
        err.contains("the spec says 195:0") && err.contains("195:1"),
        "{err}"
    );

    // An invalid spec file, named.
    std::fs::write(
        specs.file("broken.json"),
        b"{\"cdiVersion\": \"0.6.0\", \"kind\": ",
    )
    .unwrap();
    let b = bundle(out.path(), &[], &[("cdi.k8s.io/gpu", "nvidia.com/gpu=0")]);
    let err = refused(&rt, f, specs.path(), &b);
    assert!(
        err.contains(specs.file("broken.json").to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("invalid"), "{err}");
}

/// On cgroup v2 the rule goes into the runtime's own device program (no hook extends it): the
/// node opens (ENXIO, no driver behind it) and a device not asked for stays denied. A pure v2
/// host uses the default root; this hybrid host puts the container on its cgroup2 mount
/// (`--cgroup-root`); a v1-only host has no v2 to test, and says so.
#[test]
fn on_cgroup_v2_the_device_program_allows_the_injected_node() {
    if !gantry_or_skip() {
        return;
    }
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists();
    if !unified && !hybrid {
        return skip("no cgroup2 mount: no device program to test");
    }
    let f = FakeGpu::new(&[]);
    let specs = SpecDir::new(f);
    let out = TempDir::new("out");
    let rt = Rt::new();
    let id = unique_id("gpu-native-v2");
    let mut b = bundle(out.path(), &[], &[("cdi.k8s.io/gpu", "nvidia.com/gpu=0")]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("/gantry-e2e-v2-{id}"));
        c["linux"]["devices"] = json!([{"path": "/dev/nvidia1x", "type": "c", "major": 195, "minor": 1}]);
    })
    .sh("{ head -c1 /dev/nvidia0 2>&1; head -c1 /dev/nvidia1x 2>&1; head -c1 /dev/zero | wc -c; } > /out/result; true");
    let mut args = vec![];
    if !unified {
        args.extend(["--cgroup-root", "/sys/fs/cgroup/unified"]);
    }
    args.extend(["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let o = gantry(&rt, f, specs.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = std::fs::read_to_string(out.path().join("result")).unwrap();
    let l: Vec<&str> = seen.lines().collect();
    assert!(l[0].contains("No such device or address"), "{seen}");
    // A node the config makes without a rule allowing it is denied by the program.
    assert!(l[1].contains("Operation not permitted"), "{seen}");
    assert_eq!(l[2].trim(), "1", "{seen}");
}

/// jit in a user namespace: the nodes are bound from the fake dev root, and the jit spec's
/// createRuntime hook (gantry-gpu cdi-hook, run from the runtime's namespaces) makes the
/// soname link.
#[test]
fn a_jit_request_in_a_user_namespace() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let empty = TempDir::new("cdi-empty");
    let out = TempDir::new("out");
    let rt = Rt::new();
    let mut b = bundle(out.path(), &["NVIDIA_VISIBLE_DEVICES=0"], &[]);
    b.sh(&format!(
        "{{ stat -c '%F %t:%T' /dev/nvidia0; head -c1 /dev/nvidia0 2>&1; \
         ls /usr/lib64/libcuda.so.{VERSION}; readlink /usr/lib64/libcuda.so.1; id -u; }} > /out/result 2>&1"
    ));
    chown_tree(&b.rootfs(), 100000);
    chown_tree(out.path(), 100000);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        map_ids(c, 100000);
    });
    let id = unique_id("gpu-native-jit-userns");
    let o = gantry(
        &rt,
        f,
        empty.path(),
        &["run", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = std::fs::read_to_string(out.path().join("result")).unwrap();
    check_seen(&seen, false);
    let l: Vec<&str> = seen.lines().collect();
    assert_eq!(l[3], format!("libcuda.so.{VERSION}"), "{seen}");
    assert_eq!(l[4], "0", "{seen}");
}
