//! `linux.netDevices` (runtime-spec 1.3): move host network interfaces into the container's
//! network namespace, renamed as asked, with their permanent global addresses, and up.
//!
//! config-linux.md: the runtime MUST check that the move is possible, MUST refuse a name that
//! exists in the container's namespace unless it is a `%d` template, MUST keep the interface's
//! permanent (IFA_F_PERMANENT) addresses of global scope, MUST set it up, and MUST NOT move it
//! back before deletion (the kernel returns physical devices to the initial namespace when the
//! container's namespace goes; virtual ones go with it).
//!
//! rtnetlink by hand: four small messages (a link and an address dump, RTM_NEWLINK, and
//! RTM_NEWADDR). The netlink crates are async (rtnetlink runs on tokio) or a whole framework
//! (neli); a create must not start a reactor for four round trips.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use oci_spec::runtime::LinuxNetDevice;

// linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;
/// IFNAMSIZ less the NUL.
const NAME_MAX: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    #[error("linux.netDevices: {0:?}: {1}")]
    Device(String, String),
    #[error("linux.netDevices: netlink: {0}")]
    Netlink(io::Error),
}

fn dev_err(name: &str, msg: impl Into<String>) -> NetDevError {
    NetDevError::Device(name.to_string(), msg.into())
}

/// A name the kernel takes for an interface: 1-15 bytes, no '/', ':' or whitespace, not "."
/// or ".." (dev_valid_name), and at most one `%d` where a template is allowed.
pub fn check_name(name: &str, template_ok: bool) -> Result<(), String> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(format!(
            "{name:?} is not an interface name (1-{NAME_MAX} bytes)"
        ));
    }
    if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        return Err(format!("{name:?} is not an interface name"));
    }
    if name.contains('%')
        && !(template_ok && name.matches("%d").count() == 1 && name.matches('%').count() == 1)
    {
        return Err(format!(
            "{name:?}: '%' is allowed only as one %d template in the name inside the container"
        ));
    }
    Ok(())
}

/// Check `linux.netDevices` before anything is created.
pub fn check(devices: &HashMap<String, LinuxNetDevice>, has_netns: bool) -> Result<(), String> {
    if devices.is_empty() {
        return Ok(());
    }
    if !has_netns {
        return Err(
            "linux.netDevices: needs a network namespace of the container's own (linux.namespaces has no network entry): the host's interfaces would stay the host's"
                .into(),
        );
    }
    let mut inside: BTreeMap<&str, &str> = BTreeMap::new();
    for (host, d) in devices {
        check_name(host, false).map_err(|e| format!("linux.netDevices: {e}"))?;
        let name = d.name().as_deref().unwrap_or(host);
        check_name(name, true).map_err(|e| format!("linux.netDevices.{host}.name: {e}"))?;
        if !name.contains("%d") {
            if let Some(other) = inside.insert(name, host) {
                return Err(format!(
                    "linux.netDevices: {other:?} and {host:?} would both be {name:?} in the container"
                ));
            }
        }
    }
    Ok(())
}

/// One address to carry over: its family, prefix, scope and raw attributes.
struct Address {
    family: u8,
    prefix: u8,
    attrs: Vec<(u16, Vec<u8>)>,
    shown: String,
}

