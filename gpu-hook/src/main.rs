//! `gantry-gpu`: find GPUs (`info`), show what a selection would inject (`list`), and inject
//! them into a container as an OCI hook (`hook`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use gantry_gpu::cli::{CdiCmd, Cli, Cmd, Format, NameStrategy, SpecFormat, VendorArg};
use gantry_gpu::inventory::Vendor;
use gantry_gpu::plan::LibTargets;
use gantry_gpu::request::Request;
use gantry_gpu::roots::Roots;

struct GenerateArgs {
    output: Option<PathBuf>,
    vendor: VendorArg,
    format: Option<SpecFormat>,
    lib_dir: PathBuf,
    capabilities: String,
    hook_path: Option<PathBuf>,
    kind: Option<String>,
    strategies: Vec<NameStrategy>,
    no_all_device: bool,
}

/// The format of a spec file: `--format`, else the extension of `--output`, else JSON.
fn spec_format(format: Option<SpecFormat>, output: Option<&Path>) -> SpecFormat {
    format.unwrap_or(
        match output.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => SpecFormat::Yaml,
            _ => SpecFormat::Json,
        },
    )
}

fn spec_text(spec: &gantry_gpu::cdispec::Spec, format: SpecFormat) -> Result<String> {
    Ok(match format {
        SpecFormat::Json => serde_json::to_string_pretty(spec)? + "\n",
        SpecFormat::Yaml => serde_norway::to_string(spec)?,
    })
}

/// Written whole, then renamed: an engine never reads half a spec.
fn write_spec(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn cdi_generate(roots: &Roots, a: GenerateArgs) -> Result<()> {
    let req = Request::parse(
        &[
            "NVIDIA_VISIBLE_DEVICES=none".to_string(),
            format!("NVIDIA_DRIVER_CAPABILITIES={}", a.capabilities),
        ],
        [],
    )?;
    let vendors = match a.vendor {
        VendorArg::Nvidia => vec![Vendor::Nvidia],
        VendorArg::Amd => vec![Vendor::Amd],
        VendorArg::Intel => vec![Vendor::Intel],
        VendorArg::All => vec![Vendor::Nvidia, Vendor::Amd, Vendor::Intel],
    };
    let several = a.vendor == VendorArg::All;
    if several && a.kind.is_some() {
        anyhow::bail!("--kind names one vendor's kind: not with --vendor all");
    }
    if several && !a.output.as_deref().is_some_and(Path::is_dir) {
        anyhow::bail!(
            "--vendor all writes one spec per vendor: give --output DIR (an existing directory)"
        );
    }
    let inv = gantry_gpu::discover::discover(roots, &vendors);
    let targets = LibTargets::at(a.lib_dir);
    let hook = match a.hook_path {
        Some(p) => p,
        None => std::env::current_exe()?,
    };
    let opts = gantry_gpu::cdi::Options {
        kind: a.kind.as_deref(),
        strategies: &a.strategies,
        all_device: !a.no_all_device,
        caps: &req.capabilities,
        targets: &targets,
        hook: &hook,
    };
    let mut notes_out = inv.notes.clone();
    let mut written = 0;
    for v in vendors {
        let found = match v {
            Vendor::Nvidia => inv.nvidia.is_some(),
            _ => inv.of(v).next().is_some(),
        };
        if several && !found {
            notes_out.push(format!("no {v} GPU: no {v} spec written"));
            continue;
        }
        let spec = gantry_gpu::cdi::generate(v, roots, &inv, &opts).map_err(anyhow::Error::msg)?;
        if several {
            let format = a.format.unwrap_or(SpecFormat::Json);
            let ext = if format == SpecFormat::Yaml {
                "yaml"
            } else {
                "json"
            };
            let dir = a.output.as_deref().unwrap_or(Path::new("."));
            write_spec(
                &dir.join(format!("gantry-gpu-{v}.{ext}")),
                &spec_text(&spec, format)?,
            )?;
        } else {
            let format = spec_format(a.format, a.output.as_deref());
            let text = spec_text(&spec, format)?;
            match &a.output {
                Some(path) => write_spec(path, &text)?,
                None => out(&text)?,
            }
        }
        written += 1;
    }
    notes(&notes_out);
    if written == 0 {
        anyhow::bail!("no GPU of any vendor found: no spec written (see `gantry-gpu info`)");
    }
    Ok(())
}

fn cdi_list(spec_dirs: Vec<PathBuf>) -> Result<()> {
    let dirs: Vec<PathBuf> = if spec_dirs.is_empty() {
        gantry_gpu::cdispec::DEFAULT_DIRS
            .iter()
            .map(PathBuf::from)
            .collect()
    } else {
        spec_dirs
    };
    let reg = gantry_gpu::cdispec::Registry::load(&dirs)?;
    let mut text = String::new();
    for src in &reg.sources {
        for d in &src.spec.devices {
            let q = gantry_gpu::cdispec::QualifiedName {
                kind: src.spec.kind.clone(),
                name: d.name.clone(),
            };
            // A device a later dir overrides is listed once, from where it is taken.
            if reg.find(&q).is_some_and(|(s, _)| s.path == src.path) {
                text += &format!("{q}\t{}\n", src.path.display());
            }
        }
    }
    out(&text)
}

fn cdi_validate(files: Vec<PathBuf>) -> Result<()> {
    let mut bad = 0;
    let mut text = String::new();
    for f in &files {
        let r = std::fs::read(f)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|t| {
                let yaml = gantry_gpu::cdispec::Spec::is_yaml_path(f);
                gantry_gpu::cdispec::Spec::parse_as(&t, yaml)
            })
            .and_then(|s| s.validate_strict().map(|()| s));
        match r {
            Ok(s) => {
                text += &format!(
                    "{}: valid: cdiVersion {} (features need {}), kind {}, {} devices\n",
                    f.display(),
                    s.cdi_version,
                    s.minimum_version(),
                    s.kind,
                    s.devices.len()
                )
            }
            Err(e) => {
                bad += 1;
                let _ = writeln!(std::io::stderr(), "{}: invalid: {e}", f.display());
            }
        }
    }
    out(&text)?;
    if bad > 0 {
        anyhow::bail!("{bad} of {} spec files invalid", files.len());
    }
    Ok(())
}

