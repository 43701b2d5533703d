//! The `gantry-gpu` command line (clap), in the library so that the man pages and shell
//! completions can be generated from it (runtime/src/bin/gantry-docgen.rs).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::roots::Roots;

#[derive(Parser)]
#[command(
    name = "gantry-gpu",
    version,
    about = "GPU discovery and injection for OCI containers"
)]
pub struct Cli {
    #[command(flatten)]
    pub roots: Roots,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// The GPUs of this host and their driver.
    Info {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// What a selection would inject, without a container (like `nvidia-container-cli list`).
    List {
        /// Container environment, as in config.json (NVIDIA_VISIBLE_DEVICES=0, ...).
        #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Devices, as the gantry.gpu/devices annotation takes them (nvidia:0,1 amd:all).
        #[arg(long = "device", short = 'd', value_name = "VENDOR:DEVICES")]
        devices: Vec<String>,
        /// Where libraries go in the container (default: Debian's multiarch directory).
        #[arg(long, default_value = "/usr/lib/x86_64-linux-gnu")]
        lib_dir: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Container Device Interface specs for engines that inject devices themselves.
    Cdi {
        #[command(subcommand)]
        cmd: CdiCmd,
    },
    /// The createContainer hook of a generated CDI spec: the driver's symlinks and the
    /// ld.so.cache refresh (state on stdin).
    CdiHook {
        /// TARGET::LINK, a symlink to create in the container.
        #[arg(long = "link", value_name = "TARGET::LINK")]
        links: Vec<String>,
        /// A container library directory to add to the ld.so.cache.
        #[arg(long = "ldconfig-dir", value_name = "DIR")]
        ldconfig_dirs: Vec<PathBuf>,
        #[arg(long, default_value = "/sbin/ldconfig")]
        ldconfig: PathBuf,
    },
    /// Run as an OCI prestart, createRuntime or createContainer hook (state on stdin).
    Hook {
        /// Leave the device cgroup alone (rootless containers).
        #[arg(long)]
        no_cgroups: bool,
        /// The host's ldconfig, run with -r on the container's rootfs.
        #[arg(long, default_value = "/sbin/ldconfig")]
        ldconfig: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum CdiCmd {
    /// Write a CDI spec (kind nvidia.com/gpu) for this host's NVIDIA GPUs.
    Generate {
        /// Where to write it (default: standard output), e.g. /etc/cdi/gantry-gpu.json.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Where libraries go in containers.
        #[arg(long, default_value = "/usr/lib/x86_64-linux-gnu")]
        lib_dir: PathBuf,
        /// The driver capabilities whose files the spec mounts (as NVIDIA_DRIVER_CAPABILITIES).
        #[arg(long, default_value = "all")]
        capabilities: String,
        /// The gantry-gpu the engines run as the spec's hook (default: this binary).
        #[arg(long)]
        hook_path: Option<PathBuf>,
        /// The device kind (VENDOR/CLASS) requests name: `--device nvidia.com/gpu=0`.
        #[arg(long, default_value = crate::cdi::KIND)]
        kind: String,
    },
}
