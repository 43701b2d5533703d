//! Runtime-spec conformance suite: one check per testable requirement of runtime.md,
//! config.md and config-linux.md, run against any runtime binary (see docs/conformance.md).

pub mod cgroupfs;
pub mod check;
pub mod checks;
pub mod gaps;
pub mod harness;
pub mod registry;
pub mod report;
pub mod runner;
pub mod stream;
