//! Loading a bundle: config.json parsed with oci-spec, checked field by field, into a plan
//! that the rest of the runtime follows. Every error names the field (or file) at fault, and
//! nothing has been created yet when one is returned.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("{0}: cannot read config.json: {1}")]
    Read(PathBuf, std::io::Error),
    /// Not JSON, or not a runtime-spec config: `field` is where (empty for a syntax error
    /// outside any field), `msg` what, with its line and column.
    #[error("{}", parse_message(.file, .field, .msg))]
    Parse {
        file: PathBuf,
        field: String,
        msg: String,
    },
    #[error("config.json: {size} bytes, larger than the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("{}", one_line(&format!("config.json: {field}: {msg}")))]
    Invalid { field: String, msg: String },
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

/// A loaded and checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// The host node of a linux.devices entry injected from a CDI spec whose hostPath is not
    /// its container path: a user-namespaced container bind-mounts it from there.
    pub device_hosts: std::collections::BTreeMap<PathBuf, PathBuf>,
}

/// The newest runtime-spec version Gantry implements.
pub const SPEC_MAX: (u64, u64, u64) = (1, 3, 0);

/// runtime-spec versions: every 1.x.y (and prereleases) is accepted, since 1.x only adds
/// fields and an unknown one is ignored by the parser. A 1.x newer than `SPEC_MAX` runs with a
/// warning (as runc does); another major version is refused: its semantics are unknown.
fn check_version(v: &str) -> Result<(), BundleError> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some(&[1, minor, patch]) => {
            if (1, minor, patch) > SPEC_MAX {
                crate::logger::warn(&format!(
                    "config.json: ociVersion {v:?} is newer than the runtime-spec {}.{}.{} Gantry implements; fields it does not know are ignored",
                    SPEC_MAX.0, SPEC_MAX.1, SPEC_MAX.2
                ));
            }
            Ok(())
        }
        Some([major, _, _]) => Err(invalid(
            "ociVersion",
            format!("unsupported version {v:?}: major version {major} (Gantry implements runtime-spec 1.x, up to 1.3.0)"),
        )),
        _ => Err(invalid(
            "ociVersion",
            format!("{v:?} is not a version (want e.g. 1.3.0)"),
        )),
    }
}

fn parse_message(file: &Path, field: &str, msg: &str) -> String {
    one_line(&if field.is_empty() {
        format!("{}: {msg}", file.display())
    } else {
        format!("config.json: {field}: {msg}")
    })
}

/// An error is one line (engines show the last line of the log): a control character the
/// config put in a value or key the message quotes (serde quotes them raw) is escaped.
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_default().collect::<String>(),
            c => c.to_string(),
        })
        .collect()
}

/// The largest config.json Gantry reads. Real ones are kilobytes (a big seccomp profile is
/// ~30 KiB); a larger file is a mistake or an attack on the runtime's memory, refused before
/// it is read whole.
pub const CONFIG_MAX: u64 = 16 << 20;

pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
    use std::io::Read;
    let dir = std::fs::canonicalize(dir).map_err(|e| BundleError::Dir(dir.to_path_buf(), e))?;
    let path = dir.join("config.json");
    let file = std::fs::File::open(&path).map_err(|e| BundleError::Read(path.clone(), e))?;
    // Read one byte past the limit rather than trust the size stat gives (a fifo, /proc file
    // or a file still growing has none or a wrong one).
    let mut bytes = Vec::new();
    file.take(CONFIG_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BundleError::Read(path.clone(), e))?;
    if bytes.len() as u64 > CONFIG_MAX {
        let size = std::fs::metadata(&path)
            .map(|m| m.len())
            .unwrap_or(bytes.len() as u64);
        return Err(BundleError::TooLarge {
            size: size.max(bytes.len() as u64),
            limit: CONFIG_MAX,
        });
    }
    check_config(&dir, &bytes)
}

