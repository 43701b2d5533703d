//! `events`: the container's resource usage in runc's event JSON: one `stats` event with
//! --stats, else one every --interval until the container stops.

use std::time::Duration;

use anyhow::{anyhow, Result};
use libcgroups::common::CgroupManager;
use serde_json::{json, Value};

use super::Globals;
use crate::state::{self, Status};

fn mem(d: &libcgroups::stats::MemoryData) -> Value {
    json!({"usage": d.usage, "max": d.max_usage, "failcnt": d.fail_count, "limit": d.limit})
}

/// libcgroups' stats in the shape runc's `events` prints (containerd and podman parse it).
pub fn stats_json(s: &libcgroups::stats::Stats) -> Value {
    let u = &s.cpu.usage;
    let t = &s.cpu.throttling;
    json!({
        "cpu": {
            "usage": {"total": u.usage_total, "percpu": u.per_core_usage_total, "kernel": u.usage_kernel, "user": u.usage_user},
            "throttling": {"periods": t.periods, "throttledPeriods": t.throttled_periods, "throttledTime": t.throttled_time}
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem(&s.memory.memory),
            "swap": mem(&s.memory.memswap),
            "kernel": mem(&s.memory.kernel),
            "kernelTCP": mem(&s.memory.kernel_tcp),
            "raw": s.memory.stats
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": serde_json::to_value(&s.blkio).unwrap_or(Value::Null),
        "hugetlb": serde_json::to_value(&s.hugetlb).unwrap_or(Value::Null)
    })
}

pub fn run(g: &Globals, id: &str, stats: bool, interval: Duration) -> Result<()> {
    let (dir, saved, _) = super::open(g, id)?;
    drop(dir);
    let mgr = crate::cgroups::manager(&saved.cgroup, &saved.id)?;
    loop {
        let st = mgr
            .stats()
            .map_err(|e| anyhow!("container {id}: stats: {e}"))?;
        println!(
            "{}",
            json!({"type": "stats", "id": id, "data": stats_json(&st)})
        );
        if stats {
            return Ok(());
        }
        std::thread::sleep(interval);
        if state::status_of(&g.root.join(id), &saved) == Status::Stopped {
            return Ok(());
        }
    }
}
