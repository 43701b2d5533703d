//! runtime-spec 1.3.0 configs: what current tools write runs, as in runc.

use gantry_tests::*;
use serde_json::json;

fn stdout_of(rt: &Rt, b: &Bundle, tag: &str) -> String {
    let id = unique_id(tag);
    let (code, out, err) = rt.run_fg(b, &id);
    assert_eq!(code, 0, "run failed: {err}");
    out
}

/// Podman 5 and containerd 2 write "1.3.0"; every 1.x up to it runs.
#[test]
fn every_1x_version_up_to_1_3_runs() {
    let rt = Rt::new();
    for v in ["1.0.0", "1.1.0", "1.2.1", "1.3.0", "1.3.0-rc.1"] {
        let mut b = Bundle::new(&["echo", "ran"]);
        b.edit(|c| c["ociVersion"] = json!(v));
        assert_eq!(stdout_of(&rt, &b, "ver").trim(), "ran", "ociVersion {v}");
    }
}

/// A newer 1.x runs with a warning in the log (runc does not refuse it either).
#[test]
fn newer_minor_version_runs_with_a_warning() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["echo", "ran"]);
    b.edit(|c| c["ociVersion"] = json!("1.9.0"));
    let log = TempDir::new("log");
    let log_file = log.path().join("log.json");
    let id = unique_id("ver-new");
    let o = rt.run(&[
        "--log",
        log_file.to_str().unwrap(),
        "--log-format",
        "json",
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ran");
    if is_gantry() {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        let warned = text.lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            v["level"] == "warning" && v["msg"].as_str().unwrap_or("").contains("1.9.0")
        });
        assert!(warned, "no warning naming 1.9.0 in the log: {text}");
    }
}

/// `features` reports 1.3.0 as the newest version, `spec` writes it, and the state says it.
#[test]
fn features_spec_and_state_say_1_3_0() {
    if !is_gantry() {
        return; // runc 1.1.5 says 1.0.2-dev
    }
    let rt = Rt::new();
    let f: serde_json::Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert_eq!(f["ociVersionMax"], "1.3.0");

    // The config `gantry spec` writes, with the busybox rootfs and no terminal, runs.
    let mut b = Bundle::new(&["true"]);
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    rt.ok(&["spec", "--bundle", b.path().to_str().unwrap()]);
    let text = std::fs::read_to_string(b.path().join("config.json")).unwrap();
    let mut written: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["ociVersion"], "1.3.0");
    written["process"]["terminal"] = json!(false);
    written["process"]["args"] = json!(["sh", "-c", "echo from-spec"]);
    b.config = written;
    b.write();
    let id = unique_id("spec13");
    let (code, out, err) = rt.run_fg(&b, &id);
    assert_eq!(code, 0, "the spec template did not run: {err}");
    assert_eq!(out.trim(), "from-spec");

    b.sh("sleep 30");
    let id = unique_id("spec13-st");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(rt.state(&id).unwrap()["ociVersion"], "1.3.0");
    rt.ok(&["delete", "--force", &id]);
}