/// Parse and check the bytes of a config.json as the one of bundle `dir` (absolute): all that
/// `load` does after reading the file. It creates and writes nothing; it only looks at the host
/// (the rootfs, namespace paths, which LSMs and controllers exist). The entry point of the
/// fuzz target (fuzz/fuzz_targets/config.rs) and of its bounded stable run in CI
/// (tests/tests/hostile.rs): whatever the bytes, an error naming the field, never a panic.
pub fn check_config(dir: &Path, bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() as u64 > CONFIG_MAX {
        return Err(BundleError::TooLarge {
            size: bytes.len() as u64,
            limit: CONFIG_MAX,
        });
    }
    let spec = parse(&dir.join("config.json"), bytes)?;
    from_spec(dir.to_path_buf(), spec)
}

impl BundleError {
    /// The field at fault: a config path (`process.user.uid`, `mounts[2].destination`), or
    /// `config.json` for the file as a whole (a syntax error, a top level that is no object,
    /// too large); None for the errors of the bundle directory itself.
    pub fn field(&self) -> Option<&str> {
        match self {
            BundleError::Dir(..) | BundleError::Read(..) => None,
            BundleError::Parse { field, .. } | BundleError::Invalid { field, .. }
                if !field.is_empty() =>
            {
                Some(field)
            }
            BundleError::Parse { .. } | BundleError::TooLarge { .. } => Some("config.json"),
            BundleError::Invalid { .. } => None,
        }
    }
}

/// Parse config.json, naming the field of any error (`process.user.uid: invalid type: ...`).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Spec, BundleError> {
    let parse_err = |field: String, msg: String| BundleError::Parse {
        file: path.to_path_buf(),
        field,
        msg,
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => String::new(),
            p => p,
        };
        let inner = e.into_inner();
        let msg = unknown_capability(&field, &inner).unwrap_or_else(|| inner.to_string());
        parse_err(field, msg)
    })?;
    // serde's derived structs also take a JSON array, field by field in declaration order, so
    // `"hooks": []` parses as no hooks and `"linux": [..]` as whatever its elements happen to
    // fill: refuse an array wherever the spec has an object.
    let input: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| parse_err(String::new(), e.to_string()))?;
    let parsed =
        serde_json::to_value(&spec).map_err(|e| parse_err(String::new(), e.to_string()))?;
    if let Some(field) = array_for_object(&input, &parsed, "") {
        return Err(parse_err(
            field,
            "invalid type: sequence, expected an object".into(),
        ));
    }
    Ok(spec)
}

/// oci-spec's error for an unknown capability ("no variant for CAP_BOGUS (converted to
/// BOGUS)"), said plainly.
fn unknown_capability(field: &str, e: &serde_json::Error) -> Option<String> {
    if !field.starts_with("process.capabilities.") {
        return None;
    }
    let text = e.to_string();
    let name = text
        .strip_prefix("no variant for ")?
        .split(" (converted to")
        .next()?;
    Some(format!(
        "unknown capability {name:?} at line {} column {}",
        e.line(),
        e.column()
    ))
}

/// The first place (a field path) where `input` has an array and the spec parsed from it has
/// an object.
fn array_for_object(
    input: &serde_json::Value,
    parsed: &serde_json::Value,
    at: &str,
) -> Option<String> {
    use serde_json::Value;
    match (input, parsed) {
        (Value::Array(_), Value::Object(_)) => Some(at.to_string()),
        (Value::Object(i), Value::Object(p)) => i.iter().find_map(|(k, v)| {
            let at = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            p.get(k).and_then(|pv| array_for_object(v, pv, &at))
        }),
        (Value::Array(i), Value::Array(p)) => i
            .iter()
            .zip(p)
            .enumerate()
            .find_map(|(n, (iv, pv))| array_for_object(iv, pv, &format!("{at}[{n}]"))),
        _ => None,
    }
}

/// config.md: a mount destination "MAY be a relative path, in which case it MUST be interpreted
/// as relative to "/"" (deprecated, as runc and crun take it). Resolution stays inside the
/// rootfs either way.
fn absolute_destinations(spec: &mut Spec) {
    let Some(mounts) = spec.mounts().clone() else {
        return;
    };
    let mounts = mounts
        .into_iter()
        .map(|mut m| {
            if !m.destination().is_absolute() {
                let d = Path::new("/").join(m.destination());
                m.set_destination(d);
            }
            m
        })
        .collect();
    spec.set_mounts(Some(mounts));
}

