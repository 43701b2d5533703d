//! config.md, Extensibility and Valid values: what a runtime does with properties it does not
//! know (runs the container) and with values the spec rules out (refuses them, leaving no
//! container).
//!
//! config.md: "Runtimes MAY log unknown properties but MUST otherwise ignore them. That
//! includes not generating errors if they encounter an unknown property." and "Runtimes MUST
//! generate an error when invalid or unsupported values are encountered."

use serde_json::{json, Value};

use crate::check::{expect_eq, Check, Ctx, Level::*, Outcome};

pub fn checks() -> Vec<Check> {
    let ext = "config.md#extensibility";
    let valid = "config.md#valid-values";
    vec![
        Check::new(
            "config.unknown-properties-ignored",
            ext,
            Must,
            unknown_ignored,
        ),
        Check::new(
            "config-linux.namespaces.unknown-type-errors",
            valid,
            Must,
            |c| {
                c.create_fails(|v| {
                    ns(v).push(json!({"type": "nosuch"}));
                })
            },
        ),
        // config-linux.md: "If a namespaces field contains duplicated namespaces with same
        // type, the runtime MUST generate an error."
        Check::new(
            "config-linux.namespaces.duplicate-errors",
            "config-linux.md#namespaces",
            Must,
            |c| {
                c.create_fails(|v| {
                    ns(v).push(json!({"type": "uts"}));
                })
            },
        ),
        // config.md: "cwd (string, REQUIRED) is the working directory that will be set for the
        // executable. This value MUST be an absolute path."
        Check::new("config.process.cwd.relative-errors", valid, Must, |c| {
            c.create_fails(|v| v["process"]["cwd"] = json!("tmp"))
        }),
        // config.md: "timeout (int, OPTIONAL) is the number of seconds before aborting the
        // hook. If set, timeout MUST be greater than zero."
        Check::new("config.hooks.timeout.zero-errors", valid, Must, |c| {
            c.create_fails(|v| {
                v["hooks"] = json!({"prestart": [{"path": "/bin/true", "timeout": 0}]})
            })
        }),
        Check::new(
            "config.mounts.destination.relative",
            "config.md#mounts",
            Must,
            relative_destination,
        ),
    ]
}

fn ns(v: &mut Value) -> &mut Vec<Value> {
    v["linux"]["namespaces"]
        .as_array_mut()
        .expect("the bundle has namespaces")
}

/// Unknown properties at the top level, in process, in linux and in a mount: the container
/// runs as if they were not there.
fn unknown_ignored(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["org.example.conformance"] = json!({"nested": [1, 2]});
            v["process"]["orgExampleUnknown"] = json!("x");
            v["linux"]["orgExampleUnknown"] = json!(true);
            if let Some(m) = v["mounts"].as_array_mut().and_then(|a| a.first_mut()) {
                m["orgExampleUnknown"] = json!(7);
            }
        },
        "echo ran",
    )?;
    expect_eq("output", out.as_str(), "ran\n")
}

/// config.md: "destination ... Linux: This value SHOULD be an absolute path. For compatibility
/// with old tools and configurations, it MAY be a relative path, in which case it MUST be
/// interpreted as relative to "/"."
fn relative_destination(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            if let Some(a) = v["mounts"].as_array_mut() {
                a.push(
                    json!({"destination": "relmnt", "type": "tmpfs", "source": "conformance-rel"}),
                );
            }
        },
        "grep -c ' /relmnt .* conformance-rel ' /proc/self/mountinfo",
    )?;
    expect_eq("mounts of conformance-rel at /relmnt", out.trim(), "1")
}
