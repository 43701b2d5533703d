//! config-linux.md, Control groups: the linux.resources fields that cgroups.rs does not read
//! back (kernel and TCP memory, useHierarchy, realtime CPU, idle, burst, blkio weights and the
//! other throttles, network, rdma, unified), each read back from the container's cgroup files on
//! the host; and values a runtime cannot apply, which create must refuse.
//!
//! Every read-back rests on runtime.md, Create: "All of the properties configured in
//! `config.json` except for `process` MUST be applied." Every refusal rests on the next
//! sentence: "If the runtime cannot apply a property as specified in the configuration, it MUST
//! generate an error and a new container MUST NOT be created."
//!
//! A knob this kernel lacks (or keeps no value in) is a skip that says so, never a pass.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::cgroupfs::Version;
use crate::check::{ensure, expect_eq, Check, Ctx, Failure, Level::*, Live, Outcome};
use crate::checks::cgroups::{hierarchy, read, read_back, read_back_as, read_first};
use crate::harness::{unique_id, v1_cgroup_dir};

pub fn checks() -> Vec<Check> {
    let m = "config-linux.md#memory";
    let cpu = "config-linux.md#cpu";
    let b = "config-linux.md#block-io";
    let n = "config-linux.md#network";
    let create = "runtime.md#create";
    vec![
        Check::new("config-linux.resources.memory.kernel", m, Must, kernel),
        Check::new("config-linux.resources.memory.kernelTCP", m, Must, |c| {
            read_back(
                c,
                json!({"memory": {"limit": 134217728, "kernelTCP": 33554432}}),
                "memory",
                ("memory.kmem.tcp.limit_in_bytes", "33554432"),
                None,
            )
        }),
        Check::new(
            "config-linux.resources.memory.useHierarchy",
            m,
            Must,
            use_hierarchy,
        ),
        Check::new(
            "config-linux.resources.memory.useHierarchy.unsupported-errors",
            create,
            Must,
            use_hierarchy_refused,
        ),
        Check::new(
            "config-linux.resources.memory.swap.below-limit-errors",
            create,
            Must,
            swap_below_limit,
        ),
        Check::new("config-linux.resources.cpu.burst", cpu, Must, |c| {
            read_back_as(
                c,
                Some(V1_1),
                json!({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}}),
                "cpu",
                ("cpu.cfs_burst_us", "20000"),
                Some(("cpu.max.burst", "20000")),
            )
        }),
        Check::new(
            "config-linux.resources.cpu.realtimeRuntime",
            cpu,
            Must,
            |c| realtime(c, "cpu.rt_runtime_us", "5000"),
        ),
        Check::new(
            "config-linux.resources.cpu.realtimePeriod",
            cpu,
            Must,
            |c| realtime(c, "cpu.rt_period_us", "500000"),
        ),
        Check::new("config-linux.resources.cpu.idle", cpu, Must, |c| {
            read_back_as(
                c,
                Some(V1_1),
                json!({"cpu": {"idle": 1}}),
                "cpu",
                ("cpu.idle", "1"),
                Some(("cpu.idle", "1")),
            )
        }),
        Check::new(
            "config-linux.resources.cpu.cpus.unavailable-errors",
            create,
            Must,
            cpus_unavailable,
        ),
        Check::new(
            "config-linux.resources.blockIO.weight",
            b,
            Must,
            blkio_weight,
        ),
        Check::new(
            "config-linux.resources.blockIO.weight.out-of-range-errors",
            create,
            Must,
            blkio_weight_out_of_range,
        ),
        Check::new(
            "config-linux.resources.blockIO.leafWeight",
            b,
            Must,
            blkio_leaf_weight,
        ),
        Check::new(
            "config-linux.resources.blockIO.leafWeight.unsupported-errors",
            create,
            Must,
            blkio_leaf_weight_refused,
        ),
        Check::new(
            "config-linux.resources.blockIO.weightDevice",
            b,
            Must,
            |c| blkio_weight_device(c, false),
        ),
        Check::new(
            "config-linux.resources.blockIO.weightDevice.unsupported-errors",
            create,
            Must,
            |c| blkio_weight_device(c, true),
        ),
        Check::new(
            "config-linux.resources.blockIO.throttleReadIOPSDevice",
            b,
            Must,
            |c| {
                throttle(
                    c,
                    "throttleReadIOPSDevice",
                    "blkio.throttle.read_iops_device",
                    120,
                )
            },
        ),
        Check::new(
            "config-linux.resources.blockIO.throttleWriteBpsDevice",
            b,
            Must,
            |c| {
                throttle(
                    c,
                    "throttleWriteBpsDevice",
                    "blkio.throttle.write_bps_device",
                    2097152,
                )
            },
        ),
        Check::new(
            "config-linux.resources.hugepageLimits.unknown-size-errors",
            create,
            Must,
            hugepage_unknown_size,
        ),
        Check::new("config-linux.resources.network.classID", n, Must, |c| {
            read_back(
                c,
                json!({"network": {"classID": 1048577}}),
                "net_cls",
                ("net_cls.classid", "1048577"),
                None,
            )
        }),
        Check::new(
            "config-linux.resources.network.priorities",
            n,
            Must,
            net_priorities,
        ),
        Check::new(
            "config-linux.resources.rdma",
            "config-linux.md#rdma",
            Must,
            rdma,
        ),
        Check::new(
            "config-linux.resources.unified",
            "config-linux.md#unified",
            Must,
            unified,
        ),
        Check::new(
            "config-linux.resources.unified.absent-controller-errors",
            "config-linux.md#unified",
            Must,
            |c| refused_as(c, Some(V1_1), json!({"unified": {"nosuchctl.max": "1"}})),
        ),
        Check::new(
            "config-linux.resources.devices.invalid-type-errors",
            create,
            Must,
            |c| {
                refused(
                    c,
                    json!({"devices": [
                        {"allow": false, "access": "rwm"},
                        {"allow": true, "type": "x", "major": 1, "minor": 3, "access": "rwm"}
                    ]}),
                )
            },
        ),
    ]
}

