//! config-linux.md, Seccomp: actions, errno values, argument comparisons, the default action
//! and its errno, and the values a runtime must refuse. Each is judged by what a syscall does
//! inside the container.
//!
//! config-linux.md: "Seccomp provides application sandboxing mechanism in the Linux kernel.
//! Seccomp configuration allows one to configure actions to take for matched syscalls".

use serde_json::{json, Value};

use crate::check::{expect_eq, Check, Ctx, Level::*, Outcome};

/// Docker's default profile in OCI form (defaultAction SCMP_ACT_ERRNO and an allowlist), as the
/// end-to-end tests use it.
const DOCKER_DEFAULT: &str = include_str!("../../../tests/fixtures/seccomp-docker-default.json");

pub fn checks() -> Vec<Check> {
    let s = "config-linux.md#seccomp";
    let create = "runtime.md#create";
    vec![
        Check::new("config-linux.seccomp.errno", s, Must, errno),
        Check::new("config-linux.seccomp.errnoRet", s, Must, errno_ret),
        Check::new("config-linux.seccomp.kill", s, Must, |c| {
            dies(c, "SCMP_ACT_KILL")
        }),
        Check::new("config-linux.seccomp.kill-process", s, Must, |c| {
            dies(c, "SCMP_ACT_KILL_PROCESS")
        }),
        Check::new("config-linux.seccomp.trap", s, Must, |c| {
            dies(c, "SCMP_ACT_TRAP")
        }),
        Check::new("config-linux.seccomp.log", s, Must, log),
        Check::new(
            "config-linux.seccomp.defaultAction",
            s,
            Must,
            default_action,
        ),
        Check::new(
            "config-linux.seccomp.defaultErrnoRet",
            s,
            Must,
            default_errno_ret,
        ),
        Check::new("config-linux.seccomp.architectures.x86", s, Must, arch_x86),
        Check::new(
            "config-linux.seccomp.flags.SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            s,
            Must,
            spec_allow,
        ),
        Check::new("config-linux.seccomp.flags.known", s, Must, known_flags),
        Check::new(
            "config-linux.seccomp.args.all-must-match",
            s,
            Must,
            args_all_match,
        ),
        Check::new(
            "config-linux.seccomp.action.unknown-errors",
            create,
            Must,
            |c| {
                c.create_fails(|v| {
                    v["linux"]["seccomp"] =
                        profile(json!({"names": ["mkdir"], "action": "SCMP_ACT_NOSUCH"}))
                })
            },
        ),
        Check::new(
            "config-linux.seccomp.op.unknown-errors",
            create,
            Must,
            |c| {
                c.create_fails(|v| {
                    v["linux"]["seccomp"] =
                        profile(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_NOSUCH"}]}))
                })
            },
        ),
        Check::new(
            "config-linux.seccomp.flags.unknown-errors",
            create,
            Must,
            |c| {
                c.create_fails(|v| {
                    let mut p = profile(json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}));
                    p["flags"] = json!(["SECCOMP_FILTER_FLAG_NOSUCH"]);
                    v["linux"]["seccomp"] = p;
                })
            },
        ),
        Check::new("config-linux.seccomp.args.SCMP_CMP_EQ", s, Must, |c| {
            op_check(c, "SCMP_CMP_EQ")
        }),
        Check::new("config-linux.seccomp.args.SCMP_CMP_NE", s, Must, |c| {
            op_check(c, "SCMP_CMP_NE")
        }),
        Check::new("config-linux.seccomp.args.SCMP_CMP_LT", s, Must, |c| {
            op_check(c, "SCMP_CMP_LT")
        }),
        Check::new("config-linux.seccomp.args.SCMP_CMP_LE", s, Must, |c| {
            op_check(c, "SCMP_CMP_LE")
        }),
        Check::new("config-linux.seccomp.args.SCMP_CMP_GT", s, Must, |c| {
            op_check(c, "SCMP_CMP_GT")
        }),
        Check::new("config-linux.seccomp.args.SCMP_CMP_GE", s, Must, |c| {
            op_check(c, "SCMP_CMP_GE")
        }),
        Check::new(
            "config-linux.seccomp.args.SCMP_CMP_MASKED_EQ",
            s,
            Must,
            |c| op_check(c, "SCMP_CMP_MASKED_EQ"),
        ),
    ]
}

