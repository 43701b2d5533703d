//! config.md, Process: args, env, cwd, user, rlimits, noNewPrivileges, oomScoreAdj, terminal.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::json;

use crate::check::{expect_eq, run_fg_ok, Check, Ctx, Level::*, Live, Outcome};

mod terminal;

pub fn checks() -> Vec<Check> {
    vec![
        Check::new("config.process.args", "config.md#process", Must, args),
        Check::new(
            "config.process.args.path-lookup",
            "config.md#process",
            Must,
            path_lookup,
        ),
        Check::new("config.process.env", "config.md#process", Must, env),
        Check::new("config.process.cwd", "config.md#process", Must, cwd),
        Check::new(
            "config.process.user.uid",
            "config.md#posix-platform-user",
            Must,
            uid,
        ),
        Check::new(
            "config.process.user.gid",
            "config.md#posix-platform-user",
            Must,
            gid,
        ),
        Check::new(
            "config.process.user.additionalGids",
            "config.md#posix-platform-user",
            Must,
            additional_gids,
        ),
        Check::new(
            "config.process.user.umask",
            "config.md#posix-platform-user",
            Must,
            umask,
        ),
        Check::new(
            "config.process.user.file-owner",
            "config.md#posix-platform-user",
            Must,
            file_owner,
        ),
        Check::new(
            "config.process.rlimits.soft",
            "config.md#posix-process",
            Must,
            rlimit_soft,
        ),
        Check::new(
            "config.process.rlimits.hard",
            "config.md#posix-process",
            Must,
            rlimit_hard,
        ),
        Check::new(
            "config.process.rlimits.several",
            "config.md#posix-process",
            Must,
            rlimit_several,
        ),
        Check::new(
            "config.process.rlimits.unknown-type-errors",
            "config.md#posix-process",
            Must,
            rlimit_unknown,
        ),
        Check::new(
            "config.process.noNewPrivileges.true",
            "config.md#linux-process",
            Must,
            nnp_true,
        ),
        Check::new(
            "config.process.noNewPrivileges.false",
            "config.md#linux-process",
            Must,
            nnp_false,
        ),
        Check::new(
            "config.process.oomScoreAdj",
            "config.md#linux-process",
            Must,
            oom_score_adj,
        ),
        Check::new(
            "config.process.oomScoreAdj.host-view",
            "config.md#linux-process",
            Must,
            oom_host,
        ),
        Check::new(
            "config.process.terminal.false",
            "config.md#process",
            Must,
            terminal_false,
        ),
        Check::new(
            "config.process.terminal.console-socket",
            "config.md#process",
            Must,
            terminal::pty,
        ),
        Check::new(
            "config-linux.devices.default.console",
            "config-linux.md#default-devices",
            Must,
            terminal::dev_console,
        ),
        Check::new(
            "config.process.consoleSize",
            "config.md#process",
            Must,
            terminal::size,
        ),
    ]
}

/// "args (array of strings, REQUIRED) with similar semantics to IEEE Std 1003.1-2008 execvp's
/// argv": every element reaches the program as is, empty and spaced ones too.
fn args(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["process"]["args"] = json!([
                "sh",
                "-c",
                "for a in \"$0\" \"$@\"; do echo \"[$a]\"; done",
                "zero",
                "two words",
                ""
            ])
        },
        "",
    );
    let out = out?;
    expect_eq("argv", out.as_str(), "[zero]\n[two words]\n[]\n")
}

/// execvp semantics: a bare program name is found in the container's PATH (process.env).
fn path_lookup(ctx: &Ctx) -> Outcome {
    let b = ctx.bundle(
        |v| {
            v["process"]["env"] = json!(["PATH=/custom:/bin"]);
            v["process"]["args"] = json!(["hello-conformance", "arg"]);
        },
        "",
    );
    let dir = b.rootfs().join("custom");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let f = dir.join("hello-conformance");
    std::fs::write(&f, "#!/bin/sh\necho found $1\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    expect_eq("output", run_fg_ok(&ctx.rt(), &b)?.as_str(), "found arg\n")
}

/// "env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's
/// environ": exactly these, nothing of the runtime's own environment (HOME may be added, as
/// runc does, and the shell adds PWD and SHLVL).
fn env(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["env"] = json!(["PATH=/bin", "A=1", "B=two words", "EMPTY="]),
        "env | sort",
    )?;
    let got: Vec<&str> = out
        .lines()
        .filter(|l| !["PWD=", "SHLVL=", "HOME="].iter().any(|p| l.starts_with(p)))
        .collect();
    expect_eq(
        "env",
        got,
        vec!["A=1", "B=two words", "EMPTY=", "PATH=/bin"],
    )
}

/// "cwd (string, REQUIRED) is the working directory that will be set for the executable."
fn cwd(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(|v| v["process"]["cwd"] = json!("/etc"), "pwd")?;
    expect_eq("pwd", out.as_str(), "/etc\n")
}

/// "uid (int, REQUIRED) specifies the user ID in the container namespace."
fn uid(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["user"] = json!({"uid": 1234, "gid": 0}),
        "id -u; grep ^Uid /proc/self/status",
    )?;
    expect_eq("uid", out.as_str(), "1234\nUid:\t1234\t1234\t1234\t1234\n")
}

