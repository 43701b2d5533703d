//! linux.seccomp to BPF with seccompiler, applied last before exec.
//!
//! seccompiler builds filters with one match action and one mismatch action, while an OCI
//! profile gives each rule its own action. The kernel runs every installed filter and keeps the
//! most restrictive result (ties: the newest filter's), so a profile becomes a stack:
//! - a base filter: any rule whose action differs from the default -> ALLOW, else the default;
//! - one filter per other action: its rules -> that action, else ALLOW; installed after the
//!   base so that, say, a rule's ERRNO(EPERM) wins over a default ERRNO(ENOSYS).
//!
//! A call matching rules of several actions gets the most restrictive, as with libseccomp.
//!
//! Rules name syscalls; names this architecture does not have are skipped, as runc does.
//! Only the native ABI is filtered by rule: seccompiler kills calls from any other ABI, and we
//! turn that into the profile's default action (x86 and x32 listed in a profile on x86_64 get
//! the default, noted in the log), never a silent allow.

mod syscalls_x86_64;

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("linux.seccomp: {0}")]
    Unsupported(String),
    #[error("linux.seccomp: {0}")]
    Build(String),
    #[error("linux.seccomp.flags: {0}")]
    Flags(String),
    #[error("linux.seccomp: install filter: {0}")]
    Install(std::io::Error),
}

/// The compiled filters, in installation order, and the seccomp(2) flags.
pub struct Program {
    pub filters: Vec<BpfProgram>,
    pub flags: u32,
}

fn native() -> Result<(TargetArch, Arch), SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok((TargetArch::x86_64, Arch::ScmpArchX86_64))
    } else {
        Err(SeccompError::Unsupported(format!(
            "seccomp is not supported on {} by Gantry yet",
            std::env::consts::ARCH
        )))
    }
}

pub fn syscall_nr(name: &str) -> Option<i64> {
    let t = syscalls_x86_64::SYSCALLS;
    t.binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| t[i].1)
}

/// An action with its data, comparable so rules can be grouped by it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    KillProcess,
    KillThread,
    Trap,
    Errno(u32),
    Trace(u32),
    Log,
    Allow,
}

impl Act {
    fn to_seccompiler(&self) -> SeccompAction {
        match self {
            Act::KillProcess => SeccompAction::KillProcess,
            Act::KillThread => SeccompAction::KillThread,
            Act::Trap => SeccompAction::Trap,
            Act::Errno(e) => SeccompAction::Errno(*e),
            Act::Trace(e) => SeccompAction::Trace(*e),
            Act::Log => SeccompAction::Log,
            Act::Allow => SeccompAction::Allow,
        }
    }
}

fn action(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    default_errno: u32,
) -> Result<Act, SeccompError> {
    Ok(match a {
        // SCMP_ACT_KILL is libseccomp's name for killing the thread.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => Act::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => Act::KillProcess,
        LinuxSeccompAction::ScmpActTrap => Act::Trap,
        LinuxSeccompAction::ScmpActErrno => Act::Errno(errno.unwrap_or(default_errno)),
        LinuxSeccompAction::ScmpActTrace => Act::Trace(errno.unwrap_or(default_errno)),
        LinuxSeccompAction::ScmpActLog => Act::Log,
        LinuxSeccompAction::ScmpActAllow => Act::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported(
                "SCMP_ACT_NOTIFY (seccomp user notification) is not supported by Gantry yet".into(),
            ))
        }
    })
}

fn condition(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    two: u64,
) -> Result<SeccompCondition, SeccompError> {
    let op = match op {
        LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
        LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
        LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
        // libseccomp: value is the mask, valueTwo the value to compare the masked arg with.
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(value),
    };
    let value = if matches!(op, SeccompCmpOp::MaskedEq(_)) {
        two
    } else {
        value
    };
    let index =
        u8::try_from(index).map_err(|_| SeccompError::Build(format!("argument index {index}")))?;
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| SeccompError::Build(format!("argument {index}: {e}")))
}