/// Check a parsed spec against what Gantry can honour, resolving the rootfs.
pub fn from_spec(dir: PathBuf, mut spec: Spec) -> Result<Bundle, BundleError> {
    check_version(spec.version())?;
    // Before relative destinations are made absolute: "" would become "/", a mount over the
    // whole rootfs.
    check_mounts(&spec)?;
    absolute_destinations(&mut spec);
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing (the root filesystem is required)"))?;
    if root.path().as_os_str().is_empty() {
        // Joined to the bundle dir it would be the bundle itself, config.json and all.
        return Err(invalid("root.path", "empty"));
    }
    let rootfs = dir.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => return Err(invalid("root.path", format!("{}: {e}", rootfs.display()))),
    }
    // config.md: process is REQUIRED only when start is called; create goes on without it
    // and `start` fails (see process/init.rs).
    if let Some(process) = spec.process() {
        check_process(process)?;
    }
    if let Some(linux) = spec.linux() {
        check_namespaces(linux)?;
        if let Some(p) = linux.cgroups_path() {
            check_cgroups_path(p)?;
        }
        if let Some(r) = linux.resources() {
            check_resources(r)?;
            if r.rdma().as_ref().is_some_and(|r| !r.is_empty()) && !crate::cgroups::rdma_available()
            {
                return Err(invalid(
                    "linux.resources.rdma",
                    "this host has no rdma cgroup controller (no v1 rdma hierarchy, no rdma in cgroup2)",
                ));
            }
        }
        if let Some(rdt) = linux.intel_rdt() {
            crate::resctrl::check(rdt, crate::resctrl::mount_point().as_deref())
                .map_err(|e| invalid(e.field(), e.msg()))?;
        }
        if let Some(d) = linux.net_devices() {
            let netns = linux
                .namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == LinuxNamespaceType::Network);
            crate::netdev::check(d, netns).map_err(|e| match e.split_once(": ") {
                Some((f, m)) => invalid(f, m),
                None => invalid("linux.netDevices", e),
            })?;
        }
        if let Some(f) = linux
            .personality()
            .as_ref()
            .and_then(|p| p.flags().as_ref())
            .filter(|f| !f.is_empty())
        {
            // config-linux.md 1.3: "Currently no flag values are supported" (runc warns and
            // drops them; Gantry does not run a config with a part it would ignore).
            return Err(invalid(
                "linux.personality.flags",
                format!("{f:?}: runtime-spec defines no personality flags"),
            ));
        }
        if let Some(p) = linux.memory_policy() {
            crate::confine::sched::check_memory_policy(p).map_err(|e| {
                match e.split_once(": ") {
                    Some((f, m)) => invalid(f, m),
                    None => invalid("linux.memoryPolicy", e),
                }
            })?;
        }
        if let Some(p) = linux.rootfs_propagation() {
            crate::rootfs::mount_opts::propagation_flag(p).ok_or_else(|| {
                invalid("linux.rootfsPropagation", format!("unknown value {p:?}"))
            })?;
        }
        for (name, paths) in [
            ("maskedPaths", linux.masked_paths()),
            ("readonlyPaths", linux.readonly_paths()),
        ] {
            if let Some(i) = paths.iter().flatten().position(|p| !p.starts_with('/')) {
                return Err(invalid(format!("linux.{name}[{i}]"), "must be absolute"));
            }
        }
        if let Some(sc) = linux.seccomp() {
            check_seccomp_names(sc)?;
        }
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            if !d.path().is_absolute() {
                return Err(invalid(
                    format!("linux.devices[{i}].path"),
                    "must be absolute",
                ));
            }
        }
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            if key.is_empty() || key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
                return Err(invalid("linux.sysctl", format!("bad key {key:?}")));
            }
            let nss = linux.namespaces().clone().unwrap_or_default();
            crate::sysctl::check(key, &nss).map_err(|e| invalid("linux.sysctl", e))?;
        }
    }
    if let Some(h) = spec.hooks() {
        check_hooks(h)?;
    }
    Ok(Bundle {
        dir,
        spec,
        rootfs,
        device_hosts: Default::default(),
    })
}

