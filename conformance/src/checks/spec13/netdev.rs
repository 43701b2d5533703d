//! 1.3, config-linux.md, Network Devices: a veth pair made by the check, one end named in
//! linux.netDevices. Both ends are deleted on drop wherever they still are in the host's
//! namespace (the moved end goes with the container's network namespace, and its peer with it).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use crate::check::{ensure, Ctx, Failure, Live, Outcome};

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) -> Result<String, String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

fn exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// A veth pair in the host's network namespace; `peer` is the end given to the container.
struct Veth {
    host: String,
    peer: String,
}

impl Veth {
    /// A skip where this host cannot make one (no `ip`, no veth driver).
    fn new() -> Result<Veth, Failure> {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let v = Veth {
            host: format!("gch{tag}"),
            peer: format!("gcp{tag}"),
        };
        ip(&[
            "link", "add", &v.host, "type", "veth", "peer", "name", &v.peer,
        ])
        .map_err(|e| Failure::Skip(format!("this host cannot make a veth pair: {e}")))?;
        Ok(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.host, &self.peer] {
            if exists(n) {
                let _ = ip(&["link", "del", n]);
            }
        }
    }
}

/// The container's name for the device.
const NAME: &str = "eth7";

/// A started container given `v.peer` as eth7 (after `prepare` on the host end).
fn moved_in(ctx: &Ctx, v: &Veth) -> Result<Live, String> {
    let devices: Value = json!({ v.peer.clone(): {"name": NAME} });
    let c = Live::started(
        ctx,
        |c| c["linux"]["netDevices"] = devices,
        "echo up > /host/mark; exec sleep 300",
    )?;
    c.wait_file("mark")?;
    Ok(c)
}

fn in_container(c: &Live, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["exec", c.id.as_str()];
    a.extend_from_slice(args);
    c.rt.try_ok(&a)
}

/// "netDevices (object, OPTIONAL) - A set of network devices that MUST be made available in
/// the container ... name (string, OPTIONAL) - the name of the network device inside the
/// container namespace": the host's interface leaves the host's namespace and is eth7 inside.
pub(super) fn moved_renamed(ctx: &Ctx) -> Outcome {
    let v = Veth::new()?;
    let c = moved_in(ctx, &v)?;
    ensure(
        !exists(&v.peer),
        format!("{} is still in the host's network namespace", v.peer),
    )?;
    let out = in_container(&c, &["ls", "/sys/class/net"])?;
    ensure(
        out.split_whitespace().any(|n| n == NAME),
        format!("no {NAME} in the container: {:?}", out.trim()),
    )
}

/// "The runtime MUST preserve existing network interface attributes, including all permanent
/// IP addresses (IFA_F_PERMANENT flag) of any family with global scope (RT_SCOPE_UNIVERSE
/// value)": an IPv4 and an IPv6 address set on the host come in with the device.
pub(super) fn addresses(ctx: &Ctx) -> Outcome {
    let v = Veth::new()?;
    ip(&["addr", "add", "10.213.9.2/24", "dev", &v.peer])?;
    ip(&["addr", "add", "fd00:213:9::2/64", "dev", &v.peer, "nodad"])?;
    let c = moved_in(ctx, &v)?;
    let out = in_container(&c, &["ip", "addr", "show", "dev", NAME])?;
    ensure(
        out.contains("inet 10.213.9.2/24") && out.contains("inet6 fd00:213:9::2/64"),
        format!("addresses of {NAME} inside: {:?}", out.trim()),
    )
}

/// "The runtime MUST set the network device state to "up" after moving it to the network
/// namespace": IFF_UP among the flags inside.
pub(super) fn up(ctx: &Ctx) -> Outcome {
    let v = Veth::new()?;
    let c = moved_in(ctx, &v)?;
    let out = in_container(&c, &["ip", "-o", "link", "show", "dev", NAME])?;
    let flags = out
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(f, _)| f.to_string())
        .unwrap_or_default();
    ensure(
        flags.split(',').any(|f| f == "UP"),
        format!("{NAME} is not up: {:?}", out.trim()),
    )
}

/// "If a network device with the specified name already exists in the container namespace,
/// the runtime MUST generate an error": every new network namespace has lo.
pub(super) fn name_exists(ctx: &Ctx) -> Outcome {
    let v = Veth::new()?;
    let devices: Value = json!({ v.peer.clone(): {"name": "lo"} });
    ctx.create_fails(|c| c["linux"]["netDevices"] = devices)
}