/// The OCI args of one rule as seccompiler rules: ANDed, except that several conditions on the
/// same argument become alternatives (runc's reading, since libseccomp cannot AND them).
fn rules_for(
    args: &[oci_spec::runtime::LinuxSeccompArg],
) -> Result<Vec<SeccompRule>, SeccompError> {
    if args.is_empty() {
        return Ok(Vec::new()); // unconditional
    }
    let conds = |a: &oci_spec::runtime::LinuxSeccompArg| {
        condition(a.index(), a.op(), a.value(), a.value_two().unwrap_or(0))
    };
    let same_index = args.len() > 1 && args.iter().all(|a| a.index() == args[0].index());
    let build = |c: Vec<SeccompCondition>| {
        SeccompRule::new(c).map_err(|e| SeccompError::Build(e.to_string()))
    };
    if same_index {
        args.iter().map(|a| build(vec![conds(a)?])).collect()
    } else {
        Ok(vec![build(
            args.iter().map(conds).collect::<Result<_, _>>()?,
        )?])
    }
}

/// Add a syscall's rules to a filter's map. An unconditional entry (empty list) matches always,
/// so it absorbs any conditional ones.
fn add(map: &mut BTreeMap<i64, Vec<SeccompRule>>, nr: i64, rules: Vec<SeccompRule>) {
    match map.get_mut(&nr) {
        Some(existing) if existing.is_empty() => {}
        Some(existing) if rules.is_empty() => existing.clear(),
        Some(existing) => existing.extend(rules),
        None => {
            map.insert(nr, rules);
        }
    }
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: &Act,
    matched: &Act,
    arch: TargetArch,
) -> Result<BpfProgram, SeccompError> {
    let f = SeccompFilter::new(
        rules,
        mismatch.to_seccompiler(),
        matched.to_seccompiler(),
        arch,
    )
    .map_err(|e| SeccompError::Build(e.to_string()))?;
    let mut prog: BpfProgram = f
        .try_into()
        .map_err(|e: seccompiler::BackendError| SeccompError::Build(e.to_string()))?;
    // seccompiler's preamble kills calls from another ABI (instruction 2); give them this
    // filter's mismatch action instead: the default for the base, ALLOW for the others.
    let ret: u32 = mismatch.to_seccompiler().into();
    if let Some(insn) = prog.get_mut(2) {
        if insn.code == 0x06 {
            insn.k = ret;
        }
    }
    Ok(prog)
}

pub fn build(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    let (arch, native_arch) = native()?;
    let archs = s.architectures().clone().unwrap_or_default();
    if !archs.is_empty() && !archs.contains(&native_arch) && !archs.contains(&Arch::ScmpArchNative)
    {
        return Err(SeccompError::Unsupported(format!(
            "architectures {archs:?} do not include this machine's ({native_arch:?})"
        )));
    }
    let others: Vec<_> = archs
        .iter()
        .filter(|a| **a != native_arch && **a != Arch::ScmpArchNative)
        .collect();
    if !others.is_empty() {
        crate::logger::info(&format!(
            "linux.seccomp: calls through the {others:?} ABIs get the default action (only {native_arch:?} rules are compiled)"
        ));
    }
    if s.listener_path().is_some() {
        return Err(SeccompError::Unsupported(
            "listenerPath (seccomp notify) is not supported by Gantry yet".into(),
        ));
    }
    let default_errno = s.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        libc::EPERM as u32,
    )?;

    let mut groups: BTreeMap<Act, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let act = action(sc.action(), sc.errno_ret(), default_errno)
            .map_err(|e| SeccompError::Unsupported(format!("syscalls[{i}]: {e}")))?;
        if act == default {
            continue; // the default already does this
        }
        let rules = rules_for(sc.args().as_deref().unwrap_or_default())
            .map_err(|e| SeccompError::Build(format!("syscalls[{i}]: {e}")))?;
        for name in sc.names() {
            // Names unknown on this architecture are skipped, as runc does.
            if let Some(nr) = syscall_nr(name) {
                add(groups.entry(act.clone()).or_default(), nr, rules.clone());
            }
        }
    }

    let mut filters = Vec::new();
    if default != Act::Allow {
        let mut any = BTreeMap::new();
        for rules in groups.values() {
            for (nr, r) in rules {
                add(&mut any, *nr, r.clone());
            }
        }
        filters.push(compile(any, &default, &Act::Allow, arch)?);
    }
    for (act, rules) in groups {
        if act != Act::Allow {
            filters.push(compile(rules, &Act::Allow, &act, arch)?);
        }
    }
    let flags = filter_flags(s.flags().as_deref().unwrap_or_default())?;
    Ok(Program { filters, flags })
}

