//! config.md, POSIX-platform Hooks, and their place in the lifecycle (runtime.md).

use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, ns_link, Check, Ctx, Level::*, Live, Outcome};
use crate::harness::unique_id;

pub fn checks() -> Vec<Check> {
    let h = "config.md#posix-platform-hooks";
    vec![
        Check::new(
            "config.hooks.prestart.runs-at-create",
            h,
            Must,
            prestart_at_create,
        ),
        Check::new(
            "config.hooks.prestart.runtime-namespace",
            h,
            Must,
            prestart_ns,
        ),
        Check::new(
            "config.hooks.createRuntime.runs-at-create",
            h,
            Must,
            create_runtime,
        ),
        Check::new(
            "config.hooks.createContainer.container-namespace",
            h,
            Must,
            create_container,
        ),
        Check::new(
            "config.hooks.startContainer.before-program",
            h,
            Must,
            start_container,
        ),
        Check::new("config.hooks.poststart.after-start", h, Must, poststart),
        Check::new("config.hooks.poststop.after-delete", h, Must, poststop),
        Check::new("config.hooks.order-within-point", h, Must, listed_order),
        Check::new("config.hooks.state-on-stdin", h, Must, state_stdin),
        Check::new("config.hooks.state-on-stdin.pid", h, Must, state_stdin_pid),
        Check::new("config.hooks.path-args-env", h, Must, args_env),
        Check::new(
            "config.hooks.prestart.failure-errors",
            "runtime.md#lifecycle",
            Must,
            prestart_fails,
        ),
        Check::new(
            "config.hooks.createRuntime.failure-errors",
            "runtime.md#lifecycle",
            Must,
            create_runtime_fails,
        ),
        Check::new(
            "config.hooks.createContainer.failure-errors",
            "runtime.md#lifecycle",
            Must,
            create_container_fails,
        ),
        Check::new(
            "config.hooks.startContainer.failure-errors",
            "runtime.md#lifecycle",
            Must,
            start_container_fails,
        ),
        Check::new(
            "config.hooks.poststart.failure-stops",
            "runtime.md#lifecycle",
            Must,
            poststart_fails,
        ),
        Check::new(
            "config.hooks.poststop.failure-continues",
            "runtime.md#lifecycle",
            Must,
            poststop_fails,
        ),
        Check::new("config.hooks.timeout", h, Must, timeout),
    ]
}

/// A hook that appends `name` to `dir/order` and saves its stdin and mount namespace.
fn recorder(name: &str, dir: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {dir}/{name}.json; readlink /proc/self/ns/mnt > {dir}/{name}.mnt; echo {name} >> {dir}/order")],
        "env": ["PATH=/bin:/usr/bin"]
    })
}

/// Create with `hooks` made from the host dir's path (the container's /host is that dir).
fn with_hooks(ctx: &Ctx, script: &str, hooks: impl FnOnce(&str) -> Value) -> Result<Live, String> {
    // The host dir is made by Live: the hooks are written once its path is known.
    Live::create_with(
        ctx,
        |_| {},
        script,
        |b, dir| {
            let hk = hooks(&dir.to_string_lossy());
            let mut cfg = b.config.clone();
            cfg["hooks"] = hk;
            std::fs::write(b.path().join("config.json"), cfg.to_string()).map_err(|e| e.to_string())
        },
    )
}

fn order(c: &Live) -> String {
    c.host_file("order").unwrap_or_default()
}

/// 1.0.2: "The prestart hooks MUST be called after the start operation is called but before
/// the user-specified program command is executed"; runtime.md (1.0.2 lifecycle step 3 and
/// 1.1's createRuntime text): runtimes call them during create, before pivot_root. Either way
/// it has run before the program, and in every runtime here at create.
fn prestart_at_create(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "echo program >> /host/order",
        |d| json!({"prestart": [recorder("prestart", d)]}),
    )?;
    expect_eq("after create", order(&c).as_str(), "prestart\n")?;
    c.op(&["start"])?;
    c.wait_status("stopped")?;
    expect_eq("after start", order(&c).as_str(), "prestart\nprogram\n")
}

/// "prestart ... called in the runtime namespace."
fn prestart_ns(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"prestart": [recorder("prestart", d)]}),
    )?;
    let mnt = c.host_file("prestart.mnt").unwrap_or_default();
    expect_eq(
        "prestart's mount ns",
        mnt.trim(),
        ns_link("self", "mnt").as_str(),
    )
}

