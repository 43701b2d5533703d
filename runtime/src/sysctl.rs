//! Which `linux.sysctl` keys a container may set: only those its own namespaces isolate, as
//! runc's config validation decides. Anything else (fs.lease-break-time, kernel.core_pattern,
//! vm.*) would be written to the host's kernel through the container's /proc/sys.

use std::os::unix::fs::MetadataExt;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

/// The IPC namespace's sysctls besides fs.mqueue.*.
const IPC: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Whether the config gives the container its own namespace of type `t`: a new one, or one
/// joined by path that is not the runtime's own (the host's).
fn own_ns(nss: &[LinuxNamespace], t: LinuxNamespaceType) -> Result<bool, String> {
    let Some(ns) = nss.iter().find(|n| n.typ() == t) else {
        return Ok(false);
    };
    let Some(path) = ns.path() else {
        return Ok(true);
    };
    let name = crate::namespaces::proc_name(t);
    let id = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let theirs = id(path).map_err(|e| format!("{name} namespace {}: {e}", path.display()))?;
    let ours = id(format!("/proc/self/ns/{name}").as_ref()).map_err(|e| e.to_string())?;
    Ok(theirs != ours)
}

/// Ok if `key` (dotted or slashed) is isolated by the config's namespaces, else why not.
pub fn check(key: &str, nss: &[LinuxNamespace]) -> Result<(), String> {
    let k = key.replace('/', ".");
    let need = |t: LinuxNamespaceType, what: &str| {
        match own_ns(nss, t)? {
        true => Ok(()),
        false => Err(format!(
            "{key}: needs the container's own {what} namespace in linux.namespaces (else it would change the host's)"
        )),
    }
    };
    if IPC.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        need(LinuxNamespaceType::Ipc, "ipc")
    } else if k.starts_with("net.") {
        need(LinuxNamespaceType::Network, "network")
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        need(LinuxNamespaceType::Uts, "uts")
    } else {
        Err(format!(
            "{key}: not namespaced, so setting it would change the host's value"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn ns(t: LinuxNamespaceType) -> LinuxNamespace {
        LinuxNamespaceBuilder::default().typ(t).build().unwrap()
    }

    #[test]
    fn classes() {
        let all = [
            ns(LinuxNamespaceType::Ipc),
            ns(LinuxNamespaceType::Network),
            ns(LinuxNamespaceType::Uts),
        ];
        for ok in [
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
            "kernel.domainname",
        ] {
            assert_eq!(check(ok, &all), Ok(()), "{ok}");
            assert!(check(ok, &[]).unwrap_err().contains("namespace"), "{ok}");
        }
        for bad in [
            "fs.lease-break-time",
            "kernel.core_pattern",
            "vm.swappiness",
        ] {
            assert!(check(bad, &all).unwrap_err().contains("not namespaced"));
        }
    }

    #[test]
    fn joined_host_namespace_is_the_host() {
        let host = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Network)
            .path("/proc/self/ns/net")
            .build()
            .unwrap();
        assert!(check("net.ipv4.ip_forward", &[host]).is_err());
    }
}