/// config-linux.md: names "MUST contain at least one entry". A name that is no syscall of any
/// ABI is skipped as runc does (profiles list calls newer than the tables), but an empty or
/// malformed one is a broken profile.
fn check_seccomp_names(sc: &oci_spec::runtime::LinuxSeccomp) -> Result<(), BundleError> {
    for (i, call) in sc.syscalls().iter().flatten().enumerate() {
        if call.names().is_empty() {
            return Err(invalid(
                format!("linux.seccomp.syscalls[{i}].names"),
                "empty (it must name at least one syscall)",
            ));
        }
        let well_formed = |n: &String| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if let Some(j) = call.names().iter().position(|n| !well_formed(n)) {
            return Err(invalid(
                format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                format!("{:?} is not a syscall name", call.names()[j]),
            ));
        }
    }
    Ok(())
}

/// config.md: a hook's path is absolute, its timeout "MUST be greater than zero".
fn check_hooks(h: &oci_spec::runtime::Hooks) -> Result<(), BundleError> {
    #[allow(deprecated)]
    let kinds = [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ];
    for (kind, hooks) in kinds {
        for (i, hook) in hooks.iter().flatten().enumerate() {
            if !hook.path().is_absolute() {
                return Err(invalid(
                    format!("hooks.{kind}[{i}].path"),
                    format!("{:?} is not absolute", hook.path()),
                ));
            }
            if let Some(t) = hook.timeout().filter(|t| *t <= 0) {
                return Err(invalid(
                    format!("hooks.{kind}[{i}].timeout"),
                    format!("{t} (it must be greater than zero)"),
                ));
            }
        }
    }
    Ok(())
}

/// What each mount says, before any is made: a destination, options that mean something.
fn check_mounts(spec: &Spec) -> Result<(), BundleError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let dest = m.destination();
        if dest.as_os_str().is_empty() {
            return Err(invalid(format!("mounts[{i}].destination"), "empty"));
        }
        let at = format!("mounts[{i}] ({})", dest.display());
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(invalid(
                at,
                "idmapped mounts are not supported by Gantry yet",
            ));
        }
        let opts = m.options().as_deref().unwrap_or_default();
        if let Some(o) = opts.iter().find(|o| o.is_empty()) {
            return Err(invalid(at, format!("option {o:?}: empty")));
        }
        let parsed = crate::rootfs::mount_opts::parse(opts)
            .map_err(|e| invalid(at.clone(), e.to_string()))?;
        // A bind mount passes no data to a filesystem, so the kernel never sees an option
        // Gantry does not know. runc accepts and ignores it (configs written for runc carry
        // such options); say so instead of refusing (for other types the kernel judges it).
        let bind = parsed.is_bind() || m.typ().as_deref() == Some("bind");
        if let Some(o) = parsed.data.first().filter(|_| bind) {
            crate::logger::warn(&format!(
                "{at}: option {o:?}: unknown for a bind mount, ignored (as runc does)"
            ));
        }
    }
    Ok(())
}

fn check_process(process: &oci_spec::runtime::Process) -> Result<(), BundleError> {
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err(invalid("process.args", "must name the program to run")),
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{:?} is not absolute", process.cwd()),
        ));
    }
    if let Some(env) = process.env() {
        if let Some(bad) = env.iter().find(|e| !e.contains('=')) {
            return Err(invalid("process.env", format!("{bad:?} is not KEY=VALUE")));
        }
    }
    let mut seen = Vec::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        // config.md: "If rlimits contains duplicated entries with same type, the runtime MUST
        // generate an error".
        if seen.contains(&r.typ()) {
            return Err(invalid(
                format!("process.rlimits[{i}]"),
                format!("duplicate {}", r.typ()),
            ));
        }
        seen.push(r.typ());
        if r.soft() > r.hard() {
            return Err(invalid(
                format!("process.rlimits[{i}] ({})", r.typ()),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            ));
        }
    }
    let field = |e: String| match e.split_once(": ") {
        Some((f, m)) => invalid(f, m),
        None => invalid("process", e),
    };
    if let Some(s) = process.scheduler() {
        crate::confine::sched::check_scheduler(s).map_err(field)?;
    }
    if let Some(p) = process
        .io_priority()
        .filter(|p| !(0..=7).contains(&p.priority()))
    {
        return Err(invalid(
            "process.ioPriority.priority",
            format!("{} is not in 0-7", p.priority()),
        ));
    }
    if process.user().umask().is_some_and(|u| u > 0o777) {
        return Err(invalid(
            "process.user.umask",
            format!(
                "{:#o} is not a mode (0-0777)",
                process.user().umask().unwrap_or(0)
            ),
        ));
    }
    // execCPUAffinity applies to exec'd processes only (config.md: "not applicable to the
    // container's init process"); the lists must parse.
    if let Some(a) = process.exec_cpu_affinity() {
        for (f, l) in [("initial", a.initial()), ("final", a.cpu_affinity_final())] {
            if let Some(l) = l
                .as_deref()
                .filter(|l| crate::confine::sched::parse_list(l).is_none())
            {
                return Err(invalid(
                    format!("process.execCPUAffinity.{f}"),
                    format!("{l:?} is not a list like 0-3,7"),
                ));
            }
        }
    }
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !crate::confine::lsm::apparmor_enabled() {
            return Err(invalid(
                "process.apparmorProfile",
                format!("profile {p:?} requested but AppArmor is not enabled on this host"),
            ));
        }
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !crate::confine::lsm::selinux_enabled() {
            return Err(invalid(
                "process.selinuxLabel",
                format!("label {l:?} requested but SELinux is not enabled on this host"),
            ));
        }
    }
    Ok(())
}