/// A profile allowing everything but what `rule` says.
fn profile(rule: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
           "syscalls": [rule]})
}

/// The rule for mkdir and mkdirat with `action` (and `errnoRet`).
fn on_mkdir(action: &str, errno_ret: Option<u32>) -> Value {
    let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let Some(e) = errno_ret {
        rule["errnoRet"] = json!(e);
    }
    profile(rule)
}

/// "action (string, REQUIRED) - the action for seccomp rules": SCMP_ACT_ERRNO fails the syscall
/// (EPERM by default); other syscalls are allowed.
fn errno(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["seccomp"] = on_mkdir("SCMP_ACT_ERRNO", None),
        "mkdir /tmp/d 2>&1; touch /tmp/f && echo touch-ok",
    )?;
    expect_eq(
        "mkdir",
        out.as_str(),
        "mkdir: can't create directory '/tmp/d': Operation not permitted\ntouch-ok\n",
    )
}

/// 1.0.2: "errnoRet (uint, OPTIONAL) - the errno return code to use."
fn errno_ret(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["seccomp"] = on_mkdir("SCMP_ACT_ERRNO", Some(28)),
        "mkdir /tmp/d 2>&1; true",
    )?;
    expect_eq(
        "mkdir",
        out.as_str(),
        "mkdir: can't create directory '/tmp/d': No space left on device\n",
    )
}

/// SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS and SCMP_ACT_TRAP end the caller with SIGSYS (a trap's
/// SIGSYS cannot be ignored: the kernel forces it): its shell sees status 128 + 31.
fn dies(ctx: &Ctx, action: &str) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["seccomp"] = on_mkdir(action, None),
        "sh -c 'trap \"\" SYS; mkdir /tmp/d'; echo status $?; [ ! -d /tmp/d ] || echo made",
    )?;
    expect_eq("child's status", out.as_str(), "status 159\n")
}

/// SCMP_ACT_LOG: the syscall is allowed (and logged).
fn log(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["seccomp"] = on_mkdir("SCMP_ACT_LOG", None),
        "mkdir /tmp/d && echo made",
    )?;
    expect_eq("mkdir under SCMP_ACT_LOG", out.as_str(), "made\n")
}

/// Docker's default profile with `errno` as its defaultErrnoRet, given CAP_SYS_ADMIN (so that
/// only seccomp can refuse a mount), running `script`.
fn under_default(ctx: &Ctx, errno: Option<u32>, script: &str) -> Result<String, String> {
    let mut p: Value = serde_json::from_str(DOCKER_DEFAULT).map_err(|e| e.to_string())?;
    match errno {
        Some(e) => p["defaultErrnoRet"] = json!(e),
        None => {
            p.as_object_mut().map(|o| o.remove("defaultErrnoRet"));
        }
    }
    ctx.sh(
        move |v| {
            v["linux"]["seccomp"] = p;
            crate::harness::only_caps(v, &["CAP_SYS_ADMIN"]);
        },
        script,
    )
}

const MOUNT: &str = "mkdir /tmp/m && echo made; mount -t tmpfs t /tmp/m 2>&1; true";

/// "defaultAction (string, REQUIRED) - the default action for seccomp": a syscall no rule
/// names (mount) gets SCMP_ACT_ERRNO, EPERM; the allowed ones (mkdir) work.
fn default_action(ctx: &Ctx) -> Outcome {
    let out = under_default(ctx, None, MOUNT)?;
    expect_eq(
        "mkdir, then mount",
        out.as_str(),
        // busybox's words for EPERM.
        "made\nmount: permission denied (are you root?)\n",
    )
}

/// 1.0.2: "defaultErrnoRet (uint, OPTIONAL) - the errno return code to use. Some actions like
/// SCMP_ACT_ERRNO and SCMP_ACT_TRACE allow to specify the errno code to return."
fn default_errno_ret(ctx: &Ctx) -> Outcome {
    let out = under_default(ctx, Some(28), MOUNT)?;
    expect_eq(
        "mkdir, then mount",
        out.as_str(),
        "made\nmount: mounting t on /tmp/m failed: No space left on device\n",
    )
}

