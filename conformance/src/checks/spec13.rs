//! The fields and rules of runtime-spec 1.1 to 1.3 not covered elsewhere: process.ioPriority,
//! process.scheduler, process.execCPUAffinity, linux.memoryPolicy, linux.timeOffsets,
//! linux.netDevices, seccomp listenerPath with SCMP_ACT_NOTIFY, linux.intelRdt, a config
//! without process, no mount namespace, rootfsPropagation unbindable, ociVersion 1.3.0 and
//! the exec'd process's personality. Each is read back from a real container, from the host
//! where the host can see it (/proc/PID/...), or inside.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, ns_link, Check, Ctx, Failure, Level::*, Live, Outcome};
use crate::harness::{unique_id, Bundle, TempDir};

mod agent;
mod netdev;

pub fn checks() -> Vec<Check> {
    let proc_ = "config.md#linux-process";
    let nd = "config-linux.md#network-devices";
    let seccomp = "config-linux.md#seccomp";
    vec![
        Check::new("config.process.ioPriority", proc_, Must, io_priority),
        Check::new(
            "config.process.ioPriority.exec",
            proc_,
            Must,
            io_priority_exec,
        ),
        Check::new("config.process.scheduler", proc_, Must, scheduler),
        Check::new(
            "config.process.scheduler.priority",
            proc_,
            Must,
            scheduler_priority,
        ),
        Check::new(
            "config.process.execCPUAffinity.final",
            proc_,
            Must,
            exec_affinity_final,
        ),
        Check::new(
            "config.process.execCPUAffinity.initial",
            proc_,
            Should,
            exec_affinity_initial,
        ),
        Check::new(
            "config-linux.memoryPolicy.interleave",
            "config-linux.md#memory-policy",
            Must,
            |c| memory_policy(c, "MPOL_INTERLEAVE", "interleave:0"),
        ),
        Check::new(
            "config-linux.memoryPolicy.bind",
            "config-linux.md#memory-policy",
            Must,
            |c| memory_policy(c, "MPOL_BIND", "bind:0"),
        ),
        Check::new(
            "config-linux.memoryPolicy.nodes.missing-errors",
            "runtime.md#create",
            Must,
            memory_policy_missing_node,
        ),
        Check::new(
            "config-linux.timeOffsets",
            "config-linux.md#offset-for-time-namespace",
            Must,
            |c| time_offsets(c, false),
        ),
        Check::new(
            "config-linux.timeOffsets.user-namespace",
            "config-linux.md#offset-for-time-namespace",
            Must,
            |c| time_offsets(c, true),
        ),
        Check::new("config-linux.netDevices", nd, Must, netdev::moved_renamed),
        Check::new(
            "config-linux.netDevices.addresses",
            nd,
            Must,
            netdev::addresses,
        ),
        Check::new("config-linux.netDevices.up", nd, Must, netdev::up),
        Check::new(
            "config-linux.netDevices.name-exists-errors",
            nd,
            Must,
            netdev::name_exists,
        ),
        Check::new(
            "config-linux.seccomp.listenerPath.notify",
            seccomp,
            Must,
            agent::notify,
        ),
        Check::new(
            "config-linux.seccomp.listenerPath.send-fails-errors",
            seccomp,
            Must,
            agent::no_listener,
        ),
        Check::new(
            "config-linux.intelRdt",
            "config-linux.md#intelrdt",
            Must,
            intel_rdt,
        ),
        Check::new(
            "runtime.lifecycle.start.no-process-errors",
            "runtime.md#start",
            Must,
            no_process,
        ),
        Check::new(
            "config-linux.namespaces.mount.absent",
            "config-linux.md#namespaces",
            Must,
            mount_absent,
        ),
        Check::new(
            "config-linux.rootfsPropagation.unbindable",
            "config-linux.md#rootfs-mount-propagation",
            Must,
            rootfs_unbindable,
        ),
        Check::new(
            "config.ociVersion.1.3.0",
            "config.md#specification-version",
            Must,
            |c| version_runs(c, "1.3.0"),
        ),
        Check::new(
            "config.ociVersion.newer-minor",
            "config.md#specification-version",
            Should,
            |c| version_runs(c, "1.99.0"),
        ),
        Check::new(
            "config.ociVersion.other-major-errors",
            "config.md#valid-values",
            Must,
            |c| c.create_fails(|v| v["ociVersion"] = json!("2.0.0")),
        ),
        Check::new(
            "config-linux.personality.exec",
            "config-linux.md#personality",
            Must,
            personality_exec,
        ),
    ]
}

