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
            for set in ["bounding", "effective", "permitted"] {
                v["process"]["capabilities"][set] = json!(["CAP_SYS_ADMIN"]);
            }
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