/// Whether the host has the cgroup v1 hierarchy of `ctrl`.
fn host_has(ctrl: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(ctrl)
        .join("cgroup.procs")
        .exists()
}

fn skip(why: impl Into<String>) -> Failure {
    Failure::Skip(why.into())
}

/// What a fresh cgroup of this kernel does with a value: keeps it, takes the write but keeps
/// something else, refuses the write, or has none of the files.
#[derive(Debug)]
enum Probe {
    Kept,
    Ignored(String),
    Refused(String),
    NoFile,
}

/// Write `value` to the first of `files` that a fresh cgroup under /conformance in `ctrl` has
/// (a probe cgroup, removed after); `kept` judges what it reads back.
fn probe(ctrl: &str, files: &[&str], value: &str, kept: impl Fn(&str) -> bool) -> Probe {
    let dir = v1_cgroup_dir(ctrl, &format!("/conformance/{}", unique_id("probe")));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Probe::Refused(format!("mkdir {}: {e}", dir.display()));
    }
    let p = match files.iter().find(|f| dir.join(f).exists()) {
        None => Probe::NoFile,
        Some(f) => match std::fs::write(dir.join(f), value) {
            Err(e) => Probe::Refused(format!("{f}: {e}")),
            Ok(()) => {
                let r = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                if kept(&r) {
                    Probe::Kept
                } else {
                    Probe::Ignored(format!("{f} reads back {:?}", r.trim()))
                }
            }
        },
    };
    let _ = std::fs::remove_dir(&dir);
    p
}

/// Create must fail for `resources` (merged into linux.resources, at a cgroupsPath under
/// /conformance), and leave no container: runtime.md, "If the runtime cannot apply a property
/// as specified in the configuration, it MUST generate an error and a new container MUST NOT
/// be created."
fn refused(ctx: &Ctx, resources: Value) -> Outcome {
    refused_as(ctx, None, resources)
}

