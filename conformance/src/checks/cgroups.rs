//! config-linux.md, Control groups: cgroupsPath placement and linux.resources read back from
//! the container's cgroup files on the host, under cgroup v1 or v2 names, whichever hierarchy
//! holds the controller here (see cgroupfs.rs). A value v2 has no file for is a skip there.

use serde_json::{json, Value};

use crate::cgroupfs::{self, Version};
use crate::check::{ensure, expect_eq, Check, Ctx, Failure, Level::*, Live, Outcome};
use crate::harness::unique_id;

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
        Check::new("config-linux.cgroupsPath.hugetlb", p, Must, |c| {
            placed(c, "hugetlb")
        }),
        Check::new("config-linux.resources.memory.limit", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 67108864}}),
                "memory",
                ("memory.limit_in_bytes", "67108864"),
                Some(("memory.max", "67108864")),
            )
        }),
        Check::new("config-linux.resources.memory.reservation", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 67108864, "reservation": 33554432}}),
                "memory",
                ("memory.soft_limit_in_bytes", "33554432"),
                Some(("memory.low", "33554432")),
            )
        }),
        Check::new("config-linux.resources.memory.swap", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 67108864, "swap": 134217728}}),
                "memory",
                ("memory.memsw.limit_in_bytes", "134217728"),
                // v1's swap is memory plus swap; v2's memory.swap.max is the swap alone.
                Some(("memory.swap.max", "67108864")),
            )
        }),
        Check::new("config-linux.resources.memory.swappiness", r, Must, |c| {
            read_back(
                c,
                json!({"memory": {"swappiness": 17}}),
                "memory",
                ("memory.swappiness", "17"),
                None,
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
                    None,
                )?;
                ensure(
                    v.lines().any(|l| l == "oom_kill_disable 1"),
                    format!("memory.oom_control: {v}"),
                )
            },
        ),
        Check::new("config-linux.resources.pids.limit", r, Must, |c| {
            read_back(
                c,
                json!({"pids": {"limit": 42}}),
                "pids",
                ("pids.max", "42"),
                Some(("pids.max", "42")),
            )
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
                ("cpu.shares", "512"),
                // The shares-to-weight map runc and crun use: 1 + (512 - 2) * 9999 / 262142.
                Some(("cpu.weight", "20")),
            )
        }),
        Check::new("config-linux.resources.cpu.quota", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"quota": 50000, "period": 100000}}),
                "cpu",
                ("cpu.cfs_quota_us", "50000"),
                Some(("cpu.max", "50000 100000")),
            )
        }),
        Check::new("config-linux.resources.cpu.period", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"quota": 30000, "period": 60000}}),
                "cpu",
                ("cpu.cfs_period_us", "60000"),
                Some(("cpu.max", "30000 60000")),
            )
        }),
        Check::new("config-linux.resources.cpu.cpus", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"cpus": "0"}}),
                "cpuset",
                ("cpuset.cpus", "0"),
                Some(("cpuset.cpus", "0")),
            )
        }),
        Check::new("config-linux.resources.cpu.mems", r, Must, |c| {
            read_back(
                c,
                json!({"cpu": {"mems": "0"}}),
                "cpuset",
                ("cpuset.mems", "0"),
                Some(("cpuset.mems", "0")),
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
                    ("blkio.throttle.read_bps_device", "254:0 1048576"),
                    Some(("io.max", "254:0 rbps=1048576 wbps=max riops=max wiops=max")),
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
                    ("blkio.throttle.write_iops_device", "254:0 300"),
                    Some(("io.max", "254:0 rbps=max wbps=max riops=max wiops=300")),
                )
            },
        ),
        Check::new("config-linux.resources.hugepageLimits", r, Must, |c| {
            read_back(
                c,
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
                "hugetlb",
                ("hugetlb.2MB.limit_in_bytes", "4194304"),
                Some(("hugetlb.2MB.max", "4194304")),
            )
        }),
        // 1.3: "limit in bytes of hugepagesize HugeTLB reservations (if supported) or usage".
        // read_back skips where the kernel has no reservation accounting (before 5.7).
        Check::new("config-linux.resources.hugepageLimits.rsvd", r, Must, |c| {
            read_back(
                c,
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
                "hugetlb",
                ("hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
                Some(("hugetlb.2MB.rsvd.max", "4194304")),
            )
        }),
        Check::new("config-linux.resources.devices.rules", r, Must, |c| {
            let v = read(
                c,
                json!({"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}),
                "devices",
                "devices.list",
                Some(
                    "cgroup v2 has no devices.list (a BPF program holds the rules; \
                      config-linux.resources.devices.allow and .deny test their effect)",
                ),
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
/// relative to the cgroups mount point": the container process is in that cgroup at create, in
/// whichever hierarchy holds `ctrl` here.
fn placed(ctx: &Ctx, ctrl: &str) -> Outcome {
    let h = hierarchy(ctrl)?;
    let path = format!("/conformance/{}", unique_id("cg"));
    let _gone = CgroupGone(path.clone());
    let p = path.clone();
    let c = Live::create(
        ctx,
        move |v| v["linux"]["cgroupsPath"] = json!(p),
        "exec sleep 300",
    )?;
    let pid = c.pid()?;
    expect_eq(ctrl, cgroupfs::pid_path(pid, &h, ctrl), Some(path))
}

/// The hierarchy of `ctrl`, or a skip: the host has no such controller.
pub(crate) fn hierarchy(ctrl: &str) -> Result<cgroupfs::Hierarchy, Failure> {
    cgroupfs::hierarchy(ctrl)
        .ok_or_else(|| Failure::Skip(format!("this host has no {ctrl} controller mounted")))
}

/// Create with `resources` and cgroupsPath; the content of `file` in `ctrl`'s cgroup. `v2`
/// says why the check means nothing where `ctrl` is on cgroup v2 (a skip), if it does not.
pub(crate) fn read(
    ctx: &Ctx,
    resources: Value,
    ctrl: &str,
    file: &str,
    v2: Option<&str>,
) -> Result<String, Failure> {
    if let (Some(why), Version::V2) = (v2, hierarchy(ctrl)?.version) {
        return Err(Failure::Skip(why.to_string()));
    }
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
    let h = hierarchy(ctrl)?;
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
    let dir = h.dir(path);
    ensure(dir.is_dir(), format!("no cgroup {} made", dir.display()))?;
    let Some(file) = files.iter().find(|f| dir.join(f).exists()) else {
        // The kernel lacks the knob (e.g. no swap accounting): nothing to read back.
        return Err(Failure::Skip(format!(
            "the kernel has no {} in {}",
            files.join(" or "),
            h.mount.display()
        )));
    };
    let f = dir.join(file);
    let v = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
    drop(c);
    Ok((file.to_string(), v))
}

/// Removes the (empty) cgroup path from every hierarchy on drop, should the runtime have left
/// it (crun 1.8 leaves the cgroup of a create that failed).
pub(crate) struct CgroupGone(pub String);

impl Drop for CgroupGone {
    fn drop(&mut self) {
        cgroupfs::remove_everywhere(&self.0);
    }
}

/// "The runtime MUST apply the resources": the cgroup file reads back the configured value,
/// as (file, value) under cgroup v1, or under v2 where `ctrl` is on v2 (`None`: v2 has no such
/// file, a skip).
pub(crate) fn read_back(
    ctx: &Ctx,
    resources: Value,
    ctrl: &str,
    v1: (&str, &str),
    v2: Option<(&str, &str)>,
) -> Outcome {
    read_back_as(ctx, None, resources, ctrl, v1, v2)
}

/// `read_back` in a config of ociVersion `version`, if given.
pub(crate) fn read_back_as(
    ctx: &Ctx,
    version: Option<&str>,
    resources: Value,
    ctrl: &str,
    v1: (&str, &str),
    v2: Option<(&str, &str)>,
) -> Outcome {
    let (file, want) = match (hierarchy(ctrl)?.version, v2) {
        (Version::V1, _) => v1,
        (Version::V2, Some(f)) => f,
        (Version::V2, None) => {
            return Err(Failure::Skip(format!(
                "{ctrl} is on cgroup v2 here, which has no {}",
                v1.0
            )))
        }
    };
    let path = format!("/conformance/{}", unique_id("res"));
    let (_, v) = read_first_as(ctx, version, &path, resources, ctrl, &[file])?;
    ensure(
        v.trim() == want || v.lines().any(|l| l.trim() == want),
        format!("{file}: got {:?}, want {want:?}", v.trim()),
    )
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
