//! config-linux.md, Namespaces and User namespace mappings; config.md, hostname/domainname.

use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, ns_link, sleep_ms, Check, Ctx, Level::*, Live, Outcome};

pub fn checks() -> Vec<Check> {
    let l = "config-linux.md#namespaces";
    vec![
        Check::new("config-linux.namespaces.pid.new", l, Must, |c| {
            new_ns(c, "pid", "pid")
        }),
        Check::new("config-linux.namespaces.network.new", l, Must, |c| {
            new_ns(c, "network", "net")
        }),
        Check::new("config-linux.namespaces.ipc.new", l, Must, |c| {
            new_ns(c, "ipc", "ipc")
        }),
        Check::new("config-linux.namespaces.uts.new", l, Must, |c| {
            new_ns(c, "uts", "uts")
        }),
        Check::new("config-linux.namespaces.mount.new", l, Must, |c| {
            new_ns(c, "mount", "mnt")
        }),
        Check::new("config-linux.namespaces.cgroup.new", l, Must, |c| {
            new_ns(c, "cgroup", "cgroup")
        }),
        Check::new("config-linux.namespaces.pid.absent", l, Must, |c| {
            absent_ns(c, "pid")
        }),
        Check::new("config-linux.namespaces.network.absent", l, Must, |c| {
            absent_ns(c, "net")
        }),
        Check::new("config-linux.namespaces.ipc.absent", l, Must, |c| {
            absent_ns(c, "ipc")
        }),
        Check::new("config-linux.namespaces.uts.absent", l, Must, |c| {
            absent_ns(c, "uts")
        }),
        Check::new("config-linux.namespaces.cgroup.absent", l, Must, |c| {
            absent_ns(c, "cgroup")
        }),
        Check::new("config-linux.namespaces.network.path", l, Must, |c| {
            joined(c, "network", "net")
        }),
        Check::new("config-linux.namespaces.ipc.path", l, Must, |c| {
            joined(c, "ipc", "ipc")
        }),
        Check::new("config-linux.namespaces.uts.path", l, Must, |c| {
            joined(c, "uts", "uts")
        }),
        Check::new("config-linux.namespaces.cgroup.path", l, Must, |c| {
            joined(c, "cgroup", "cgroup")
        }),
        Check::new("config-linux.namespaces.pid.path", l, Must, joined_pid),
        Check::new("config-linux.namespaces.mount.path", l, Must, |c| {
            joined_by(c, &["--mount"], "mount", "mnt")
        }),
        Check::new("config-linux.namespaces.user.path", l, Must, |c| {
            joined_by(c, &["--user", "--map-root-user"], "user", "user")
        }),
        Check::new(
            "config-linux.namespaces.path.wrong-type-errors",
            l,
            Must,
            wrong_type,
        ),
        Check::new(
            "config-linux.namespaces.path.not-a-namespace-errors",
            l,
            Must,
            not_a_namespace,
        ),
        Check::new(
            "config-linux.namespaces.cgroup.rooted",
            l,
            Must,
            cgroup_rooted,
        ),
        Check::new(
            "config-linux.namespaces.network.isolated",
            l,
            Must,
            net_isolated,
        ),
        Check::new(
            "config-linux.namespaces.pid.program-is-pid-1",
            l,
            Must,
            pid_one,
        ),
        Check::new("config-linux.namespaces.user.new", l, Must, user_new),
        Check::new(
            "config-linux.uidMappings",
            "config-linux.md#user-namespace-mappings",
            Must,
            uid_map,
        ),
        Check::new(
            "config-linux.gidMappings",
            "config-linux.md#user-namespace-mappings",
            Must,
            gid_map,
        ),
        Check::new(
            "config-linux.uidMappings.host-owner",
            "config-linux.md#user-namespace-mappings",
            Must,
            mapped_owner,
        ),
        Check::new(
            "config-linux.uidMappings.ownership-unchanged",
            "config-linux.md#user-namespace-mappings",
            Should,
            ownership_kept,
        ),
        Check::new("config.hostname", "config.md#hostname", Must, hostname),
        Check::new(
            "config.hostname.host-unchanged",
            "config.md#hostname",
            Must,
            hostname_host,
        ),
        Check::new(
            "config.domainname",
            "config.md#domainname",
            Must,
            domainname,
        ),
    ]
}

