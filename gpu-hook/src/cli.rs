//! The `gantry-gpu` command line (clap), in the library so that the man pages and shell
//! completions can be generated from it (docgen/src/main.rs).

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

/// `cdi generate --vendor`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VendorArg {
    Nvidia,
    Amd,
    Intel,
    /// One spec per vendor found (needs `--output DIR`).
    All,
}

/// A CDI spec's file format.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum SpecFormat {
    Json,
    Yaml,
}

/// How devices are named in a generated spec (several may be given).
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum NameStrategy {
    /// `0`, `1`, MIG `1:0`.
    Index,
    /// `GPU-<uuid>`, `MIG-<uuid>` (AMD: `GPU-<unique_id>`; Intel GPUs have none).
    Uuid,
    /// `gpu0`, MIG `mig1:0`.
    TypeIndex,
}

#[derive(Subcommand)]
pub enum CdiCmd {
    /// Write a CDI spec for this host's GPUs (kind nvidia.com/gpu, amd.com/gpu, intel.com/gpu).
    Generate {
        /// Where to write it (default: standard output), e.g. /etc/cdi/gantry-gpu.json; a
        /// directory with `--vendor all` (one gantry-gpu-VENDOR file each).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Whose GPUs.
        #[arg(long, value_enum, default_value = "nvidia")]
        vendor: VendorArg,
        /// The file format (default: from --output's extension, .yaml/.yml or .json; else json).
        #[arg(long, value_enum)]
        format: Option<SpecFormat>,
        /// Where libraries go in containers.
        #[arg(long, default_value = "/usr/lib/x86_64-linux-gnu")]
        lib_dir: PathBuf,
        /// The driver capabilities whose files the spec mounts (as NVIDIA_DRIVER_CAPABILITIES).
        #[arg(long, default_value = "all")]
        capabilities: String,
        /// The gantry-gpu the engines run as the spec's hook (default: this binary).
        #[arg(long)]
        hook_path: Option<PathBuf>,
        /// The device kind (VENDOR/CLASS) requests name: `--device nvidia.com/gpu=0`
        /// (default: the vendor's).
        #[arg(long)]
        kind: Option<String>,
        /// How devices are named; repeat for several (default: index and uuid).
        #[arg(long, value_enum, value_delimiter = ',')]
        device_name_strategy: Vec<NameStrategy>,
        /// No `all` device.
        #[arg(long)]
        no_all_device: bool,
    },
    /// The devices of the CDI specs in the spec dirs, as fully qualified names.
    List {
        /// A spec dir (repeat; default /etc/cdi and /var/run/cdi, the later the higher priority).
        #[arg(long = "spec-dir", value_name = "DIR")]
        spec_dirs: Vec<PathBuf>,
    },
    /// Check CDI spec files (JSON or YAML): structure, names, and a cdiVersion at least the
    /// one the features used require.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The runtime's jit request (`{"env": [...], "annotations": {...}}` on stdin) as a CDI
    /// spec on stdout (gantry's native injection; see jit.rs).
    #[command(hide = true)]
    Jit {
        /// The container's rootfs (where its libraries go depends on the image).
        #[arg(long)]
        rootfs: PathBuf,
        /// The gantry-gpu the spec's createRuntime hook runs (default: this binary).
        #[arg(long)]
        hook_path: Option<PathBuf>,
    },
}
