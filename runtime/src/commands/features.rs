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
                // Every architecture linux.seccomp.architectures accepts (features.md: the
                // recognized ones); see seccomp_archs.
                "archs": seccomp_archs(),
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

/// The architectures a profile may name, as runc lists libseccomp's: x86_64, x86 and x32 are
/// filtered with their own syscall numbers; the others are accepted and never run on an
/// x86_64 kernel, so no rules are compiled for them (seccomp/mod.rs). SCMP_ARCH_NATIVE is
/// accepted too, as the machine's own, but is not an architecture of its own.
fn seccomp_archs() -> Vec<String> {
    use oci_spec::runtime::Arch::{self, *};
    // Exhaustive: a new variant in oci-spec must be placed here.
    let listed = |a: Arch| match a {
        ScmpArchNative => false,
        ScmpArchX86 | ScmpArchX86_64 | ScmpArchX32 | ScmpArchArm | ScmpArchAarch64
        | ScmpArchMips | ScmpArchMips64 | ScmpArchMips64n32 | ScmpArchMipsel | ScmpArchMipsel64
        | ScmpArchMipsel64n32 | ScmpArchPpc | ScmpArchPpc64 | ScmpArchPpc64le | ScmpArchS390
        | ScmpArchS390x | ScmpArchParisc | ScmpArchParisc64 | ScmpArchRiscv64
        | ScmpArchLoongarch64 | ScmpArchM68k | ScmpArchSh | ScmpArchSheb => true,
    };
    let all = [
        ScmpArchNative,
        ScmpArchX86,
        ScmpArchX86_64,
        ScmpArchX32,
        ScmpArchArm,
        ScmpArchAarch64,
        ScmpArchMips,
        ScmpArchMips64,
        ScmpArchMips64n32,
        ScmpArchMipsel,
        ScmpArchMipsel64,
        ScmpArchMipsel64n32,
        ScmpArchPpc,
        ScmpArchPpc64,
        ScmpArchPpc64le,
        ScmpArchS390,
        ScmpArchS390x,
        ScmpArchParisc,
        ScmpArchParisc64,
        ScmpArchRiscv64,
        ScmpArchLoongarch64,
        ScmpArchM68k,
        ScmpArchSh,
        ScmpArchSheb,
    ];
    let mut names: Vec<String> = all
        .into_iter()
        .filter(|a| listed(*a))
        .filter_map(|a| serde_json::to_value(a).ok()?.as_str().map(str::to_string))
        .collect();
    names.sort();
    names
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

    /// Each architecture features lists is one a profile may name (beside x86_64).
    #[test]
    fn every_listed_seccomp_arch_is_accepted() {
        for a in super::seccomp_archs() {
            let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", a],
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
            }))
            .unwrap();
            if let Err(e) = crate::seccomp::build(&s) {
                panic!("{a}: {e}");
            }
        }
    }

    /// features says idmapped mounts are disabled, and a config asking for one is refused.
    #[test]
    fn idmap_disabled_as_create_refuses_it() {
        let doc = super::document();
        assert_eq!(doc["linux"]["mountExtensions"]["idmap"]["enabled"], false);
        let dir = std::env::temp_dir().join(format!("gantry-features-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        let mut c = crate::commands::spec::template(false);
        c["mounts"][0]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 1}]);
        let e = crate::bundle::check_config(&dir, c.to_string().as_bytes()).err();
        std::fs::remove_dir_all(&dir).unwrap();
        let e = e.expect("an idmapped mount was accepted").to_string();
        assert!(e.contains("idmapped mounts are not supported"), "{e}");
    }
}