/// The runtime-spec release that added cpu.burst, cpu.idle and unified (ChangeLog,
/// v1.1.0-rc.1): a config must say so, or they are unknown properties that config.md says
/// runtimes "MUST ignore".
const V1_1: &str = "1.1.0";

/// `refused`, with the config's ociVersion set to `version` if given.
fn refused_as(ctx: &Ctx, version: Option<&str>, resources: Value) -> Outcome {
    let path = format!("/conformance/{}", unique_id("bad"));
    let p = path.clone();
    let version = version.map(str::to_string);
    let r = ctx.create_fails(move |v| {
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
    });
    crate::cgroupfs::remove_everywhere(&path);
    r
}

/// "kernel (int64, OPTIONAL, NOT RECOMMENDED) - sets hard limit for kernel memory": reads back
/// from memory.kmem.limit_in_bytes, where the kernel still keeps a value there (it is deprecated:
/// recent kernels accept writes and ignore them, or have no file).
fn kernel(ctx: &Ctx) -> Outcome {
    let f = "memory.kmem.limit_in_bytes";
    if !host_has("memory") {
        return Err(skip("this host has no cgroup v1 memory hierarchy"));
    }
    if !Path::new("/sys/fs/cgroup/memory").join(f).exists() {
        return Err(skip(format!(
            "this kernel has no {f}: kernel memory limits are gone"
        )));
    }
    match probe("memory", &[f], "67108864", |v| v.trim() == "67108864") {
        Probe::Kept => {}
        Probe::Ignored(v) => {
            return Err(skip(format!(
                "this kernel ignores {f}: a probe cgroup given 67108864 {v} \
                 (kernel memory limits are deprecated, writes are no-ops)"
            )))
        }
        p => {
            return Err(skip(format!(
                "this kernel takes no {f} ({p:?}): kernel memory limits are deprecated"
            )))
        }
    }
    read_back(
        ctx,
        json!({"memory": {"limit": 134217728, "kernel": 67108864}}),
        "memory",
        (f, "67108864"),
        None,
    )
}

/// "useHierarchy (bool, OPTIONAL) - enables or disables hierarchical memory accounting", asked
/// false (true is every recent kernel's only value, so it could not fail): memory.use_hierarchy
/// reads 0, where the kernel can keep 0 in a cgroup under /conformance (a probe).
fn use_hierarchy(ctx: &Ctx) -> Outcome {
    let f = "memory.use_hierarchy";
    if !host_has("memory") {
        return Err(skip("this host has no cgroup v1 memory hierarchy"));
    }
    match probe("memory", &[f], "0", |v| v.trim() == "0") {
        Probe::Kept => read_back(
            ctx,
            json!({"memory": {"useHierarchy": false}}),
            "memory",
            (f, "0"),
            None,
        ),
        p => Err(skip(format!(
            "this kernel cannot disable {f} under a hierarchical parent ({p:?}); \
             see ...useHierarchy.unsupported-errors"
        ))),
    }
}

/// useHierarchy false where the kernel refuses 0 in memory.use_hierarchy (a hierarchical
/// parent; non-hierarchical mode is deprecated): the runtime cannot apply it, so create MUST
/// fail.
fn use_hierarchy_refused(ctx: &Ctx) -> Outcome {
    let f = "memory.use_hierarchy";
    if !host_has("memory") {
        return Err(skip("this host has no cgroup v1 memory hierarchy"));
    }
    match probe("memory", &[f], "0", |v| v.trim() == "0") {
        Probe::Refused(e) => refused(ctx, json!({"memory": {"useHierarchy": false}}))
            .map_err(|x| because(x, &format!("the kernel refuses use_hierarchy 0 here ({e})"))),
        p => Err(skip(format!(
            "this kernel does not refuse {f} 0 here ({p:?})"
        ))),
    }
}