/// `linux.cgroupsPath`, in the cgroupfs form (`/a/b`) or the systemd one (`slice:prefix:name`),
/// is joined under every hierarchy root: a `..` component would climb out of them (runc cleans
/// the path instead; a path that means something else than it says is refused here).
pub fn check_cgroups_path(p: &Path) -> Result<(), BundleError> {
    let s = p.to_string_lossy();
    if s.split([':', '/']).any(|c| c == "..") {
        return Err(invalid(
            "linux.cgroupsPath",
            format!("{s:?} has a \"..\" component (it would leave the cgroup hierarchy)"),
        ));
    }
    Ok(())
}

/// Values of `linux.resources` that mean nothing, refused before any cgroup is touched (also by
/// `update`). As in runc, -1 means unlimited for the memory sizes, cpu.quota and pids.limit, and
/// 0 means "not set" where runc reads it so; any other negative is an error rather than the
/// kernel's bare EINVAL (memory) or a silent "unlimited" (cpu quota, pids).
pub fn check_resources(r: &oci_spec::runtime::LinuxResources) -> Result<(), BundleError> {
    let at_least_minus_one = |field: &str, v: Option<i64>| match v {
        Some(v) if v < -1 => Err(invalid(
            format!("linux.resources.{field}"),
            format!("{v} is invalid (-1 means unlimited; other values must be >= 0)"),
        )),
        _ => Ok(()),
    };
    if let Some(m) = r.memory() {
        at_least_minus_one("memory.limit", m.limit())?;
        at_least_minus_one("memory.reservation", m.reservation())?;
        at_least_minus_one("memory.swap", m.swap())?;
        at_least_minus_one("memory.kernel", m.kernel())?;
        at_least_minus_one("memory.kernelTCP", m.kernel_tcp())?;
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            // runc: "valid memory swappiness range is 0-100"
            return Err(invalid(
                "linux.resources.memory.swappiness",
                format!("{s} is invalid (the range is 0-100)"),
            ));
        }
    }
    if let Some(c) = r.cpu() {
        at_least_minus_one("cpu.quota", c.quota())?;
        at_least_minus_one("cpu.realtimeRuntime", c.realtime_runtime())?;
    }
    if let Some(p) = r.pids() {
        at_least_minus_one("pids.limit", Some(p.limit()))?;
    }
    if let Some(c) = r.cpu() {
        for (f, l) in [("cpus", c.cpus()), ("mems", c.mems())] {
            if let Some(l) = l
                .as_deref()
                .filter(|l| !l.is_empty() && crate::confine::sched::parse_list(l).is_none())
            {
                return Err(invalid(
                    format!("linux.resources.cpu.{f}"),
                    format!("{l:?} is not a list like 0-3,7"),
                ));
            }
        }
    }
    for (i, d) in r.devices().iter().flatten().enumerate() {
        if let Some(a) = d
            .access()
            .as_deref()
            .filter(|a| !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')))
        {
            return Err(invalid(
                format!("linux.resources.devices[{i}].access"),
                format!("{a:?}: only r, w and m are allowed"),
            ));
        }
    }
    Ok(())
}

