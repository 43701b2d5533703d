use anyhow::Result;

use super::Globals;
use crate::cli::CreateArgs;
use crate::process::parent::{self, CreateOpts};

pub fn opts<'a>(g: &'a Globals, a: &'a CreateArgs) -> CreateOpts<'a> {
    CreateOpts {
        root: g.root,
        id: &a.id,
        bundle: &a.bundle,
        console_socket: a.console_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: g.systemd_cgroup,
        console_fd: None,
    }
}

pub fn run(g: &Globals, a: &CreateArgs) -> Result<()> {
    parent::create(opts(g, a))?;
    Ok(())
}