/// A failure's message with the reason the value could not be applied.
fn because(e: Failure, why: &str) -> Failure {
    match e {
        Failure::Fail(m) => Failure::Fail(format!("{m}, though {why}")),
        s => s,
    }
}

/// "swap (int64, OPTIONAL) - sets limit of memory+Swap usage": memory+swap below memory cannot
/// be applied (the kernel refuses memsw.limit_in_bytes under limit_in_bytes), so create MUST
/// fail.
fn swap_below_limit(ctx: &Ctx) -> Outcome {
    if !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        return Err(skip(
            "this kernel has no memory.memsw.limit_in_bytes (no swap accounting)",
        ));
    }
    refused(
        ctx,
        json!({"memory": {"limit": 134217728, "swap": 67108864}}),
    )
}

/// A top-level cgroup (in every hierarchy) made for a check, removed on drop once the
/// container's own cgroup under it is gone.
pub(crate) struct TopCgroup(pub(crate) String);

impl Drop for TopCgroup {
    fn drop(&mut self) {
        if let Ok(d) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in d.flatten() {
                let top = e.path().join(&self.0);
                let _ = std::fs::remove_dir(top.join("ctr"));
                let _ = std::fs::remove_dir(&top);
            }
        }
    }
}

/// "realtimeRuntime (int64, OPTIONAL) - specifies a period of time in microseconds for the
/// longest continuous period in which the tasks in a cgroup have access to CPU resources";
/// "realtimePeriod (uint64, OPTIONAL) - same as period but applies to realtime scheduler only".
/// A child can only get RT time its parent has, and new cgroups get none: the container goes
/// under a top-level cgroup this check gives 20 ms per second, and asks 5 ms per 500 ms.
fn realtime(ctx: &Ctx, file: &str, want: &str) -> Outcome {
    if !host_has("cpu") {
        return Err(skip("this host has no cgroup v1 cpu hierarchy"));
    }
    if !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        return Err(skip(
            "this kernel has no cpu.rt_runtime_us (built without CONFIG_RT_GROUP_SCHED)",
        ));
    }
    let top = TopCgroup(unique_id("conformance-rt"));
    let dir = v1_cgroup_dir("cpu", &top.0);
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    if let Err(e) = std::fs::write(dir.join("cpu.rt_runtime_us"), "20000") {
        return Err(skip(format!(
            "the root cpu cgroup has no RT time to give a parent cgroup here ({e})"
        )));
    }
    let path = format!("/{}/ctr", top.0);
    let (_, v) = read_first(
        ctx,
        &path,
        json!({"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 5000}}),
        "cpu",
        &[file],
    )?;
    expect_eq(file, v.trim(), want)
}

/// The last CPU number the kernel could ever have, from /sys/devices/system/cpu/possible.
fn last_possible_cpu() -> Option<u32> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
    s.trim()
        .rsplit([',', '-'])
        .next()
        .and_then(|n| n.parse().ok())
}

/// "cpus (string, OPTIONAL) - list of CPUs the container will run in": a CPU this machine
/// cannot have cannot be given to the container, so create MUST fail.
fn cpus_unavailable(ctx: &Ctx) -> Outcome {
    if !host_has("cpuset") {
        return Err(skip("this host has no cgroup v1 cpuset hierarchy"));
    }
    let last = last_possible_cpu().ok_or("cannot read /sys/devices/system/cpu/possible")?;
    refused(ctx, json!({"cpu": {"cpus": format!("{}", last + 100)}}))
}

