//! cgroup v2 device access: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the container's
//! cgroup decides. The runtime installs one compiled from the container's rules (`program`,
//! `install`). To allow injected nodes, the GPU hook loads a copy of each attached program
//! with a prefix that allows them (falling through to the original instructions for every
//! other device), and swaps it in atomically (BPF_F_REPLACE), as NVIDIA's toolkit does
//! (`allow`). A cgroup with no device program allows every device: nothing to do.
//!
//! No crate here fits (libcgroups builds whole programs from OCI rules through libbpf): the
//! few bpf(2) commands are wrapped below.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::CharDevice;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
pub const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

/// struct bpf_insn.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high one
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K: u8 = 0xb7;
const AND_K: u8 = 0x57;
const RSH_K: u8 = 0x77;
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95;

// bpf_cgroup_dev_ctx: access_type (type | access << 16; type c 2, b 1), major, minor.

/// The context loads every rule block tests: r3 = device type, r4 = requested access,
/// r5 = major, r6 = minor. r1 (the context) is left for any instructions that follow.
fn prologue() -> Vec<Insn> {
    vec![
        insn(LDX_W, 2, 1, 0, 0), // r2 = ctx->access_type
        insn(MOV_X, 3, 2, 0, 0), // r3 = r2 & 0xffff (type)
        insn(AND_K, 3, 0, 0, 0xffff),
        insn(MOV_X, 4, 2, 0, 0), // r4 = r2 >> 16 (access)
        insn(RSH_K, 4, 0, 0, 16),
        insn(LDX_W, 5, 1, 4, 0), // r5 = ctx->major
        insn(LDX_W, 6, 1, 8, 0), // r6 = ctx->minor
    ]
}

/// One device rule: `typ` 'c' or 'b' (None: any), major/minor (None: any), access bits
/// (m 1, r 2, w 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: Option<char>,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: i32,
}

impl Rule {
    /// Access bits from an OCI/cgroup access string ("rwm").
    pub fn access_bits(s: &str) -> i32 {
        s.chars()
            .map(|c| match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => 0,
            })
            .fold(0, |a, b| a | b)
    }

    fn matches_everything(&self) -> bool {
        self.typ.is_none() && self.major.is_none() && self.minor.is_none() && self.access == 7
    }
}

/// A block that returns `allow` when the request matches the rule (the requested access a
/// subset of the rule's) and otherwise falls through past its end.
fn rule_block(r: &Rule) -> Vec<Insn> {
    let mut tests: Vec<(u8, i32)> = Vec::new(); // (register, value) that must be equal
    match r.typ {
        Some('c') => tests.push((3, 2)),
        Some('b') => tests.push((3, 1)),
        _ => {}
    }
    if let Some(m) = r.major {
        tests.push((5, m as i32));
    }
    if let Some(m) = r.minor {
        tests.push((6, m as i32));
    }
    // After the tests: r7 = access & !rule_access; JNE r7, 0 (skip); r0 = allow; exit.
    let tail = 5;
    let n = tests.len();
    let mut b = Vec::new();
    for (i, (reg, v)) in tests.into_iter().enumerate() {
        b.push(insn(JNE_K, reg, 0, ((n - 1 - i) + tail) as i16, v));
    }
    b.extend([
        insn(MOV_X, 7, 4, 0, 0),
        insn(AND_K, 7, 0, 0, !r.access),
        insn(JNE_K, 7, 0, 2, 0),
        insn(MOV_K, 0, 0, 0, r.allow as i32),
        insn(EXIT, 0, 0, 0, 0),
    ]);
    b
}

/// Instructions that return 1 (allow) for read/write/both on any of `nodes`, and otherwise
/// fall through to whatever follows.
pub fn allow_prefix(nodes: &[CharDevice]) -> Vec<Insn> {
    let mut p = prologue();
    for n in nodes {
        p.extend(rule_block(&Rule {
            allow: true,
            typ: Some('c'),
            major: Some(n.major as i64),
            minor: Some(n.minor as i64),
            access: 2 | 4,
        }));
    }
    p
}

/// A whole program for a rule list with the kernel's v1 semantics: the last matching rule
/// wins; a rule matching every device resets the default; without one everything is allowed.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let (default, effective) = match rules.iter().rposition(Rule::matches_everything) {
        Some(i) => (rules[i].allow, &rules[i + 1..]),
        None => (true, rules),
    };
    let mut p = prologue();
    for r in effective.iter().rev() {
        p.extend(rule_block(r));
    }
    p.extend([insn(MOV_K, 0, 0, 0, default as i32), insn(EXIT, 0, 0, 0, 0)]);
    p
}

/// A program that denies every device (for tests, and for a runtime that starts from nothing).
pub fn deny_all() -> Vec<Insn> {
    vec![insn(MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]
}

/// A bpf_attr: zeroed (the kernel checks that unused bytes are zero), fields set by offset.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap())
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a zero-padded 128-byte bpf_attr laid out for `cmd`; any pointers in it
    // point to buffers the caller keeps alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the bpf command returned a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// The ids and attach flags of the device programs on a cgroup directory.
pub fn query(cgroup: &impl AsRawFd) -> std::io::Result<(Vec<u32>, u32)> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a)?;
    let (flags, count) = (a.get_u32(12), a.get_u32(24) as usize);
    ids.truncate(count.min(64));
    Ok((ids, flags))
}

fn prog_fd(id: u32) -> std::io::Result<OwnedFd> {
    let mut a = Attr::new();
    a.u32(0, id);
    bpf(BPF_PROG_GET_FD_BY_ID, &mut a).map(owned)
}