/// config.md: process is REQUIRED only when start is called. create succeeds, start fails
/// naming the field, and the container is then stopped and deletable without --force.
#[test]
fn create_without_process_then_start_fails() {
    if !is_gantry() {
        return; // runc 1.1.5 refuses the create itself
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = unique_id("noproc");
    let o = rt.create(&b, &id);
    assert!(
        o.status.success(),
        "create without process failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(rt.status(&id), "created");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    let o = rt.run(&["start", &id]);
    assert!(!o.status.success(), "start without process succeeded");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("process"),
        "error does not name process: {err}"
    );
    assert!(rt.wait_status(&id, "stopped"), "status {}", rt.status(&id));
    rt.ok(&["delete", &id]);
    assert!(rt.ids().is_empty());
    assert!(!v1_cgroup_dir("memory", &format!("/gantry/{id}")).exists());
}

/// The root mount's line in the container's /proc/self/mountinfo.
fn root_mount_line(out: &str) -> String {
    out.lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in mountinfo: {out}"))
        .to_string()
}

/// config-linux.md rootfsPropagation, every value: the container runs and its "/" has that
/// propagation (runc applies shared and unbindable to the new root after pivot_root, after
/// the rootfs bind, which an unbindable mount would refuse with EINVAL).
#[test]
fn every_rootfs_propagation_runs_and_applies() {
    let rt = Rt::new();
    for p in [
        "private",
        "rprivate",
        "slave",
        "rslave",
        "shared",
        "rshared",
        "unbindable",
        "runbindable",
    ] {
        let mut b = Bundle::new(&["cat", "/proc/self/mountinfo"]);
        b.edit(|c| c["linux"]["rootfsPropagation"] = json!(p));
        let id = unique_id("prop");
        let (code, out, err) = rt.run_fg(&b, &id);
        assert_eq!(code, 0, "rootfsPropagation {p}: {err}");
        let root = root_mount_line(&out);
        let fields: Vec<&str> = root
            .split(" - ")
            .next()
            .unwrap()
            .split(' ')
            .skip(6)
            .collect();
        let shared = fields.iter().any(|f| f.starts_with("shared:"));
        let unbindable = fields.contains(&"unbindable");
        assert_eq!(shared, p.ends_with("shared"), "{p}: {root}");
        assert_eq!(unbindable, p.ends_with("unbindable"), "{p}: {root}");
    }
}

/// runc: "rootfsPropagation of [r]private is not safe without pivot_root".
#[test]
fn private_propagation_without_pivot_is_refused() {
    let rt = Rt::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!("rprivate"));
    let id = unique_id("prop-nopivot");
    let o = rt.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!o.status.success(), "--no-pivot with rprivate ran");
    let err = String::from_utf8_lossy(&o.stderr);
    if is_gantry() {
        assert!(err.contains("rootfsPropagation"), "{err}");
    }
    assert!(rt.ids().is_empty(), "state left behind");
}

/// The host's mountinfo lines that name `path`.
fn host_mounts_under(path: &std::path::Path) -> Vec<String> {
    let p = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(p))
        .map(str::to_string)
        .collect()
}

fn host_root_line() -> String {
    root_mount_line(&std::fs::read_to_string("/proc/self/mountinfo").unwrap())
}

/// A bundle without a mount namespace (and so without maskedPaths/readonlyPaths, which runc
/// refuses there too).
fn no_mntns_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    b.edit(|c| {
        let l = c["linux"].as_object_mut().unwrap();
        l.remove("maskedPaths");
        l.remove("readonlyPaths");
        c["linux"]["namespaces"] =
            json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]);
    });
    b
}

/// config-linux.md: without a `mount` entry the container inherits the runtime's mount
/// namespace. It runs chrooted in its rootfs with its mounts (made on the host, as runc makes
/// them), exec lands in the same root, root.readonly holds, and delete leaves the host's
/// mountinfo as it was.
#[test]
fn no_mount_namespace_runs_and_cleans_up() {
    if !is_gantry() {
        // runc 1.1.5 leaves the container's mounts on the host (and exec lands in the host's
        // root): not run against it, so as not to leave them here.
        return;
    }
    // The bundle first, so that it is dropped after the runtime driver, whose drop deletes a
    // container a failed assertion left (and with it the mounts inside the bundle).
    let mut b = no_mntns_bundle(&["sleep", "30"]);
    let rt = Rt::new();
    let before_root = host_root_line();
    assert!(host_mounts_under(b.path()).is_empty());
    let id = unique_id("nomntns");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.ok(&["start", &id]);
    let mounted = host_mounts_under(b.path());
    assert!(
        mounted.iter().any(|l| l.contains("/rootfs/proc ")),
        "the container's /proc is not on the host: {mounted:?}"
    );
    // The container sees its rootfs (busybox, no /work of the host), in exec too.
    let out = rt.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "ls /; test -e /work && echo HOST; touch /x 2>&1 || echo RO",
    ]);
    assert!(out.contains("bin") && !out.contains("HOST"), "{out}");
    assert!(out.contains("RO"), "root.readonly is not honoured: {out}");
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(
        host_mounts_under(b.path()),
        Vec::<String>::new(),
        "mounts left on the host"
    );
    assert_eq!(host_root_line(), before_root, "the host's / changed");

    // A foreground run that exits, and a create that fails after the rootfs bind.
    b.sh("grep -q ' /proc ' /proc/self/mountinfo && echo ok");
    let (code, out, err) = rt.run_fg(&b, &unique_id("nomntns-run"));
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    assert!(host_mounts_under(b.path()).is_empty(), "mounts left by run");
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/bad", "type": "no-such-fs", "source": "x"}))
    });
    let o = rt.create(&b, &unique_id("nomntns-bad"));
    assert!(!o.status.success());
    assert!(rt.ids().is_empty());
    assert!(
        host_mounts_under(b.path()).is_empty(),
        "mounts left by a failed create"
    );
}

