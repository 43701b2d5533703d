//! `gantry-gpu`: find GPUs (`info`), show what a selection would inject (`list`), and inject
//! them into a container as an OCI hook (`hook`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use gantry_gpu::cli::{CdiCmd, Cli, Cmd, Format};
use gantry_gpu::inventory::{Inventory, Vendor};
use gantry_gpu::plan::LibTargets;
use gantry_gpu::request::Request;
use gantry_gpu::roots::Roots;

fn cdi_generate(
    kind: &str,
    roots: &Roots,
    output: Option<PathBuf>,
    lib_dir: PathBuf,
    capabilities: String,
    hook_path: Option<PathBuf>,
) -> Result<()> {
    let req = Request::parse(
        &[
            "NVIDIA_VISIBLE_DEVICES=none".to_string(),
            format!("NVIDIA_DRIVER_CAPABILITIES={capabilities}"),
        ],
        [],
    )?;
    let inv = Inventory::discover(roots, &[Vendor::Nvidia]);
    let targets = LibTargets::at(lib_dir);
    let hook = match hook_path {
        Some(p) => p,
        None => std::env::current_exe()?,
    };
    let spec = gantry_gpu::cdi::generate(kind, roots, &inv, &req.capabilities, &targets, &hook)
        .map_err(anyhow::Error::msg)?;
    let text = serde_json::to_string_pretty(&spec)? + "\n";
    match output {
        // Written whole, then renamed: an engine never reads half a spec.
        Some(path) => {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)?;
        }
        None => out(&text)?,
    }
    notes(&inv.notes);
    Ok(())
}

fn cdi_hook(links: Vec<String>, ldconfig_dirs: Vec<PathBuf>, ldconfig: PathBuf) -> Result<()> {
    let mut plan = gantry_gpu::plan::Plan::default();
    for l in &links {
        plan.symlinks
            .push(gantry_gpu::cdi::parse_link(l).map_err(anyhow::Error::msg)?);
    }
    plan.ldconfig_dirs = ldconfig_dirs;
    let state = hooks::author::read_state(std::io::stdin().lock())?;
    let spec = hooks::author::load_config(&state)?;
    let rootfs = hooks::author::rootfs_path(&state, &spec);
    let pid = gantry_gpu::hook::host_pid(hooks::author::init_pid(&state)?);
    gantry_gpu::inject::inject(pid, &rootfs, &plan, std::path::Path::new("/"), &ldconfig)?;
    Ok(())
}

fn info(roots: &Roots, format: Format) -> Result<()> {
    let inv = Inventory::discover(roots, &[Vendor::Nvidia, Vendor::Amd, Vendor::Intel]);
    match format {
        Format::Json => out(&(serde_json::to_string_pretty(&inv)? + "\n")),
        Format::Table => {
            let mut text = String::new();
            if let Some(d) = &inv.nvidia {
                text = format!(
                    "NVIDIA driver {} (CUDA {}, via {})\n",
                    d.version,
                    d.cuda_version.as_deref().unwrap_or("unknown"),
                    d.source
                );
            }
            text += &inv.table();
            out(&text)?;
            notes(&inv.notes);
            Ok(())
        }
    }
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
    let targets = LibTargets::at(lib_dir);
    let (_, plan) = gantry_gpu::hook::plan_for(roots, &req, &targets)?;
    match format {
        Format::Json => out(&(serde_json::to_string_pretty(&plan)? + "\n")),
        Format::Table => out(&plan.to_string()),
    }
}

/// Standard output's reader went away (EPIPE: `gantry-gpu list | head -1`). Rust ignores
/// SIGPIPE, so where coreutils would die of the signal unnoticed, the write fails instead;
/// the reader chose to stop reading, which is no failure of ours: main exits 0, quietly.
/// Only `out` makes this error, so an EPIPE anywhere else (the hook) still fails.
#[derive(Debug, thiserror::Error)]
#[error("standard output closed")]
struct ReaderGone;

/// Standard output, written whole and flushed: a failed write is an error, not println!'s
/// panic.
fn out(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ReaderGone.into()),
        r => Ok(r?),
    }
}

/// Notes on standard error; a closed stderr loses them, which is not worth failing over.
fn notes(notes: &[String]) {
    let mut e = std::io::stderr().lock();
    for n in notes {
        let _ = writeln!(e, "note: {n}");
    }
}

fn main() -> ExitCode {
    // Before anything reads the environment or loads a library (docs/gpu.md, Safety).
    if let Err(e) = gantry_gpu::cleanenv::ensure_clean() {
        let _ = writeln!(std::io::stderr(), "gantry-gpu: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Info { format } => info(&cli.roots, format),
        Cmd::List {
            env,
            devices,
            lib_dir,
            format,
        } => list(&cli.roots, env, devices, lib_dir, format),
        Cmd::Cdi {
            cmd:
                CdiCmd::Generate {
                    output,
                    lib_dir,
                    capabilities,
                    hook_path,
                    kind,
                },
        } => cdi_generate(&kind, &cli.roots, output, lib_dir, capabilities, hook_path),
        Cmd::CdiHook {
            links,
            ldconfig_dirs,
            ldconfig,
        } => cdi_hook(links, ldconfig_dirs, ldconfig),
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
        Err(e) if e.is::<ReaderGone>() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gantry-gpu: {e:#}");
            ExitCode::FAILURE
        }
    }
}
