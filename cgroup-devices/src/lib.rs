//! cgroup device access, shared by the runtime (the program of a container's
//! `linux.resources.devices`, device hotplug) and the GPU hook (extending the program of a
//! container it injects nodes into). Neither a runtime nor a GPU concern: its own small crate,
//! so that the runtime does not link the GPU code for it.
//!
//! - `bpf`: the cgroup v2 BPF_PROG_TYPE_CGROUP_DEVICE program, compiled from rules, loaded,
//!   installed or extended.
//! - `locate`: a process's v1 devices cgroup and cgroup v2 directory.

pub mod bpf;
pub mod locate;

/// A character device's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharDevice {
    pub major: u32,
    pub minor: u32,
}
