//! OCI hooks: running them per the runtime-spec, and helpers for hook authors.