/// A NETLINK_ROUTE socket, bound to the network namespace it was made in.
struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    fn new() -> io::Result<Netlink> {
        // SAFETY: socket takes no pointers; a negative return is an error, checked below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 0 })
    }

    /// A socket in the network namespace `ns`: made by a thread that joined it (the network
    /// namespace is per thread, and a socket keeps the one it was made in), so the runtime
    /// itself never leaves its own.
    fn in_netns(ns: &File) -> io::Result<Netlink> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                Netlink::new()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
        })
    }

    /// Send one request; return the payloads of the replies (after their netlink header),
    /// until the dump ends or the kernel acknowledges. A negative ack is the request's errno.
    fn request(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.seq += 1;
        let len = 16 + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: msg is a live buffer of msg.len() bytes; send reads only those.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // SAFETY: buf is a live buffer of buf.len() bytes; recv writes at most that many.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let mlen = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
                let mty = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
                if mlen < 16 || mlen > rest.len() {
                    return Err(io::Error::other("truncated netlink message"));
                }
                let payload = &rest[16..mlen];
                rest = &rest[align(mlen).min(rest.len())..];
                if mseq != self.seq {
                    continue;
                }
                match mty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = i32::from_ne_bytes(
                            payload
                                .get(0..4)
                                .ok_or_else(|| io::Error::other("short netlink error"))?
                                .try_into()
                                .unwrap(),
                        );
                        return if errno == 0 {
                            Ok(out)
                        } else {
                            Err(io::Error::from_raw_os_error(-errno))
                        };
                    }
                    _ => out.push(payload.to_vec()),
                }
            }
        }
    }

    /// Every interface of the socket's namespace: index and name.
    fn links(&mut self) -> io::Result<Vec<(i32, String)>> {
        let replies = self.request(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0))?;
        Ok(replies
            .iter()
            .filter(|p| p.len() >= 16)
            .map(|p| {
                let index = i32::from_ne_bytes(p[4..8].try_into().unwrap());
                let name = attrs(&p[16..])
                    .find(|(t, _)| *t == IFLA_IFNAME)
                    .map(|(_, v)| cstr(v))
                    .unwrap_or_default();
                (index, name)
            })
            .collect())
    }

    /// The permanent addresses of global scope of interface `index`.
    fn addresses(&mut self, index: i32) -> io::Result<Vec<Address>> {
        let replies = self.request(RTM_GETADDR, NLM_F_DUMP, &[0u8; 8])?;
        let mut out = Vec::new();
        for p in replies.iter().filter(|p| p.len() >= 8) {
            let (family, prefix, flags8, scope) = (p[0], p[1], p[2], p[3]);
            let ifindex = i32::from_ne_bytes(p[4..8].try_into().unwrap());
            if ifindex != index || scope != RT_SCOPE_UNIVERSE {
                continue;
            }
            let all: Vec<(u16, Vec<u8>)> = attrs(&p[8..]).map(|(t, v)| (t, v.to_vec())).collect();
            // IFA_FLAGS, when present, holds all 32 flag bits; ifa_flags only the low 8.
            let flags = all
                .iter()
                .find(|(t, v)| *t == IFA_FLAGS && v.len() == 4)
                .map(|(_, v)| u32::from_ne_bytes(v[..4].try_into().unwrap()))
                .unwrap_or(flags8 as u32);
            if flags & IFA_F_PERMANENT == 0 {
                continue;
            }
            let keep: Vec<(u16, Vec<u8>)> = all
                .into_iter()
                .filter(|(t, _)| matches!(*t, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST))
                .collect();
            let shown = keep
                .iter()
                .find(|(t, _)| *t == IFA_LOCAL)
                .or_else(|| keep.iter().find(|(t, _)| *t == IFA_ADDRESS))
                .map(|(_, v)| show_ip(v))
                .unwrap_or_default();
            out.push(Address {
                family,
                prefix,
                attrs: keep,
                shown: format!("{shown}/{prefix}"),
            });
        }
        Ok(out)
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn push_attr(b: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = 4 + value.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(align(b.len()), 0);
}

/// The (type, value) attributes of a netlink payload tail.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff; // without NLA_F_NESTED etc.
        if len < 4 || len > b.len() {
            return None;
        }
        let v = &b[4..len];
        b = &b[align(len).min(b.len())..];
        Some((ty, v))
    })
}

fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

fn show_ip(v: &[u8]) -> String {
    match v.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(v).unwrap()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(v).unwrap()).to_string(),
        _ => format!("{v:?}"),
    }
}