fn check_namespaces(linux: &oci_spec::runtime::Linux) -> Result<(), BundleError> {
    let nss = linux.namespaces().as_deref().unwrap_or_default();
    let mut seen = Vec::new();
    for (i, ns) in nss.iter().enumerate() {
        if seen.contains(&ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}]"),
                format!(
                    "duplicate namespace type {}",
                    crate::namespaces::spec_name(ns.typ())
                ),
            ));
        }
        seen.push(ns.typ());
        if let Some(p) = ns.path() {
            if !p.exists() {
                return Err(invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{} does not exist", p.display()),
                ));
            }
            crate::namespaces::check_path(ns.typ(), p).map_err(|e| {
                invalid(
                    format!(
                        "linux.namespaces[{i}] ({}, path {})",
                        crate::namespaces::spec_name(ns.typ()),
                        p.display()
                    ),
                    e,
                )
            })?;
        }
    }
    for (name, maps) in [
        ("uidMappings", linux.uid_mappings()),
        ("gidMappings", linux.gid_mappings()),
    ] {
        if let Some(i) = maps.iter().flatten().position(|m| m.size() == 0) {
            return Err(invalid(
                format!("linux.{name}[{i}].size"),
                "0 (a mapping must map at least one id; is size missing?)",
            ));
        }
    }
    let has_user = seen.contains(&LinuxNamespaceType::User);
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if maps && !has_user {
        return Err(invalid(
            "linux.uidMappings",
            "id mappings need a user namespace",
        ));
    }
    let new_user = nss
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if new_user && !maps {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        // Without one the container's mounts are the host's: runc refuses to mask or
        // read-only paths there ("unable to restrict sys entries without a private MNT
        // namespace"), and a root propagation would change the host's own mounts.
        if linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(invalid(
                "linux.maskedPaths",
                "cannot be applied without a mount namespace",
            ));
        }
        if linux
            .readonly_paths()
            .as_ref()
            .is_some_and(|p| !p.is_empty())
        {
            return Err(invalid(
                "linux.readonlyPaths",
                "cannot be applied without a mount namespace",
            ));
        }
        if linux.rootfs_propagation().is_some() {
            return Err(invalid(
                "linux.rootfsPropagation",
                "needs a mount namespace (it would change the host's mounts)",
            ));
        }
    }
    if linux.time_offsets().is_some()
        && !nss
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none())
    {
        return Err(invalid("linux.timeOffsets", "needs a new time namespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("1.0.2").is_ok());
        assert!(check_version("1.2.0").is_ok());
        assert!(check_version("1.0.2-dev").is_ok());
        assert!(check_version("1.3.0").is_ok());
        assert!(check_version("1.3.0-rc.1").is_ok());
        assert!(
            check_version("1.9.0").is_ok(),
            "a newer 1.x runs with a warning"
        );
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("0.9.0").is_err());
        assert!(check_version("banana").is_err());
    }

    #[test]
    fn errors_are_one_line() {
        let e = invalid("process.args[0]", "\"a\nb\" raw\r\x1b");
        assert_eq!(
            e.to_string(),
            "config.json: process.args[0]: \"a\\nb\" raw\\r\\u{1b}"
        );
    }

    #[test]
    fn cgroups_paths() {
        for bad in [
            "/../x",
            "/a/../../x",
            "..",
            "system.slice:..:x",
            "../x.slice:p:n",
            "s:p:..",
        ] {
            assert!(check_cgroups_path(Path::new(bad)).is_err(), "{bad}");
        }
        for good in ["/gantry/c1", "a..b/c", "system.slice:gantry:c1", "/x/.y"] {
            assert!(check_cgroups_path(Path::new(good)).is_ok(), "{good}");
        }
    }

    #[test]
    fn relative_destinations_are_from_the_root() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [
                {"destination": "data", "type": "tmpfs", "source": "t"},
                {"destination": "/abs", "type": "tmpfs", "source": "t"}
            ]
        }))
        .unwrap();
        absolute_destinations(&mut spec);
        let d: Vec<_> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().clone())
            .collect();
        assert_eq!(d, [PathBuf::from("/data"), PathBuf::from("/abs")]);
    }
}