/// Each comparison op, on kill(2)'s signal argument: which of signals 0 and 28 (SIGWINCH,
/// ignored by default) it refuses. "args (array of objects, OPTIONAL) - the specific syscall in
/// seccomp ... op (string, REQUIRED)".
/// The arg for `op` and the signals (of 0 and 28) it refuses.
fn op_case(op: &str) -> (Value, &'static str) {
    let arg = |value: u64| json!({"index": 1, "value": value, "op": op});
    match op {
        "SCMP_CMP_EQ" => (arg(28), "0:ok 28:refused"),
        "SCMP_CMP_NE" => (arg(28), "0:refused 28:ok"),
        "SCMP_CMP_LT" => (arg(28), "0:refused 28:ok"),
        "SCMP_CMP_LE" => (arg(28), "0:refused 28:refused"),
        "SCMP_CMP_GT" => (arg(0), "0:ok 28:refused"),
        "SCMP_CMP_GE" => (arg(28), "0:ok 28:refused"),
        // (arg & 0b11100) == 0b11100: 28 only.
        _ => (
            json!({"index": 1, "value": 28, "valueTwo": 28, "op": op}),
            "0:ok 28:refused",
        ),
    }
}

const KILLS: &str =
    "for s in 0 28; do kill -$s $$ 2>/dev/null && echo -n \"$s:ok \" || echo -n \"$s:refused \"; done";

fn op_check(ctx: &Ctx, op: &str) -> Outcome {
    let (arg, want) = op_case(op);
    let out = ctx.sh(
        move |v| {
            v["linux"]["seccomp"] =
                profile(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [arg]}))
        },
        KILLS,
    )?;
    expect_eq(&format!("kill under {op}"), out.trim(), want)
}

/// Several args in one rule must all match: kill(pid 1, signal 0) is refused, signal 0 to
/// another pid is not.
fn args_all_match(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["seccomp"] = profile(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                         {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}))
        },
        "sleep 30 & kill -0 1 2>/dev/null && echo one-ok || echo one-refused; \
         kill -0 $! && echo other-ok; kill $!",
    )?;
    expect_eq(
        "kill -0 to pid 1, then to another",
        out.as_str(),
        "one-refused\nother-ok\n",
    )
}