/// runc: "unable to restrict sys entries without a private MNT namespace".
#[test]
fn masked_paths_without_mount_namespace_are_refused() {
    let rt = Rt::new();
    let mut b = no_mntns_bundle(&["true"]);
    b.edit(|c| c["linux"]["maskedPaths"] = json!(["/proc/kcore"]));
    let o = rt.create(&b, &unique_id("nomntns-mask"));
    assert!(!o.status.success());
    if is_gantry() {
        assert!(String::from_utf8_lossy(&o.stderr).contains("linux.maskedPaths"));
    }
    assert!(rt.ids().is_empty());
    assert!(host_mounts_under(b.path()).is_empty());
}

/// runtime.md: `created` is "the runtime has finished the create operation", and the
/// prestart, createRuntime and createContainer hooks are steps 3-5 of it (a failing one fails
/// the create). So they get `creating`, as runc 1.5 passes, and the runtime's own `state`
/// asked from inside a hook says the same.
#[test]
fn create_hooks_see_creating() {
    let rt = Rt::new();
    let out = TempDir::new("hookstate");
    let id = unique_id("hookstate");
    let mut b = Bundle::new(&["true"]);
    let hook = |name: &str, state_too: bool| {
        let mut script = format!("cat > {}/{name}.json", out.path().display());
        if state_too {
            script.push_str(&format!(
                "; {} --root {} state {id} > {}/{name}.state",
                rt.bin.display(),
                rt.root.path().display(),
                out.path().display()
            ));
        }
        json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}])
    };
    let (pre, cr, cc) = (
        hook("prestart", true),
        hook("createRuntime", true),
        hook("createContainer", false),
    );
    b.edit(|c| {
        c["hooks"] = json!({"prestart": pre, "createRuntime": cr, "createContainer": cc});
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.path().join(f)).unwrap()).unwrap()
    };
    for n in ["prestart", "createRuntime", "createContainer"] {
        assert_eq!(read(&format!("{n}.json"))["status"], "creating", "{n}");
    }
    for n in ["prestart", "createRuntime"] {
        assert_eq!(
            read(&format!("{n}.state"))["status"],
            "creating",
            "state in {n}"
        );
    }
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["delete", "--force", &id]);
}

/// startContainer hooks without `env` get the container's process.env, as in runc (whose
/// init has that environment when it runs them); one with `env` gets exactly that.
#[test]
fn start_container_hook_without_env_gets_process_env() {
    let rt = Rt::new();
    let out = TempDir::new("schookenv");
    let mut b = Bundle::new(&["true"]);
    // The hook runs in the container: write into a bind-mounted host directory.
    b.bind(out.path(), "/out");
    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin:/sbin", "FROM_CONFIG=yes"]);
        c["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "env > /out/inherit"]},
            {"path": "/bin/sh", "args": ["sh", "-c", "env > /out/own"], "env": ["OWN=1"]}
        ]});
    });
    let (code, _, err) = rt.run_fg(&b, &unique_id("schookenv"));
    assert_eq!(code, 0, "{err}");
    let read = |f: &str| std::fs::read_to_string(out.path().join(f)).unwrap();
    let inherit = read("inherit");
    assert!(
        inherit.lines().any(|l| l == "FROM_CONFIG=yes")
            && inherit.lines().any(|l| l == "PATH=/bin:/sbin"),
        "no process.env in the hook: {inherit}"
    );
    let own = read("own");
    assert!(own.lines().any(|l| l == "OWN=1"), "{own}");
    assert!(!own.contains("FROM_CONFIG"), "{own}");
}

