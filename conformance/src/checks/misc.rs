//! The features command (features.md) and personality (config-linux.md).

use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, Check, Ctx, Failure, Level::*, Outcome};

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "runtime.features.ociVersion",
            "features.md#ociversionmin-and-ociversionmax",
            Must,
            features_version,
        ),
        Check::new(
            "runtime.features.hooks",
            "features.md#hooks",
            Must,
            features_hooks,
        ),
        Check::new(
            "runtime.features.mountOptions",
            "features.md#mountoptions",
            Must,
            features_mount_options,
        ),
        Check::new(
            "runtime.features.linux.namespaces",
            "features.md#namespaces",
            Must,
            features_namespaces,
        ),
        Check::new(
            "config-linux.personality",
            "config-linux.md#personality",
            Must,
            personality,
        ),
    ]
}

/// `runtime features`, or a skip if the runtime has no such command (features.md is 1.1+).
pub(crate) fn features(ctx: &Ctx) -> Result<Value, Failure> {
    let o = ctx.rt().run(&["features"]);
    if !o.status.success() {
        return Err(Failure::Skip(format!(
            "no features command: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
        )));
    }
    serde_json::from_slice(&o.stdout)
        .map_err(|e| Failure::Fail(format!("features output is not JSON: {e}")))
}

/// "ociVersionMin (string, REQUIRED) ... ociVersionMax (string, REQUIRED)."
fn features_version(ctx: &Ctx) -> Outcome {
    let f = features(ctx)?;
    ensure(
        f["ociVersionMin"].is_string() && f["ociVersionMax"].is_string(),
        format!(
            "ociVersionMin/Max: {} / {}",
            f["ociVersionMin"], f["ociVersionMax"]
        ),
    )
}

/// "hooks (array of strings, OPTIONAL) is the list of the recognized hook names": what this
/// suite sees run (prestart, poststart, poststop at least) must be listed.
fn features_hooks(ctx: &Ctx) -> Outcome {
    let f = features(ctx)?;
    let hooks: Vec<&str> = f["hooks"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for h in ["prestart", "poststart", "poststop"] {
        ensure(hooks.contains(&h), format!("hooks {hooks:?} lacks {h}"))?;
    }
    Ok(())
}

/// "mountOptions (array of strings, OPTIONAL) is the list of the recognized mount options."
fn features_mount_options(ctx: &Ctx) -> Outcome {
    let f = features(ctx)?;
    let opts: Vec<&str> = f["mountOptions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for o in [
        "ro", "rw", "nosuid", "nodev", "noexec", "bind", "rbind", "rprivate",
    ] {
        ensure(opts.contains(&o), format!("mountOptions lacks {o}"))?;
    }
    Ok(())
}

/// "namespaces (array of strings, OPTIONAL) is the list of the recognized namespaces."
fn features_namespaces(ctx: &Ctx) -> Outcome {
    let f = features(ctx)?;
    let ns: Vec<&str> = f["linux"]["namespaces"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for n in ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"] {
        ensure(
            ns.contains(&n),
            format!("linux.namespaces {ns:?} lacks {n}"),
        )?;
    }
    Ok(())
}

/// 1.1: "personality (object, OPTIONAL) sets the Linux execution personality ... domain
/// (string, REQUIRED) ... LINUX32": uname reports a 32-bit machine.
fn personality(ctx: &Ctx) -> Outcome {
    let host = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&host.stdout).trim() != "x86_64" {
        return Err(Failure::Skip("LINUX32 is checked on x86_64 only".into()));
    }
    let out = ctx.sh(
        |v| v["linux"]["personality"] = json!({"domain": "LINUX32"}),
        "uname -m",
    )?;
    expect_eq("uname -m", out.as_str(), "i686\n")
}
