//! runtime.md, Lifecycle and Operations: create, start, kill, delete and their errors.

use serde_json::json;

use crate::check::{
    ensure, expect_eq, keep, ns_link, sleep_ms, Check, Ctx, Level::*, Live, Outcome,
};
use crate::harness::unique_id;

const RUN: &str = "echo ran >> /host/mark; exec sleep 300";

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "runtime.lifecycle.create.status-created",
            "runtime.md#create",
            Must,
            create_status,
        ),
        Check::new(
            "runtime.lifecycle.create.program-not-run",
            "runtime.md#lifecycle",
            Must,
            create_not_run,
        ),
        Check::new(
            "runtime.lifecycle.create.resources-created",
            "runtime.md#create",
            Must,
            create_resources,
        ),
        Check::new(
            "runtime.lifecycle.create.duplicate-id-errors",
            "runtime.md#create",
            Must,
            duplicate_errors,
        ),
        Check::new(
            "runtime.lifecycle.create.duplicate-id-keeps-first",
            "runtime.md#create",
            Must,
            duplicate_keeps,
        ),
        Check::new(
            "runtime.lifecycle.create.config-edits-no-effect",
            "runtime.md#lifecycle",
            Must,
            config_edits,
        ),
        Check::new(
            "runtime.lifecycle.create.unsatisfiable-config-errors",
            "runtime.md#lifecycle",
            Must,
            unsatisfiable,
        ),
        Check::new(
            "runtime.lifecycle.create.error-leaves-nothing",
            "runtime.md#errors",
            Must,
            error_leaves_nothing,
        ),
        Check::new(
            "runtime.lifecycle.start.runs-program",
            "runtime.md#start",
            Must,
            start_runs,
        ),
        Check::new(
            "runtime.lifecycle.start.status-running",
            "runtime.md#start",
            Must,
            start_running,
        ),
        Check::new(
            "runtime.lifecycle.start.twice-errors",
            "runtime.md#start",
            Must,
            start_twice,
        ),
        Check::new(
            "runtime.lifecycle.start.twice-no-effect",
            "runtime.md#start",
            Must,
            start_twice_no_effect,
        ),
        Check::new(
            "runtime.lifecycle.start.stopped-errors",
            "runtime.md#start",
            Must,
            start_stopped,
        ),
        Check::new(
            "runtime.lifecycle.start.unknown-id-errors",
            "runtime.md#start",
            Must,
            start_unknown,
        ),
        Check::new(
            "runtime.lifecycle.kill.signal-delivered",
            "runtime.md#kill",
            Must,
            kill_delivered,
        ),
        Check::new(
            "runtime.lifecycle.kill.running-stops",
            "runtime.md#kill",
            Must,
            kill_running,
        ),
        Check::new(
            "runtime.lifecycle.kill.created",
            "runtime.md#kill",
            Must,
            kill_created,
        ),
        Check::new(
            "runtime.lifecycle.kill.stopped-errors",
            "runtime.md#kill",
            Must,
            kill_stopped,
        ),
        Check::new(
            "runtime.lifecycle.kill.unknown-id-errors",
            "runtime.md#kill",
            Must,
            kill_unknown,
        ),
        Check::new(
            "runtime.lifecycle.exit-is-stopped",
            "runtime.md#kill",
            Must,
            exit_stopped,
        ),
        Check::new(
            "runtime.lifecycle.delete.running-errors",
            "runtime.md#delete",
            Must,
            delete_running,
        ),
        Check::new(
            "runtime.lifecycle.delete.created-errors",
            "runtime.md#delete",
            Must,
            delete_created,
        ),
        Check::new(
            "runtime.lifecycle.delete.stopped-removes",
            "runtime.md#delete",
            Must,
            delete_stopped,
        ),
        Check::new(
            "runtime.lifecycle.delete.unknown-id-errors",
            "runtime.md#delete",
            Must,
            delete_unknown,
        ),
        Check::new(
            "runtime.lifecycle.delete.removes-cgroup",
            "runtime.md#delete",
            Must,
            delete_cgroup,
        ),
        Check::new(
            "runtime.lifecycle.delete.keeps-foreign-resources",
            "runtime.md#delete",
            Must,
            delete_keeps_foreign,
        ),
        Check::new(
            "runtime.lifecycle.state.unknown-id-errors",
            "runtime.md#query-state",
            Must,
            state_unknown,
        ),
    ]
}

/// "Upon successful completion of this operation the `status` property of this container MUST
/// be `created`."
fn create_status(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    expect_eq("status", c.status().as_str(), "created")
}