/// linux.personality LINUX32: `uname -m` says a 32-bit machine in the init and in exec'd
/// processes alike (runc's setns init applies it too); 1.3's personality flags have no
/// defined values, so any is refused by name.
#[test]
fn personality_applies_to_exec_too() {
    let host = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .unwrap();
    if String::from_utf8_lossy(&host.stdout).trim() != "x86_64" {
        eprintln!("SKIP: needs an x86_64 host");
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["sh", "-c", "uname -m > /tmp/init; sleep 30"]);
    b.edit(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    let id = unique_id("pers");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.ok(&["start", &id]);
    let exec = rt.ok(&["exec", &id, "uname", "-m"]);
    assert!(
        matches!(exec.trim(), "i686" | "i386"),
        "exec'd process is not LINUX32: {exec}"
    );
    let mut init = String::new();
    for _ in 0..100 {
        init = rt.ok(&["exec", &id, "cat", "/tmp/init"]);
        if !init.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(init.trim(), exec.trim(), "init and exec disagree");
    rt.ok(&["delete", "--force", &id]);

    if is_gantry() {
        let mut b = Bundle::new(&["true"]);
        b.edit(|c| {
            c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]})
        });
        let o = rt.create(&b, &unique_id("pers-flags"));
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("linux.personality.flags"));
        assert!(rt.ids().is_empty());
    }
}

/// Run the runtime with `args`, /etc/hostname open on fd 3 (and nothing above it).
fn with_fd3(rt: &Rt, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let file = std::fs::File::open("/etc/hostname").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = rt.cmd();
    cmd.args(args).stdin(std::process::Stdio::null());
    // SAFETY: dup2, fcntl and close_range in the child before exec are async-signal-safe;
    // they leave exactly fd 3 open (without CLOEXEC) after stdio.
    unsafe {
        cmd.pre_exec(move || {
            if raw != 3 && libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// --preserve-fds N passes fds 3..N+2, each of which must be open: as runc 1.5 ("unable to
/// stat preserved-fd"), one the caller did not have is an error, in create and in exec, and
/// not a /dev/null handed in (which it was before).
#[test]
fn preserve_fds_must_be_open() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("cat <&3 >/dev/null && echo readable; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let bundle = b.path().to_str().unwrap().to_string();
    let o = with_fd3(
        &rt,
        &[
            "run",
            "--preserve-fds",
            "1",
            "--bundle",
            &bundle,
            &unique_id("pfd"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "readable\n0 1 2 3 4 ");
    if !is_gantry() {
        return; // runc 1.1.5 hangs in `runc init` on a closed preserved fd
    }

    let id = unique_id("pfd-missing");
    let o = with_fd3(
        &rt,
        &["create", "--preserve-fds", "2", "--bundle", &bundle, &id],
    );
    assert!(!o.status.success(), "create passed a closed fd 4");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--preserve-fds") && err.contains("fd 4"),
        "{err}"
    );
    assert!(rt.ids().is_empty(), "state left behind");
    assert!(!any_process_with(&id));

    // exec: the same rule.
    b.sh("sleep 30");
    let id = unique_id("pfd-exec");
    rt.ok(&["create", "--bundle", &bundle, &id]);
    rt.ok(&["start", &id]);
    let script = "cat <&3 >/dev/null && echo readable; ls /proc/self/fd | sort -n | tr '\\n' ' '";
    let o = with_fd3(
        &rt,
        &["exec", "--preserve-fds", "1", &id, "sh", "-c", script],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "readable\n0 1 2 3 4 ");
    let o = with_fd3(&rt, &["exec", "--preserve-fds", "2", &id, "true"]);
    assert!(!o.status.success(), "exec passed a closed fd 4");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--preserve-fds"));
    rt.ok(&["delete", "--force", &id]);
}

/// linux.timeOffsets in a time namespace owned by a new user namespace: the offsets are
/// written (they need CAP_SYS_TIME in that user namespace, before anything enters the time
/// namespace) and the program sees them: boottime in /proc/uptime, monotonic via the
/// difference from the host's.
#[test]
fn time_offsets_with_user_namespace() {
    if !is_gantry() {
        return; // runc 1.1 has no time namespaces
    }
    let rt = Rt::new();
    for userns in [true, false] {
        let mut b = Bundle::new(&["cat", "/proc/uptime"]);
        if userns {
            chown_tree(&b.rootfs(), 100000);
        }
        b.edit(|c| {
            let nss = c["linux"]["namespaces"].as_array_mut().unwrap();
            nss.push(json!({"type": "time"}));
            if userns {
                nss.push(json!({"type": "user"}));
                map_ids(c, 100000);
            }
            c["linux"]["timeOffsets"] = json!({
                "boottime": {"secs": 1_000_000, "nanosecs": 0},
                "monotonic": {"secs": 500_000, "nanosecs": 0}
            });
        });
        let uptime = |s: &str| -> f64 { s.split(' ').next().unwrap().parse().unwrap() };
        let host_up = uptime(&std::fs::read_to_string("/proc/uptime").unwrap());
        let (code, out, err) = rt.run_fg(&b, &unique_id("timens"));
        assert_eq!(code, 0, "user namespace {userns}: {err}");
        let up = uptime(&out);
        assert!(
            up >= host_up + 1_000_000.0 && up < host_up + 1_000_060.0,
            "user namespace {userns}: uptime {up}, host {host_up}"
        );
    }
}

/// The r* access-time options on a bind mount, as mount_setattr(2) takes them (one atime
/// field; a negation goes back to relatime) and runc and youki apply them: read from the
/// container's /proc/self/mountinfo.
#[test]
fn recursive_atime_options_follow_mount_setattr() {
    let rt = Rt::new();
    let host = TempDir::new("ratime");
    for (opts, want) in [
        (&["rnorelatime"][..], "relatime"),
        (&["ratime"], "relatime"),
        (&["rnostrictatime"], "relatime"),
        (&["rrelatime"], "relatime"),
        (&["rnoatime"], "noatime"),
        (&["rstrictatime"], "strictatime"),
        (&["rnoatime", "ratime"], "relatime"),
        (&["rnoatime", "rstrictatime"], "strictatime"),
        (&["rstrictatime", "rnorelatime"], "strictatime"),
    ] {
        let mut b = Bundle::new(&["grep", " /mnt ", "/proc/self/mountinfo"]);
        let mut options = vec!["rbind"];
        options.extend_from_slice(opts);
        b.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/mnt", "type": "bind", "source": host.path(), "options": options
            }))
        });
        let id = unique_id("ratime");
        let (code, out, err) = rt.run_fg(&b, &id);
        assert_eq!(code, 0, "{opts:?}: {err}");
        let flags: Vec<&str> = out.split_whitespace().nth(5).unwrap().split(',').collect();
        let got = if flags.contains(&"noatime") {
            "noatime"
        } else if flags.contains(&"relatime") {
            "relatime"
        } else {
            "strictatime"
        };
        assert_eq!(got, want, "{opts:?}: {flags:?}");
    }
}

