//! linux.netDevices (runtime-spec 1.3): a veth made by the test moves into the container's
//! network namespace, renamed, with its permanent global addresses, and up; a missing
//! interface or a name the container already has is a clear error with nothing left.

use std::process::Command;

use gantry_tests::*;
use serde_json::json;

/// A veth pair on the host (`ip`), both ends deleted on drop if still here: the container end
/// goes with the container's network namespace, and the host end with it.
struct Veth {
    host: String,
    peer: String,
}

fn ip(args: &[&str]) -> Result<String, String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

impl Veth {
    /// None, after recording why, where this host cannot make one.
    fn new(tag: &str) -> Option<Veth> {
        let n = std::process::id() % 100_000;
        let v = Veth {
            host: format!("gth{tag}{n}"),
            peer: format!("gtc{tag}{n}"),
        };
        if let Err(e) = ip(&[
            "link", "add", &v.host, "type", "veth", "peer", "name", &v.peer,
        ]) {
            skip(format!("this host cannot make a veth pair: {e}"));
            return None;
        }
        Some(v)
    }

    fn exists(name: &str) -> bool {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.host, &self.peer] {
            if Veth::exists(n) {
                let _ = ip(&["link", "del", n]);
            }
        }
    }
}

fn bundle_with(devices: serde_json::Value) -> Bundle {
    let mut b = Bundle::new(&["sleep", "30"]);
    b.edit(|c| c["linux"]["netDevices"] = devices);
    b
}

#[test]
fn a_veth_moves_in_renamed_with_its_addresses_and_up() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1 and crun 1.8 ignore linux.netDevices");
    }
    let Some(v) = Veth::new("a") else { return };
    ip(&["addr", "add", "10.213.7.2/24", "dev", &v.peer]).unwrap();
    ip(&["addr", "add", "fd00:213::2/64", "dev", &v.peer, "nodad"]).unwrap();
    let rt = Rt::new();
    let b = bundle_with(json!({ v.peer.clone(): {"name": "eth7"} }));
    let id = unique_id("netdev");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        !Veth::exists(&v.peer),
        "{} is still in the host's namespace after create",
        v.peer
    );
    rt.ok(&["start", &id]);
    let out = rt.ok(&["exec", &id, "ip", "addr", "show", "dev", "eth7"]);
    assert!(out.contains("eth7"), "{out}");
    assert!(
        out.contains("UP") || out.contains("state LOWERLAYERDOWN"),
        "not up: {out}"
    );
    assert!(
        out.contains("inet 10.213.7.2/24"),
        "IPv4 address lost: {out}"
    );
    assert!(
        out.contains("inet6 fd00:213::2/64"),
        "IPv6 address lost: {out}"
    );
    let links = rt.ok(&["exec", &id, "ip", "-o", "link", "show", "dev", "eth7"]);
    assert!(
        links.contains("<") && links.contains(",UP"),
        "flags: {links}"
    );
    rt.ok(&["delete", "--force", &id]);
    // The spec forbids moving it back; a veth goes with the namespace, and its host end too.
    assert!(!Veth::exists(&v.peer), "moved back to the host");
}

#[test]
fn a_template_name_gets_the_kernels_number() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1 and crun 1.8 ignore linux.netDevices");
    }
    let Some(v) = Veth::new("t") else { return };
    let rt = Rt::new();
    let mut b = bundle_with(json!({ v.peer.clone(): {"name": "net%d"} }));
    b.sh("ls /sys/class/net | grep '^net'");
    let (code, out, err) = rt.run_fg(&b, &unique_id("netdev-tpl"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "net0", "{out}");
}

#[test]
fn a_missing_or_clashing_interface_is_a_clear_error() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1 and crun 1.8 ignore linux.netDevices");
    }
    let rt = Rt::new();
    let b = bundle_with(json!({"gantry-nosuch0": {}}));
    let err = rt.create_refused(&b, &unique_id("netdev-missing"));
    assert!(
        err.contains("linux.netDevices") && err.contains("gantry-nosuch0"),
        "{err}"
    );

    let Some(v) = Veth::new("c") else { return };
    let b = bundle_with(json!({ v.peer.clone(): {"name": "lo"} }));
    let err = rt.create_refused(&b, &unique_id("netdev-clash"));
    assert!(err.contains("already has an interface \"lo\""), "{err}");
    assert!(Veth::exists(&v.peer), "the refused interface left the host");

    // Without a network namespace of its own, there is nowhere to move it to.
    let mut b = bundle_with(json!({ v.peer.clone(): {} }));
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network")
    });
    let err = rt.create_refused(&b, &unique_id("netdev-nons"));
    assert!(
        err.contains("linux.netDevices") && err.contains("network namespace"),
        "{err}"
    );
}
