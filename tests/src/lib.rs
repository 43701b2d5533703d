//! Helpers for the end-to-end tests: the shared harness (a busybox bundle builder and a runtime
//! driver, in gantry-conformance) bound to `$GANTRY` (default: this workspace's
//! target/release/gantry), so the same tests run against runc or crun
//! (`GANTRY=/usr/sbin/runc`) to prove the semantics.

use std::path::{Path, PathBuf};

pub use gantry_conformance::harness::*;

pub mod fakegpu;

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

/// `Rt::new()`: a driver for the runtime in `$GANTRY` (the harness itself takes it explicitly).
pub trait RtFromEnv {
    fn new() -> Self;
}

impl RtFromEnv for Rt {
    fn new() -> Rt {
        Rt::with_runtime(runtime_bin())
    }
}