/// process.ioPriority, process.user.umask, process.scheduler and linux.memoryPolicy, each
/// applied and read back in the init and in an exec'd process (ionice; umask; /proc/self/stat's
/// nice and policy; /proc/self/numa_maps), and a bad value refused naming its field.
#[test]
fn io_priority_umask_scheduler_memory_policy_apply() {
    if !is_gantry() {
        return; // runc 1.1.5 ignores ioPriority, scheduler and memoryPolicy
    }
    let rt = Rt::new();
    // Fields 19 (nice) and 41 (policy) of /proc/self/stat, after the ")" of the name.
    let probe = "ionice; umask; s=$(cat /proc/self/stat); set -- ${s##*) }; shift 16; n=$1; shift 22; echo nice=$n policy=$1; grep -c ' interleave:0' /proc/self/numa_maps";
    let mut b = Bundle::new(&["sh", "-c", &format!("{probe}; sleep 30")]);
    b.edit(|c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
        c["process"]["user"]["umask"] = json!(0o027);
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
    });
    let check = |out: &str, who: &str| {
        let l: Vec<&str> = out.lines().collect();
        assert!(l.len() >= 4, "{who}: {out}");
        assert_eq!(l[0], "idle", "{who} ioPriority: {out}");
        assert_eq!(l[1], "0027", "{who} umask: {out}");
        assert_eq!(l[2], "nice=7 policy=3", "{who} scheduler: {out}");
        assert_ne!(l[3], "0", "{who}: no interleave:0 mapping: {out}");
    };
    let id = unique_id("sched");
    let log = TempDir::new("sched-out");
    b.bind(log.path(), "/out");
    b.edit(|c| {
        c["process"]["args"] = json!(["sh", "-c", format!("({probe}) > /out/init; sleep 30")])
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.ok(&["start", &id]);
    let exec = rt.ok(&["exec", &id, "sh", "-c", probe]);
    check(&exec, "exec");
    let mut init = String::new();
    for _ in 0..100 {
        init = std::fs::read_to_string(log.path().join("init")).unwrap_or_default();
        if init.lines().count() >= 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check(&init, "init");
    rt.ok(&["delete", "--force", &id]);

    for (edit, field) in [
        (
            json!({"process": {"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}}}),
            "process.ioPriority.priority",
        ),
        (
            json!({"process": {"scheduler": {"policy": "SCHED_ISO"}}}),
            "process.scheduler.policy",
        ),
        (
            json!({"linux": {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0,63"}}}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"process": {"user": {"uid": 0, "gid": 0, "umask": 4096}}}),
            "process.user.umask",
        ),
    ] {
        let mut b = Bundle::new(&["true"]);
        b.edit(|c| {
            for (k, v) in edit.as_object().unwrap() {
                for (k2, v2) in v.as_object().unwrap() {
                    c[k][k2] = v2.clone();
                }
            }
        });
        let o = rt.create(&b, &unique_id("sched-bad"));
        assert!(!o.status.success(), "{field}: create succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(field), "{field}: {err}");
        assert!(rt.ids().is_empty());
    }
}

/// process.execCPUAffinity: an exec'd process ends on `final` (set after it joined the
/// container's cgroup), while the init keeps its affinity (config.md: not applicable to it).
#[test]
fn exec_cpu_affinity_final() {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    if !online.trim().starts_with("0-") {
        eprintln!("SKIP: needs CPUs 0 and 1 online (have {online})");
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new(&["sleep", "30"]);
    b.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"}));
    let id = unique_id("affinity");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.ok(&["start", &id]);
    let cpus = |s: &str| -> String {
        s.lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let exec = rt.ok(&["exec", &id, "cat", "/proc/self/status"]);
    assert_eq!(cpus(&exec), "1", "exec'd process");
    let init = rt.ok(&["exec", &id, "cat", "/proc/1/status"]);
    assert_eq!(cpus(&init), online.trim(), "the init's affinity changed");
    rt.ok(&["delete", "--force", &id]);
}

/// Where resctrl is mounted in this (the runtime's) mount namespace.
fn resctrl_root() -> Option<std::path::PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = pre.split(' ').nth(4)?;
            post.starts_with("resctrl ")
                .then(|| std::path::PathBuf::from(point))
        })
}

/// linux.intelRdt (config-linux.md, 1.3): with resctrl mounted, a group named by the container
/// id is made with the schemata asked for, the init is in its tasks, and delete removes it;
/// a MON group goes with enableMonitoring where the host monitors. Without resctrl ("the runtime
/// MUST generate an error") create fails naming the field, with nothing left behind.
#[test]
fn intel_rdt_applies_or_is_a_clear_error_without_resctrl() {
    let rt = Rt::new();
    let id = unique_id("rdt");
    let mut b = Bundle::new(&["sleep", "300"]);
    let Some(root) = resctrl_root() else {
        b.edit(|c| c["linux"]["intelRdt"] = json!({"l3CacheSchema": "L3:0=f"}));
        let err = rt.create_refused(&b, &id);
        if is_gantry() {
            assert!(
                err.contains("linux.intelRdt") && err.contains("no resctrl filesystem is mounted"),
                "{err}"
            );
        }
        return skip("linux.intelRdt applied: no resctrl here (CPU without RDT/PQoS, or not mounted); its error is checked");
    };
    // The host's default schemata for L3, if it allocates L3 (a valid line to write back).
    let default = std::fs::read_to_string(root.join("schemata")).unwrap();
    let l3 = default
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("L3:"));
    let monitor = root.join("info/L3_MON").exists();
    let (l3c, mon) = (l3.map(str::to_string), monitor);
    b.edit(|c| {
        c["linux"]["intelRdt"] = json!({"enableMonitoring": mon});
        if let Some(l) = l3c {
            c["linux"]["intelRdt"]["l3CacheSchema"] = json!(l);
        }
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let group = root.join(&id);
    let tasks = if monitor {
        group.join("mon_groups").join(&id).join("tasks")
    } else {
        group.join("tasks")
    };
    let listed = std::fs::read_to_string(&tasks).unwrap_or_default();
    let have = std::fs::read_to_string(group.join("schemata")).unwrap_or_default();
    rt.ok(&["delete", "--force", &id]);
    assert!(
        listed.lines().any(|l| l.trim() == pid.to_string()),
        "init {pid} not in {}: {listed}",
        tasks.display()
    );
    if let Some(l) = l3 {
        assert!(have.contains(l.split(':').next().unwrap()), "{have}");
    }
    assert!(!group.exists(), "delete left {}", group.display());
}