fn skip(why: impl Into<String>) -> Failure {
    Failure::Skip(why.into())
}

/// The fields of /proc/PID/stat after the command name: index 0 is field 3 (state).
fn stat_fields(pid: i64) -> Result<Vec<String>, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let rest = s
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .ok_or_else(|| format!("/proc/{pid}/stat: {s:?}"))?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// Field `n` (numbered as in proc(5)) of /proc/PID/stat.
fn stat_field(fields: &[String], n: usize) -> String {
    fields.get(n - 3).cloned().unwrap_or_default()
}

/// A started container whose init wrote /host/mark and then sleeps (`pre` runs first).
fn sleeping(ctx: &Ctx, edit: impl FnOnce(&mut Value), pre: &str) -> Result<Live, String> {
    let c = Live::started(
        ctx,
        edit,
        &format!("{pre} echo up > /host/mark; exec sleep 300"),
    )?;
    c.wait_file("mark")?;
    Ok(c)
}

/// `runtime exec ID ARGS...`: its stdout.
fn exec(c: &Live, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["exec", c.id.as_str()];
    a.extend_from_slice(args);
    c.rt.try_ok(&a)
}

/// IOPRIO_CLASS_BE (2) at level 6, as ioprio_get(2) returns it: class << 13 | data.
const BE6: libc::c_long = 2 << 13 | 6;

fn be6(v: &mut Value) {
    v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
}

/// 1.1, config.md: "ioPriority (object, OPTIONAL) configures the I/O priority settings for the
/// container's processes within the process group ... class (string, REQUIRED) specifies the
/// I/O scheduling class ... priority (int, REQUIRED) specifies the priority level within the
/// class"; runtime.md, start: "This operation MUST run the user-specified program as specified
/// by process." Read back with ioprio_get on the state's pid from the host, and with ionice
/// inside.
fn io_priority(ctx: &Ctx) -> Outcome {
    let c = sleeping(ctx, be6, "ionice > /host/io;")?;
    let pid = c.pid()?;
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, pid) takes two integers and returns one.
    let got = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    expect_eq("ioprio_get of the init (class << 13 | level)", got, BE6)?;
    let inside = c.host_file("io").unwrap_or_default();
    expect_eq("ionice inside", inside.trim(), "best-effort: prio 6")
}

/// "The I/O priority settings will be automatically applied to the entire process group,
/// affecting all processes within the container" (runtime.md: the program MUST run "as
/// specified by process"): an exec'd process has it too.
fn io_priority_exec(ctx: &Ctx) -> Outcome {
    let c = sleeping(ctx, be6, "")?;
    let out = exec(&c, &["ionice"])?;
    expect_eq(
        "ionice in an exec'd process",
        out.trim(),
        "best-effort: prio 6",
    )
}

