//! runtime.md, State: the fields of the state JSON.

use serde_json::json;

use crate::check::{ensure, expect_eq, keep, ns_link, Check, Ctx, Level::*, Live, Outcome};

const SLEEP: &str = "exec sleep 300";

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "runtime.state.ociVersion",
            "runtime.md#state",
            Must,
            oci_version,
        ),
        Check::new("runtime.state.id", "runtime.md#state", Must, id),
        Check::new(
            "runtime.state.status.defined-values",
            "runtime.md#state",
            Must,
            status_values,
        ),
        Check::new(
            "runtime.state.pid.host-view",
            "runtime.md#state",
            Must,
            pid_host_view,
        ),
        Check::new(
            "runtime.state.pid.is-program",
            "runtime.md#state",
            Must,
            pid_is_program,
        ),
        Check::new("runtime.state.bundle", "runtime.md#state", Must, bundle),
        Check::new(
            "runtime.state.annotations",
            "runtime.md#state",
            Must,
            annotations,
        ),
    ]
}

/// "ociVersion (string, REQUIRED) is version of the Open Container Initiative Runtime
/// Specification with which the state complies."
fn oci_version(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, SLEEP)?;
    let st = c.state()?;
    let v = st["ociVersion"].as_str().unwrap_or("");
    ensure(
        v.split('.').count() >= 3 && v.starts_with("1."),
        format!("ociVersion {:?} is not a 1.x version", st["ociVersion"]),
    )
}

/// "id (string, REQUIRED) is the container's ID."
fn id(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, SLEEP)?;
    expect_eq("id", c.state()?["id"].clone(), json!(c.id))
}

/// "status (string, REQUIRED) is the runtime state of the container. The value MAY be one of:
/// creating, created, running, stopped. Additional values MAY be defined by the runtime, however,
/// they MUST be used to represent new runtime states not defined above": a created, a running and
/// a stopped container each say exactly that.
fn status_values(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, "while [ ! -e /host/go ]; do sleep 0.05; done")?;
    expect_eq("after create", c.status().as_str(), "created")?;
    c.op(&["start"])?;
    expect_eq("after start", c.status().as_str(), "running")?;
    std::fs::write(c.host.path().join("go"), "go\n").map_err(|e| e.to_string())?;
    c.wait_status("stopped")
}

/// "pid (int, REQUIRED when status is created or running on Linux) is the ID of the container
/// process, as seen by the host": a host pid, in the container's pid namespace.
fn pid_host_view(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, SLEEP)?;
    let pid = c.pid()?.to_string();
    let ns = ns_link(&pid, "pid");
    ensure(!ns.is_empty(), format!("no host process {pid}"))?;
    ensure(
        ns != ns_link("self", "pid"),
        "the pid's process is in the host's pid namespace",
    )
}

/// After start, the pid is the container process: the program itself.
fn pid_is_program(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, "echo up > /host/mark; exec sleep 300")?;
    c.wait_file("mark")?;
    let pid = c.pid()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    expect_eq(
        "cmdline of pid",
        String::from_utf8_lossy(&cmd).as_ref(),
        "sleep\x00300\x00",
    )
}

/// "bundle (string, REQUIRED) is the absolute path to the container's bundle directory."
fn bundle(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, SLEEP)?;
    let st = c.state()?;
    expect_eq("bundle", st["bundle"].as_str(), c.bundle.path().to_str())
}

/// "annotations (map, OPTIONAL) contains the list of annotations associated with the container."
fn annotations(ctx: &Ctx) -> Outcome {
    let c = Live::create(
        ctx,
        |v| v["annotations"] = json!({"org.example.key": "value", "org.example.other": "2"}),
        SLEEP,
    )?;
    expect_eq(
        "annotations",
        c.state()?["annotations"].clone(),
        json!({"org.example.key": "value", "org.example.other": "2"}),
    )
}
