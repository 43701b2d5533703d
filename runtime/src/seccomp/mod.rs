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
//! Rules name syscalls, looked up in each filtered ABI's own table; names an ABI does not have
//! are skipped there, as runc does. On x86_64 a profile may list SCMP_ARCH_X86 (i386, int 0x80)
//! and SCMP_ARCH_X32 (arch x86_64, syscall numbers with the x32 bit): their rules are compiled
//! with their numbers. Calls through an ABI the profile does not list get the bad-architecture
//! action, KILL (libseccomp's default, so runc's) in every filter of the stack: a deny-list
//! profile cannot be sidestepped through a compat ABI. Other architectures (aarch64, ...) are
//! never seen by an x86_64 kernel, so listing them changes nothing, as with libseccomp.

pub mod notify;
mod syscalls_x32;
mod syscalls_x86;
mod syscalls_x86_64;

use std::collections::BTreeMap;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
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
    #[error("linux.seccomp.listenerPath: {0}")]
    Listener(String),
    #[error("linux.seccomp.syscalls[{0}]: {1}")]
    Syscall(usize, String),
}

impl SeccompError {
    /// The message without its field prefix, for one naming a more precise field.
    fn detail(&self) -> String {
        match self {
            SeccompError::Unsupported(m) | SeccompError::Build(m) => m.clone(),
            e => e.to_string(),
        }
    }
}

/// The compiled filters, in installation order, and the seccomp(2) flags.
pub struct Program {
    pub filters: Vec<BpfProgram>,
    pub flags: u32,
    /// The filter that returns SECCOMP_RET_USER_NOTIF (SCMP_ACT_NOTIFY), installed with
    /// SECCOMP_FILTER_FLAG_NEW_LISTENER: the kernel allows one listener per process, and a
    /// notification from a filter without one fails the call with ENOSYS.
    pub listener: Option<Listener>,
}

pub struct Listener {
    /// Index in `filters`.
    pub filter: usize,
    /// Flags for that filter only (WAIT_KILLABLE_RECV; never TSYNC, which the kernel refuses
    /// with a listener and a single-threaded init does not need).
    pub flags: u32,
    /// linux.seccomp.listenerPath: where the listener fd goes (runtime-spec's container
    /// process state over SCM_RIGHTS).
    pub path: std::path::PathBuf,
    pub metadata: Option<String>,
}

/// The ABIs an x86_64 kernel runs, each filtered with its own syscall numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Abi {
    X86_64,
    X32,
    I386,
}

impl Abi {
    fn table(self) -> &'static [(&'static str, i64)] {
        match self {
            Abi::X86_64 => syscalls_x86_64::SYSCALLS,
            Abi::X32 => syscalls_x32::SYSCALLS,
            Abi::I386 => syscalls_x86::SYSCALLS,
        }
    }
    fn nr(self, name: &str) -> Option<i64> {
        let t = self.table();
        t.binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| t[i].1)
    }
}

fn check_native() -> Result<(), SeccompError> {
    if cfg!(target_arch = "x86_64") {
        Ok(())
    } else {
        Err(SeccompError::Unsupported(format!(
            "seccomp is not supported on {} by Gantry yet",
            std::env::consts::ARCH
        )))
    }
}

/// The native (x86_64) number of a syscall.
pub fn syscall_nr(name: &str) -> Option<i64> {
    Abi::X86_64.nr(name)
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
    /// SCMP_ACT_NOTIFY: compiled as TRACE with NOTIFY_MARK, then patched (seccompiler has no
    /// user-notification action).
    Notify,
    Allow,
}

/// The TRACE data that stands for SECCOMP_RET_USER_NOTIF while seccompiler compiles. Only
/// filters of the notify group (or a base filter whose default is NOTIFY) are patched, so a
/// profile's own TRACE rules never are.
const NOTIFY_MARK: u32 = 0xfeed;