/// The namespace links of the program, by /proc name.
fn inside(ctx: &Ctx, edit: impl FnOnce(&mut Value)) -> Result<Vec<(String, String)>, String> {
    let out = ctx.sh(
        |v| {
            v["hostname"] = Value::Null;
            edit(v);
        },
        "for n in pid net ipc uts mnt cgroup user; do echo $n $(readlink /proc/self/ns/$n); done",
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect())
}

fn link_of(links: &[(String, String)], ns: &str) -> String {
    links
        .iter()
        .find(|(n, _)| n == ns)
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}

/// "If path is not specified, the runtime MUST create a new container namespace of type type."
fn new_ns(ctx: &Ctx, ty: &str, proc_name: &str) -> Outcome {
    let t = ty.to_string();
    let nss = if ty == "mount" {
        json!([{"type": "mount"}])
    } else {
        json!([{"type": "mount"}, {"type": t}])
    };
    let links = inside(ctx, move |v| v["linux"]["namespaces"] = nss)?;
    let l = link_of(&links, proc_name);
    ensure(!l.is_empty(), format!("no {proc_name} link inside"))?;
    ensure(
        l != ns_link("self", proc_name),
        format!("{ty} namespace is the host's"),
    )
}

/// "If a namespace type is not specified in the namespaces array, the container MUST inherit
/// the runtime namespace of that type."
fn absent_ns(ctx: &Ctx, proc_name: &str) -> Outcome {
    let links = inside(ctx, |v| {
        v["linux"]["namespaces"] = json!([{"type": "mount"}])
    })?;
    expect_eq(
        proc_name,
        link_of(&links, proc_name),
        ns_link("self", proc_name),
    )
}

/// A process holding new network, uts and ipc namespaces; killed on drop.
struct Holder(Child);

impl Holder {
    fn spawn() -> Result<Holder, String> {
        Holder::spawn_with(&["--net", "--uts", "--ipc", "--cgroup"], "net")
    }

