//! Scheduling of the container's processes, applied to the init and to every exec'd process:
//! `process.ioPriority` (ioprio_set), `process.scheduler` (sched_setattr) and
//! `linux.memoryPolicy` (set_mempolicy). Each is applied or an error naming its field; a value
//! the kernel or this host cannot honour (a missing NUMA node, SCHED_ISO) is refused, never
//! dropped.

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    MemoryPolicyFlagType, MemoryPolicyModeType, Scheduler,
};

fn os_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self): the class in bits 13.., the level below.
pub fn io_priority(p: &LinuxIOPriority) -> Result<(), String> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(format!(
            "process.ioPriority.priority: {} is not in 0-7",
            p.priority()
        ));
    }
    let value = (class << 13) | p.priority();
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) } != 0 {
        return Err(format!("process.ioPriority: ioprio_set: {}", os_err()));
    }
    Ok(())
}

/// struct sched_attr, SCHED_ATTR_SIZE_VER0 (no utilization clamps).
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Check `process.scheduler` without applying it (create refuses it up front).
pub fn check_scheduler(s: &Scheduler) -> Result<(), String> {
    sched_attr(s).map(|_| ())
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr, String> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => {
            return Err("process.scheduler.policy: SCHED_ISO is not implemented by Linux".into())
        }
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            // They take clamp values the spec does not carry.
            LinuxSchedulerFlag::SchedFlagUtilClampMin | LinuxSchedulerFlag::SchedFlagUtilClampMax => {
                return Err(format!(
                    "process.scheduler.flags: {f} needs a utilization value runtime-spec has no field for"
                ))
            }
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(format!("process.scheduler.nice: {nice} is not in -20..19"));
    }
    let priority = s.priority().unwrap_or(0);
    let priority = u32::try_from(priority)
        .map_err(|_| format!("process.scheduler.priority: {priority} is negative"))?;
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    })
}

pub fn scheduler(s: &Scheduler) -> Result<(), String> {
    let attr = sched_attr(s)?;
    // SAFETY: a valid sched_attr of the size it declares, read by the kernel only.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } != 0 {
        return Err(format!("process.scheduler: sched_setattr: {}", os_err()));
    }
    Ok(())
}

/// "0-3,7" -> [0, 1, 2, 3, 7].
pub fn parse_list(s: &str) -> Option<Vec<usize>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                v.extend(a..=b);
            }
            None => v.push(part.parse().ok()?),
        }
    }
    Some(v)
}

/// sched_setaffinity(self) to the CPU list `list` of `field`.
pub fn cpu_affinity(field: &str, list: &str) -> Result<(), String> {
    let cpus =
        parse_list(list).ok_or_else(|| format!("{field}: {list:?} is not a list like 0-3,7"))?;
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(c).map_err(|e| format!("{field}: CPU {c}: {e}"))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("{field} {list:?}: sched_setaffinity: {e}"))
}

/// The mode word and node mask for set_mempolicy, every node checked to exist here.
fn mempolicy(p: &LinuxMemoryPolicy) -> Result<(i32, Vec<libc::c_ulong>), String> {
    let mut mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    for f in p.flags().iter().flatten() {
        mode |= match f {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        };
    }
    let nodes = match p.nodes().as_deref() {
        None => Vec::new(),
        Some(s) => parse_list(s)
            .ok_or_else(|| format!("linux.memoryPolicy.nodes: {s:?} is not a list like 0-3,7"))?,
    };
    let bits = libc::c_ulong::BITS as usize;
    let mut mask = vec![0 as libc::c_ulong; nodes.iter().max().map_or(0, |m| m / bits + 1)];
    for n in nodes {
        if !std::path::Path::new(&format!("/sys/devices/system/node/node{n}")).exists() {
            return Err(format!(
                "linux.memoryPolicy.nodes: NUMA node {n} does not exist on this host"
            ));
        }
        mask[n / bits] |= 1 << (n % bits);
    }
    Ok((mode, mask))
}

pub fn check_memory_policy(p: &LinuxMemoryPolicy) -> Result<(), String> {
    mempolicy(p).map(|_| ())
}

pub fn memory_policy(p: &LinuxMemoryPolicy) -> Result<(), String> {
    let (mode, mask) = mempolicy(p)?;
    let (ptr, maxnode) = if mask.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // maxnode counts bits; the kernel reads maxnode - 1 of them (set_mempolicy(2)).
        (mask.as_ptr(), mask.len() * libc::c_ulong::BITS as usize + 1)
    };
    // SAFETY: mask points to `maxnode - 1` readable bits (or is null with maxnode 0).
    if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) } != 0 {
        return Err(format!("linux.memoryPolicy: set_mempolicy: {}", os_err()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-3,7"), Some(vec![0, 1, 2, 3, 7]));
        assert_eq!(parse_list("1"), Some(vec![1]));
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("x"), None);
    }
}