/// "weight (uint16, OPTIONAL) - specifies per-cgroup weight": blkio.weight (CFQ) or
/// blkio.bfq.weight (BFQ, Linux >= 5.0); a kernel with neither cannot weigh blkio cgroups.
fn blkio_weight(ctx: &Ctx) -> Outcome {
    if !host_has("blkio") {
        return Err(skip("this host has no cgroup v1 blkio hierarchy"));
    }
    // The files exist only while the disks' I/O scheduler is CFQ or BFQ (mq-deadline, kyber
    // and none have no weights): a weight that cannot be applied must be an error
    // (runtime.md: "If the runtime cannot apply a property ... it MUST generate an error").
    if let Probe::NoFile = probe(
        "blkio",
        &["blkio.weight", "blkio.bfq.weight"],
        "321",
        |_| true,
    ) {
        return refused(ctx, json!({"blockIO": {"weight": 321}})).map_err(|x| {
            because(
                x,
                "the kernel has no blkio weight (no CFQ or BFQ I/O scheduler)",
            )
        });
    }
    let path = format!("/conformance/{}", unique_id("res"));
    let (file, v) = read_first(
        ctx,
        &path,
        json!({"blockIO": {"weight": 321}}),
        "blkio",
        &["blkio.weight", "blkio.bfq.weight"],
    )
    .map_err(|e| hint(e, "blkio weights need the CFQ or BFQ I/O scheduler"))?;
    // BFQ's file may read "default 321" where it lists per-device weights too.
    let got = v.trim().trim_start_matches("default ").to_string();
    expect_eq(&file, got.as_str(), "321")
}

/// "weight (uint16, OPTIONAL)": a weight outside the kernel's range (BFQ takes 1 to 1000, CFQ
/// 10 to 1000) cannot be applied, so create MUST fail.
fn blkio_weight_out_of_range(ctx: &Ctx) -> Outcome {
    if !host_has("blkio") {
        return Err(skip("this host has no cgroup v1 blkio hierarchy"));
    }
    let files = ["blkio.weight", "blkio.bfq.weight"];
    match probe("blkio", &files, "5000", |v| v.trim().ends_with("5000")) {
        Probe::Refused(e) => refused(ctx, json!({"blockIO": {"weight": 5000}}))
            .map_err(|x| because(x, &format!("the kernel refuses weight 5000 ({e})"))),
        Probe::NoFile => Err(skip(
            "the kernel has no blkio weight (needs the CFQ or BFQ I/O scheduler)",
        )),
        p => Err(skip(format!(
            "this kernel does not refuse weight 5000 ({p:?})"
        ))),
    }
}

/// "leafWeight (uint16, OPTIONAL) - equivalents of weight for the purpose of deciding how much
/// weight tasks in the given cgroup has while competing with the cgroup's child cgroups":
/// blkio.leaf_weight, which only CFQ has (removed in Linux 5.0).
fn blkio_leaf_weight(ctx: &Ctx) -> Outcome {
    if !host_has("blkio") {
        return Err(skip("this host has no cgroup v1 blkio hierarchy"));
    }
    // Without the file the runtime must refuse the config (...leafWeight.unsupported-errors).
    if let Probe::NoFile = probe("blkio", &["blkio.leaf_weight"], "321", |_| true) {
        return Err(skip(
            "the kernel has no blkio.leaf_weight (CFQ only, removed in Linux 5.0); \
             see ...leafWeight.unsupported-errors",
        ));
    }
    let v = read(
        ctx,
        json!({"blockIO": {"leafWeight": 321}}),
        "blkio",
        "blkio.leaf_weight",
        None,
    )?;
    expect_eq("blkio.leaf_weight", v.trim(), "321")
}

/// leafWeight on a kernel without blkio.leaf_weight (no CFQ): it cannot be applied, so create
/// MUST fail.
fn blkio_leaf_weight_refused(ctx: &Ctx) -> Outcome {
    if !host_has("blkio") {
        return Err(skip("this host has no cgroup v1 blkio hierarchy"));
    }
    match probe("blkio", &["blkio.leaf_weight"], "321", |_| true) {
        Probe::NoFile => refused(ctx, json!({"blockIO": {"leafWeight": 321}})).map_err(|x| {
            because(
                x,
                "the kernel has no blkio.leaf_weight (CFQ only, removed in Linux 5.0)",
            )
        }),
        p => Err(skip(format!(
            "this kernel has blkio.leaf_weight ({p:?}): see ...leafWeight"
        ))),
    }
}

