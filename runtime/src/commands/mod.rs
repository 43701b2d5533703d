//! One file per command: parse what the CLI gave, call the library, report.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod device;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod stats_json;
pub mod update;

use std::path::Path;

use anyhow::Result;

use crate::state::{ContainerDir, Saved, Status};

/// Global options every command sees.
pub struct Globals<'a> {
    pub root: &'a Path,
    pub systemd_cgroup: bool,
    pub cgroup_root: Option<&'a Path>,
    pub gpu: &'a crate::cdi::GpuOpts,
    /// --criu: the CRIU binary for checkpoint and restore.
    pub criu: Option<&'a Path>,
}

/// Open and lock a container, load its state and status.
pub fn open(g: &Globals, id: &str) -> Result<(ContainerDir, Saved, Status)> {
    let dir = ContainerDir::open(g.root, id)?;
    let saved = dir.load()?;
    let status = crate::state::status_of(&dir.path, &saved);
    Ok((dir, saved, status))
}
