//! Helpers for the end-to-end tests: the shared harness (a busybox bundle builder and a runtime
//! driver, in gantry-conformance) bound to `$GANTRY` (default: this workspace's
//! target/release/gantry), so the same tests run against runc or crun
//! (`GANTRY=/usr/sbin/runc`) to prove the semantics.

use std::path::{Path, PathBuf};

pub use gantry_conformance::harness::*;

pub mod engines;
pub mod fakegpu;
pub mod skip;

pub use skip::skip;

pub fn runtime_bin() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = match std::env::var_os("GANTRY").map(PathBuf::from) {
        // A relative $GANTRY is taken from the workspace root, where one types the command.
        Some(p) if p.is_relative() && p.components().count() > 1 => workspace.join(p),
        Some(p) => p,
        None => workspace.join("target/release/gantry"),
    };
    assert!(
        p.exists(),
        "no runtime at {} (cargo build --release)",
        p.display()
    );
    p
}

/// Whether the runtime under test is Gantry (some checks are of Gantry's own wording).
pub fn is_gantry() -> bool {
    runtime_bin().file_name().is_some_and(|n| n == "gantry")
}

/// Skip a check of Gantry's own behaviour or wording when `$GANTRY` names another runtime.
pub fn skip_not_gantry(why: &str) {
    skip(format!("runtime under test is not Gantry: {why}"));
}

/// Whether every one of `controllers` has a cgroup v1 hierarchy here; where one has not (a
/// pure v2 host, or a controller moved to the cgroup2 mount), the test records why it skips.
/// For tests that read v1 files (memory.limit_in_bytes, freezer.state, devices.list).
pub fn v1_or_skip(controllers: &[&str]) -> bool {
    use gantry_conformance::cgroupfs::{hierarchy, Version};
    let missing: Vec<&str> = controllers
        .iter()
        .copied()
        .filter(|c| hierarchy(c).is_none_or(|h| h.version != Version::V1))
        .collect();
    if !missing.is_empty() {
        skip(format!(
            "reads cgroup v1 files; this host has no v1 hierarchy for {missing:?}"
        ));
    }
    missing.is_empty()
}

/// `Rt::new()`: a driver for the runtime in `$GANTRY` (the harness itself takes it explicitly).
pub trait RtFromEnv {
    fn new() -> Self;
}

impl RtFromEnv for Rt {
    fn new() -> Rt {
        Rt::with_runtime(runtime_bin())
    }
}

/// `chown -R ID:ID path`: a rootfs or host directory owned by a user namespace's root.
pub fn chown_tree(path: &Path, id: u32) {
    let ok = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{id}:{id}"))
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown -R {id} {}", path.display());
}

/// uid and gid mappings of 65536 ids from container 0 to host `host`.
pub fn map_ids(c: &mut serde_json::Value, host: u32) {
    let m = serde_json::json!([{"containerID": 0, "hostID": host, "size": 65536}]);
    c["linux"]["uidMappings"] = m.clone();
    c["linux"]["gidMappings"] = m;
}

/// `gantry --cgroup-root /sys/fs/cgroup/unified run`: the container on this hybrid host's
/// cgroup2 mount, standing in for a v2 host.
pub fn run_on_unified(rt: &Rt, b: &Bundle, id: &str) -> std::process::Output {
    rt.run(&[
        "--cgroup-root",
        "/sys/fs/cgroup/unified",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        id,
    ])
}

/// Build the CVE-2019-5736 attack program (fixtures/attack.c), static, at `dest`.
pub fn build_attack(dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/attack.c");
    let o = std::process::Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(dest)
        .arg(&src)
        .output()
        .expect("gcc (build-essential) builds the attack program");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