/// Turn the marked TRACE returns of a filter into SECCOMP_RET_USER_NOTIF.
fn patch_notify(f: &mut BpfProgram) {
    let marked = libc::SECCOMP_RET_TRACE | NOTIFY_MARK;
    for i in f.iter_mut().filter(|i| i.code == RET_K && i.k == marked) {
        i.k = libc::SECCOMP_RET_USER_NOTIF;
    }
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
            Act::Notify => SeccompAction::Trace(NOTIFY_MARK),
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
        LinuxSeccompAction::ScmpActNotify => Act::Notify,
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

/// `seccomp_data.arch` of the x86_64 (and x32) and i386 ABIs (linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// __X32_SYSCALL_BIT: x32 calls come with arch x86_64 and this bit in the number.
const X32_BIT: u32 = 0x4000_0000;
/// The action for calls through an ABI the profile does not list: libseccomp's default.
const BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_THREAD;
/// The kernel's limit on a classic BPF program (BPF_MAXINSNS).
const BPF_MAXINSNS: usize = 4096;

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// One ABI's part of a filter: seccompiler's program without its preamble (load arch, check
/// it, kill), which leaves a self-contained body (load nr, rules, return) with relative jumps.
fn body(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: &Act,
    matched: &Act,
) -> Result<Vec<sock_filter>, SeccompError> {
    let f = SeccompFilter::new(
        rules,
        mismatch.to_seccompiler(),
        matched.to_seccompiler(),
        TargetArch::x86_64,
    )
    .map_err(|e| SeccompError::Build(e.to_string()))?;
    let prog: BpfProgram = f
        .try_into()
        .map_err(|e: seccompiler::BackendError| SeccompError::Build(e.to_string()))?;
    let preamble = [
        insn(LD_W_ABS, 0, 0, 4),
        insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    let same =
        |a: &sock_filter, b: &sock_filter| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k);
    if prog.len() <= 3 || !prog.iter().zip(&preamble).all(|(a, b)| same(a, b)) {
        return Err(SeccompError::Build(
            "unexpected seccompiler program preamble".into(),
        ));
    }
    Ok(prog[3..].to_vec())
}

/// What a filter does with the calls of one ABI.
enum Part {
    /// This filter's rules for the ABI.
    Body(Vec<sock_filter>),
    /// A listed ABI that another filter of the stack handles.
    Allow,
    /// An ABI the profile does not list.
    BadArch,
}

impl Part {
    fn code(self) -> Vec<sock_filter> {
        match self {
            Part::Body(b) => b,
            Part::Allow => vec![insn(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW)],
            Part::BadArch => vec![insn(RET_K, 0, 0, BAD_ARCH)],
        }
    }
}

/// A filter dispatching on the architecture (and, for arch x86_64, on the x32 bit) to what it
/// does with each ABI's calls:
///
/// ```text
///  0 ld arch; 1 jeq x86_64 ? 2 : 3; 2 ja L64
///  3 jeq i386 ? 4 : 5; 4 ja L32; 5 ret BAD_ARCH
///  L64: ld nr; jge X32_BIT ? next : native; jge 0x80000000 ? native : next; ja LX32
///  native part | LX32: x32 part | L32: i386 part
/// ```
/// Numbers from 0x80000000 (-1 among them) are not x32 calls for the kernel either: they stay
/// with the native part, where no rule matches them.
fn assemble(native: Part, x32: Part, i386: Part) -> Result<BpfProgram, SeccompError> {
    let (native, x32, i386) = (native.code(), x32.code(), i386.code());
    let l64 = 6;
    let native_at = l64 + 4;
    let lx32 = native_at + native.len();
    let l32 = lx32 + x32.len();
    let total = l32 + i386.len();
    if total > BPF_MAXINSNS {
        return Err(SeccompError::Build(format!(
            "a filter needs {total} BPF instructions, more than the kernel's {BPF_MAXINSNS}"
        )));
    }
    let ja = |at: usize, to: usize| insn(JA, 0, 0, (to - at - 1) as u32);
    let mut p = vec![
        insn(LD_W_ABS, 0, 0, 4),
        insn(JEQ_K, 0, 1, AUDIT_ARCH_X86_64),
        ja(2, l64),
        insn(JEQ_K, 0, 1, AUDIT_ARCH_I386),
        ja(4, l32),
        insn(RET_K, 0, 0, BAD_ARCH),
        insn(LD_W_ABS, 0, 0, 0),
        insn(JGE_K, 0, 2, X32_BIT),
        insn(JGE_K, 1, 0, 0x8000_0000),
        ja(l64 + 3, lx32),
    ];
    p.extend(native);
    p.extend(x32);
    p.extend(i386);
    Ok(p)
}

/// The filters for one action group: per listed ABI, one filter applying its `rules` ->
/// `matched`, else `mismatch`, to that ABI's calls and ALLOW to the other listed ABIs' (each
/// ABI its own filter keeps each under the kernel's 4096 instructions); calls of an ABI not
/// listed get BAD_ARCH from every filter.
fn compile(
    mut rules: BTreeMap<Abi, BTreeMap<i64, Vec<SeccompRule>>>,
    abis: &[Abi],
    mismatch: &Act,
    matched: &Act,
) -> Result<Vec<BpfProgram>, SeccompError> {
    abis.iter()
        .map(|&abi| filter_for(&mut rules, abis, &[abi], mismatch, matched))
        .collect()
}

/// One filter applying `rules` -> `matched`, else `mismatch`, to the calls of every listed
/// ABI (the notify group: its notifications must all come from the one filter that has the
/// listener), with the USER_NOTIF returns patched in.
fn compile_notify(
    mut rules: BTreeMap<Abi, BTreeMap<i64, Vec<SeccompRule>>>,
    abis: &[Abi],
    mismatch: &Act,
    matched: &Act,
) -> Result<BpfProgram, SeccompError> {
    let mut f = filter_for(&mut rules, abis, abis, mismatch, matched)?;
    patch_notify(&mut f);
    Ok(f)
}

/// A filter with the rule bodies of `bodies` (taken from `rules`), ALLOW for the other listed
/// ABIs and BAD_ARCH for the unlisted ones.
fn filter_for(
    rules: &mut BTreeMap<Abi, BTreeMap<i64, Vec<SeccompRule>>>,
    abis: &[Abi],
    bodies: &[Abi],
    mismatch: &Act,
    matched: &Act,
) -> Result<BpfProgram, SeccompError> {
    let mut part = |a: Abi| -> Result<Part, SeccompError> {
        Ok(if bodies.contains(&a) {
            Part::Body(body(
                rules.remove(&a).unwrap_or_default(),
                mismatch,
                matched,
            )?)
        } else if abis.contains(&a) {
            Part::Allow
        } else {
            Part::BadArch
        })
    };
    let (n, x, i) = (part(Abi::X86_64)?, part(Abi::X32)?, part(Abi::I386)?);
    assemble(n, x, i)
}

pub fn build(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    check_native()?;
    let archs = s.architectures().clone().unwrap_or_default();
    if !archs.is_empty()
        && !archs.contains(&Arch::ScmpArchX86_64)
        && !archs.contains(&Arch::ScmpArchNative)
    {
        return Err(SeccompError::Unsupported(format!(
            "architectures {archs:?} do not include this machine's (ScmpArchX86_64)"
        )));
    }
    let mut abis = vec![Abi::X86_64];
    for a in &archs {
        match a {
            Arch::ScmpArchX86 => abis.push(Abi::I386),
            Arch::ScmpArchX32 => abis.push(Abi::X32),
            _ => {}
        }
    }
    abis.sort_unstable();
    abis.dedup();
    let foreign: Vec<_> = archs
        .iter()
        .filter(|a| {
            !matches!(
                a,
                Arch::ScmpArchX86_64 | Arch::ScmpArchNative | Arch::ScmpArchX86 | Arch::ScmpArchX32
            )
        })
        .collect();
    if !foreign.is_empty() {
        crate::logger::info(&format!(
            "linux.seccomp: architectures {foreign:?} never run on an x86_64 kernel; no rules are compiled for them"
        ));
    }
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(SeccompError::Unsupported(
            "listenerMetadata is set without listenerPath (config-linux.md: it MUST NOT be)".into(),
        ));
    }
    let default_errno = s.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        libc::EPERM as u32,
    )?;

    type Rules = BTreeMap<Abi, BTreeMap<i64, Vec<SeccompRule>>>;
    let mut groups: BTreeMap<Act, Rules> = BTreeMap::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let act = action(sc.action(), sc.errno_ret(), default_errno)
            .map_err(|e| SeccompError::Syscall(i, e.detail()))?;
        if act == default {
            continue; // the default already does this
        }
        let rules = rules_for(sc.args().as_deref().unwrap_or_default())
            .map_err(|e| SeccompError::Syscall(i, e.detail()))?;
        let group = groups.entry(act.clone()).or_default();
        for name in sc.names() {
            for abi in &abis {
                // Names unknown to an ABI are skipped there, as runc does.
                if let Some(nr) = abi.nr(name) {
                    add(group.entry(*abi).or_default(), nr, rules.clone());
                }
            }
        }
    }

    let mut filters = Vec::new();
    let mut notify_at = None;
    if default != Act::Allow {
        let mut any: Rules = BTreeMap::new();
        for rules in groups.values() {
            for (abi, by_nr) in rules {
                for (nr, r) in by_nr {
                    add(any.entry(*abi).or_default(), *nr, r.clone());
                }
            }
        }
        if default == Act::Notify {
            notify_at = Some(filters.len());
            filters.push(compile_notify(any, &abis, &default, &Act::Allow)?);
        } else {
            filters.extend(compile(any, &abis, &default, &Act::Allow)?);
        }
    }
    for (act, rules) in groups {
        match act {
            Act::Allow => {}
            Act::Notify => {
                notify_at = Some(filters.len());
                filters.push(compile_notify(rules, &abis, &Act::Allow, &act)?);
            }
            _ => filters.extend(compile(rules, &abis, &Act::Allow, &act)?),
        }
    }
    let requested = s.flags().as_deref().unwrap_or_default();
    let killable = requested.contains(&LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv);
    let flags = filter_flags(requested, notify_at.is_some())?;
    let listener = match notify_at {
        None => None,
        Some(filter) => {
            let path = s.listener_path().clone().ok_or_else(|| {
                SeccompError::Unsupported(
                    "SCMP_ACT_NOTIFY needs listenerPath: the socket of the agent that answers the notified calls".into(),
                )
            })?;
            if !path.is_absolute() {
                return Err(SeccompError::Unsupported(format!(
                    "listenerPath {} is not absolute",
                    path.display()
                )));
            }
            Some(Listener {
                filter,
                flags: (flags & !(libc::SECCOMP_FILTER_FLAG_TSYNC as u32))
                    | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32
                    | if killable { WAIT_KILLABLE_RECV } else { 0 },
                path,
                metadata: s.listener_metadata().clone(),
            })
        }
    };
    Ok(Program {
        filters,
        flags,
        listener,
    })
}

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (linux/seccomp.h, 5.19).
const WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// The flags Gantry applies to every filter, with their seccomp(2) values.
/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not one: the kernel takes it only with
/// NEW_LISTENER, so it goes on the notify filter alone, and without SCMP_ACT_NOTIFY it is
/// refused rather than failing with a bare EINVAL at install.
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
    let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
    if kernel_knows(listener | WAIT_KILLABLE_RECV) {
        v.push("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
    }
    v.sort_unstable();
    v
}

