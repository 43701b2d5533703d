//! Runtime-spec conformance suite (see the conformance issue).

pub mod harness;
