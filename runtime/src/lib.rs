//! Gantry: an OCI runtime. The library behind the `gantry` binary; see docs/architecture.md.

pub mod bundle;
pub mod cdi;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod confine;
pub mod exeseal;
pub mod hotplug;
pub mod idmap;
pub mod logger;
pub mod mountinfo;
pub mod namespaces;
pub mod netdev;
pub mod oom;
pub mod passfds;
pub mod process;
pub mod recovery;
pub mod resctrl;
pub mod rootfs;
pub mod seccomp;
pub mod setup_oom;
pub mod signal;
pub mod state;
pub mod sys;
pub mod sysctl;
