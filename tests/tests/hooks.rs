//! OCI hooks: each point runs at its moment, in its namespace, with the state on stdin;
//! failures of the create-time hooks tear the container down; timeouts kill the hook.

use std::path::Path;

use gantry_tests::*;
use serde_json::{json, Value};

/// A hook that records its stdin, its mount namespace and its place in the order. `dir` is
/// where it writes, as seen by the hook (host path, or /out inside the container).
fn recorder(name: &str, dir: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {dir}/{name}.json; readlink /proc/self/ns/mnt > {dir}/{name}.mnt; echo {name} >> {dir}/order")],
        "env": ["PATH=/bin:/usr/bin"]
    })
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

#[test]
fn every_hook_point_in_order_with_state() {
    let rt = Rt::new();
    let out = TempDir::new("hooks");
    let o = out.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&["sh", "-c", "echo program >> /out/order; sleep 300"]);
    b.bind(out.path(), "/out").edit(|c| {
        c["hooks"] = json!({
            "prestart": [recorder("prestart", &o)],
            "createRuntime": [recorder("createRuntime", &o)],
            "createContainer": [recorder("createContainer", &o)],
            "startContainer": [recorder("startContainer", "/out")],
            "poststart": [recorder("poststart", &o)],
            "poststop": [recorder("poststop", &o)]
        });
    });
    let id = unique_id("hooks");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let order = || std::fs::read_to_string(out.path().join("order")).unwrap_or_default();
    // runc 1.1 runs poststart hooks at create, before the program could have started: the
    // spec puts them after the program starts (runtime.md, lifecycle step 9).
    if is_gantry() {
        assert_eq!(order(), "prestart\ncreateRuntime\ncreateContainer\n");
    }
    rt.ok(&["start", &id]);
    // startContainer runs before the program and poststart after it started, before start
    // returns. The program's own line may land just before or after poststart's.
    let o2 = order();
    if is_gantry() {
        assert!(
            o2.starts_with("prestart\ncreateRuntime\ncreateContainer\nstartContainer\n"),
            "{o2}"
        );
    }
    assert!(o2.contains("poststart\n"), "{o2}");
    rt.ok(&["delete", "--force", &id]);
    assert!(order().ends_with("poststop\n"), "{}", order());

    let host_mnt = std::fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mnt = |n: &str| {
        std::fs::read_to_string(out.path().join(format!("{n}.mnt")))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        mnt("prestart"),
        host_mnt,
        "prestart must run in the runtime's namespace"
    );
    assert_eq!(mnt("createRuntime"), host_mnt);
    assert_ne!(
        mnt("createContainer"),
        host_mnt,
        "createContainer must run in the container's"
    );
    assert_ne!(mnt("startContainer"), host_mnt);
    assert_eq!(mnt("createContainer"), mnt("startContainer"));

    for n in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let st = read_json(&out.path().join(format!("{n}.json")));
        assert_eq!(st["id"], id.as_str(), "{n}");
        assert_eq!(st["bundle"], b.path().to_str().unwrap(), "{n}");
        assert!(st["ociVersion"].is_string(), "{n}");
        // runc 1.1 gives the hooks it runs inside the container its pid there (1); the spec's
        // pid is "as seen by the host".
        let inside = n == "createContainer" || n == "startContainer";
        if n != "poststop" && (is_gantry() || !inside) {
            assert_eq!(st["pid"].as_i64(), Some(pid), "{n}");
        }
    }
    if is_gantry() {
        // runc 1.1 runs poststart at create and says "created".
        assert_eq!(
            read_json(&out.path().join("poststart.json"))["status"],
            "running"
        );
    }
    assert_eq!(
        read_json(&out.path().join("poststop.json"))["status"],
        "stopped"
    );
    assert_eq!(
        read_json(&out.path().join("prestart.json"))["status"],
        "creating"
    );
    // The container is created, not yet running, when its startContainer hooks run (runc
    // passes "created" too); createContainer's is still being created.
    assert_eq!(
        read_json(&out.path().join("startContainer.json"))["status"],
        "created"
    );
    if is_gantry() {
        assert_eq!(
            read_json(&out.path().join("createContainer.json"))["status"],
            "creating"
        );
    }
}

#[test]
fn hook_args_and_env_are_exact() {
    let rt = Rt::new();
    let out = TempDir::new("hookenv");
    let f = out.path().join("env");
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["hooks"] = json!({"prestart": [{
            "path": "/bin/sh",
            "args": ["my-argv0", "-c", format!("echo $0 > {0}; env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | sort >> {0}", f.display())],
            "env": ["ONLY=this", "PATH=/bin"]
        }]})
    });
    let (code, _, err) = rt.run_fg(&b, &unique_id("hookenv"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "my-argv0\nONLY=this\nPATH=/bin\n"
    );
}

