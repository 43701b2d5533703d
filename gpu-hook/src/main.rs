//! `gantry-gpu`: find GPUs (`info`), show what a selection would inject (`list`), and inject
//! them into a container as an OCI hook (`hook`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use gantry_gpu::inventory::{Inventory, Vendor};
use gantry_gpu::plan::LibTargets;
use gantry_gpu::request::Request;
use gantry_gpu::roots::Roots;

#[derive(Parser)]
#[command(
    name = "gantry-gpu",
    version,
    about = "GPU discovery and injection for OCI containers"
)]
struct Cli {
    #[command(flatten)]
    roots: Roots,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
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

fn info(roots: &Roots, format: Format) -> Result<()> {
    let inv = Inventory::discover(roots, &[Vendor::Nvidia, Vendor::Amd, Vendor::Intel]);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&inv)?),
        Format::Table => {
            if let Some(d) = &inv.nvidia {
                println!(
                    "NVIDIA driver {} (CUDA {}, via {})",
                    d.version,
                    d.cuda_version.as_deref().unwrap_or("unknown"),
                    d.source
                );
            }
            println!(
                "{:<7} {:<5} {:<14} {:<42} NAME",
                "VENDOR", "INDEX", "PCI", "UUID"
            );
            for g in &inv.gpus {
                println!(
                    "{:<7} {:<5} {:<14} {:<42} {}{}",
                    g.vendor.to_string(),
                    g.index,
                    g.pci_bus_id,
                    g.uuid.as_deref().unwrap_or("-"),
                    g.name,
                    if g.mig_enabled { " [MIG]" } else { "" }
                );
                for m in &g.migs {
                    println!(
                        "{:<7} {:<5} {:<14} {:<42} MIG gi {} ci {}",
                        "",
                        format!("{}:{}", g.index, m.index),
                        "",
                        m.uuid.as_deref().unwrap_or("-"),
                        m.gpu_instance,
                        m.compute_instance
                    );
                }
            }
            for n in &inv.notes {
                eprintln!("note: {n}");
            }
        }
    }
    Ok(())
}

fn list(
    roots: &Roots,
    env: Vec<String>,
    devices: Vec<String>,
    lib_dir: PathBuf,
    format: Format,
) -> Result<()> {
    let ann: Vec<(String, String)> = devices
        .into_iter()
        .map(|d| (gantry_gpu::request::ANNOTATION.to_string(), d))
        .collect();
    let req = Request::parse(&env, ann.iter().map(|(k, v)| (k, v)))?;
    if req.devices.is_empty() {
        anyhow::bail!(
            "no GPU requested: pass --env NVIDIA_VISIBLE_DEVICES=... or --device VENDOR:DEVICES"
        );
    }
    let lib32 = if lib_dir.ends_with("x86_64-linux-gnu") {
        PathBuf::from("/usr/lib/i386-linux-gnu")
    } else {
        PathBuf::from("/usr/lib")
    };
    let targets = LibTargets {
        lib64: lib_dir,
        lib32,
    };
    let (_, plan) = gantry_gpu::hook::plan_for(roots, &req, &targets)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        Format::Table => print!("{plan}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Info { format } => info(&cli.roots, format),
        Cmd::List {
            env,
            devices,
            lib_dir,
            format,
        } => list(&cli.roots, env, devices, lib_dir, format),
        Cmd::Hook {
            no_cgroups,
            ldconfig,
        } => gantry_gpu::hook::run(
            &cli.roots,
            &gantry_gpu::hook::HookOpts {
                no_cgroups,
                ldconfig,
            },
            std::io::stdin().lock(),
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gantry-gpu: {e:#}");
            ExitCode::FAILURE
        }
    }
}
