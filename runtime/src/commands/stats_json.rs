//! Container stats in the JSON of runc's `events` (runc's types/events.go), which containerd
//! and podman parse: the same field names, and the same fields left out when zero (Go's
//! `omitempty`) or always present.

use std::collections::HashMap;
use std::path::Path;

use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde_json::{json, Map, Value};

/// A JSON object built field by field, with Go's omitempty for the fields that have it.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn put(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.0.insert(k.to_string(), v.into());
        self
    }
    /// A number left out when zero.
    fn num(self, k: &str, v: u64) -> Self {
        if v == 0 {
            self
        } else {
            self.put(k, v)
        }
    }
    /// A list left out when empty.
    fn list<T: Into<Value> + Clone>(self, k: &str, v: &[T]) -> Self {
        if v.is_empty() {
            self
        } else {
            self.put(k, v.to_vec())
        }
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// MemoryEntry: limit and failcnt always, usage and max when not zero.
fn mem(d: &MemoryData) -> Value {
    Obj::default()
        .put("limit", d.limit)
        .num("usage", d.usage)
        .num("max", d.max_usage)
        .put("failcnt", d.fail_count)
        .done()
}

/// BlkioEntry: every field omitempty.
fn blkio_entries(v: &[BlkioDeviceStat]) -> Vec<Value> {
    v.iter()
        .map(|e| {
            let o = Obj::default().num("major", e.major).num("minor", e.minor);
            let o = match e.op_type.as_deref() {
                Some(op) if !op.is_empty() => o.put("op", op),
                _ => o,
            };
            o.num("value", e.value).done()
        })
        .collect()
}

/// "0-2,4" -> [0, 1, 2, 4], as runc reports cpuset.cpus and cpuset.mems.
pub fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// runc's CPUSet stats from a v1 cpuset directory (zeros where a file is missing).
fn cpuset(dir: Option<&Path>) -> Value {
    let read = |f: &str| {
        dir.and_then(|d| std::fs::read_to_string(d.join(format!("cpuset.{f}"))).ok())
            .unwrap_or_default()
    };
    let n = |f: &str| read(f).trim().parse::<u64>().unwrap_or(0);
    let cpus = parse_list(&read("cpus"));
    let mems = parse_list(&read("mems"));
    Obj::default()
        .list("cpus", &cpus)
        .put("cpu_exclusive", n("cpu_exclusive"))
        .list("mems", &mems)
        .put("mem_hardwall", n("mem_hardwall"))
        .put("mem_exclusive", n("mem_exclusive"))
        .put("memory_migrate", n("memory_migrate"))
        .put("memory_spread_page", n("memory_spread_page"))
        .put("memory_spread_slab", n("memory_spread_slab"))
        .put("memory_pressure", n("memory_pressure"))
        .put("sched_load_balance", n("sched_load_balance"))
        .put(
            "sched_relax_domain_level",
            read("sched_relax_domain_level")
                .trim()
                .parse::<i64>()
                .unwrap_or(0),
        )
        .done()
}

/// Where stats that libcgroups does not read come from.
#[derive(Default)]
pub struct Extra<'a> {
    /// The container's v1 cpuset directory.
    pub cpuset_dir: Option<&'a Path>,
    /// Hugetlb (usage, failcnt) per page size read from the hybrid cgroup2 mount.
    pub unified_hugetlb: Option<HashMap<String, (u64, u64)>>,
}