/// The flags Gantry applies, with their seccomp(2) values. SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
/// is not one: the kernel takes it only with NEW_LISTENER (a user-notification fd), and Gantry
/// creates none (SCMP_ACT_NOTIFY is refused), so it is refused too rather than failing with a
/// bare EINVAL at install.
const FLAGS: [(LinuxSeccompFilterFlag, &str, u32); 3] = [
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        "SECCOMP_FILTER_FLAG_TSYNC",
        libc::SECCOMP_FILTER_FLAG_TSYNC as u32,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        "SECCOMP_FILTER_FLAG_LOG",
        libc::SECCOMP_FILTER_FLAG_LOG as u32,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
    ),
];

/// Every flag runtime-spec names (features' knownFlags).
pub const KNOWN_FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Whether the running kernel knows the filter flag `bits`: with a NULL program, seccomp(2)
/// fails with EFAULT once the flags are accepted and EINVAL when they are not (libseccomp's
/// probe); nothing is installed either way.
fn kernel_knows(bits: u32) -> bool {
    // SAFETY: a NULL sock_fprog is never dereferenced by us; the kernel rejects it (EFAULT)
    // or the flags (EINVAL) before installing anything.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            bits,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// The flags this Gantry applies on this kernel (features' supportedFlags).
pub fn supported_flags() -> Vec<&'static str> {
    let mut v: Vec<_> = FLAGS
        .iter()
        .filter(|(_, _, bits)| kernel_knows(*bits))
        .map(|(_, name, _)| *name)
        .collect();
    v.sort_unstable();
    v
}

/// linux.seccomp.flags as seccomp(2) flags: each one applied, or refused with its name.
fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<u32, SeccompError> {
    let mut bits = 0;
    for f in flags {
        if *f == LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv {
            return Err(SeccompError::Flags(
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies only to a seccomp user-notification \
                 listener (SCMP_ACT_NOTIFY, listenerPath), which Gantry does not support"
                    .into(),
            ));
        }
        let (_, name, b) = FLAGS
            .iter()
            .find(|(k, _, _)| k == f)
            .ok_or_else(|| SeccompError::Flags(format!("{f:?} is not supported by Gantry")))?;
        if !kernel_knows(*b) {
            return Err(SeccompError::Flags(format!(
                "{name} is not supported by this kernel"
            )));
        }
        bits |= b;
    }
    Ok(bits)
}

/// Install the filters (the caller has set no_new_privs or holds CAP_SYS_ADMIN).
pub fn install(p: &Program) -> Result<(), SeccompError> {
    for f in &p.filters {
        let prog = libc::sock_fprog {
            len: f.len() as u16,
            filter: f.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: seccomp(SET_MODE_FILTER) reads a sock_fprog pointing at `f`, which lives
        // through the call; seccompiler's sock_filter has the kernel's layout.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                p.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn table_is_sorted_and_known() {
        assert!(syscalls_x86_64::SYSCALLS
            .windows(2)
            .all(|w| w[0].0 < w[1].0));
        assert_eq!(syscall_nr("read"), Some(0));
        assert_eq!(syscall_nr("unshare"), Some(272));
        assert_eq!(syscall_nr("no_such_call"), None);
    }

    #[test]
    fn podman_default_profile_compiles() {
        // The shared test data lives beside the workspace (../shared), in CI as here.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/seccomp-podman-4.3-default.json"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e}: check out ../shared beside the workspace"));
        let p = build(&load(&text)).unwrap();
        // base (default ERRNO) + the ERRNO(EPERM) group
        assert_eq!(p.filters.len(), 2);
    }

    #[test]
    fn notify_is_refused() {
        let s = load(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(build(&s).is_err());
    }

    #[test]
    fn flags_are_applied_or_refused_by_name() {
        let with = |flags: &str| {
            load(&format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "flags": {flags}}}"#
            ))
        };
        let p = build(&with(
            r#"["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]"#,
        ))
        .unwrap();
        assert_eq!(p.flags, 0b111);
        let e = build(&with(r#"["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]"#))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("linux.seccomp.flags") && e.contains("WAIT_KILLABLE_RECV"),
            "{e}"
        );
        assert!(!supported_flags().contains(&"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"));
        assert!(supported_flags().iter().all(|f| KNOWN_FLAGS.contains(f)));
    }

    #[test]
    fn allow_default_with_no_rules_installs_nothing() {
        let s = load(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
        assert!(build(&s).unwrap().filters.is_empty());
    }
}
