//! The cgroup v2 device program rewrite on a real cgroup: a deny-all program is attached, then
//! `devbpf::allow` lets one node through, and a process in the cgroup can open exactly that
//! node. Needs root and a cgroup2 mount (the unified hierarchy on a hybrid host); skipped
//! without one.

use std::path::PathBuf;
use std::process::Command;

use cgroup_devices::bpf as devbpf;
use cgroup_devices::CharDevice;

mod common;

struct Cgroup(PathBuf);
impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Whether a shell moved into the cgroup can open `dev` for reading.
fn opens(cg: &Cgroup, dev: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec head -c0 {dev}",
            cg.0.display()
        ))
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_rewritten_device_program_allows_exactly_the_injected_node() {
    let Some(mnt) = common::device_program_mount() else {
        return;
    };
    let cg = Cgroup(mnt.join(format!("gantry-devbpf-{}", std::process::id())));
    std::fs::create_dir(&cg.0).unwrap();
    let dir = std::fs::File::open(&cg.0).unwrap();

    // Deny everything: r0 = 0; exit.
    let deny: Vec<devbpf::Insn> = devbpf::deny_all();
    let prog = devbpf::load(&deny).unwrap();
    devbpf::attach(&dir, &prog, devbpf::BPF_F_ALLOW_MULTI, None).unwrap();
    assert!(
        !opens(&cg, "/dev/null"),
        "the deny-all program is not in effect"
    );

    let null = CharDevice { major: 1, minor: 3 };
    assert_eq!(devbpf::allow(&cg.0, &[null]).unwrap(), 1);
    assert!(opens(&cg, "/dev/null"), "the injected node is still denied");
    assert!(!opens(&cg, "/dev/zero"), "another node became allowed");
    let (ids, _) = devbpf::query(&dir).unwrap();
    assert_eq!(ids.len(), 1, "the old program was not replaced");
}