/// 1.2, config.md: "scheduler (object, OPTIONAL) is an object describing the scheduler
/// properties for the process ... policy (string, REQUIRED) represents the scheduling policy
/// ... nice (int32, OPTIONAL) is the nice value for the process"; runtime.md, start: "This
/// operation MUST run the user-specified program as specified by process." Read from the
/// host's /proc/PID/stat: field 19 (nice) and 41 (policy, SCHED_BATCH = 3).
fn scheduler(ctx: &Ctx) -> Outcome {
    let c = sleeping(
        ctx,
        |v| v["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7}),
        "",
    )?;
    let f = stat_fields(c.pid()?)?;
    expect_eq(
        "/proc/PID/stat nice and policy",
        (stat_field(&f, 19), stat_field(&f, 41)),
        ("7".to_string(), "3".to_string()),
    )
}

/// "priority (int32, OPTIONAL) represents the static priority of the process, used by
/// real-time policies like SCHED_FIFO and SCHED_RR": SCHED_RR (2) at 5, in a cgroup given RT
/// time where the kernel schedules RT tasks by group (runtime.md: the program MUST run "as
/// specified by process"); fields 40 (rt_priority) and 41 (policy).
fn scheduler_priority(ctx: &Ctx) -> Outcome {
    let mut rt_cgroup = None;
    if Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        // RT_GROUP_SCHED: a new cgroup has no RT time, and an RT task cannot run in it.
        let top = crate::checks::resources::TopCgroup(unique_id("conformance-sched"));
        let dir = crate::harness::v1_cgroup_dir("cpu", &top.0);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        if let Err(e) = std::fs::write(dir.join("cpu.rt_runtime_us"), "20000") {
            return Err(skip(format!(
                "the root cpu cgroup has no RT time to give a parent cgroup here ({e})"
            )));
        }
        rt_cgroup = Some(top);
    }
    let path = rt_cgroup.as_ref().map(|t| format!("/{}/ctr", t.0));
    let c = sleeping(
        ctx,
        |v| {
            v["process"]["scheduler"] = json!({"policy": "SCHED_RR", "priority": 5});
            if let Some(p) = path {
                v["linux"]["cgroupsPath"] = json!(p);
                v["linux"]["resources"]["cpu"] =
                    json!({"realtimePeriod": 1000000, "realtimeRuntime": 10000});
            }
        },
        "",
    )?;
    let f = stat_fields(c.pid()?)?;
    let got = (stat_field(&f, 40), stat_field(&f, 41));
    drop(c);
    expect_eq(
        "/proc/PID/stat rt_priority and policy",
        got,
        ("5".to_string(), "2".to_string()),
    )
}

fn cpus_allowed(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// 1.2, config.md: "execCPUAffinity (object, OPTIONAL) specifies CPU affinity used to execute
/// the process. This setting is not applicable to the container's init process ... final
/// (string, OPTIONAL) is a list of CPUs the process will be run on after the transition to
/// container's cgroup" (runtime.md: the program MUST run "as specified by process"): an exec'd
/// process ends on `final`, the init keeps its affinity.
fn exec_affinity_final(ctx: &Ctx) -> Outcome {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map_err(|e| format!("/sys/devices/system/cpu/online: {e}"))?;
    let online = online.trim().to_string();
    if !online.starts_with("0-") && !online.starts_with("0,1") {
        return Err(skip(format!("needs CPUs 0 and 1 online (have {online})")));
    }
    let c = sleeping(
        ctx,
        |v| v["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"}),
        "",
    )?;
    let out = exec(&c, &["cat", "/proc/self/status"])?;
    expect_eq(
        "the exec'd process's Cpus_allowed_list",
        cpus_allowed(&out).as_str(),
        "1",
    )?;
    let init = std::fs::read_to_string(format!("/proc/{}/status", c.pid()?)).unwrap_or_default();
    expect_eq(
        "the init's Cpus_allowed_list",
        cpus_allowed(&init),
        online.clone(),
    )
}

