//! linux.namespaces: new ones, joined ones, and user namespaces with id mappings.

use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};

use gantry_tests::*;
use serde_json::json;

fn ns_of(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn inside_ns(nss: serde_json::Value) -> Vec<(String, String)> {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.set_namespaces(nss)
        .edit(|c| c["hostname"] = json!(null))
        .sh(
        "for n in pid net ipc uts mnt cgroup time; do echo $n $(readlink /proc/self/ns/$n); done",
    );
    let (code, out, err) = rt.run_fg(&b, &unique_id("ns"));
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

#[test]
fn new_namespaces_differ_from_host() {
    let mut nss = json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]);
    // runc 1.1 has no time namespace support (runc 1.2 added it); kernels before 5.6 neither.
    let time = is_gantry() && std::path::Path::new("/proc/self/ns/time").exists();
    if time {
        nss.as_array_mut().unwrap().push(json!({"type": "time"}));
    } else {
        skip("the time namespace part: not Gantry, or no /proc/self/ns/time on this kernel");
    }
    let got = inside_ns(nss);
    for (ns, link) in got {
        if ns == "time" && !time {
            continue;
        }
        assert_ne!(link, ns_of("self", &ns), "{ns} is the host's");
    }
}

#[test]
fn unlisted_namespaces_are_the_hosts() {
    let got = inside_ns(json!([{"type": "mount"}]));
    for (ns, link) in got {
        if ns == "mnt" {
            assert_ne!(link, ns_of("self", &ns));
        } else {
            assert_eq!(link, ns_of("self", &ns), "{ns} is not the host's");
        }
    }
}

struct Holder(Child);
impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn join_namespaces_by_path() {
    let h = Holder(
        Command::new("unshare")
            .args(["--net", "--uts", "--ipc", "sleep", "300"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // unshare execs sleep in the new namespaces: wait until it has.
    let pid = h.0.id().to_string();
    for _ in 0..100 {
        if ns_of(&pid, "net") != ns_of("self", "net") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let got = inside_ns(json!([
        {"type": "pid"}, {"type": "mount"},
        {"type": "network", "path": format!("/proc/{pid}/ns/net")},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")},
        {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}
    ]));
    for (ns, link) in got {
        if ["net", "uts", "ipc"].contains(&ns.as_str()) {
            assert_eq!(link, ns_of(&pid, &ns), "{ns} was not joined");
        }
    }
}

#[test]
fn user_namespace_with_mappings() {
    let rt = Rt::new();
    let host = TempDir::new("userns");
    let mut b = Bundle::new(&[]);
    chown_tree(&b.rootfs(), 100000);
    chown_tree(host.path(), 100000);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        map_ids(c, 100000);
    })
    .bind(host.path(), "/host")
    .sh("cat /proc/self/uid_map; id -u; touch /host/made");
    let (code, out, err) = rt.run_fg(&b, &unique_id("userns"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0].split_whitespace().collect::<Vec<_>>(),
        vec!["0", "100000", "65536"]
    );
    assert_eq!(l[1], "0");
    let meta = std::fs::metadata(host.path().join("made")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
}

/// A user namespace joined by `path` together with new namespaces: they are created inside it
/// (owned by it), and the program runs as its root.
#[test]
fn user_namespace_joined_by_path() {
    use std::io::BufRead;
    let mut h = Holder(
        Command::new("unshare")
            .args(["--user", "sh", "-c", "echo ready; exec sleep 300"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(h.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = h.0.id();
    for map in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{map}"), "0 100000 65536\n").unwrap();
    }
    let rt = Rt::new();
    let host = TempDir::new("userns-join");
    let mut b = Bundle::new(&[]);
    chown_tree(&b.rootfs(), 100000);
    chown_tree(host.path(), 100000);
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
        // The namespace's own maps (runc 1.1 requires them even when joining).
        map_ids(c, 100000);
    })
    .bind(host.path(), "/host")
    .sh("readlink /proc/self/ns/user; id -u; hostname; touch /host/made");
    let (code, out, err) = rt.run_fg(&b, &unique_id("userns-join"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l[0],
        ns_of(&pid.to_string(), "user"),
        "user namespace not joined"
    );
    assert_eq!(l[1], "0");
    assert_ne!(
        l[2],
        nix_hostname(),
        "no new UTS namespace inside the joined one"
    );
    let meta = std::fs::metadata(host.path().join("made")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}
