//! config.md, Linux process: process.capabilities, each set read back from /proc/self/status.

use serde_json::{json, Value};

use crate::check::{expect_eq, Check, Ctx, Level::*, Outcome};

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "config.process.capabilities.bounding",
            "config.md#linux-process",
            Must,
            bounding,
        ),
        Check::new(
            "config.process.capabilities.effective",
            "config.md#linux-process",
            Must,
            effective,
        ),
        Check::new(
            "config.process.capabilities.permitted",
            "config.md#linux-process",
            Must,
            permitted,
        ),
        Check::new(
            "config.process.capabilities.inheritable",
            "config.md#linux-process",
            Must,
            inheritable,
        ),
        Check::new(
            "config.process.capabilities.ambient",
            "config.md#linux-process",
            Must,
            ambient,
        ),
        Check::new(
            "config.process.capabilities.empty-non-root",
            "config.md#linux-process",
            Must,
            empty_non_root,
        ),
        Check::new(
            "config.process.capabilities.ambient-non-root",
            "config.md#linux-process",
            Must,
            ambient_non_root,
        ),
        Check::new(
            "config.process.capabilities.enforced",
            "config.md#linux-process",
            Must,
            enforced,
        ),
    ]
}

// CAP_CHOWN=0 CAP_KILL=5 CAP_NET_BIND_SERVICE=10 CAP_NET_RAW=13 CAP_SYS_ADMIN=21
// CAP_AUDIT_WRITE=29
fn mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, c| m | (1 << c)))
}

/// Distinct sets, so a runtime that copies one set into another is caught.
fn sets() -> Value {
    json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN", "CAP_AUDIT_WRITE"],
        "effective": ["CAP_KILL", "CAP_SYS_ADMIN"],
        "permitted": ["CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    })
}

/// One line of /proc/self/status for the process run with `caps` as `user`.
fn cap_line(ctx: &Ctx, caps: Value, user: Value, key: &str) -> Result<String, String> {
    let out = ctx.sh(
        |v| {
            v["process"]["capabilities"] = caps;
            v["process"]["user"] = user;
        },
        &format!("grep ^{key}: /proc/self/status"),
    )?;
    Ok(out
        .trim()
        .trim_start_matches(&format!("{key}:"))
        .trim()
        .to_string())
}

fn root() -> Value {
    json!({"uid": 0, "gid": 0})
}

/// "bounding (array of strings, OPTIONAL) the bounding field contains an array of
/// capabilities that are kept in the bounding set for the process."
fn bounding(ctx: &Ctx) -> Outcome {
    expect_eq(
        "CapBnd",
        cap_line(ctx, sets(), root(), "CapBnd")?,
        mask(&[0, 5, 10, 21, 29]),
    )
}

/// "effective ... capabilities that are kept in the effective set for the process." For uid 0,
/// execve recomputes effective as the whole permitted set (capabilities(7)), so the program must
/// have the configured effective capabilities and nothing outside permitted.
fn effective(ctx: &Ctx) -> Outcome {
    let eff = cap_line(ctx, sets(), root(), "CapEff")?;
    let got = u64::from_str_radix(&eff, 16).map_err(|e| e.to_string())?;
    let permitted = u64::from_str_radix(&mask(&[5, 10, 21]), 16).unwrap_or(0);
    expect_eq(
        "CapEff outside permitted",
        format!("{:016x}", got & !permitted),
        mask(&[]),
    )?;
    expect_eq(
        "CapEff has the effective set",
        got & (1 << 5 | 1 << 21),
        1 << 5 | 1 << 21,
    )
}

/// "permitted ... capabilities that are kept in the permitted set for the process."
fn permitted(ctx: &Ctx) -> Outcome {
    expect_eq(
        "CapPrm",
        cap_line(ctx, sets(), root(), "CapPrm")?,
        mask(&[5, 10, 21]),
    )
}

/// "inheritable ... capabilities that are kept in the inheritable set for the process."
fn inheritable(ctx: &Ctx) -> Outcome {
    expect_eq(
        "CapInh",
        cap_line(ctx, sets(), root(), "CapInh")?,
        mask(&[0, 10]),
    )
}

/// "ambient ... capabilities that are kept in the ambient set for the process."
fn ambient(ctx: &Ctx) -> Outcome {
    expect_eq(
        "CapAmb",
        cap_line(ctx, sets(), root(), "CapAmb")?,
        mask(&[10]),
    )
}

/// Empty sets for a non-root user: every set is empty.
fn empty_non_root(ctx: &Ctx) -> Outcome {
    let user = json!({"uid": 65534, "gid": 65534});
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        expect_eq(key, cap_line(ctx, json!({}), user.clone(), key)?, mask(&[]))?;
    }
    Ok(())
}

/// Ambient capabilities survive execve for a non-root user and are effective there.
fn ambient_non_root(ctx: &Ctx) -> Outcome {
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    let all = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps});
    expect_eq(
        "CapEff",
        cap_line(ctx, all, json!({"uid": 1000, "gid": 1000}), "CapEff")?,
        mask(&[10]),
    )
}

/// The sets are enforced, not only reported: without CAP_CHOWN, root cannot chown a file it
/// does not own... nor any file, as CAP_CHOWN is what allows it.
fn enforced(ctx: &Ctx) -> Outcome {
    let caps = json!(["CAP_KILL"]);
    let out = ctx.sh(
        |v| {
            v["process"]["capabilities"] =
                json!({"bounding": caps, "effective": caps, "permitted": caps});
            v["process"]["user"] = root();
        },
        "touch /tmp/f; chown 1000 /tmp/f 2>/dev/null && echo chowned || echo denied",
    )?;
    expect_eq("chown without CAP_CHOWN", out.as_str(), "denied\n")
}