/// A skip's reason with a hint appended; a failure unchanged.
fn hint(e: Failure, why: &str) -> Failure {
    match e {
        Failure::Skip(s) => Failure::Skip(format!("{s} ({why})")),
        f => f,
    }
}

/// The block devices of this host as (name, "major:minor").
fn block_devices() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        dev.trim().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    // A real disk first: loop, ram and zram devices last.
    v.sort_by_key(|(n, _)| {
        (
            ["loop", "ram", "zram"].iter().any(|p| n.starts_with(p)),
            n.clone(),
        )
    });
    v
}

fn major_minor(dev: &str) -> Option<(u64, u64)> {
    let (a, b) = dev.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// "weightDevice (array of objects, OPTIONAL) - an array of per-device bandwidth weights": a
/// disk's weight in blkio.weight_device (CFQ) or blkio.bfq.weight_device (BFQ), where the kernel
/// keeps one for it (the disk runs BFQ or CFQ: a probe); with `refusal`, where the kernel
/// refuses it (the disk runs another scheduler), create MUST fail.
fn blkio_weight_device(ctx: &Ctx, refusal: bool) -> Outcome {
    if !host_has("blkio") {
        return Err(skip("this host has no cgroup v1 blkio hierarchy"));
    }
    let Some((name, dev)) = block_devices().into_iter().next() else {
        return Err(skip("this host has no block device"));
    };
    let (maj, min) = major_minor(&dev).ok_or(format!("{name}: dev {dev:?}"))?;
    let files = ["blkio.weight_device", "blkio.bfq.weight_device"];
    let want = format!("{dev} 222");
    let has = |v: &str| v.lines().any(|l| l.trim() == want);
    let res = json!({"blockIO": {"weightDevice": [{"major": maj, "minor": min, "weight": 222}]}});
    match (probe("blkio", &files, &want, has), refusal) {
        (Probe::Kept, false) => {
            let path = format!("/conformance/{}", unique_id("res"));
            let (file, v) = read_first(ctx, &path, res, "blkio", &files)?;
            ensure(has(&v), format!("{file} has no {want:?}: {v:?}"))
        }
        (Probe::Refused(e), true) => refused(ctx, res).map_err(|x| {
            because(
                x,
                &format!("the kernel refuses a weight for {name} {dev} ({e})"),
            )
        }),
        (p, false) => Err(skip(format!(
            "the kernel keeps no weight for {name} {dev} ({p:?}): per-device weights need a \
             disk that runs BFQ or CFQ"
        ))),
        (p, true) => Err(skip(format!(
            "the kernel does not refuse a weight for {name} {dev} ({p:?})"
        ))),
    }
}

/// "throttleReadIOPSDevice, throttleWriteIOPSDevice ... an array of per-device IO rate
/// limits"; "throttleReadBpsDevice, throttleWriteBpsDevice ... an array of per-device bandwidth
/// rate limits": the rate for a disk of this host reads back from the blkio throttle file.
fn throttle(ctx: &Ctx, field: &str, file: &str, rate: u64) -> Outcome {
    let Some((_, dev)) = block_devices().into_iter().next() else {
        return Err(skip("this host has no block device"));
    };
    let (maj, min) = major_minor(&dev).ok_or(format!("dev {dev:?}"))?;
    let res = json!({"blockIO": {field: [{"major": maj, "minor": min, "rate": rate}]}});
    if hierarchy("blkio")?.version == Version::V2 {
        // v2's io.max holds all four throttles of a device on its line: "8:0 rbps=.. riops=..".
        let key = match field {
            "throttleReadBpsDevice" => "rbps",
            "throttleWriteBpsDevice" => "wbps",
            "throttleReadIOPSDevice" => "riops",
            _ => "wiops",
        };
        let v = read(ctx, res, "blkio", "io.max", None)?;
        let want = format!("{key}={rate}");
        return ensure(
            v.lines().any(|l| {
                let mut t = l.split_whitespace();
                t.next() == Some(dev.as_str()) && t.any(|x| x == want)
            }),
            format!("io.max has no {dev} {want}: {v:?}"),
        );
    }
    let v = read(ctx, res, "blkio", file, None)?;
    let want = format!("{dev} {rate}");
    ensure(
        v.lines().any(|l| l.trim() == want),
        format!("{file} has no {want:?}: {v:?}"),
    )
}

/// "pageSize (string, REQUIRED) - hugepage size ... must match the <hugepagesize> of the
/// corresponding control file": a size the kernel has no control file for cannot be limited,
/// so create MUST fail.
fn hugepage_unknown_size(ctx: &Ctx) -> Outcome {
    let h = hierarchy("hugetlb")?;
    let file = match h.version {
        Version::V1 => "hugetlb.3MB.limit_in_bytes",
        Version::V2 => "hugetlb.3MB.max",
    };
    if h.mount.join(file).exists() {
        return Err(skip("this kernel has 3MB huge pages"));
    }
    refused(
        ctx,
        json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 4194304}]}),
    )
}