/// "the user-specified code (from process) MUST NOT be run at this time."
fn create_not_run(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    sleep_ms(300);
    ensure(c.host_file("mark").is_none(), "the program ran at create")?;
    // And it does run once started: the mark is a real witness.
    c.op(&["start"])?;
    c.wait_file("mark").map(|_| ()).map_err(Into::into)
}

/// "all of the resources associated with the container MUST be created": the init exists
/// in its new namespaces at create.
fn create_resources(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    let pid = c.pid()?.to_string();
    for ns in ["uts", "ipc", "net", "mnt"] {
        let l = ns_link(&pid, ns);
        ensure(
            !l.is_empty() && l != ns_link("self", ns),
            format!("{ns} namespace not created at create"),
        )?;
    }
    Ok(())
}

/// "If the ID provided is not unique ... the implementation MUST generate an error and a new
/// container MUST NOT be created."
fn duplicate_errors(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    ensure(
        !c.rt.create(&c.bundle, &c.id).status.success(),
        "a second create with the same id succeeded",
    )
}

fn duplicate_keeps(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    let pid = c.pid()?;
    let _ = c.rt.create(&c.bundle, &c.id);
    expect_eq("status", c.status().as_str(), "created")?;
    expect_eq("pid", c.pid()?, pid)
}

/// "Any updates to config.json after this step MUST NOT affect the container."
fn config_edits(ctx: &Ctx) -> Outcome {
    let mut c = Live::create(
        ctx,
        |v| v["process"]["env"] = json!(["PATH=/bin", "MARK=before"]),
        "echo $MARK > /host/mark; sleep 300",
    )?;
    c.bundle
        .edit(|v| v["process"]["env"] = json!(["PATH=/bin", "MARK=after"]));
    c.op(&["start"])?;
    expect_eq("program's env", c.wait_file("mark")?.as_str(), "before\n")
}

/// "If the runtime is unable to create the environment specified in the config.json, it MUST
/// generate an error." A bind mount of a missing source cannot be made.
fn unsatisfiable(ctx: &Ctx) -> Outcome {
    ctx.create_fails(|v| {
        v["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/x", "type": "bind", "source": "/nonexistent/conformance", "options": ["rbind"]}),
        )
    })
}

/// "generating an error MUST leave the state of the environment as if the operation were never
/// attempted": no container, no cgroup left by a create that failed late.
fn error_leaves_nothing(ctx: &Ctx) -> Outcome {
    let path = format!("/conformance/{}", unique_id("fail"));
    let p = path.clone();
    ctx.create_fails(move |v| {
        v["linux"]["cgroupsPath"] = json!(p);
        v["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/x", "type": "bind", "source": "/nonexistent/conformance", "options": ["rbind"]}),
        )
    })?;
    for ctrl in ["memory", "pids", "devices", "cpu", "hugetlb"] {
        if let Some(h) = crate::cgroupfs::hierarchy(ctrl) {
            let d = h.dir(&path);
            ensure(!d.exists(), format!("{} left behind", d.display()))?;
        }
    }
    Ok(())
}

/// "The runtime MUST run the user-specified code, as specified by process."
fn start_runs(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, RUN)?;
    expect_eq("mark", c.wait_file("mark")?.as_str(), "ran\n")
}

/// "Upon successful completion of this operation the status property of this container MUST be
/// running."
fn start_running(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, RUN)?;
    expect_eq("status", c.status().as_str(), "running")
}

/// "Attempting to start an already started container MUST have no effect on the container and
/// MUST generate an error."
fn start_twice(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, RUN)?;
    c.wait_file("mark")?;
    ensure(!c.op_succeeds(&["start"], &[]), "a second start succeeded")
}

fn start_twice_no_effect(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, RUN)?;
    c.wait_file("mark")?;
    let pid = c.pid()?;
    let _ = c.op_succeeds(&["start"], &[]);
    sleep_ms(200);
    expect_eq("status", c.status().as_str(), "running")?;
    expect_eq("pid", c.pid()?, pid)?;
    expect_eq(
        "program runs",
        c.host_file("mark").unwrap_or_default().as_str(),
        "ran\n",
    )
}

/// Starting a stopped container: it is not `created`, so start MUST error.
fn start_stopped(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, "true")?;
    c.wait_status("stopped")?;
    ensure(
        !c.op_succeeds(&["start"], &[]),
        "start of a stopped container succeeded",
    )
}

/// "Attempting to start a container that does not exist MUST generate an error."
fn start_unknown(ctx: &Ctx) -> Outcome {
    let rt = ctx.rt();
    ensure(
        !rt.run(&["start", &unique_id("nosuch")]).status.success(),
        "start of an unknown id succeeded",
    )
}

