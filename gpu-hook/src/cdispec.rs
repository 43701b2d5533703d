//! CDI specs: the types, checks and registry of the gantry-cdi crate (shared with the
//! runtime, which applies specs), and the environment of the hooks the specs Gantry writes run.

pub use gantry_cdi::*;

/// The environment every hook entry Gantry writes runs with: set explicitly, so that no
/// runtime hands it the image's (LD_PRELOAD and friends).
pub const HOOK_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