/// A loaded program's instructions (as the kernel holds them; a device program's are its own:
/// the verifier rewrites no context access for this type).
fn instructions(prog: &OwnedFd) -> std::io::Result<Vec<Insn>> {
    let mut info = [0u8; 256];
    let mut a = Attr::new();
    a.u32(0, prog.as_raw_fd() as u32)
        .u32(4, 40)
        .u64(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    let len = u32::from_ne_bytes(info[20..24].try_into().unwrap()) as usize;
    let mut insns = vec![insn(0, 0, 0, 0, 0); len / std::mem::size_of::<Insn>()];
    let mut info = [0u8; 256];
    info[20..24].copy_from_slice(&(len as u32).to_ne_bytes());
    info[32..40].copy_from_slice(&(insns.as_mut_ptr() as u64).to_ne_bytes());
    let mut a = Attr::new();
    a.u32(0, prog.as_raw_fd() as u32)
        .u32(4, 40)
        .u64(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    Ok(insns)
}

pub fn load(insns: &[Insn]) -> std::io::Result<OwnedFd> {
    // Without a log first: a verifier log that overflows its buffer fails the load (ENOSPC).
    load_with_log(insns, None).or_else(|e| {
        let mut log = vec![0u8; 64 * 1024];
        match load_with_log(insns, Some(&mut log)) {
            Ok(fd) => Ok(fd),
            Err(_) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let tail = String::from_utf8_lossy(&log[..end]);
                let last: Vec<&str> = tail.lines().rev().take(3).collect();
                Err(std::io::Error::new(
                    e.kind(),
                    format!("{e}: {}", last.join(" / ")),
                ))
            }
        }
    })
}

fn load_with_log(insns: &[Insn], log: Option<&mut [u8]>) -> std::io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut a = Attr::new();
    a.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
        .u32(4, insns.len() as u32)
        .u64(8, insns.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64);
    if let Some(log) = log {
        a.u32(24, 1)
            .u32(28, log.len() as u32)
            .u64(32, log.as_mut_ptr() as u64);
    }
    bpf(BPF_PROG_LOAD, &mut a).map(owned)
}

/// Attaches `prog` to the cgroup; with `replace`, in place of that program.
pub fn attach(
    cgroup: &impl AsRawFd,
    prog: &OwnedFd,
    flags: u32,
    replace: Option<&OwnedFd>,
) -> std::io::Result<()> {
    let mut a = Attr::new();
    a.u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE);
    match replace {
        Some(old) => a
            .u32(12, flags | BPF_F_REPLACE)
            .u32(16, old.as_raw_fd() as u32),
        None => a.u32(12, flags),
    };
    bpf(BPF_PROG_ATTACH, &mut a).map(|_| ())
}

const BPF_PROG_DETACH: libc::c_long = 9;

fn detach(cgroup: &impl AsRawFd, prog: &OwnedFd) -> std::io::Result<()> {
    let mut a = Attr::new();
    a.u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE);
    bpf(BPF_PROG_DETACH, &mut a).map(|_| ())
}

/// Makes `insns` the cgroup's only device program: attached (ALLOW_MULTI, as runc does) in
/// place of the first program there, the others detached.
pub fn install(dir: &Path, insns: &[Insn]) -> std::io::Result<()> {
    let cg = std::fs::File::open(dir)?;
    let new = load(insns)?;
    let (ids, flags) = query(&cg)?;
    let old: Vec<OwnedFd> = ids
        .iter()
        .map(|id| prog_fd(*id))
        .collect::<Result<_, _>>()?;
    match old.first() {
        None => attach(&cg, &new, BPF_F_ALLOW_MULTI, None)?,
        Some(first) if flags & BPF_F_ALLOW_MULTI != 0 => {
            attach(&cg, &new, BPF_F_ALLOW_MULTI, Some(first))?
        }
        Some(_) => attach(&cg, &new, flags, None)?,
    }
    for o in old.iter().skip(1) {
        detach(&cg, o)?;
    }
    Ok(())
}

/// Allows `nodes` in every device program attached to the cgroup v2 directory `dir`. Returns
/// how many programs were rewritten (0: none attached, every device is allowed).
pub fn allow(dir: &Path, nodes: &[CharDevice]) -> std::io::Result<usize> {
    let cg = std::fs::File::open(dir)?;
    let (ids, flags) = query(&cg)?;
    let prefix = allow_prefix(nodes);
    for id in &ids {
        let old = prog_fd(*id)?;
        let mut insns = prefix.clone();
        insns.extend(instructions(&old)?);
        let new = load(&insns)?;
        if flags & BPF_F_ALLOW_MULTI != 0 {
            attach(&cg, &new, BPF_F_ALLOW_MULTI, Some(&old))?;
        } else {
            // A single (override or exclusive) program: attaching another replaces it.
            attach(&cg, &new, flags, None)?;
        }
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_inside_the_program_on_a_block_start_or_the_end() {
        let rules = [
            Rule {
                allow: false,
                typ: None,
                major: None,
                minor: None,
                access: 7,
            },
            Rule {
                allow: true,
                typ: Some('c'),
                major: Some(1),
                minor: None,
                access: 6,
            },
            Rule {
                allow: true,
                typ: None,
                major: None,
                minor: None,
                access: 1,
            },
        ];
        let p = program(&rules);
        // prologue 7, then (last rule first) block(a m) 0+5, block(c 1:* rw) 2+5, default 2.
        assert_eq!(p.len(), 7 + 7 + 5 + 2);
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JNE_K {
                let target = i + 1 + ins.off as usize;
                // A skip lands on the next block's first instruction or the default.
                assert!(
                    target == 12 || target == 19,
                    "jump at {i} lands on {target}"
                );
            }
        }
    }
}