/// "This operation MUST send the specified signal to the container process."
fn kill_delivered(ctx: &Ctx) -> Outcome {
    let c = Live::started(
        ctx,
        keep,
        "trap 'echo usr1 > /host/sig' USR1; echo up > /host/mark; while :; do sleep 0.1; done",
    )?;
    c.wait_file("mark")?;
    ensure(c.op_succeeds(&["kill"], &["USR1"]), "kill USR1 failed")?;
    expect_eq("trap output", c.wait_file("sig")?.as_str(), "usr1\n")
}

/// "When the process in the container is stopped, irrespective of it being as a result of a
/// kill operation or any other reason, the status property of this container MUST be stopped."
fn kill_running(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, RUN)?;
    ensure(c.op_succeeds(&["kill"], &["KILL"]), "kill KILL failed")?;
    c.wait_status("stopped")
}

/// 1.0.2: "Attempting to send a signal to a container that is neither created nor running MUST
/// have no effect on the container and MUST generate an error": a created one can be signalled.
fn kill_created(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    ensure(
        c.op_succeeds(&["kill"], &["KILL"]),
        "kill of a created container failed",
    )?;
    c.wait_status("stopped")
}

fn kill_stopped(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, "true")?;
    c.wait_status("stopped")?;
    ensure(
        !c.op_succeeds(&["kill"], &["KILL"]),
        "kill of a stopped container succeeded",
    )
}

fn kill_unknown(ctx: &Ctx) -> Outcome {
    let rt = ctx.rt();
    ensure(
        !rt.run(&["kill", &unique_id("nosuch"), "KILL"])
            .status
            .success(),
        "kill of an unknown id succeeded",
    )
}

/// The program exiting on its own stops the container too (same sentence as kill-running).
fn exit_stopped(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, "exit 3")?;
    c.wait_status("stopped")
}

/// 1.0.2: "Attempting to delete a container that is not stopped MUST have no effect on the
/// container and MUST generate an error."
fn delete_running(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, RUN)?;
    ensure(
        !c.op_succeeds(&["delete"], &[]),
        "delete of a running container succeeded",
    )?;
    expect_eq(
        "status after the failed delete",
        c.status().as_str(),
        "running",
    )
}

/// Same sentence: a created container is not stopped either.
fn delete_created(ctx: &Ctx) -> Outcome {
    let c = Live::create(ctx, keep, RUN)?;
    ensure(
        !c.op_succeeds(&["delete"], &[]),
        "delete of a created container succeeded",
    )?;
    expect_eq(
        "status after the failed delete",
        c.status().as_str(),
        "created",
    )
}

/// "Deleting a container MUST delete the resources that were created during the create step."
fn delete_stopped(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, "true")?;
    c.wait_status("stopped")?;
    c.op(&["delete"])?;
    ensure(
        c.rt.state(&c.id).is_none(),
        "state still answers after delete",
    )
}

/// "Attempting to delete a container that does not exist MUST generate an error."
fn delete_unknown(ctx: &Ctx) -> Outcome {
    let rt = ctx.rt();
    ensure(
        !rt.run(&["delete", &unique_id("nosuch")]).status.success(),
        "delete of an unknown id succeeded",
    )
}

/// The cgroup made at create is one of those resources.
fn delete_cgroup(ctx: &Ctx) -> Outcome {
    let path = format!("/conformance/{}", unique_id("del"));
    let p = path.clone();
    let c = Live::started(ctx, move |v| v["linux"]["cgroupsPath"] = json!(p), "true")?;
    let h = crate::checks::cgroups::hierarchy("memory")?;
    let dir = h.dir(&path);
    ensure(dir.exists(), "no cgroup was made at cgroupsPath")?;
    c.wait_status("stopped")?;
    c.op(&["delete"])?;
    ensure(
        !dir.exists(),
        format!("{} left after delete", dir.display()),
    )
}

/// "resources associated with the container, but not created by this container, MUST NOT be
/// deleted": a bind-mounted host directory and its files stay.
fn delete_keeps_foreign(ctx: &Ctx) -> Outcome {
    let c = Live::started(ctx, keep, "echo x > /host/kept")?;
    c.wait_status("stopped")?;
    c.op(&["delete"])?;
    ensure(
        c.host.path().join("kept").exists(),
        "the bind source's file was removed",
    )
}

/// "Attempting to query a container that does not exist MUST generate an error."
fn state_unknown(ctx: &Ctx) -> Outcome {
    let rt = ctx.rt();
    ensure(
        !rt.run(&["state", &unique_id("nosuch")]).status.success(),
        "state of an unknown id succeeded",
    )
}
