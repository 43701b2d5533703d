//! The checks, one module per spec area.

pub mod capabilities;
pub mod cgroups;
pub mod devices;
pub mod hooks;
pub mod lifecycle;
pub mod linux_paths;
pub mod misc;
pub mod mount_attrs;
pub mod namespaces;
pub mod process;
pub mod resources;
pub mod root_mounts;
pub mod seccomp;
pub mod spec13;
pub mod state;
pub mod validity;