/// 1.1: "createRuntime hooks MUST be called as part of the create operation after the runtime
/// environment has been created ... and before the pivot_root ... in the runtime namespace."
fn create_runtime(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"createRuntime": [recorder("createRuntime", d)]}),
    )?;
    expect_eq("after create", order(&c).as_str(), "createRuntime\n")?;
    let mnt = c.host_file("createRuntime.mnt").unwrap_or_default();
    expect_eq("mount ns", mnt.trim(), ns_link("self", "mnt").as_str())
}

/// 1.1: "createContainer hooks MUST be called as part of the create operation ... in the
/// container namespace."
fn create_container(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"createContainer": [recorder("createContainer", d)]}),
    )?;
    expect_eq("after create", order(&c).as_str(), "createContainer\n")?;
    let mnt = c.host_file("createContainer.mnt").unwrap_or_default();
    let init = ns_link(&c.pid()?.to_string(), "mnt");
    expect_eq("mount ns", mnt.trim(), init.as_str())
}

/// 1.1: "startContainer hooks MUST be called before the user-specified process is executed as
/// part of the start operation ... in the container namespace."
fn start_container(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "echo program >> /host/order",
        |_| json!({"startContainer": [recorder("startContainer", "/host")]}),
    )?;
    expect_eq("after create", order(&c).as_str(), "")?;
    c.op(&["start"])?;
    c.wait_status("stopped")?;
    expect_eq(
        "after start",
        order(&c).as_str(),
        "startContainer\nprogram\n",
    )
}

/// "The poststart hooks MUST be called after the user-specified process is executed but before
/// the start operation returns."
fn poststart(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "exec sleep 300",
        |d| json!({"poststart": [recorder("poststart", d)]}),
    )?;
    expect_eq("after create", order(&c).as_str(), "")?;
    c.op(&["start"])?;
    expect_eq("when start returned", order(&c).as_str(), "poststart\n")
}

/// "The poststop hooks MUST be called after the container is deleted but before the delete
/// operation returns."
fn poststop(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"poststop": [recorder("poststop", d)]}),
    )?;
    c.op(&["start"])?;
    c.wait_status("stopped")?;
    expect_eq("before delete", order(&c).as_str(), "")?;
    c.op(&["delete"])?;
    expect_eq("when delete returned", order(&c).as_str(), "poststop\n")
}

/// "Hooks MUST be called in the listed order."
fn listed_order(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"prestart": [recorder("one", d), recorder("two", d), recorder("three", d)]}),
    )?;
    expect_eq("order", order(&c).as_str(), "one\ntwo\nthree\n")
}

fn saved_state(c: &Live, name: &str) -> Result<Value, String> {
    let s = c
        .host_file(&format!("{name}.json"))
        .ok_or(format!("{name} got no stdin saved"))?;
    serde_json::from_str(&s).map_err(|e| format!("{name}'s stdin is not JSON: {e}: {s:?}"))
}

/// "The state of the container MUST be passed to hooks over stdin so that they may do work
/// appropriate to the current state of the container."
fn state_stdin(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"prestart": [recorder("prestart", d)]}),
    )?;
    let st = saved_state(&c, "prestart")?;
    expect_eq("id", st["id"].as_str(), Some(c.id.as_str()))?;
    expect_eq("bundle", st["bundle"].as_str(), c.bundle.path().to_str())?;
    ensure(st["ociVersion"].is_string(), "no ociVersion")
}

fn state_stdin_pid(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"prestart": [recorder("prestart", d)]}),
    )?;
    let st = saved_state(&c, "prestart")?;
    expect_eq("pid", st["pid"].as_i64(), Some(c.pid()?))
}

/// "path (string, REQUIRED) with similar semantics to IEEE Std 1003.1-2008 execv's path ...
/// args (array of strings, OPTIONAL) with the same semantics as execv's argv ... env (array of
/// strings, OPTIONAL) with the same semantics as environ."
fn args_env(ctx: &Ctx) -> Outcome {
    let c = with_hooks(ctx, "true", |d| {
        json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["my-argv0", "-c", format!("tr '\\0' '\\n' < /proc/$$/cmdline | sed -n '1p;4p;5p' > {d}/hook; env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | sort >> {d}/hook"), "zeroth", "first"],
            "env": ["ONLY=this", "PATH=/bin"]
        }]})
    })?;
    expect_eq(
        "argv and env",
        c.host_file("hook").unwrap_or_default().as_str(),
        "my-argv0\nzeroth\nfirst\nONLY=this\nPATH=/bin\n",
    )
}

