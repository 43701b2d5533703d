//! `features`: what this Gantry build supports, as runtime-spec features.md describes it
//! (containerd and NVIDIA's toolkit ask for it before anything else). Only what really works.

use anyhow::Result;
use serde_json::json;

use crate::rootfs::mount_opts;

pub fn document() -> serde_json::Value {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_opts::known_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                // Filtered with their own numbers; other architectures are accepted but never
                // run on this kernel (see seccomp/mod.rs).
                "archs": ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": crate::seccomp::KNOWN_FLAGS,
                // What is applied here: the kernel must know the flag, and
                // WAIT_KILLABLE_RECV needs a notify listener Gantry does not make.
                "supportedFlags": crate::seccomp::supported_flags()
            },
            "apparmor": {"enabled": crate::confine::lsm::apparmor_enabled()},
            "selinux": {"enabled": crate::confine::lsm::selinux_enabled()},
            // set_mempolicy in the init and in exec'd processes; nodes checked at create.
            "memoryPolicy": {
                "modes": ["MPOL_BIND", "MPOL_DEFAULT", "MPOL_INTERLEAVE", "MPOL_LOCAL",
                    "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
            "mountExtensions": {"idmap": {"enabled": false}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features": crate::state::OCI_VERSION,
            "io.gantry.version": env!("CARGO_PKG_VERSION")
        }
    })
}

pub fn run() -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&document())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_as_oci_features() {
        let f: oci_spec::runtime::Features = serde_json::from_value(super::document()).unwrap();
        assert_eq!(f.oci_version_min(), "1.0.0");
        assert!(f
            .mount_options()
            .as_ref()
            .unwrap()
            .iter()
            .any(|o| o == "rbind"));
    }
}