fn cdi_jit(roots: &Roots, rootfs: &Path, hook_path: Option<PathBuf>) -> Result<()> {
    let input: gantry_gpu::jit::Input =
        serde_json::from_reader(std::io::stdin().lock()).context("the jit request on stdin")?;
    let hook = match hook_path {
        Some(p) => p,
        None => std::env::current_exe()?,
    };
    let jit = gantry_gpu::jit::spec(roots, &input, rootfs, &hook)?;
    notes(&jit.notes);
    out(&(serde_json::to_string(&jit.spec)? + "\n"))
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
    let inv = gantry_gpu::discover::discover(roots, &[Vendor::Nvidia, Vendor::Amd, Vendor::Intel]);
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
            if inv.gpus.is_empty() && inv.nvidia.is_none() && inv.refused.is_empty() {
                // Not an empty table: say that nothing was found, and where it was looked for.
                text += "No GPU found: no NVIDIA driver, and no AMD or Intel GPU. Looked at:\n";
                for place in gantry_gpu::discover::searched::describe(roots) {
                    text += &format!("  {place}\n");
                }
            } else {
                text += &inv.table();
            }
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
                    vendor,
                    format,
                    lib_dir,
                    capabilities,
                    hook_path,
                    kind,
                    device_name_strategy,
                    no_all_device,
                },
        } => cdi_generate(
            &cli.roots,
            GenerateArgs {
                output,
                vendor,
                format,
                lib_dir,
                capabilities,
                hook_path,
                kind,
                strategies: device_name_strategy,
                no_all_device,
            },
        ),
        Cmd::Cdi {
            cmd: CdiCmd::List { spec_dirs },
        } => cdi_list(spec_dirs),
        Cmd::Cdi {
            cmd: CdiCmd::Validate { files },
        } => cdi_validate(files),
        Cmd::Cdi {
            cmd: CdiCmd::Jit { rootfs, hook_path },
        } => cdi_jit(&cli.roots, &rootfs, hook_path),
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