/// The kernel's (major, minor), from uname's release.
fn kernel_version() -> Option<(u32, u32)> {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = r.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// "initial (string, OPTIONAL) is a list of CPUs a runtime parent process to be run on
/// initially, before the transition to container's cgroup ... [final] If omitted or empty,
/// runtime SHOULD NOT change process' CPU affinity after the process is moved to container's
/// cgroup, and the final affinity is determined by the Linux kernel." Linux 6.2 and later keep
/// an affinity set with sched_setaffinity across a cpuset cgroup move (within the cgroup's
/// CPUs), so an exec'd process given only `initial` ends on it there.
fn exec_affinity_initial(ctx: &Ctx) -> Outcome {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map_err(|e| format!("/sys/devices/system/cpu/online: {e}"))?;
    let online = online.trim().to_string();
    if !online.starts_with("0-") && !online.starts_with("0,1") {
        return Err(skip(format!("needs CPUs 0 and 1 online (have {online})")));
    }
    match kernel_version() {
        Some(v) if v >= (6, 2) => {}
        v => {
            return Err(skip(format!(
                "before Linux 6.2 a cgroup move resets the affinity (kernel {v:?})"
            )))
        }
    }
    let c = sleeping(
        ctx,
        |v| v["process"]["execCPUAffinity"] = json!({"initial": "1"}),
        "",
    )?;
    let out = exec(&c, &["cat", "/proc/self/status"])?;
    expect_eq(
        "the exec'd process's Cpus_allowed_list",
        cpus_allowed(&out).as_str(),
        "1",
    )
}

fn need_numa() -> Result<(), Failure> {
    if !Path::new("/proc/self/numa_maps").exists() {
        return Err(skip(
            "this kernel has no NUMA support (no /proc/self/numa_maps)",
        ));
    }
    Ok(())
}

/// 1.3, config-linux.md: "memoryPolicy (object, OPTIONAL) sets the NUMA memory policy for the
/// container ... mode (string, REQUIRED) ... nodes (string, OPTIONAL) - list of memory nodes
/// from which nodemask is constructed to set_mempolicy(2)"; runtime.md, create: "All of the
/// properties configured in config.json except for process MUST be applied." On node 0 (every
/// host has it), the init's mappings show the policy in the host's /proc/PID/numa_maps.
fn memory_policy(ctx: &Ctx, mode: &str, shown: &str) -> Outcome {
    need_numa()?;
    let m = mode.to_string();
    let c = sleeping(
        ctx,
        move |v| v["linux"]["memoryPolicy"] = json!({"mode": m, "nodes": "0"}),
        "",
    )?;
    let maps = std::fs::read_to_string(format!("/proc/{}/numa_maps", c.pid()?))
        .map_err(|e| format!("numa_maps: {e}"))?;
    let n = maps
        .lines()
        .filter(|l| l.split(' ').nth(1) == Some(shown))
        .count();
    ensure(
        n > 0,
        format!(
            "no mapping of the init has policy {shown}: {:?}",
            maps.lines().take(3).collect::<Vec<_>>()
        ),
    )
}

/// runtime.md: "If the runtime cannot apply a property as specified in the configuration, it
/// MUST generate an error and a new container MUST NOT be created": a node the host does not
/// have cannot be in the container's nodemask (the kernel itself would silently drop it from
/// an MPOL_BIND mask that also names node 0).
fn memory_policy_missing_node(ctx: &Ctx) -> Outcome {
    need_numa()?;
    let possible = std::fs::read_to_string("/sys/devices/system/node/possible")
        .map_err(|e| format!("/sys/devices/system/node/possible: {e}"))?;
    let last = possible
        .trim()
        .rsplit([',', '-'])
        .next()
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| format!("node/possible: {possible:?}"))?;
    let nodes = format!("0,{}", last + 1);
    ctx.create_fails(|v| v["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": nodes}))
}

/// The offsets of /proc/PID/timens_offsets: (clock, secs, nanosecs).
fn timens_offsets(pid: i64) -> Result<Vec<(String, i64, u32)>, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/timens_offsets"))
        .map_err(|e| format!("timens_offsets: {e}"))?;
    Ok(s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((
                it.next()?.to_string(),
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
            ))
        })
        .collect())
}

/// 1.1, config-linux.md: "timeOffsets (object, OPTIONAL) sets the offset for Time Namespace
/// ... secs (int64, OPTIONAL) - is the offset of clock (in seconds) in the container ...
/// nanosecs (uint32, OPTIONAL)"; runtime.md, create: "All of the properties configured in
/// config.json except for process MUST be applied." The init's time namespace (not the host's) has the offsets,
/// in /proc/PID/timens_offsets from the host; with `userns`, in a time namespace owned by a new
/// user namespace (with id mappings, the rootfs owned by the mapped root).
fn time_offsets(ctx: &Ctx, userns: bool) -> Outcome {
    if !Path::new("/proc/self/ns/time").exists() {
        return Err(skip("this kernel has no time namespaces"));
    }
    let edit = move |v: &mut Value| {
        if let Some(a) = v["linux"]["namespaces"].as_array_mut() {
            a.push(json!({"type": "time"}));
            if userns {
                a.push(json!({"type": "user"}));
            }
        }
        if userns {
            v["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
            v["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
        }
        v["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": 1_000_000, "nanosecs": 250},
            "monotonic": {"secs": 500_000}
        });
    };
    let chown = move |b: &Bundle, host: &Path| {
        if !userns {
            return Ok(());
        }
        let ok = std::process::Command::new("chown")
            .args(["-R", "200000:300000"])
            .arg(b.rootfs())
            .arg(host)
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if ok {
            Ok(())
        } else {
            Err("chown -R of the rootfs failed".to_string())
        }
    };
    let c = Live::create_with(ctx, edit, "echo up > /host/mark; exec sleep 300", chown)?;
    c.op(&["start"])?;
    c.wait_file("mark")?;
    let pid = c.pid()?;
    ensure(
        ns_link(&pid.to_string(), "time") != ns_link("self", "time"),
        "the init is in the host's time namespace",
    )?;
    let mut got = timens_offsets(pid)?;
    got.sort();
    expect_eq(
        "/proc/PID/timens_offsets",
        got,
        vec![
            ("boottime".to_string(), 1_000_000, 250),
            ("monotonic".to_string(), 500_000, 0),
        ],
    )
}

