//! `update`: change a container's resources while it runs (runc's flags, or a whole
//! LinuxResources JSON with --resources), and record them in its state.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::{LinuxCpu, LinuxIntelRdt, LinuxMemory, LinuxPids, LinuxResources};

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

/// The container's linux.intelRdt with --l3-cache-schema and --mem-bw-schema in (None when
/// neither is given), checked as at create: refused before anything changes where resctrl or
/// the resource is missing, as runc refuses them, naming the flag.
fn planned_rdt(
    a: &UpdateArgs,
    current: Option<&LinuxIntelRdt>,
    root: Option<&Path>,
) -> Result<Option<LinuxIntelRdt>> {
    if a.l3_cache_schema.is_none() && a.mem_bw_schema.is_none() {
        return Ok(None);
    }
    let mut rdt = current.cloned().unwrap_or_default();
    if let Some(v) = &a.l3_cache_schema {
        rdt.set_l3_cache_schema(Some(v.clone()));
    }
    if let Some(v) = &a.mem_bw_schema {
        rdt.set_mem_bw_schema(Some(v.clone()));
    }
    if let Err(e) = crate::resctrl::check(&rdt, root) {
        let flag = match e.field().as_str() {
            "linux.intelRdt.memBwSchema" => "--mem-bw-schema",
            "linux.intelRdt.l3CacheSchema" => "--l3-cache-schema",
            _ if a.l3_cache_schema.is_some() => "--l3-cache-schema",
            _ => "--mem-bw-schema",
        };
        bail!("{flag}: {}", e.msg());
    }
    Ok(Some(rdt))
}

/// Put the new schemata in place, as runc's update: written to the container's group, or,
/// for a container created without linux.intelRdt, a group made for it (named by its id)
/// with the init in it.
fn apply_rdt(
    root: &Path,
    id: &str,
    pid: i32,
    had: bool,
    a: &UpdateArgs,
    rdt: &LinuxIntelRdt,
) -> std::result::Result<(), crate::resctrl::ResctrlError> {
    if !had {
        return crate::resctrl::apply(root, id, rdt, pid).map(|_| ());
    }
    let lines: Vec<&str> = [&a.l3_cache_schema, &a.mem_bw_schema]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    crate::resctrl::Group::of(root, id, rdt).write_schemata(&lines)
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
    let current_rdt = saved
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.intel_rdt().clone());
    let resctrl = crate::resctrl::mount_point();
    let rdt = planned_rdt(a, current_rdt.as_ref(), resctrl.as_deref())
        .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
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
        libcgroups::common::AnyCgroupManager::V1(_) => crate::cgroups::hugetlb::split(&resources),
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
        crate::cgroups::v1_extra::apply(&resources, &saved.cgroup.fs_rel_abs())
            .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    }
    mgr.apply(&opt)
        .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    if let Some(limits) = unified_hugetlb {
        crate::cgroups::apply_unified_hugetlb(&saved.cgroup, &limits)
            .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    }
    if let (Some(rdt), Some(root)) = (&rdt, &resctrl) {
        apply_rdt(root, &a.id, saved.pid, current_rdt.is_some(), a, rdt)
            .map_err(|e| anyhow::anyhow!("update container {}: {e}", a.id))?;
    }
    // Record what now applies.
    let mut recorded = resources;
    recorded.set_devices(current.and_then(|c| c.devices().clone()));
    if let Some(linux) = saved.config.linux_mut().as_mut() {
        linux.set_resources(Some(recorded));
        if rdt.is_some() {
            linux.set_intel_rdt(rdt);
        }
    }
    dir.save(&saved)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    fn args(flags: &[&str]) -> crate::cli::UpdateArgs {
        use clap::Parser;
        let argv = ["gantry", "update"].iter().chain(flags).chain(&["c"]);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Update(u) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rdt_schemas_checked_then_written() {
        use super::{apply_rdt, planned_rdt};
        let a = args(&["--l3-cache-schema", "L3:0=f", "--mem-bw-schema", "MB:0=50"]);
        assert!(planned_rdt(&args(&[]), None, None).unwrap().is_none());
        let e = planned_rdt(&a, None, None).unwrap_err().to_string();
        assert!(
            e.starts_with("--l3-cache-schema: no resctrl filesystem is mounted"),
            "{e}"
        );
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("info/L3")).unwrap();
        let e = planned_rdt(&a, None, Some(t.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--mem-bw-schema: this host has no memory bandwidth"),
            "{e}"
        );
        std::fs::create_dir_all(t.path().join("info/MB")).unwrap();
        let rdt = planned_rdt(&a, None, Some(t.path())).unwrap().unwrap();
        assert_eq!(rdt.l3_cache_schema().as_deref(), Some("L3:0=f"));
        // A container created without intelRdt: a group named by its id, the init in it.
        apply_rdt(t.path(), "c", 42, false, &a, &rdt).unwrap();
        let g = t.path().join("c");
        assert_eq!(std::fs::read_to_string(g.join("tasks")).unwrap(), "42");
        assert_eq!(
            std::fs::read_to_string(g.join("schemata")).unwrap(),
            "L3:0=f\nMB:0=50\n"
        );
        // With a group already: only the lines given are written.
        let b = args(&["--mem-bw-schema", "MB:0=20"]);
        let rdt = planned_rdt(&b, Some(&rdt), Some(t.path()))
            .unwrap()
            .unwrap();
        assert_eq!(rdt.l3_cache_schema().as_deref(), Some("L3:0=f"), "kept");
        apply_rdt(t.path(), "c", 42, true, &b, &rdt).unwrap();
        assert_eq!(
            std::fs::read_to_string(g.join("schemata")).unwrap(),
            "MB:0=20\n"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("256m").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