/// Move every device into the network namespace `netns`, in name order (reproducible errors).
/// Returns the names they got in the container.
pub fn move_all(
    devices: &HashMap<String, LinuxNetDevice>,
    netns: &File,
) -> Result<Vec<String>, NetDevError> {
    if devices.is_empty() {
        return Ok(Vec::new());
    }
    let mut host = Netlink::new().map_err(NetDevError::Netlink)?;
    let mut inside = Netlink::in_netns(netns).map_err(NetDevError::Netlink)?;
    let host_links = host.links().map_err(NetDevError::Netlink)?;
    let sorted: BTreeMap<&String, &LinuxNetDevice> = devices.iter().collect();
    let mut moved = Vec::new();
    for (host_name, d) in sorted {
        let name = d.name().as_deref().unwrap_or(host_name);
        let index = host_links
            .iter()
            .find(|(_, n)| n == host_name)
            .map(|(i, _)| *i)
            .ok_or_else(|| {
                dev_err(
                    host_name,
                    "no such interface in the runtime's network namespace",
                )
            })?;
        let before = inside.links().map_err(NetDevError::Netlink)?;
        if !name.contains("%d") && before.iter().any(|(_, n)| n == name) {
            return Err(dev_err(
                host_name,
                format!("the container's network namespace already has an interface {name:?} (use a %d template for a name the kernel picks)"),
            ));
        }
        let addrs = host.addresses(index).map_err(NetDevError::Netlink)?;
        // One RTM_NEWLINK moves and renames (dev_change_net_namespace takes the new name).
        let mut body = ifinfomsg(index, 0, 0);
        push_attr(&mut body, IFLA_NET_NS_FD, &netns.as_raw_fd().to_ne_bytes());
        let mut cname = name.as_bytes().to_vec();
        cname.push(0);
        push_attr(&mut body, IFLA_IFNAME, &cname);
        host.request(RTM_NEWLINK, NLM_F_ACK, &body).map_err(|e| {
            dev_err(
                host_name,
                format!("move into the container's network namespace as {name:?}: {e}"),
            )
        })?;
        let after = inside.links().map_err(NetDevError::Netlink)?;
        let (new_index, new_name) =
            after
                .into_iter()
                .find(|l| !before.contains(l))
                .ok_or_else(|| {
                    dev_err(
                        host_name,
                        "moved, but not found in the container's network namespace",
                    )
                })?;
        for a in &addrs {
            let mut body = vec![a.family, a.prefix, 0, RT_SCOPE_UNIVERSE];
            body.extend_from_slice(&(new_index as u32).to_ne_bytes());
            for (t, v) in &a.attrs {
                push_attr(&mut body, *t, v);
            }
            inside
                .request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body)
                .map_err(|e| {
                    dev_err(
                        host_name,
                        format!("address {} in the container: {e}", a.shown),
                    )
                })?;
        }
        inside
            .request(
                RTM_NEWLINK,
                NLM_F_ACK,
                &ifinfomsg(new_index, IFF_UP, IFF_UP),
            )
            .map_err(|e| {
                dev_err(
                    host_name,
                    format!("set {new_name:?} up in the container: {e}"),
                )
            })?;
        crate::logger::debug(&format!(
            "netDevices: {host_name} is {new_name} in the container, addresses [{}]",
            addrs
                .iter()
                .map(|a| a.shown.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        moved.push(new_name);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_kernel() {
        assert!(check_name("eth0", false).is_ok());
        assert!(check_name("ctr%d", true).is_ok());
        assert!(check_name("ctr%d", false).is_err());
        assert!(check_name("a%d%d", true).is_err());
        assert!(check_name("a%s", true).is_err());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen-chars-xx"] {
            assert!(check_name(bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn attributes_round_trip() {
        let mut b = Vec::new();
        push_attr(&mut b, IFLA_IFNAME, b"eth0\0");
        push_attr(&mut b, IFLA_NET_NS_FD, &7i32.to_ne_bytes());
        assert_eq!(b.len() % 4, 0);
        let got: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, v)| (t, v.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (IFLA_IFNAME, b"eth0\0".to_vec()),
                (IFLA_NET_NS_FD, 7i32.to_ne_bytes().to_vec())
            ]
        );
        assert_eq!(cstr(&got[0].1), "eth0");
    }

    #[test]
    fn duplicates_and_missing_namespace_are_refused() {
        let dev = |n: Option<&str>| {
            let mut d = LinuxNetDevice::default();
            d.set_name(n.map(String::from));
            d
        };
        let mut m = HashMap::new();
        m.insert("a0".to_string(), dev(Some("c0")));
        assert!(check(&m, false).unwrap_err().contains("network namespace"));
        assert!(check(&m, true).is_ok());
        m.insert("b0".to_string(), dev(Some("c0")));
        assert!(check(&m, true).unwrap_err().contains("both"));
        m.insert("b0".to_string(), dev(Some("c%d")));
        assert!(check(&m, true).is_ok());
    }
}