/// Where resctrl is mounted in this (the runtime's) mount namespace.
fn resctrl_root() -> Option<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .ok()?
        .lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let point = pre.split(' ').nth(4)?;
            post.starts_with("resctrl ").then(|| PathBuf::from(point))
        })
}

/// Removes a resctrl group (an empty directory to resctrl) on drop, should the runtime have
/// left it.
struct RdtGone(PathBuf);

impl Drop for RdtGone {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// 1.3, config-linux.md: "If intelRdt is set, the runtime MUST write the container process ID
/// to the tasks file in a proper sub-directory in a mounted resctrl pseudo-filesystem ... If
/// closID is not set, runtimes MUST use the container ID ... and create the <container-id>
/// directory ... If no mounted resctrl pseudo-filesystem is available in the runtime mount
/// namespace, the runtime MUST generate an error." Without resctrl (a host whose CPU has no
/// RDT, or where it is not mounted) create must fail and leave nothing; with it, the init's
/// pid is in <container-id>/tasks.
fn intel_rdt(ctx: &Ctx) -> Outcome {
    let Some(root) = resctrl_root() else {
        return ctx.create_fails(|v| v["linux"]["intelRdt"] = json!({}));
    };
    // Declared first, dropped last: after the container is deleted.
    let _gone;
    let c = Live::create(
        ctx,
        |v| v["linux"]["intelRdt"] = json!({}),
        "exec sleep 300",
    )?;
    let group = root.join(&c.id);
    _gone = RdtGone(group.clone());
    let pid = c.pid()?;
    let tasks = group.join("tasks");
    let listed =
        std::fs::read_to_string(&tasks).map_err(|e| format!("{}: {e}", tasks.display()))?;
    ensure(
        listed.lines().any(|l| l.trim() == pid.to_string()),
        format!("init {pid} is not in {}", tasks.display()),
    )?;
    // "If closID is not set and the runtime has created the sub-directory, the runtime MUST
    // remove the sub-directory when the container is deleted."
    c.op(&["delete", "--force"])?;
    ensure(!group.exists(), format!("delete left {}", group.display()))
}

/// config.md: "process (object, OPTIONAL) specifies the container process. This property is
/// REQUIRED when start is called." runtime.md, start: "This operation MUST generate an error
/// if process was not set." So create succeeds without it, and start fails.
fn no_process(ctx: &Ctx) -> Outcome {
    let rt = ctx.rt();
    let mut b = Bundle::new(&[]);
    b.edit(|v| {
        if let Some(o) = v.as_object_mut() {
            o.remove("process");
        }
    });
    let id = unique_id("conf");
    let bundle = b.path().to_string_lossy().into_owned();
    rt.try_ok(&["create", "--bundle", &bundle, &id])
        .map_err(|e| format!("create without process: {e}"))?;
    expect_eq("status after create", rt.status(&id).as_str(), "created")?;
    let o = rt.run(&["start", &id]);
    ensure(
        !o.status.success(),
        format!(
            "start without process succeeded (status {})",
            rt.status(&id)
        ),
    )
}

/// config-linux.md: "If a namespace type is not specified in the namespaces array, the
/// container MUST inherit the runtime namespace of that type", for mount. The runtime runs in
/// a private mount namespace this check makes for it (so that what it mounts, for a container
/// without one of its own, never reaches the host's, and goes with that namespace): the
/// container's mount namespace is that one. maskedPaths and readonlyPaths go, which need a
/// mount namespace of the container's own.
fn mount_absent(ctx: &Ctx) -> Outcome {
    use std::os::unix::process::CommandExt;
    let host = TempDir::new("mntns");
    let mut b = Bundle::new(&[]);
    b.bind(host.path(), "/host")
        .sh("readlink /proc/self/ns/mnt > /host/ns; sleep 1")
        .edit(|v| {
            if let Some(l) = v["linux"].as_object_mut() {
                l.remove("maskedPaths");
                l.remove("readonlyPaths");
            }
            v["linux"]["namespaces"] =
                json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]);
        });
    let rt = ctx.rt();
    let err_file = host.path().join("runtime.err");
    let mut cmd = rt.cmd();
    cmd.args(["run", "--bundle"])
        .arg(b.path())
        .arg(unique_id("conf"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_file).map_err(|e| e.to_string())?);
    // SAFETY: unshare and mount are async-signal-safe syscalls on constant arguments.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn the runtime: {e}"))?;
    let runtime_ns = ns_link(&child.id().to_string(), "mnt");
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        let err = std::fs::read_to_string(&err_file).unwrap_or_default();
        return Err(format!("run exited {status}: {}", err.trim()).into());
    }
    ensure(
        !runtime_ns.is_empty() && runtime_ns != ns_link("self", "mnt"),
        "could not read the runtime's mount namespace",
    )?;
    let inside = std::fs::read_to_string(host.path().join("ns")).unwrap_or_default();
    expect_eq(
        "the container's mount namespace",
        inside.trim(),
        runtime_ns.as_str(),
    )
}