    /// `unshare FLAGS sleep 300`, once its `proc_name` namespace differs from ours.
    fn spawn_with(flags: &[&str], proc_name: &str) -> Result<Holder, String> {
        let child = Command::new("unshare")
            .args(flags)
            .args(["sleep", "300"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let h = Holder(child);
        // unshare execs sleep in the new namespaces: wait until it has.
        for _ in 0..200 {
            if ns_link(&h.pid(), proc_name) != ns_link("self", proc_name) {
                return Ok(h);
            }
            sleep_ms(10);
        }
        Err("the namespace holder never unshared".into())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// "The runtime MUST place the container process in the namespace associated with that path."
fn joined(ctx: &Ctx, ty: &str, proc_name: &str) -> Outcome {
    let h = Holder::spawn()?;
    let path = format!("/proc/{}/ns/{proc_name}", h.pid());
    let t = ty.to_string();
    let links =
        inside(
            ctx,
            move |v| {
                v["linux"]["namespaces"] =
                    json!([{"type": "mount"}, {"type": "pid"}, {"type": t, "path": path}])
            },
        )?;
    expect_eq(
        proc_name,
        link_of(&links, proc_name),
        ns_link(&h.pid(), proc_name),
    )
}

/// A mount or user namespace joined by path (the runtime builds the rootfs inside the joined
/// mount namespace; a joined user namespace owns the container's other new namespaces): the
/// program is in the holder's namespace, not a new one.
fn joined_by(ctx: &Ctx, flags: &[&str], ty: &str, proc_name: &str) -> Outcome {
    let h = Holder::spawn_with(flags, proc_name)?;
    let path = format!("/proc/{}/ns/{proc_name}", h.pid());
    let t = ty.to_string();
    let links = inside(ctx, move |v| {
        let ns = v["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != json!(t));
        ns.push(json!({"type": t, "path": path}));
        if t == "user" {
            // The holder's own mapping (unshare --map-root-user as root: 0 is 0), for runtimes
            // that check a config's mappings against the joined namespace's.
            let map = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
            v["linux"]["uidMappings"] = map.clone();
            v["linux"]["gidMappings"] = map;
        }
    })?;
    expect_eq(
        proc_name,
        link_of(&links, proc_name),
        ns_link(&h.pid(), proc_name),
    )
}

/// A pid namespace joined by path: the program is in it (the one `unshare --pid --fork`
/// made for its child), so it is not pid 1 there and sees the holder's sleep.
fn joined_pid(ctx: &Ctx) -> Outcome {
    let mut holder = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "sleep",
            "300",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    let pid = holder.id().to_string();
    let result = (|| {
        // Ready once the holder's child (pid 1 there) exists in the new namespace.
        let mut ready = false;
        for _ in 0..200 {
            if ns_link(&pid, "pid_for_children") != ns_link("self", "pid")
                && std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                    .map(|c| !c.trim().is_empty())
                    .unwrap_or(false)
            {
                ready = true;
                break;
            }
            sleep_ms(10);
        }
        ensure(ready, "the pid namespace holder never started")?;
        let want = ns_link(&pid, "pid_for_children");
        let path = format!("/proc/{pid}/ns/pid_for_children");
        let out = ctx.sh(
            move |v| {
                v["hostname"] = Value::Null;
                v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid", "path": path}])
            },
            "readlink /proc/self/ns/pid; echo $$",
        )?;
        let mut l = out.lines();
        expect_eq("pid namespace", l.next().unwrap_or(""), want.as_str())?;
        let me = l.next().unwrap_or("");
        ensure(
            me != "1" && !me.is_empty(),
            format!("the program is pid {me:?} in the joined namespace, as if it were new"),
        )
    })();
    let _ = holder.kill();
    let _ = holder.wait();
    result
}

/// "The runtime MUST generate an error if path is not associated with a namespace of type
/// type."
fn wrong_type(ctx: &Ctx) -> Outcome {
    let h = Holder::spawn()?;
    let path = format!("/proc/{}/ns/uts", h.pid());
    ctx.create_fails(move |v| {
        v["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "network", "path": path}])
    })
}

fn not_a_namespace(ctx: &Ctx) -> Outcome {
    ctx.create_fails(|v| {
        v["linux"]["namespaces"] =
            json!([{"type": "mount"}, {"type": "network", "path": "/etc/hostname"}])
    })
}

/// "pid processes inside the container will only be able to see other processes inside the
/// same container": a new pid namespace makes the program its init.
fn pid_one(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(|_| {}, "echo $$; set -- /proc/[0-9]*; echo $#")?;
    expect_eq("pid and process count", out.as_str(), "1\n1\n")
}

fn userns_edit(v: &mut Value) {
    if let Some(a) = v["linux"]["namespaces"].as_array_mut() {
        a.push(json!({"type": "user"}));
    }
    v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
}

/// Run `script` in a user namespace; the rootfs and /host belong to the mapped root, as an
/// image unpacked for that mapping would.
fn in_userns(ctx: &Ctx, script: &str) -> Result<(Live, String), String> {
    let chown = |b: &crate::harness::Bundle, host: &std::path::Path| {
        let ok = Command::new("chown")
            .args(["-R", "200000:300000"])
            .arg(b.rootfs())
            .arg(host)
            .status()
            .map_err(|e| e.to_string())?
            .success();
        ensure(ok, "chown failed").map_err(|_| "chown -R of the rootfs failed".to_string())
    };
    let c = Live::create_with(
        ctx,
        userns_edit,
        &format!("{script} > /host/out; echo done > /host/mark"),
        chown,
    )?;
    c.op(&["start"])?;
    c.wait_file("mark")?;
    let out = c.host_file("out").unwrap_or_default();
    Ok((c, out))
}

/// "user: the container will be able to remap user and group IDs from the host to local users
/// and groups within the container."
fn user_new(ctx: &Ctx) -> Outcome {
    let (_c, out) = in_userns(ctx, "readlink /proc/self/ns/user")?;
    ensure(!out.trim().is_empty(), "no output")?;
    ensure(
        out.trim() != ns_link("self", "user"),
        "user namespace is the host's",
    )
}

/// "uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the
/// host to the container."
fn uid_map(ctx: &Ctx) -> Outcome {
    let (_c, out) = in_userns(ctx, "cat /proc/self/uid_map")?;
    expect_eq(
        "uid_map",
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "200000", "65536"],
    )
}

fn gid_map(ctx: &Ctx) -> Outcome {
    let (_c, out) = in_userns(ctx, "cat /proc/self/gid_map")?;
    expect_eq(
        "gid_map",
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["0", "300000", "65536"],
    )
}

/// From the host: root inside makes files owned by the mapped host ids.
/// config-linux.md: "The runtime SHOULD NOT modify the ownership of referenced filesystems to
/// realize the mapping": a rootfs the host owns as 0:0 (readable by all) runs under a mapping
/// of 0 to 200000 and is still 0:0 afterwards, as is the bind-mounted host directory.
fn ownership_kept(ctx: &Ctx) -> Outcome {
    // The bind's mount point exists: the mapped root could not make it in a root-owned rootfs.
    let c = Live::create_with(ctx, userns_edit, "ls / > /dev/null", |b, _| {
        std::fs::create_dir(b.rootfs().join("host")).map_err(|e| e.to_string())
    })?;
    let owners = |c: &Live| -> Vec<(String, u32, u32)> {
        ["bin/busybox", "etc/passwd", "."]
            .iter()
            .map(|f| c.bundle.rootfs().join(f))
            .chain([c.host.path().to_path_buf()])
            .filter_map(|p| {
                let m = std::fs::symlink_metadata(&p).ok()?;
                Some((p.display().to_string(), m.uid(), m.gid()))
            })
            .collect()
    };
    let before = owners(&c);
    c.op(&["start"])?;
    c.wait_status("stopped")?;
    expect_eq("owners after the run", owners(&c), before)
}

fn mapped_owner(ctx: &Ctx) -> Outcome {
    let (c, _) = in_userns(ctx, "touch /host/made; echo")?;
    let m =
        std::fs::metadata(c.host.path().join("made")).map_err(|e| format!("no file made: {e}"))?;
    expect_eq("owner", (m.uid(), m.gid()), (200000, 300000))
}

/// "hostname (string, OPTIONAL) specifies the container's hostname as seen by processes running
/// inside the container."
fn hostname(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(|v| v["hostname"] = json!("conformance-host"), "hostname")?;
    expect_eq("hostname", out.as_str(), "conformance-host\n")
}

fn hostname_host(ctx: &Ctx) -> Outcome {
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let inside = ctx.sh(|v| v["hostname"] = json!("conformance-other"), "hostname")?;
    expect_eq("inside", inside.as_str(), "conformance-other\n")?;
    let after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    expect_eq("host's hostname", after, before)
}

/// 1.1: "domainname (string, OPTIONAL) specifies the container's domainname as seen by
/// processes running inside the container."
fn domainname(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["domainname"] = json!("conformance.example"),
        "cat /proc/sys/kernel/domainname",
    )?;
    expect_eq("domainname", out.as_str(), "conformance.example\n")
}

/// "cgroup the container will have an isolated view of the cgroup hierarchy": in a new cgroup
/// namespace (rooted at the container's cgroup) its own cgroup reads as "/".
fn cgroup_rooted(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["cgroupsPath"] = json!(format!(
                "/conformance/{}",
                crate::harness::unique_id("cgns")
            ));
            v["linux"]["namespaces"] =
                json!([{"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "cgroup"}]);
        },
        "grep -E '^[0-9]+:memory:' /proc/self/cgroup",
    )?;
    expect_eq("memory line", out.trim().split(':').nth(2), Some("/"))
}

/// "network the container will have an isolated network stack": a new one has only lo.
fn net_isolated(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(|_| {}, "ls /sys/class/net")?;
    expect_eq(
        "interfaces",
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"],
    )
}