fn failing_create(hooks: Value, needle: &str) {
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["hooks"] = hooks);
    let id = unique_id("hookfail");
    let start = std::time::Instant::now();
    let o = rt.create(&b, &id);
    assert!(!o.status.success(), "create with a failing hook succeeded");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    if is_gantry() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
    }
    assert!(rt.ids().is_empty(), "a failed hook left {:?}", rt.ids());
    assert!(!cgroup_dir("memory", &format!("/gantry/{id}")).exists());
}

#[test]
fn failing_prestart_tears_down() {
    failing_create(
        json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo broken-hook >&2; exit 3"]}]}),
        "broken-hook",
    );
}

#[test]
fn failing_create_container_tears_down() {
    failing_create(
        json!({"createContainer": [{"path": "/bin/false"}]}),
        "createContainer",
    );
}

#[test]
fn hook_timeout_kills_it() {
    let marker = format!("{}", 500000 + std::process::id() % 10000);
    failing_create(
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", marker], "timeout": 1}]}),
        "createRuntime",
    );
    assert!(
        !any_process_with(&format!("sleep\0{marker}")),
        "the timed-out hook is still running"
    );
}

/// A hook that times out is killed with everything it started: a shell's child too.
#[test]
fn hook_timeout_kills_what_the_hook_started() {
    if !is_gantry() {
        return skip_not_gantry("runc kills the hook process alone");
    }
    let marker = format!("{}", 600000 + std::process::id() % 10000);
    failing_create(
        json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("/bin/sleep {marker}; true")], "timeout": 1}]}),
        "prestart",
    );
    assert!(
        !any_process_with(&format!("sleep\0{marker}")),
        "the timed-out hook's child is still running"
    );
}

/// runtime-spec 1.3.0, lifecycle step 9: "If any poststart hook fails, the runtime MUST
/// generate an error, stop the container, and continue the lifecycle at step 12". start fails
/// naming the hook, the hooks after it do not run, the program is killed (its process is
/// gone), the container is `stopped` and delete destroys it. `run` fails and leaves nothing.
#[test]
fn failing_poststart_stops_the_container() {
    if !is_gantry() {
        return skip_not_gantry("runc 1.1 runs poststart at create and fails the create");
    }
    let rt = Rt::new();
    let out = TempDir::new("poststart");
    let ran = out.path().join("second-ran");
    let mut b = Bundle::new(&["sleep", "300"]);
    b.edit(|c| {
        c["hooks"] = json!({"poststart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo poststart-broke >&2; exit 2"]},
            {"path": "/usr/bin/touch", "args": ["touch", ran.to_str().unwrap()]}
        ]})
    });
    let id = unique_id("poststart");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let o = rt.run(&["start", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "start succeeded: {err}");
    assert!(
        err.contains("poststart hook #0") && err.contains("poststart-broke"),
        "the error does not name the hook and its output: {err}"
    );
    assert!(!ran.exists(), "a poststart hook after the failing one ran");
    assert_eq!(rt.status(&id), "stopped");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true),
        "the container's program still runs"
    );
    rt.ok(&["delete", &id]);
    assert!(rt.state(&id).is_none());

    // `run`: the same failure, and the container is gone with it.
    let rid = unique_id("poststart-run");
    let o = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &rid]);
    assert!(!o.status.success(), "run succeeded");
    assert!(rt.state(&rid).is_none(), "run left the container behind");
    assert!(!ran.exists());
}

#[test]
fn failing_poststop_is_only_logged() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["sh", "-c", "exit 4"]);
    b.edit(|c| c["hooks"] = json!({"poststop": [{"path": "/bin/false"}]}));
    let (code, _, _) = rt.run_fg(&b, &unique_id("poststop"));
    assert_eq!(code, 4);
    assert!(rt.ids().is_empty());
}

#[test]
fn failing_start_container_fails_start() {
    let rt = Rt::new();
    let host = TempDir::new("startfail");
    let mut b = Bundle::new(&["sh", "-c", "touch /out/program-ran"]);
    b.bind(host.path(), "/out").edit(|c| {
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "echo start-hook-broke; exit 1"]}
        ]})
    });
    let id = unique_id("startfail");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let o = rt.run(&["start", &id]);
    assert!(
        !o.status.success() || !is_gantry(),
        "start succeeded despite a failing startContainer hook"
    );
    if is_gantry() {
        // start's own error says which hook failed and what it printed.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("startContainer hook #0") && err.contains("start-hook-broke"),
            "{err}"
        );
    }
    assert!(rt.wait_status(&id, "stopped"));
    assert!(
        !host.path().join("program-ran").exists(),
        "the program ran after its startContainer hook failed"
    );
    rt.ok(&["delete", &id]);
}
