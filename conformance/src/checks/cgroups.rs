//! config-linux.md, Control groups: cgroupsPath placement and linux.resources read back from
//! the cgroup v1 files on the host (this host is v1); a v2-only host skips these.

use std::path::Path;

use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, Check, Ctx, Failure, Level::*, Live, Outcome};
use crate::harness::{proc_cgroup, unique_id, v1_cgroup_dir};

pub fn checks() -> Vec<Check> {
    let p = "config-linux.md#cgroups-path";
    let r = "config-linux.md#control-groups";
    vec![
        Check::new("config-linux.cgroupsPath.memory", p, Must, |c| {
            placed(c, "memory")
        }),
        Check::new("config-linux.cgroupsPath.pids", p, Must, |c| {
            placed(c, "pids")
        }),
        Check::new("config-linux.cgroupsPath.cpu", p, Must, |c| {
            placed(c, "cpu")
        }),
        Check::new("config-linux.cgroupsPath.devices", p, Must, |c| {
            placed(c, "devices")
        }),
        Check::new("config-linux.cgroupsPath.freezer", p, Must, |c| {
            placed(c, "freezer")
        }),
        Check::new("config-linux.resources.memory.limit", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 67108864}}),
                "memory",
                "memory.limit_in_bytes",
                "67108864",
            )
        }),
        Check::new("config-linux.resources.memory.reservation", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 67108864, "reservation": 33554432}}),
                "memory",
                "memory.soft_limit_in_bytes",
                "33554432",
            )
        }),
        Check::new("config-linux.resources.memory.swap", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 67108864, "swap": 134217728}}),
                "memory",
                "memory.memsw.limit_in_bytes",
                "134217728",
            )
        }),
        Check::new("config-linux.resources.memory.swappiness", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"swappiness": 17}}),
                "memory",
                "memory.swappiness",
                "17",
            )
        }),
        Check::new(
            "config-linux.resources.memory.disableOOMKiller",
            r,
            Must,
            |c| {
                let v = read(
                    c,
                    json!({"memory": {"disableOOMKiller": true}}),
                    "memory",
                    "memory.oom_control",
                )?;
                ensure(
                    v.lines().any(|l| l == "oom_kill_disable 1"),
                    format!("memory.oom_control: {v}"),
                )
            },
        ),
        Check::new("config-linux.resources.pids.limit", r, Must, |c| {
            read_back(c, json!({"pids": {"limit": 42}}), "pids", "pids.max", "42")
        }),
        Check::new(
            "config-linux.resources.pids.limit.enforced",
            r,
            Must,
            pids_enforced,
        ),
        Check::new("config-linux.resources.cpu.shares", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"shares": 512}}),
                "cpu",
                "cpu.shares",
                "512",
            )
        }),
        Check::new("config-linux.resources.cpu.quota", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"quota": 50000, "period": 100000}}),
                "cpu",
                "cpu.cfs_quota_us",
                "50000",
            )
        }),
        Check::new("config-linux.resources.cpu.period", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"quota": 30000, "period": 60000}}),
                "cpu",
                "cpu.cfs_period_us",
                "60000",
            )
        }),
        Check::new("config-linux.resources.cpu.cpus", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"cpus": "0"}}),
                "cpuset",
                "cpuset.cpus",
                "0",
            )
        }),
        Check::new("config-linux.resources.cpu.mems", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"mems": "0"}}),
                "cpuset",
                "cpuset.mems",
                "0",
            )
        }),
        Check::new(
            "config-linux.resources.blockIO.throttleReadBpsDevice",
            r,
            Must,
            |c| {
                read_back(
                    c,
                    json!({"blockIO": {"throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]}}),
                    "blkio",
                    "blkio.throttle.read_bps_device",
                    "254:0 1048576",
                )
            },
        ),
        Check::new(
            "config-linux.resources.blockIO.throttleWriteIOPSDevice",
            r,
            Must,
            |c| {
                read_back(
                    c,
                    json!({"blockIO": {"throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 300}]}}),
                    "blkio",
                    "blkio.throttle.write_iops_device",
                    "254:0 300",
                )
            },
        ),
        Check::new("config-linux.resources.hugepageLimits", r, Must, |c| {
            read_back(
                c,
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
                "hugetlb",
                "hugetlb.2MB.limit_in_bytes",
                "4194304",
            )
        }),
        Check::new("config-linux.resources.devices.rules", r, Must, |c| {
            let v = read(
                c,
                json!({"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}),
                "devices",
                "devices.list",
            )?;
            ensure(
                v.lines().any(|l| l == "c 10:229 rw"),
                format!("devices.list has no c 10:229 rw: {v}"),
            )?;
            ensure(
                !v.lines().any(|l| l == "a *:* rwm"),
                "devices.list still allows everything",
            )
        }),
    ]
}

/// "cgroupsPath (string, OPTIONAL) path to the cgroups ... the runtime MUST take the path to be
/// relative to the cgroups mount point": the container process is in that cgroup at create.
fn placed(ctx: &Ctx, ctrl: &str) -> Outcome {
    let path = format!("/conformance/{}", unique_id("cg"));
    let p = path.clone();
    let c = Live::create(
        ctx,
        move |v| v["linux"]["cgroupsPath"] = json!(p),
        "exec sleep 300",
    )?;
    let pid = c.pid()?;
    expect_eq(ctrl, proc_cgroup(pid, ctrl), Some(path))
}

/// Create with `resources` and cgroupsPath; the content of `file` in `ctrl`'s cgroup.
pub(crate) fn read(ctx: &Ctx, resources: Value, ctrl: &str, file: &str) -> Result<String, Failure> {
    let path = format!("/conformance/{}", unique_id("res"));
    read_first(ctx, &path, resources, ctrl, &[file]).map(|(_, v)| v)
}

/// Create with `resources` at cgroupsPath `path`; the name and content of the first of `files`
/// that `ctrl`'s cgroup has (a skip if it has none: the kernel lacks the knob).
pub(crate) fn read_first(
    ctx: &Ctx,
    path: &str,
    resources: Value,
    ctrl: &str,
    files: &[&str],
) -> Result<(String, String), Failure> {
    read_first_as(ctx, None, path, resources, ctrl, files)
}

/// `read_first`, with the config's ociVersion set to `version` if given (a property added in a
/// later runtime-spec is an unknown property, to be ignored, in a config of an earlier one).
pub(crate) fn read_first_as(
    ctx: &Ctx,
    version: Option<&str>,
    path: &str,
    resources: Value,
    ctrl: &str,
    files: &[&str],
) -> Result<(String, String), Failure> {
    if !Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join("cgroup.procs")
        .exists()
    {
        return Err(Failure::Skip(format!(
            "this host has no cgroup v1 {ctrl} hierarchy"
        )));
    }
    // Dropped after the container: its cgroup goes even where a runtime leaves it.
    let _gone = CgroupGone(path.to_string());
    let p = path.to_string();
    let version = version.map(str::to_string);
    let c = Live::create(
        ctx,
        move |v| {
            if let Some(ver) = version {
                v["ociVersion"] = json!(ver);
            }
            v["linux"]["cgroupsPath"] = json!(p);
            if let (Some(dst), Some(src)) = (
                v["linux"]["resources"].as_object_mut(),
                resources.as_object(),
            ) {
                for (k, val) in src {
                    dst.insert(k.clone(), val.clone());
                }
            }
        },
        "exec sleep 300",
    )?;
    let dir = v1_cgroup_dir(ctrl, path);
    ensure(dir.is_dir(), format!("no cgroup {} made", dir.display()))?;
    let Some(file) = files.iter().find(|f| dir.join(f).exists()) else {
        // The kernel lacks the knob (e.g. no swap accounting): nothing to read back.
        return Err(Failure::Skip(format!(
            "the kernel has no {ctrl}/{}",
            files.join(" or ")
        )));
    };
    let f = dir.join(file);
    let v = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
    drop(c);
    Ok((file.to_string(), v))
}

/// Removes the cgroup path (see `remove_cgroup`) on drop.
pub(crate) struct CgroupGone(pub String);

impl Drop for CgroupGone {
    fn drop(&mut self) {
        remove_cgroup(&self.0);
    }
}

/// Best effort: remove the (empty) cgroup `path` from every hierarchy, should the runtime have
/// left it (crun 1.8 leaves the cgroup of a create that failed).
pub(crate) fn remove_cgroup(path: &str) {
    if let Ok(d) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in d.flatten() {
            let _ = std::fs::remove_dir(e.path().join(path.trim_start_matches('/')));
        }
    }
}

/// "The runtime MUST apply the resources": the cgroup file reads back the configured value.
pub(crate) fn read_back(
    ctx: &Ctx,
    resources: Value,
    ctrl: &str,
    file: &str,
    want: &str,
) -> Outcome {
    let v = read(ctx, resources, ctrl, file)?;
    expect_eq(file, v.trim(), want)
}

/// The pids limit holds inside: forks beyond it fail.
fn pids_enforced(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["cgroupsPath"] = json!(format!("/conformance/{}", unique_id("pids")));
            v["linux"]["resources"]["pids"] = json!({"limit": 4});
        },
        // A failed fork ends the subshell, not the count; counted with a glob (no fork).
        "(for i in 1 2 3 4 5 6 7 8; do sleep 5 & done) 2>/dev/null; set -- /proc/[0-9]*; echo $#",
    )?;
    let n: u32 = out.trim().parse().map_err(|_| format!("output {out:?}"))?;
    ensure(n <= 4, format!("{n} processes ran under pids.limit 4"))
}