/// 1.0.2 lifecycle: "If any prestart hook fails, the runtime MUST generate an error, stop and
/// destroy the container."
fn prestart_fails(ctx: &Ctx) -> Outcome {
    create_hook_fails(ctx, "prestart")
}

/// "If any createRuntime hook fails, the runtime MUST generate an error, stop the
/// container, and continue the lifecycle at step 12."
fn create_runtime_fails(ctx: &Ctx) -> Outcome {
    create_hook_fails(ctx, "createRuntime")
}

/// "If any createContainer hook fails, the runtime MUST generate an error, stop the
/// container, and continue the lifecycle at step 12."
fn create_container_fails(ctx: &Ctx) -> Outcome {
    create_hook_fails(ctx, "createContainer")
}

/// A failing `kind` hook at create: an error, and no container left.
fn create_hook_fails(ctx: &Ctx, kind: &str) -> Outcome {
    let rt = ctx.rt();
    let mut b = crate::harness::Bundle::new(&["true"]);
    b.edit(|v| v["hooks"] = json!({kind: [{"path": "/bin/false"}]}));
    let id = unique_id("hookfail");
    ensure(
        !rt.create(&b, &id).status.success(),
        format!("create succeeded despite a failing {kind} hook"),
    )?;
    ensure(
        rt.state(&id).is_none(),
        format!("the container exists after its {kind} hook failed"),
    )
}

/// "If any startContainer hook fails, the runtime MUST generate an error, stop the
/// container, and continue the lifecycle at step 12." The program must not run either.
fn start_container_fails(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "echo ran > /host/program",
        |_| json!({"startContainer": [{"path": "/bin/false"}]}),
    )?;
    ensure(
        c.op(&["start"]).is_err(),
        "start succeeded despite a failing startContainer hook",
    )?;
    c.wait_status("stopped")?;
    ensure(
        !c.host.path().join("program").exists(),
        "the program ran after its startContainer hook failed",
    )
}

/// 1.3.0, lifecycle step 9: "If any poststart hook fails, the runtime MUST generate an error,
/// stop the container, and continue the lifecycle at step 12" (1.2 said: log a warning and go
/// on). So start fails, the hooks after it do not run, the container is stopped and delete
/// destroys it.
fn poststart_fails(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "sleep 300",
        |d| json!({"poststart": [{"path": "/bin/false"}, recorder("after", d)]}),
    )?;
    ensure(
        c.op(&["start"]).is_err(),
        "start succeeded although a poststart hook failed",
    )?;
    expect_eq("hooks run after the failed one", order(&c).as_str(), "")?;
    c.wait_status("stopped")?;
    c.op(&["delete"])?;
    ensure(c.rt.state(&c.id).is_none(), "the container still exists")
}

/// 1.0.2: "If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks
/// and lifecycle continue as if the hook had succeeded."
fn poststop_fails(ctx: &Ctx) -> Outcome {
    let c = with_hooks(
        ctx,
        "true",
        |d| json!({"poststop": [{"path": "/bin/false"}, recorder("after", d)]}),
    )?;
    c.op(&["start"])?;
    c.wait_status("stopped")?;
    c.op(&["delete"])?;
    expect_eq("the next poststop hook ran", order(&c).as_str(), "after\n")?;
    ensure(c.rt.state(&c.id).is_none(), "the container still exists")
}

/// "timeout (int, OPTIONAL) is the number of seconds before aborting the hook."
fn timeout(ctx: &Ctx) -> Outcome {
    let rt = ctx.rt();
    let mut b = crate::harness::Bundle::new(&["true"]);
    b.edit(|v| {
        v["hooks"] =
            json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]})
    });
    let start = std::time::Instant::now();
    let id = unique_id("hooktimeout");
    let ok = rt.create(&b, &id).status.success();
    let took = start.elapsed().as_secs();
    ensure(
        took < 15,
        format!("create took {took} s with a 1 s hook timeout"),
    )?;
    ensure(!ok, "create succeeded although its hook was aborted")
}