/// config-linux.md: "rootfsPropagation (string, OPTIONAL) sets the rootfs's mount propagation.
/// Its value is either shared, slave, private or unbindable ... unbindable: the rootfs mount
/// is a private mount that cannot be bind-mounted"; runtime.md, create: "All of the properties
/// configured in config.json except for process MUST be applied."
fn rootfs_unbindable(ctx: &Ctx) -> Outcome {
    let l = crate::checks::root_mounts::mountinfo(
        ctx,
        |v| v["linux"]["rootfsPropagation"] = json!("unbindable"),
        "/",
    )?;
    let optional: Vec<&str> = l
        .split(" - ")
        .next()
        .unwrap_or("")
        .split(' ')
        .skip(6)
        .collect();
    ensure(
        optional.contains(&"unbindable")
            && !optional
                .iter()
                .any(|f| f.starts_with("shared:") || f.starts_with("master:")),
        format!("/ is not private and unbindable: {l}"),
    )
}

/// config.md: "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format and specifies the
/// version of the Open Container Initiative Runtime Specification with which the bundle
/// complies. The Open Container Initiative Runtime Specification follows semantic versioning
/// and retains forward and backward compatibility within major versions": a 1.x config runs
/// (1.3.0, what current engines write, and a newer minor), and a 2.0.0 one is a version the
/// runtime cannot support ("Runtimes MUST generate an error when invalid or unsupported values
/// are encountered").
fn version_runs(ctx: &Ctx, version: &str) -> Outcome {
    let v = version.to_string();
    let out = ctx.sh(move |c| c["ociVersion"] = json!(v), "echo ran")?;
    expect_eq("output", out.as_str(), "ran\n")
}

/// 1.1, config-linux.md: "personality (object, OPTIONAL) sets the Linux execution personality
/// ... domain (string, REQUIRED) ... LINUX32": a process exec'd in the container has it too
/// (the personality is the container's, as runc 1.2+ applies it in exec); runtime.md, create:
/// "All of the properties configured in config.json except for process MUST be applied."
fn personality_exec(ctx: &Ctx) -> Outcome {
    let host = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&host.stdout).trim() != "x86_64" {
        return Err(skip("LINUX32 is checked on x86_64 only"));
    }
    let c = sleeping(
        ctx,
        |v| v["linux"]["personality"] = json!({"domain": "LINUX32"}),
        "",
    )?;
    let out = exec(&c, &["uname", "-m"])?;
    ensure(
        matches!(out.trim(), "i686" | "i386"),
        format!("uname -m in an exec'd process: {:?}", out.trim()),
    )
}
