//! GPU hotplug (issue 14): `gantry device add|remove|list` on a running container, on the
//! fake driver environment. A container started without GPUs gets /dev/nvidia1 while it runs
//! (by jit request and by CDI name), its cgroup allows the node and the saved config lists
//! it; a process inside opens it; after remove the rule is withdrawn first and the node is
//! gone. The same in a user namespace (a bind of the host node). Gantry's own feature.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use gantry_tests::fakegpu::{devices_list, FakeGpu};
use gantry_tests::*;
use serde_json::{json, Value};

fn gantry(rt: &Rt, f: &FakeGpu, specs: Option<&Path>, args: &[&str]) -> std::process::Output {
    f.gantry(rt, specs, args)
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The host's node of GPU 1 in the fake environment: (major, minor).
fn gpu1(f: &FakeGpu) -> (u64, u64) {
    let m = std::fs::metadata(f.root("dev-root/dev/nvidia1")).unwrap();
    (
        nix::sys::stat::major(m.rdev()),
        nix::sys::stat::minor(m.rdev()),
    )
}

/// What a process inside sees of /dev/nvidia1: its type and numbers, and an open's result.
fn seen(rt: &Rt, id: &str) -> String {
    rt.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "stat -c '%F %t:%T' /dev/nvidia1 2>&1; head -c1 /dev/nvidia1 2>&1 >/dev/null | sed 's/.*: //'",
    ])
}

fn saved_devices(rt: &Rt, id: &str) -> Value {
    let p = rt.root.path().join(id).join("state.json");
    let s: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    s["config"]["linux"]["devices"].clone()
}

/// Add then remove `device` in a running container and check every effect.
fn add_and_remove(f: &FakeGpu, specs: Option<&Path>, device: &str, userns: bool) {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    if userns {
        chown_tree(&b.rootfs(), 100000);
        b.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            map_ids(c, 100000);
        });
    }
    let id = unique_id("hotplug");
    ok(gantry(
        &rt,
        f,
        specs,
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
    ));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let (major, minor) = gpu1(f);
    let rule = |l: &str| l.starts_with(&format!("c {major}:{minor} "));
    assert!(
        seen(&rt, &id).contains("No such file"),
        "GPU 1 there before add"
    );

    ok(gantry(&rt, f, specs, &["device", "add", &id, device]));
    // Idempotent.
    ok(gantry(&rt, f, specs, &["device", "add", &id, device]));
    let after = seen(&rt, &id);
    assert!(
        after.starts_with(&format!("character special file {major:x}:{minor:x}")),
        "{after}"
    );
    // No driver behind the fake node: the open reaches it (ENXIO), past cgroup and mount.
    assert!(after.contains("No such device or address"), "{after}");
    if userns {
        let inside = std::fs::metadata(format!("/proc/{pid}/root/dev/nvidia1")).unwrap();
        let host = std::fs::metadata(f.root("dev-root/dev/nvidia1")).unwrap();
        assert_eq!(
            (inside.dev(), inside.ino()),
            (host.dev(), host.ino()),
            "not a bind of the host node"
        );
    }
    if let Some(list) = devices_list(pid) {
        assert!(
            list.lines().any(rule),
            "no rule for {major}:{minor}:\n{list}"
        );
    }
    let listed = ok(gantry(&rt, f, specs, &["device", "list", &id]));
    assert!(
        listed
            .lines()
            .any(|l| l == format!("/dev/nvidia1 {major}:{minor}")),
        "{listed}"
    );
    assert!(
        saved_devices(&rt, &id)
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"] == "/dev/nvidia1"),
        "not in the saved config"
    );

    ok(gantry(&rt, f, specs, &["device", "remove", &id, device]));
    ok(gantry(&rt, f, specs, &["device", "remove", &id, device]));
    assert!(
        seen(&rt, &id).contains("No such file"),
        "GPU 1 still there after remove"
    );
    if let Some(list) = devices_list(pid) {
        assert!(!list.lines().any(rule), "rule left:\n{list}");
    }
    let listed = ok(gantry(&rt, f, specs, &["device", "list", &id]));
    assert!(!listed.contains("/dev/nvidia1"), "{listed}");
    rt.ok(&["delete", "--force", &id]);
}

fn gantry_or_skip() -> bool {
    if !is_gantry() {
        skip_not_gantry("device hotplug is Gantry's");
    }
    is_gantry()
}

#[test]
fn a_jit_gpu_is_attached_and_detached_while_the_container_runs() {
    if gantry_or_skip() {
        add_and_remove(FakeGpu::new(&[]), None, "nvidia:1", false);
    }
}

#[test]
fn a_cdi_gpu_is_attached_and_detached_while_the_container_runs() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let specs = TempDir::new("hotplug-cdi");
    let spec = json!({
        "cdiVersion": "0.5.0",
        "kind": "nvidia.com/gpu",
        "devices": [{"name": "1", "containerEdits": {"deviceNodes": [
            {"path": "/dev/nvidia1", "hostPath": f.root("dev-root/dev/nvidia1")}
        ]}}]
    });
    std::fs::write(specs.path().join("gpu.json"), spec.to_string()).unwrap();
    add_and_remove(f, Some(specs.path()), "nvidia.com/gpu=1", false);
}

#[test]
fn a_gpu_is_attached_to_a_user_namespaced_container_by_bind_mount() {
    if gantry_or_skip() {
        add_and_remove(FakeGpu::new(&[]), None, "nvidia:1", true);
    }
}

#[test]
fn unknown_devices_and_stopped_containers_are_refused() {
    if !gantry_or_skip() {
        return;
    }
    let f = FakeGpu::new(&[]);
    let rt = Rt::new();
    let b = Bundle::new(&["sleep", "300"]);
    let id = unique_id("hotplug-bad");
    ok(gantry(
        &rt,
        f,
        None,
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
    ));
    let before = saved_devices(&rt, &id);
    for dev in ["nvidia:7", "bogus", "nvidia.com/gpu=9"] {
        let o = gantry(&rt, f, None, &["device", "add", &id, dev]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{dev} accepted");
        let named = dev.split(['=', ':']).next_back().unwrap();
        assert!(err.contains(named), "the error does not name {dev}: {err}");
    }
    assert_eq!(
        saved_devices(&rt, &id),
        before,
        "a refused add changed the config"
    );
    rt.ok(&["kill", &id, "KILL"]);
    assert!(rt.wait_status(&id, "stopped"));
    let o = gantry(&rt, f, None, &["device", "add", &id, "nvidia:1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("stopped"), "{err}");
    rt.ok(&["delete", &id]);
}
