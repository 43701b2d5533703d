//! `linux.resources.devices` on cgroup v2: a BPF device program compiled from the rules (the
//! config's, then the defaults every container gets, as on v1) and installed on the
//! container's cgroup.
//!
//! Not libcgroups' `cgroupsv2_devices` feature: it builds the C libbpf (make, libelf, zlib)
//! and raises RLIMIT_MEMLOCK to infinity before loading, which fails on hosts without
//! CAP_SYS_RESOURCE (this one) although kernels since 5.11 charge BPF memory to the memory
//! cgroup and need no memlock. The program is a few instructions per rule
//! (cgroup_devices::bpf, also used by the GPU hook to extend a program).

use std::path::Path;

use cgroup_devices::bpf::{self as devbpf, Rule};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

fn rule(d: &LinuxDeviceCgroup) -> Rule {
    Rule {
        allow: d.allow(),
        typ: match d.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::B) => Some('b'),
            Some(_) => Some('c'),
        },
        major: d.major().filter(|m| *m >= 0),
        minor: d.minor().filter(|m| *m >= 0),
        access: Rule::access_bits(d.access().as_deref().unwrap_or("rwm")),
    }
}

/// The rules every container gets after its own (runc's and libcgroups' list): mknod of any
/// node, the standard character devices, the console, ptys and tun.
pub fn default_rules() -> Vec<Rule> {
    let allow = |typ, major, minor, access: &str| Rule {
        allow: true,
        typ: Some(typ),
        major,
        minor,
        access: Rule::access_bits(access),
    };
    vec![
        allow('c', None, None, "m"),
        allow('b', None, None, "m"),
        allow('c', Some(1), Some(3), "rwm"),    // null
        allow('c', Some(1), Some(5), "rwm"),    // zero
        allow('c', Some(1), Some(7), "rwm"),    // full
        allow('c', Some(5), Some(0), "rwm"),    // tty
        allow('c', Some(1), Some(9), "rwm"),    // urandom
        allow('c', Some(1), Some(8), "rwm"),    // random
        allow('c', Some(5), Some(1), "rwm"),    // console
        allow('c', Some(136), None, "rwm"),     // pts
        allow('c', Some(5), Some(2), "rwm"),    // ptmx
        allow('c', Some(10), Some(200), "rwm"), // tun
    ]
}

/// Compiles and installs the device program of `devices` on the cgroup v2 directory `dir`.
pub fn apply(dir: &Path, devices: &[LinuxDeviceCgroup]) -> Result<(), String> {
    let mut rules: Vec<Rule> = devices.iter().map(rule).collect();
    rules.extend(default_rules());
    devbpf::install(dir, &devbpf::program(&rules))
        .map_err(|e| format!("device program on {}: {e}", dir.display()))
}