/// "gid (int, REQUIRED) specifies the group ID in the container namespace."
fn gid(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["user"] = json!({"uid": 0, "gid": 4321}),
        "grep ^Gid /proc/self/status",
    )?;
    expect_eq("gid", out.as_str(), "Gid:\t4321\t4321\t4321\t4321\n")
}

/// "additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container
/// namespace to be added to the process."
fn additional_gids(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7, 3000]})
        },
        "grep ^Groups /proc/self/status",
    )?;
    let mut groups: Vec<u32> = out
        .trim()
        .trim_start_matches("Groups:")
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    groups.sort();
    groups.retain(|g| *g != 1000);
    expect_eq("supplementary groups", groups, vec![5, 7, 3000])
}

/// "umask (int, OPTIONAL) specifies the umask of the user."
fn umask(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["user"] = json!({"uid": 0, "gid": 0, "umask": 0o27}),
        "umask; touch /tmp/f; stat -c %a /tmp/f",
    )?;
    expect_eq("umask and a new file's mode", out.as_str(), "0027\n640\n")
}

/// From the host: a file the program makes is owned by the configured uid and gid.
fn file_owner(ctx: &Ctx) -> Outcome {
    let c = Live::create_with(
        ctx,
        |v| v["process"]["user"] = json!({"uid": 1234, "gid": 4321}),
        "touch /host/made; echo ok > /host/mark",
        |_, host| {
            std::fs::set_permissions(host, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| e.to_string())
        },
    )?;
    c.op(&["start"])?;
    c.wait_file("mark")?;
    let m =
        std::fs::metadata(c.host.path().join("made")).map_err(|e| format!("no file made: {e}"))?;
    expect_eq("owner", (m.uid(), m.gid()), (1234, 4321))
}

fn host_nofile_hard() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the live struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    r.rlim_max.min(4096)
}

/// "rlimits (array of objects, OPTIONAL) allows setting resource limits for the process ...
/// soft (uint64, REQUIRED) is the value of the limit enforced for the corresponding resource."
/// (The hard value stays at or below the host's: this host cannot raise it.)
fn rlimit_soft(ctx: &Ctx) -> Outcome {
    let hard = host_nofile_hard();
    let out = ctx.sh(
        |v| v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": hard}]),
        "ulimit -n",
    )?;
    expect_eq("soft NOFILE", out.as_str(), "321\n")
}

/// "hard (uint64, REQUIRED) is the ceiling for the soft limit that could be set by an
/// unprivileged process."
fn rlimit_hard(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 777}]),
        "ulimit -Hn",
    )?;
    expect_eq("hard NOFILE", out.as_str(), "777\n")
}

/// Every entry is applied, not only the first.
fn rlimit_several(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                {"type": "RLIMIT_NPROC", "soft": 555, "hard": 555}
            ])
        },
        "ulimit -n; ulimit -c; ulimit -u",
    )?;
    expect_eq("NOFILE, CORE, NPROC", out.as_str(), "100\n0\n555\n")
}

/// "type (string, REQUIRED) the platform resource being limited ... the runtime MUST generate an
/// error for any values which cannot be mapped to a relevant kernel interface."
fn rlimit_unknown(ctx: &Ctx) -> Outcome {
    ctx.create_fails(|v| {
        v["process"]["rlimits"] =
            json!([{"type": "RLIMIT_CONFORMANCE_BOGUS", "soft": 1, "hard": 1}])
    })
}

/// "noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from
/// gaining additional privileges."
fn nnp_true(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["noNewPrivileges"] = json!(true),
        "grep ^NoNewPrivs /proc/self/status",
    )?;
    expect_eq("NoNewPrivs", out.as_str(), "NoNewPrivs:\t1\n")
}

/// false leaves the flag clear (the runtime's own no_new_privs must not leak in).
fn nnp_false(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["noNewPrivileges"] = json!(false),
        "grep ^NoNewPrivs /proc/self/status",
    )?;
    expect_eq("NoNewPrivs", out.as_str(), "NoNewPrivs:\t0\n")
}

/// "oomScoreAdj (int, OPTIONAL) adjusts the oom-killer score in [pid]/oom_score_adj for the
/// process's [pid] in a proc pseudo-filesystem."
fn oom_score_adj(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["process"]["oomScoreAdj"] = json!(345),
        "cat /proc/self/oom_score_adj",
    )?;
    expect_eq("oom_score_adj", out.as_str(), "345\n")
}

/// The same from the host, on the state's pid.
fn oom_host(ctx: &Ctx) -> Outcome {
    // Raising the score needs no privilege (lowering it needs CAP_SYS_RESOURCE).
    let c = Live::started(
        ctx,
        |v| v["process"]["oomScoreAdj"] = json!(456),
        "echo up > /host/mark; exec sleep 300",
    )?;
    c.wait_file("mark")?;
    let adj =
        std::fs::read_to_string(format!("/proc/{}/oom_score_adj", c.pid()?)).unwrap_or_default();
    expect_eq("host /proc/PID/oom_score_adj", adj.as_str(), "456\n")
}

/// "terminal (bool, OPTIONAL) specifies whether a terminal is attached to the process": false
/// means none, the program's stdio is the runtime's (here files).
fn terminal_false(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(|v| v["process"]["terminal"] = json!(false), "tty || true")?;
    expect_eq("tty", out.as_str(), "not a tty\n")
}