/// A static i386 ELF program: mkdir("d32", 0755) through int 0x80, then exit(-result), so its
/// status is 0 if the call worked and the errno if it failed (a process killed by seccomp shows
/// 128 + 31 in its shell).
fn mkdir32_elf() -> Vec<u8> {
    const BASE: u32 = 0x0804_8000;
    const HDRS: u32 = 52 + 32;
    let mut code: Vec<u8> = Vec::new();
    let path_at = BASE + HDRS + 28;
    code.extend([0xB8, 39, 0, 0, 0]); // mov eax, 39 (i386 mkdir)
    code.push(0xBB); // mov ebx, path
    code.extend(path_at.to_le_bytes());
    code.extend([0xB9, 0xED, 0x01, 0, 0]); // mov ecx, 0755
    code.extend([0xCD, 0x80]); // int 0x80
    code.extend([0xF7, 0xD8]); // neg eax
    code.extend([0x89, 0xC3]); // mov ebx, eax
    code.extend([0xB8, 1, 0, 0, 0]); // mov eax, 1 (exit)
    code.extend([0xCD, 0x80]); // int 0x80
    assert_eq!(code.len(), 28);
    code.extend(b"d32\0");
    let size = HDRS + code.len() as u32;
    let mut elf: Vec<u8> = vec![0x7F, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for h in [2u16, 3] {
        elf.extend(h.to_le_bytes()); // e_type EXEC, e_machine 386
    }
    for w in [1u32, BASE + HDRS, 52, 0, 0] {
        elf.extend(w.to_le_bytes()); // version, entry, phoff, shoff, flags
    }
    for h in [52u16, 32, 1, 0, 0, 0] {
        elf.extend(h.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    for w in [1u32, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend(w.to_le_bytes()); // PT_LOAD of the whole file, R+X
    }
    elf.extend(code);
    elf
}

/// Write the i386 program to `path`, executable.
fn write_mkdir32(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, mkdir32_elf()).map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())
}

/// "architectures (array of strings, OPTIONAL) - the architecture used for system calls": with
/// SCMP_ARCH_X86 listed, a rule on mkdir holds for the i386 ABI too (its own syscall number,
/// 39): a 32-bit program's mkdir fails with EPERM. Needs the kernel's i386 emulation (checked
/// on the host first).
fn arch_x86(ctx: &Ctx) -> Outcome {
    if std::env::consts::ARCH != "x86_64" {
        return Err(crate::check::Failure::Skip("checked on x86_64 only".into()));
    }
    let probe = crate::harness::TempDir::new("mkdir32");
    let bin = probe.path().join("mkdir32");
    write_mkdir32(&bin)?;
    let host = std::process::Command::new(&bin)
        .current_dir(probe.path())
        .status();
    if !matches!(host, Ok(s) if s.success()) || !probe.path().join("d32").is_dir() {
        return Err(crate::check::Failure::Skip(format!(
            "this kernel runs no i386 program ({host:?}): no 32-bit syscall ABI"
        )));
    }
    let b = ctx.bundle(
        |v| v["linux"]["seccomp"] = on_mkdir("SCMP_ACT_ERRNO", None),
        "cd /tmp && /bin/mkdir32; echo $?",
    );
    write_mkdir32(&b.rootfs().join("bin/mkdir32"))?;
    let out = crate::check::run_fg_ok(&ctx.rt(), &b)?;
    expect_eq("status of the i386 mkdir (EPERM is 1)", out.trim(), "1")
}

/// SECCOMP_FILTER_FLAG_SPEC_ALLOW: the filter does not turn on the Speculative Store Bypass
/// mitigation for the process. Only observable where the kernel ties that mitigation to
/// seccomp (spec_store_bypass_disable=seccomp, the default "Mitigation: ... via prctl and
/// seccomp").
fn spec_allow(ctx: &Ctx) -> Outcome {
    let mode = std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/spec_store_bypass")
        .unwrap_or_default();
    if !mode.contains("seccomp") {
        return Err(crate::check::Failure::Skip(format!(
            "this kernel does not tie the SSB mitigation to seccomp ({})",
            mode.trim()
        )));
    }
    let line = "grep Speculation_Store_Bypass /proc/self/status";
    let with = |flags: Value| {
        move |v: &mut Value| {
            let mut p = on_mkdir("SCMP_ACT_ERRNO", None);
            p["flags"] = flags;
            v["linux"]["seccomp"] = p;
        }
    };
    let plain = ctx.sh(with(json!([])), line)?;
    let allowed = ctx.sh(with(json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"])), line)?;
    // With the flag the state is what the runtime's own process had (inherited), whatever that
    // is on this host; without it the filter forces the mitigation.
    let own = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Speculation_Store_Bypass:"))
        .map(str::to_string)
        .unwrap_or_default();
    crate::check::ensure(
        plain.contains("thread force mitigated") && allowed.trim() == own.trim(),
        format!(
            "without the flag {:?}, with it {:?} (the runtime's own: {:?})",
            plain.trim(),
            allowed.trim(),
            own.trim()
        ),
    )
}

/// With the flags the kernel knows (SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW) the filter
/// still holds: "flags (array of strings, OPTIONAL) - list of flags to use with
/// seccomp(2)".
fn known_flags(ctx: &Ctx) -> Outcome {
    let out = ctx
        .sh(
            |v| {
                let mut p = on_mkdir("SCMP_ACT_ERRNO", None);
                p["flags"] = json!([
                    "SECCOMP_FILTER_FLAG_TSYNC",
                    "SECCOMP_FILTER_FLAG_LOG",
                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
                ]);
                v["linux"]["seccomp"] = p;
            },
            "mkdir /tmp/d 2>/dev/null || echo refused",
        )
        // config.md, Valid values: "Unless support for a valid value is explicitly required,
        // runtimes MAY choose which subset of the valid values it will support": a refusal is
        // allowed, and untestable.
        .map_err(|e| {
            crate::check::Failure::Skip(format!("the runtime refuses these flags: {e}"))
        })?;
    expect_eq("mkdir", out.as_str(), "refused\n")
}
