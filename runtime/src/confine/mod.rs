//! Confining the container's process before exec: rlimits, user and groups, capabilities,
//! no_new_privs, LSM labels. (Seccomp, applied last, comes with the confinement issue.)

pub mod caps;
pub mod keyring;
pub mod lsm;
pub mod personality;
pub mod rlimits;
pub mod sched;
pub mod user;

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("{0}")]
    Msg(String),
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
}

pub type Result<T> = std::result::Result<T, ConfineError>;

pub(crate) fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ConfineError {
    let what = what.into();
    move |source| ConfineError::Sys { what, source }
}
