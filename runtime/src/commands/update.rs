//! `update`: change a container's resources while it runs (runc's flags, or a whole
//! LinuxResources JSON with --resources), and record them in its state.

use std::io::Read;

use anyhow::{bail, Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::Globals;
use crate::cli::UpdateArgs;
use crate::state::Status;

/// "256m", "1g", "1024" (bytes), as runc reads memory sizes; -1 means unlimited.
pub fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as i64)
}

/// Where this host's resctrl filesystem is mounted, from /proc/self/mountinfo.
fn resctrl_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next() == Some("resctrl"))
            .then(|| left.split_whitespace().nth(4).map(Into::into))
            .flatten()
    })
}

/// --l3-cache-schema and --mem-bw-schema: refused before anything changes, as runc refuses
/// them where the resctrl resource is not enabled, saying why.
fn check_intel_rdt(a: &UpdateArgs) -> Result<()> {
    for (flag, value, what, resource) in [
        (
            "--l3-cache-schema",
            &a.l3_cache_schema,
            "Intel RDT/CAT (L3 cache allocation)",
            "L3",
        ),
        (
            "--mem-bw-schema",
            &a.mem_bw_schema,
            "Intel RDT/MBA (memory bandwidth allocation)",
            "MB",
        ),
    ] {
        if value.is_none() {
            continue;
        }
        let Some(mnt) = resctrl_mount() else {
            bail!(
                "{flag}: {what} is not enabled: no resctrl filesystem is mounted on this host (mount -t resctrl resctrl /sys/fs/resctrl, on a CPU and kernel with RDT)"
            );
        };
        if !mnt.join("info").join(resource).is_dir() {
            bail!(
                "{flag}: {what} is not enabled: the resctrl filesystem at {} has no {resource} resource (info/{resource})",
                mnt.display()
            );
        }
        bail!(
            "{flag}: Gantry does not support Intel RDT (linux.intelRdt is refused at create too)"
        );
    }
    Ok(())
}

/// runc 1.1's hidden --kernel-memory and --kernel-memory-tcp: a size is still checked, then
/// ignored with runc's warning (the kernel dropped kmem limits); the same warning for kernel
/// memory in a --resources file.
fn warn_kernel_memory(a: &UpdateArgs, r: &LinuxResources) -> Result<()> {
    for (flag, v) in [
        ("--kernel-memory", &a.kernel_memory),
        ("--kernel-memory-tcp", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = v {
            parse_bytes(v).with_context(|| format!("invalid value for {flag}"))?;
        }
    }
    let in_file = a.resources.is_some()
        && r.memory()
            .is_some_and(|m| m.kernel().is_some() || m.kernel_tcp().is_some());
    if a.kernel_memory.is_some() || a.kernel_memory_tcp.is_some() || in_file {
        crate::logger::warn("Kernel memory settings are ignored and will be removed");
    }
    Ok(())
}

fn merged(a: &UpdateArgs, current: Option<&LinuxResources>) -> Result<LinuxResources> {
    if let Some(src) = &a.resources {
        let mut text = String::new();
        if src.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            text =
                std::fs::read_to_string(src).with_context(|| format!("read {}", src.display()))?;
        }
        return serde_json::from_str(&text).context("--resources: invalid LinuxResources JSON");
    }
    let mut r = current.cloned().unwrap_or_default();
    let mut mem: LinuxMemory = r.memory().unwrap_or_default();
    let mem_before = mem;
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes(m)?));
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes(m)?));
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes(m)?));
    }
    if mem != mem_before {
        r.set_memory(Some(mem));
    }
    let mut cpu: LinuxCpu = r.cpu().clone().unwrap_or_default();
    let before = cpu.clone();
    if let Some(v) = a.cpu_shares {
        cpu.set_shares(Some(v));
    }
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(v));
    }
    if let Some(v) = a.cpu_rt_period {
        cpu.set_realtime_period(Some(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
    }
    if cpu != before {
        r.set_cpu(Some(cpu));
    }
    if let Some(v) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

pub fn run(g: &Globals, a: &UpdateArgs) -> Result<()> {
    let (dir, mut saved, status) = super::open(g, &a.id)?;
    if status == Status::Stopped {
        bail!("cannot update container {}: it is stopped", a.id);
    }
    let current = saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref());
    check_intel_rdt(a).map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    let mut resources = merged(a, current)?;
    warn_kernel_memory(a, &resources)?;
    if let Err(e) = crate::bundle::check_resources(&resources) {
        match e {
            crate::bundle::BundleError::Invalid { field, msg } => {
                bail!("update container {}: {field}: {msg}", a.id)
            }
            e => bail!("update container {}: {e}", a.id),
        }
    }
    // The device rules were set at create: re-applying them would momentarily deny all.
    resources.set_devices(None);
    let mgr = crate::cgroups::manager(&saved.cgroup, &saved.id)?;
    let (rest, unified_hugetlb) = match &mgr {
        libcgroups::common::AnyCgroupManager::V1(_) => crate::cgroups_hugetlb::split(&resources),
        _ => (resources.clone(), None),
    };
    let rest = crate::cgroups::without_kernel_memory(rest);
    let opt = ControllerOpt {
        resources: &rest,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    };
    if let libcgroups::common::AnyCgroupManager::V1(_) = &mgr {
        // What libcgroups' v1 backend skips (useHierarchy, leafWeight, weightDevice; unified
        // refused), as at create; first, so that a refusal changes nothing.
        crate::cgroups_v1_extra::apply(&resources, &saved.cgroup.fs_rel_abs())
            .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    }
    mgr.apply(&opt)
        .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    if let Some(limits) = unified_hugetlb {
        crate::cgroups::apply_unified_hugetlb(&saved.cgroup, &limits)
            .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    }
    // Record what now applies.
    let mut recorded = resources;
    recorded.set_devices(current.and_then(|c| c.devices().clone()));
    if let Some(linux) = saved.config.linux_mut().as_mut() {
        linux.set_resources(Some(recorded));
    }
    dir.save(&saved)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("256m").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