/// linux.seccomp.flags as seccomp(2) flags: each one applied, or refused with its name.
fn filter_flags(flags: &[LinuxSeccompFilterFlag], notify: bool) -> Result<u32, SeccompError> {
    let mut bits = 0;
    for f in flags {
        if *f == LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv {
            let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
            if !notify {
                return Err(SeccompError::Flags(
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies only to a seccomp user-notification \
                     listener, and no rule uses SCMP_ACT_NOTIFY"
                        .into(),
                ));
            }
            if !kernel_knows(listener | WAIT_KILLABLE_RECV) {
                return Err(SeccompError::Flags(
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by this kernel".into(),
                ));
            }
            continue; // on the notify filter only (Listener::flags)
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

/// Install the filters (the caller has set no_new_privs or holds CAP_SYS_ADMIN); returns the
/// user-notification fd when the profile has one.
pub fn install(p: &Program) -> Result<Option<std::os::fd::OwnedFd>, SeccompError> {
    let mut listener_fd = None;
    for (i, f) in p.filters.iter().enumerate() {
        let prog = libc::sock_fprog {
            len: f.len() as u16,
            filter: f.as_ptr() as *mut libc::sock_filter,
        };
        let listener = p.listener.as_ref().filter(|l| l.filter == i);
        let flags = listener.map_or(p.flags, |l| l.flags);
        // SAFETY: seccomp(SET_MODE_FILTER) reads a sock_fprog pointing at `f`, which lives
        // through the call; seccompiler's sock_filter has the kernel's layout.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
        if listener.is_some() {
            // SAFETY: with NEW_LISTENER, seccomp(2) returns a new fd (close-on-exec) that
            // nothing else owns.
            listener_fd = Some(unsafe {
                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32)
            });
        }
    }
    Ok(listener_fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn table_is_sorted_and_known() {
        for abi in [Abi::X86_64, Abi::X32, Abi::I386] {
            assert!(abi.table().windows(2).all(|w| w[0].0 < w[1].0), "{abi:?}");
        }
        assert_eq!(Abi::I386.nr("sync"), Some(36));
        assert_eq!(Abi::X32.nr("sync"), Some(162 | 0x4000_0000));
        assert_eq!(Abi::X32.nr("rt_sigaction"), Some(512 | 0x4000_0000));
        assert_eq!(syscall_nr("read"), Some(0));
        assert_eq!(syscall_nr("unshare"), Some(272));
        assert_eq!(syscall_nr("no_such_call"), None);
    }

    /// Docker's default profile (the repo's fixture, written from Docker's documentation:
    /// tests/fixtures/README.md), compiled. In the source tree, so the unit tests need
    /// nothing outside the repository.
    fn default_profile() -> Program {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/seccomp-docker-default.json"
        ));
        build(&load(text)).unwrap()
    }

    #[test]
    fn default_profile_compiles() {
        let p = default_profile();
        // base (default ERRNO(EPERM)) + the ERRNO(ENOSYS) group (clone3), each for x86_64,
        // x32 and i386
        assert_eq!(p.filters.len(), 6);
    }

    #[test]
    fn notify_needs_a_listener_and_has_one_filter() {
        let rules = r#""syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO"}]"#;
        let s = load(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", {rules}}}"#
        ));
        let e = build(&s).err().unwrap().to_string();
        assert!(e.contains("listenerPath"), "{e}");
        let s = load(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "flags": ["SECCOMP_FILTER_FLAG_TSYNC"], {rules}}}"#
        ));
        let p = build(&s).unwrap();
        let l = p.listener.as_ref().unwrap();
        assert_eq!(l.path, std::path::Path::new("/run/agent.sock"));
        let tsync = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
        let new_listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        assert_eq!((p.flags & tsync, l.flags & tsync), (tsync, 0));
        assert_ne!(l.flags & new_listener, 0);
        // Both ABIs' notifications come from the listener's filter; nothing else notifies.
        let f = &p.filters[l.filter];
        let read64 = syscall_nr("read").unwrap() as u32;
        assert_eq!(
            run_bpf(f, AUDIT_ARCH_X86_64, read64, [0; 6]),
            libc::SECCOMP_RET_USER_NOTIF
        );
        assert_eq!(
            run_bpf(f, AUDIT_ARCH_I386, 3, [0; 6]),
            libc::SECCOMP_RET_USER_NOTIF
        );
        let write64 = syscall_nr("write").unwrap() as u32;
        assert_eq!(
            run_bpf(f, AUDIT_ARCH_X86_64, write64, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        for (i, other) in p.filters.iter().enumerate().filter(|(i, _)| *i != l.filter) {
            let r = run_bpf(other, AUDIT_ARCH_X86_64, read64, [0; 6]);
            assert_ne!(r, libc::SECCOMP_RET_USER_NOTIF, "filter {i}");
        }
        let s = load(r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}"#);
        assert!(build(&s).is_err(), "metadata without a listener path");
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
        assert!(supported_flags().iter().all(|f| KNOWN_FLAGS.contains(f)));
    }

    /// A classic BPF interpreter for what the filters use, run over `seccomp_data`.
    fn run_bpf(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => nr,
                4 => arch,
                16..=63 => {
                    let a = args[((off - 16) / 8) as usize];
                    if off % 8 == 0 {
                        a as u32
                    } else {
                        (a >> 32) as u32
                    }
                }
                _ => panic!("load at {off}"),
            }
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            pc += 1;
            let jump = |c: bool| if c { i.jt as usize } else { i.jf as usize };
            match i.code {
                0x20 => acc = word(i.k),
                0x54 => acc &= i.k,
                0x05 => pc += i.k as usize,
                0x15 => pc += jump(acc == i.k),
                0x25 => pc += jump(acc > i.k),
                0x35 => pc += jump(acc >= i.k),
                0x45 => pc += jump(acc & i.k != 0),
                0x06 => return i.k,
                c => panic!("instruction {c:#x}"),
            }
        }
    }

    /// The stack's answer, as the kernel picks it: the most restrictive action.
    fn verdict(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        p.filters
            .iter()
            .map(|f| run_bpf(f, arch, nr, args))
            .min_by_key(|r| (r & libc::SECCOMP_RET_ACTION_FULL) as i32)
            .unwrap_or(libc::SECCOMP_RET_ALLOW)
    }

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_THREAD;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | 1;
    const X64: u32 = AUDIT_ARCH_X86_64;
    const I386: u32 = AUDIT_ARCH_I386;
    const NONE: [u64; 6] = [0; 6];

    fn deny_sync(archs: &str) -> Program {
        build(&load(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": {archs},
                "syscalls": [{{"names": ["sync"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}}]}}"#
        )))
        .unwrap()
    }

    #[test]
    fn x32_and_i386_calls_cannot_bypass_a_deny_list() {
        for archs in [
            r#"["SCMP_ARCH_X86_64"]"#,
            "null",
            r#"["SCMP_ARCH_AARCH64", "SCMP_ARCH_X86_64"]"#,
        ] {
            let p = deny_sync(archs);
            assert_eq!(verdict(&p, X64, 162, NONE), EPERM, "{archs}");
            assert_eq!(verdict(&p, X64, 0, NONE), ALLOW, "{archs}");
            // sync through x32 (arch x86_64, nr | 0x40000000) and through i386 (36).
            assert_eq!(verdict(&p, X64, 162 | X32_BIT, NONE), KILL, "{archs}");
            assert_eq!(verdict(&p, X64, 3 | X32_BIT, NONE), KILL, "{archs}");
            assert_eq!(verdict(&p, I386, 36, NONE), KILL, "{archs}");
            // Neither native nor x32 for the kernel (ENOSYS): no rule, the default.
            assert_eq!(verdict(&p, X64, u32::MAX, NONE), ALLOW, "{archs}");
            assert_eq!(verdict(&p, X64, 0x8000_00a2, NONE), ALLOW, "{archs}");
            // An architecture an x86_64 kernel never reports.
            assert_eq!(verdict(&p, 0xc000_00b7, 162, NONE), KILL, "{archs}");
        }
    }

    #[test]
    fn listed_x32_and_i386_are_filtered_with_their_numbers() {
        let p = deny_sync(r#"["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]"#);
        assert_eq!(verdict(&p, X64, 162, NONE), EPERM);
        assert_eq!(verdict(&p, X64, 162 | X32_BIT, NONE), EPERM);
        assert_eq!(verdict(&p, I386, 36, NONE), EPERM);
        // Each ABI's own number for sync only: 36 is x86_64's getitimer, 162 i386's nanosleep.
        assert_eq!(verdict(&p, X64, 36, NONE), ALLOW);
        assert_eq!(verdict(&p, I386, 162, NONE), ALLOW);
        assert_eq!(verdict(&p, X64, 36 | X32_BIT, NONE), ALLOW);

        // An allow list with an argument condition: chmod(path, 0755) only.
        let p = build(&load(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["chmod"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 1, "value": 493, "op": "SCMP_CMP_EQ"}]}]}"#,
        ))
        .unwrap();
        assert_eq!(verdict(&p, X64, 0, NONE), ALLOW);
        assert_eq!(verdict(&p, I386, 3, NONE), ALLOW);
        assert_eq!(verdict(&p, I386, 4, NONE), EPERM); // write
        assert_eq!(verdict(&p, I386, 15, [0, 0o755, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&p, I386, 15, [0, 0o777, 0, 0, 0, 0]), EPERM);
        assert_eq!(verdict(&p, X64, 90, [0, 0o755, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&p, X64, X32_BIT, NONE), KILL); // x32 read, x32 not listed
    }

    #[test]
    fn default_profile_fits_the_kernel_limits() {
        let p = default_profile();
        assert!(p.filters.iter().all(|f| f.len() <= BPF_MAXINSNS));
        // The kernel's limit on all filters a call runs through (MAX_INSNS_PER_PATH).
        let path_len: usize = p.filters.iter().map(|f| f.len() + 4).sum();
        assert!(path_len <= 32768, "{path_len}");
        // Docker's numbers on each ABI: setns refused, read allowed.
        for (arch, nr) in [(X64, 308), (X64, 308 | X32_BIT), (I386, 346)] {
            assert_eq!(verdict(&p, arch, nr, NONE), EPERM, "{arch:#x} {nr}");
        }
        for (arch, nr) in [(X64, 0), (X64, X32_BIT), (I386, 3)] {
            assert_eq!(verdict(&p, arch, nr, NONE), ALLOW, "{arch:#x} {nr}");
        }
    }

    #[test]
    fn allow_default_with_no_rules_installs_nothing() {
        let s = load(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
        assert!(build(&s).unwrap().filters.is_empty());
    }
}
