//! Shared by the integration tests that need a cgroup2 mount.

use std::path::PathBuf;

// The workspace's one skip recorder (tests/src/skip.rs), shared without a dependency cycle.
#[path = "../../../tests/src/skip.rs"]
mod skip;
pub use skip::skip;

/// The first cgroup2 mount of this process's mount namespace (a pure v2 host's
/// /sys/fs/cgroup, or a hybrid host's /sys/fs/cgroup/unified).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Where a cgroup v2 device program can be tested: a cgroup2 mount, and a kernel that loads a
/// BPF_PROG_TYPE_CGROUP_DEVICE program (CONFIG_CGROUP_BPF; a locked-down or old kernel
/// refuses it). None after recording why the test skips.
pub fn device_program_mount() -> Option<PathBuf> {
    let Some(mnt) = cgroup2_mount() else {
        skip("no cgroup2 mount in /proc/self/mountinfo");
        return None;
    };
    if let Err(e) = cgroup_devices::bpf::load(&cgroup_devices::bpf::deny_all()) {
        skip(format!(
            "this kernel does not load a cgroup device BPF program: {e}"
        ));
        return None;
    }
    Some(mnt)
}
