//! `gantry device add|remove|list ID`: parse, call hotplug.rs, report.

use anyhow::Result;

use super::Globals;
use crate::cli::DeviceCmd;

pub fn run(g: &Globals, cmd: &DeviceCmd) -> Result<()> {
    match cmd {
        DeviceCmd::Add { id, devices } => crate::hotplug::add(g, id, devices),
        DeviceCmd::Remove { id, devices } => crate::hotplug::remove(g, id, devices),
        DeviceCmd::List { id } => {
            let (_dir, saved, _) = super::open(g, id)?;
            for (path, major, minor) in crate::hotplug::list(&saved) {
                println!("{} {major}:{minor}", path.display());
            }
            Ok(())
        }
    }
}
