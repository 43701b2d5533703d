//! The consumer side of CDI (Container Device Interface): typed spec files, fully qualified
//! device names (`vendor.com/class=name`), a registry of the spec files in the spec
//! directories, and the resolution of requested names to the edits to apply, in CDI's order.
//! Typed serde structs of our own: the CNCF's Rust crate (container-device-interface) pulls
//! jsonschema with reqwest, hyper and rustls, a network stack that has no place in a root
//! runtime (docs/gpu.md).
//!
//! No vendor discovery here: the runtime links this crate to read specs and apply their
//! edits; gantry-gpu links it to write them (docs/architecture.md).
//!
//! Every error names the spec file (or the request) and the device at fault.

mod name;
mod registry;
pub mod request;
mod spec;

pub use name::{valid_device_name, valid_kind, QualifiedName};
pub use registry::{CdiError, Registry, Resolved, Source};
pub use spec::{ContainerEdits, Device, DeviceNode, Hook, Mount, Spec, HOOK_NAMES, VERSIONS};

/// The directories CDI specs are read from when none are given (CDI's defaults; a later one
/// has the higher priority).
pub const DEFAULT_DIRS: [&str; 2] = ["/etc/cdi", "/var/run/cdi"];

/// The annotation prefix of CDI requests (`cdi.k8s.io/<anything>: vendor.com/class=name,...`).
pub const ANNOTATION_PREFIX: &str = "cdi.k8s.io/";

/// The newest cdiVersion whose fields are understood.
pub const MAX_VERSION: (u64, u64, u64) = (0, 8, 0);

#[cfg(test)]
mod tests;
