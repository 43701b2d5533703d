//! jit: plain requests (`NVIDIA_VISIBLE_DEVICES=0`, `amd:all`, hotplug's `nvidia:1`) as CDI
//! edits made by gantry-gpu from its discovery. The runtime runs `gantry-gpu cdi jit` (as
//! nvidia-container-runtime runs nvidia-ctk): the request as JSON on its stdin, a CDI spec on
//! its stdout, notes on its stderr. So the runtime links no GPU code (NVML, the driver's
//! files), and a GPU that is not there is gantry-gpu's error, passed on word for word.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use gantry_cdi::{Resolved, Spec};

use super::{GpuOpts, Plain};
use crate::bundle::Bundle;

/// Where gantry-gpu's discovery looks (its global flags; gantry's `--gpu-*-root`).
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub driver_root: PathBuf,
    pub dev_root: PathBuf,
    pub proc_root: PathBuf,
    pub sysfs_root: PathBuf,
    pub nvml_lib: Option<PathBuf>,
}

impl Discovery {
    /// The flags, for those set (gantry-gpu's own defaults are gantry's).
    fn args(&self) -> Vec<std::ffi::OsString> {
        let mut v = Vec::new();
        for (flag, p) in [
            ("--driver-root", Some(&self.driver_root)),
            ("--dev-root", Some(&self.dev_root)),
            ("--proc-root", Some(&self.proc_root)),
            ("--sysfs-root", Some(&self.sysfs_root)),
            ("--nvml-lib", self.nvml_lib.as_ref()),
        ] {
            if let Some(p) = p.filter(|p| !p.as_os_str().is_empty()) {
                v.push(flag.into());
                v.push(p.clone().into_os_string());
            }
        }
        v
    }
}

/// How gantry-gpu's stderr line that says why nothing was injected starts (its jit.rs).
const NOTHING: &str = "nothing injected: ";

/// The gantry-gpu to run: --gpu-bin, else the one next to this binary, else the first on
/// PATH, else /usr/local/bin's or /usr/bin's.
fn gpu_bin(o: &GpuOpts) -> Option<PathBuf> {
    if let Some(p) = &o.gpu_bin {
        return Some(p.clone());
    }
    let mut candidates = Vec::new();
    if let Some(dir) =
        crate::exeseal::original_exe().and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("gantry-gpu"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("gantry-gpu")));
    }
    candidates.push("/usr/local/bin/gantry-gpu".into());
    candidates.push("/usr/bin/gantry-gpu".into());
    candidates.into_iter().find(|p| p.is_file())
}

/// The edits of `plain` (asked for by `by`), from `gantry-gpu cdi jit`; none when gantry-gpu
/// says nothing is to be injected (the driver of a vendor asked for with `all` or `none` only
/// is missing).
pub fn resolve(bundle: &Bundle, o: &GpuOpts, plain: &Plain, by: &str) -> Result<Vec<Resolved>> {
    let bin = gpu_bin(o).ok_or_else(|| {
        anyhow!(
            "jit CDI for {by}: gantry-gpu not found (next to gantry, on PATH, in /usr/local/bin \
             or /usr/bin): install it, or give --gpu-bin FILE"
        )
    })?;
    let mut child = Command::new(&bin)
        .args(o.roots.args())
        .args(["cdi", "jit", "--rootfs"])
        .arg(&bundle.rootfs)
        .arg("--hook-path")
        .arg(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("jit CDI for {by}: run {}", bin.display()))?;
    // gantry-gpu reads the whole request before it writes anything: no deadlock.
    let input = serde_json::to_vec(plain)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&input)
            .with_context(|| format!("jit CDI for {by}: write to {}", bin.display()))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("jit CDI for {by}: wait for {}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let why = stderr.trim();
        bail!(
            "jit CDI for {by}: {} ({} {})",
            why.strip_prefix("gantry-gpu: ").unwrap_or(why),
            bin.display(),
            out.status
        );
    }
    for line in stderr.lines() {
        let line = line.strip_prefix("note: ").unwrap_or(line);
        if line.starts_with(NOTHING) {
            crate::logger::info(&format!("jit CDI: {by}: {line}"));
        } else {
            crate::logger::debug(&format!("jit CDI: {line}"));
        }
    }
    let spec = Spec::parse(&out.stdout).map_err(|e| {
        anyhow!(
            "jit CDI for {by}: {} printed no CDI spec: {e}",
            bin.display()
        )
    })?;
    let origin = PathBuf::from(format!("jit ({by})"));
    let edits = std::iter::once(spec.container_edits)
        .chain(spec.devices.into_iter().map(|d| d.container_edits))
        .filter(|e| !e.is_empty())
        .map(|edits| Resolved {
            origin: origin.clone(),
            device: None,
            edits,
        })
        .collect();
    Ok(edits)
}
