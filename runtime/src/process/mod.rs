//! The process model: the runtime (parent) clones the container's init once, with the new
//! namespaces as clone flags, and the two walk through the setup over a sync channel.

pub mod console;
pub mod exec;
pub mod finalize;
pub mod init;
pub mod parent;
pub mod sync;
pub mod tty_proxy;
pub mod via_userns;