/// "priorities (array of objects, OPTIONAL) - specifies a list of objects of the priorities
/// assigned to traffic originating from processes in the group and egressing the system on
/// various interfaces ... name ... interface name in runtime network namespace": lo's priority
/// reads back from net_prio.ifpriomap.
fn net_priorities(ctx: &Ctx) -> Outcome {
    let v = read(
        ctx,
        json!({"network": {"priorities": [{"name": "lo", "priority": 7}]}}),
        "net_prio",
        "net_prio.ifpriomap",
        None,
    )?;
    ensure(
        v.lines().any(|l| l.trim() == "lo 7"),
        format!("net_prio.ifpriomap has no \"lo 7\": {v:?}"),
    )
}

/// "rdma (object, OPTIONAL) represents the cgroup subsystem rdma ... The name of the device to
/// limit is the entry key ... hcaHandles (uint32, OPTIONAL) - specifies the maximum number of
/// hca_handles in the cgroup": the device's line in rdma.max. Needs the controller and an RDMA
/// device.
fn rdma(ctx: &Ctx) -> Outcome {
    hierarchy("rdma")?;
    let dev = std::fs::read_dir("/sys/class/infiniband")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let Some(dev) = dev else {
        return Err(skip("this host has no RDMA device (/sys/class/infiniband)"));
    };
    let v = read(
        ctx,
        json!({"rdma": {dev.clone(): {"hcaHandles": 3}}}),
        "rdma",
        "rdma.max",
        None,
    )?;
    ensure(
        v.lines()
            .any(|l| l.starts_with(&format!("{dev} ")) && l.contains("hca_handle=3")),
        format!("rdma.max has no hca_handle=3 for {dev}: {v:?}"),
    )
}

/// "unified (object, OPTIONAL) allows cgroup v2 parameters to be set and modified for the
/// container. Each key in the map refers to a file in the cgroup unified hierarchy ...
/// Configuration unknown to the runtime MUST still be written to the relevant file": pids.max
/// given through unified reads back from the container's cgroup v2 directory. Only where the
/// container's controllers are on cgroup v2.
fn unified(ctx: &Ctx) -> Outcome {
    let h = hierarchy("pids")?;
    if h.version != Version::V2 {
        return Err(skip(
            "pids is on cgroup v1 here (a v1 or hybrid host), and unified sets files of a \
             cgroup v2 cgroup",
        ));
    }
    let root = h.mount.as_path();
    let path = format!("/conformance/{}", unique_id("res"));
    let p = path.clone();
    let c = Live::create(
        ctx,
        move |v| {
            v["ociVersion"] = json!(V1_1);
            v["linux"]["cgroupsPath"] = json!(p);
            v["linux"]["resources"]["unified"] = json!({"pids.max": "42"});
        },
        "exec sleep 300",
    )?;
    let f: PathBuf = root.join(path.trim_start_matches('/')).join("pids.max");
    let v = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
    drop(c);
    expect_eq("pids.max", v.trim(), "42")
}
