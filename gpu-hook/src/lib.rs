//! GPU discovery, selection and injection for OCI containers: what NVIDIA's
//! libnvidia-container does, for NVIDIA, AMD and Intel GPUs, as a hook for any runtime.
//!
//! The flow is request (config.json) -> inventory (discover) -> selection -> plan -> inject,
//! and the plan is complete before anything in the container is touched.

pub mod cdi;
pub mod cdispec;
pub mod cgroup;
pub mod cleanenv;
pub mod cli;
pub mod discover;
pub mod hook;
pub mod inject;
pub mod inventory;
pub mod jit;
pub mod ldcache;
pub mod libs;
pub mod majors;
pub mod node;
pub mod plan;
pub mod request;
pub mod require;
pub mod roots;
pub mod select;
