//! config-linux.md, Masked Paths, Readonly Paths and Sysctl.

use serde_json::json;

use crate::check::{ensure, expect_eq, Check, Ctx, Level::*, Outcome};

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "config-linux.maskedPaths.file",
            "config-linux.md#masked-paths",
            Must,
            masked_file,
        ),
        Check::new(
            "config-linux.maskedPaths.dir",
            "config-linux.md#masked-paths",
            Must,
            masked_dir,
        ),
        Check::new(
            "config-linux.readonlyPaths.dir",
            "config-linux.md#readonly-paths",
            Must,
            readonly_dir,
        ),
        Check::new(
            "config-linux.readonlyPaths.file",
            "config-linux.md#readonly-paths",
            Must,
            readonly_file,
        ),
        Check::new(
            "config-linux.sysctl",
            "config-linux.md#sysctl",
            Must,
            sysctl,
        ),
        Check::new(
            "config-linux.sysctl.net",
            "config-linux.md#sysctl",
            Must,
            sysctl_net,
        ),
        Check::new(
            "config-linux.sysctl.host-unchanged",
            "config-linux.md#sysctl",
            Must,
            sysctl_host,
        ),
    ]
}

/// "maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the
/// container so that they cannot be read." (The host's file is not empty.)
fn masked_file(ctx: &Ctx) -> Outcome {
    let host = std::fs::read("/proc/timer_list").unwrap_or_default();
    ensure(
        !host.is_empty(),
        "the host's /proc/timer_list is empty: cannot tell",
    )?;
    let out = ctx.sh(
        |v| v["linux"]["maskedPaths"] = json!(["/proc/timer_list"]),
        "wc -c < /proc/timer_list",
    )?;
    expect_eq("bytes readable", out.trim(), "0")
}

fn masked_dir(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["maskedPaths"] = json!(["/sys/kernel"]),
        "ls /sys/kernel | wc -l",
    )?;
    expect_eq("entries", out.trim(), "0")
}

/// "readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside
/// the container."
fn readonly_dir(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["readonlyPaths"] = json!(["/proc/sys"]),
        "echo 1 > /proc/sys/kernel/shmmni 2>/dev/null && echo writable || echo read-only",
    )?;
    expect_eq("/proc/sys", out.as_str(), "read-only\n")
}

fn readonly_file(ctx: &Ctx) -> Outcome {
    let b = ctx.bundle(
        |v| {
            v["root"]["readonly"] = json!(false);
            v["linux"]["readonlyPaths"] = json!(["/etc/conf-ro"]);
        },
        "echo x >> /etc/conf-ro 2>/dev/null && echo writable || echo read-only; touch /etc/other && echo rest-writable",
    );
    std::fs::write(b.rootfs().join("etc/conf-ro"), "").map_err(|e| e.to_string())?;
    let out = crate::check::run_fg_ok(&ctx.rt(), &b)?;
    expect_eq("file", out.as_str(), "read-only\nrest-writable\n")
}

/// "sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the
/// container."
fn sysctl(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["sysctl"] = json!({"kernel.shmmni": "777"});
            v["linux"]["readonlyPaths"] = json!([]);
        },
        "cat /proc/sys/kernel/shmmni",
    )?;
    expect_eq("kernel.shmmni", out.as_str(), "777\n")
}

fn sysctl_net(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["sysctl"] =
                json!({"net.ipv4.ip_forward": "1", "net.ipv4.ping_group_range": "0 0"});
            v["linux"]["readonlyPaths"] = json!([]);
        },
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ping_group_range",
    )?;
    expect_eq(
        "net sysctls",
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["1", "0", "0"],
    )
}

/// The container's namespaced sysctls are its own: the host's value is unchanged.
fn sysctl_host(ctx: &Ctx) -> Outcome {
    let before = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap_or_default();
    let inside = ctx.sh(
        |v| {
            v["linux"]["sysctl"] = json!({"kernel.shmmni": "778"});
            v["linux"]["readonlyPaths"] = json!([]);
        },
        "cat /proc/sys/kernel/shmmni",
    )?;
    expect_eq("inside", inside.as_str(), "778\n")?;
    expect_eq(
        "host kernel.shmmni",
        std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap_or_default(),
        before,
    )
}