/// libcgroups' stats as runc's `Stats`.
pub fn stats_json(s: &Stats, extra: &Extra) -> Value {
    let u = &s.cpu.usage;
    let t = &s.cpu.throttling;
    let usage = Obj::default()
        .num("total", u.usage_total)
        .list("percpu", &u.per_core_usage_total)
        .list("percpu_kernel", &u.per_core_usage_kernel)
        .list("percpu_user", &u.per_core_usage_user)
        .put("kernel", u.usage_kernel)
        .put("user", u.usage_user)
        .done();
    let throttling = Obj::default()
        .num("periods", t.periods)
        .num("throttledPeriods", t.throttled_periods)
        .num("throttledTime", t.throttled_time)
        .done();
    let m = &s.memory;
    let mut memory = Obj::default()
        .num("cache", m.cache)
        .put("usage", mem(&m.memory))
        .put("swap", mem(&m.memswap))
        .put("kernel", mem(&m.kernel))
        .put("kernelTCP", mem(&m.kernel_tcp));
    if !m.stats.is_empty() {
        let raw: Map<String, Value> = m.stats.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        memory = memory.put("raw", Value::Object(raw));
    }
    let b = &s.blkio;
    let blkio = Obj::default()
        .list("ioServiceBytesRecursive", &blkio_entries(&b.service_bytes))
        .list("ioServicedRecursive", &blkio_entries(&b.serviced))
        .list("ioQueueRecursive", &blkio_entries(&b.queued))
        .list("ioServiceTimeRecursive", &blkio_entries(&b.service_time))
        .list("ioWaitTimeRecursive", &blkio_entries(&b.wait_time))
        .list("ioMergedRecursive", &blkio_entries(&b.merged))
        .list("ioTimeRecursive", &blkio_entries(&b.time))
        .list("sectorsRecursive", &blkio_entries(&b.sectors))
        .done();
    let mut hugetlb: Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(size, h)| {
            let v = Obj::default()
                .num("usage", h.usage)
                .num("max", h.max_usage)
                .put("failcnt", h.fail_count)
                .done();
            (size.clone(), v)
        })
        .collect();
    for (size, (usage, failcnt)) in extra.unified_hugetlb.iter().flatten() {
        let v = Obj::default()
            .num("usage", *usage)
            .put("failcnt", *failcnt)
            .done();
        hugetlb.insert(size.clone(), v);
    }
    json!({
        "cpu": {"usage": usage, "throttling": throttling},
        "cpuset": cpuset(extra.cpuset_dir),
        "memory": memory.done(),
        "pids": Obj::default().num("current", s.pids.current).num("limit", s.pids.limit).done(),
        "blkio": blkio,
        "hugetlb": hugetlb,
        "intel_rdt": {},
        // runc lists only interfaces it configured itself (never from an OCI config).
        "network_interfaces": null
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_list("0-2,4\n"), vec![0, 1, 2, 4]);
        assert_eq!(parse_list("1"), vec![1]);
        assert!(parse_list("").is_empty());
    }

    /// The key set of runc 1.1.5's `events --stats` for a fresh container here (v1).
    #[test]
    fn runc_key_set() {
        let mut s = Stats::default();
        s.cpu.usage.usage_total = 9;
        s.cpu.usage.per_core_usage_total = vec![5, 4];
        s.cpu.usage.per_core_usage_kernel = vec![0, 0];
        s.cpu.usage.per_core_usage_user = vec![0, 0];
        s.memory.memory.usage = 1;
        s.memory.memory.max_usage = 2;
        s.memory.stats.insert("rss".into(), 1);
        s.pids.current = 1;
        let v = stats_json(&s, &Extra::default());
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&v),
            [
                "blkio",
                "cpu",
                "cpuset",
                "hugetlb",
                "intel_rdt",
                "memory",
                "network_interfaces",
                "pids"
            ]
        );
        assert_eq!(
            keys(&v["cpu"]["usage"]),
            [
                "kernel",
                "percpu",
                "percpu_kernel",
                "percpu_user",
                "total",
                "user"
            ]
        );
        assert_eq!(keys(&v["cpu"]["throttling"]), Vec::<String>::new());
        assert_eq!(
            keys(&v["memory"]),
            ["kernel", "kernelTCP", "raw", "swap", "usage"]
        );
        assert_eq!(
            keys(&v["memory"]["usage"]),
            ["failcnt", "limit", "max", "usage"]
        );
        assert_eq!(keys(&v["memory"]["kernelTCP"]), ["failcnt", "limit"]);
        assert_eq!(keys(&v["pids"]), ["current"]);
        assert_eq!(
            keys(&v["cpuset"]),
            [
                "cpu_exclusive",
                "mem_exclusive",
                "mem_hardwall",
                "memory_migrate",
                "memory_pressure",
                "memory_spread_page",
                "memory_spread_slab",
                "sched_load_balance",
                "sched_relax_domain_level"
            ]
        );
    }

    #[test]
    fn blkio_and_hugetlb_shapes() {
        let mut s = Stats::default();
        s.blkio.service_bytes = vec![BlkioDeviceStat {
            major: 254,
            minor: 0,
            op_type: Some("Read".into()),
            value: 4096,
        }];
        let extra = Extra {
            unified_hugetlb: Some(HashMap::from([("2MB".to_string(), (0, 0))])),
            ..Default::default()
        };
        let v = stats_json(&s, &extra);
        assert_eq!(
            v["blkio"],
            json!({"ioServiceBytesRecursive": [{"major": 254, "op": "Read", "value": 4096}]})
        );
        assert_eq!(v["hugetlb"], json!({"2MB": {"failcnt": 0}}));
    }
}
