//! `linux.intelRdt`: the container's resctrl group (Intel RDT, AMD PQoS), as config-linux.md
//! (1.3) says: a CTRL_MON group named by `closID` (or the container id, made and removed by
//! us), its `schemata` written (l3CacheSchema, then memBwSchema, then `schemata` lines), an
//! optional MON group `mon_groups/<id>`, and the process ids in its `tasks`. Hand-written: no
//! crate does resctrl, and it is a handful of files.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIntelRdt;

const FIELD: &str = "linux.intelRdt";

#[derive(Debug, thiserror::Error)]
#[error("{FIELD}{field}: {msg}")]
pub struct ResctrlError {
    /// The sub-field at fault, with its dot (".closID"), or empty.
    field: &'static str,
    msg: String,
}

impl ResctrlError {
    /// The config field at fault ("linux.intelRdt.closID").
    pub fn field(&self) -> String {
        format!("{FIELD}{}", self.field)
    }
    pub fn msg(&self) -> &str {
        &self.msg
    }
}

fn err(field: &'static str, msg: impl Into<String>) -> ResctrlError {
    ResctrlError {
        field,
        msg: msg.into(),
    }
}

type Result<T> = std::result::Result<T, ResctrlError>;

/// Where resctrl is mounted in the runtime's mount namespace.
pub fn mount_point() -> Option<PathBuf> {
    crate::mountinfo::own()
        .ok()?
        .into_iter()
        .find(|m| m.fstype == "resctrl")
        .map(|m| m.mount_point)
}

/// The schemata lines to write, in the spec's order.
fn lines(rdt: &LinuxIntelRdt) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    v.extend(rdt.l3_cache_schema().as_deref());
    v.extend(rdt.mem_bw_schema().as_deref());
    v.extend(rdt.schemata().iter().flatten().map(String::as_str));
    v
}

/// What can be checked before anything exists: the values, and that the host has resctrl with
/// what they need (runc's checks: L3 allocation for l3CacheSchema, MBA for memBwSchema).
pub fn check(rdt: &LinuxIntelRdt, root: Option<&Path>) -> Result<()> {
    if let Some(c) = rdt.clos_id() {
        if c != "/" && (c.is_empty() || c.contains('/') || c == "." || c == "..") {
            return Err(err(".closID", format!("{c:?}: not a resctrl group name")));
        }
    }
    for (f, v) in [
        (".l3CacheSchema", rdt.l3_cache_schema()),
        (".memBwSchema", rdt.mem_bw_schema()),
    ] {
        if v.as_deref().is_some_and(|v| v.contains('\n')) {
            return Err(err(f, "must not contain newlines"));
        }
    }
    if rdt
        .mem_bw_schema()
        .as_deref()
        .is_some_and(|v| !v.starts_with("MB:"))
    {
        return Err(err(".memBwSchema", "must start with \"MB:\""));
    }
    if let Some(i) = rdt
        .schemata()
        .iter()
        .flatten()
        .position(|l| l.contains('\n'))
    {
        return Err(err(".schemata", format!("[{i}] must not contain newlines")));
    }
    if rdt.enable_cmt().is_some() || rdt.enable_mbm().is_some() {
        crate::logger::warn(
            "linux.intelRdt: enableCMT and enableMBM are replaced by enableMonitoring in runtime-spec 1.3.0; ignored",
        );
    }
    let root = root.ok_or_else(|| {
        err(
            "",
            "no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl; the CPU needs Intel RDT or AMD PQoS)",
        )
    })?;
    if rdt.l3_cache_schema().is_some() && !root.join("info/L3").exists() {
        return Err(err(
            ".l3CacheSchema",
            "this host has no L3 cache allocation (no info/L3 in resctrl)",
        ));
    }
    if rdt.mem_bw_schema().is_some() && !root.join("info/MB").exists() {
        return Err(err(
            ".memBwSchema",
            "this host has no memory bandwidth allocation (no info/MB in resctrl)",
        ));
    }
    if *rdt.enable_monitoring() == Some(true) && !root.join("info/L3_MON").exists() {
        return Err(err(
            ".enableMonitoring",
            "this host has no resctrl monitoring (no info/L3_MON)",
        ));
    }
    Ok(())
}

/// The container's groups in resctrl.
#[derive(Debug)]
pub struct Group {
    /// The CTRL_MON group, and whether we made it (then we remove it).
    ctrl: PathBuf,
    made_ctrl: bool,
    /// The MON group `mon_groups/<id>`, ours.
    mon: Option<PathBuf>,
}

impl Group {
    /// The groups of container `id` as the config names them (nothing is made).
    pub fn of(root: &Path, id: &str, rdt: &LinuxIntelRdt) -> Group {
        let ctrl = match rdt.clos_id().as_deref() {
            Some("/") => root.to_path_buf(),
            Some(c) => root.join(c),
            None => root.join(id),
        };
        let mon =
            (*rdt.enable_monitoring() == Some(true)).then(|| ctrl.join("mon_groups").join(id));
        Group {
            made_ctrl: rdt.clos_id().is_none(),
            ctrl,
            mon,
        }
    }

    /// The `tasks` file a process of the container goes to.
    fn tasks(&self) -> PathBuf {
        self.mon.as_ref().unwrap_or(&self.ctrl).join("tasks")
    }

    /// Put `pid` in the container's group (exec'd processes: the group exists).
    pub fn join(&self, pid: i32) -> Result<()> {
        let t = self.tasks();
        std::fs::write(&t, pid.to_string())
            .map_err(|e| err("", format!("add pid {pid} to {}: {e}", t.display())))
    }

    /// Write schemata lines to the CTRL_MON group (`update`): the kernel changes only the
    /// resources the lines name.
    pub fn write_schemata(&self, lines: &[&str]) -> Result<()> {
        let file = self.ctrl.join("schemata");
        std::fs::write(&file, lines.join("\n") + "\n")
            .map_err(|e| err(".schemata", format!("write {}: {e}", file.display())))
    }

    /// Remove what is ours: the MON group, and the CTRL_MON group when we named it.
    /// `closID` groups are the administrator's and stay (config-linux.md).
    pub fn remove(&self) -> Result<()> {
        let rm = |d: &Path| match std::fs::remove_dir(d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(err("", format!("remove {}: {e}", d.display())))
            }
            _ => Ok(()),
        };
        if let Some(m) = &self.mon {
            rm(m)?;
        }
        if self.made_ctrl {
            rm(&self.ctrl)?;
        }
        Ok(())
    }
}

/// Make (or check) the container's groups, write its schemata and put `pid` in. On error,
/// what was made here is removed again.
pub fn apply(root: &Path, id: &str, rdt: &LinuxIntelRdt, pid: i32) -> Result<Group> {
    let mut g = Group::of(root, id, rdt);
    let want = lines(rdt);
    let existed = g.ctrl.is_dir();
    if !existed {
        if rdt.clos_id().is_some() && want.is_empty() {
            return Err(err(
                ".closID",
                format!(
                    "no pre-configured resctrl group {} (and no schemata to make one)",
                    g.ctrl.display()
                ),
            ));
        }
        std::fs::create_dir(&g.ctrl)
            .map_err(|e| err("", format!("create {}: {e}", g.ctrl.display())))?;
        g.made_ctrl = true;
    } else if rdt.clos_id().is_none() {
        // A group named like the container but not made by us is someone else's.
        return Err(err(
            "",
            format!(
                "{} exists already: not made for this container",
                g.ctrl.display()
            ),
        ));
    }
    let r = (|| {
        if !want.is_empty() {
            let file = g.ctrl.join("schemata");
            if existed {
                let have = std::fs::read_to_string(&file)
                    .map_err(|e| err("", format!("read {}: {e}", file.display())))?;
                if let Some(l) = want.iter().find(|l| !schemata_has(&have, l)) {
                    return Err(err(
                        ".closID",
                        format!(
                            "group {} exists with other schemata: {l:?} is not in {:?}",
                            g.ctrl.display(),
                            have.trim()
                        ),
                    ));
                }
            } else {
                std::fs::write(&file, want.join("\n") + "\n")
                    .map_err(|e| err(".schemata", format!("write {}: {e}", file.display())))?;
            }
        }
        if let Some(m) = &g.mon {
            std::fs::create_dir(m).map_err(|e| {
                err(
                    ".enableMonitoring",
                    format!("create MON group {}: {e}", m.display()),
                )
            })?;
        }
        g.join(pid)
    })();
    if let Err(e) = r {
        // The MON group is ours, the CTRL_MON group only if made above.
        let _ = g.remove();
        return Err(e);
    }
    Ok(g)
}

/// Whether the kernel's schemata text holds `line` ("L3:0=ff;1=f0", "MB:0=50"): the same
/// resource with the same value for each of its domains. The kernel prints its own widths
/// (leading zeros, spaces), so values compare as numbers.
fn schemata_has(have: &str, line: &str) -> bool {
    let parse = |l: &str| -> Option<(String, Vec<(String, u64)>)> {
        let (res, doms) = l.trim().split_once(':')?;
        let hex = !res.trim().starts_with("MB");
        let doms = doms
            .split(';')
            .filter(|d| !d.trim().is_empty())
            .map(|d| {
                let (id, v) = d.split_once('=')?;
                let v = v.trim();
                let n = if hex {
                    u64::from_str_radix(v, 16)
                } else {
                    v.parse()
                };
                Some((id.trim().to_string(), n.ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some((res.trim().to_string(), doms))
    };
    let Some((res, doms)) = parse(line) else {
        return false;
    };
    have.lines()
        .filter_map(parse)
        .any(|(r, have_doms)| r == res && doms.iter().all(|d| have_doms.contains(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIntelRdtBuilder;

    /// A resctrl-shaped tree in a temporary dir: the files the kernel would have.
    fn fake() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for d in ["info/L3", "info/MB", "info/L3_MON", "mon_groups"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        t
    }

    #[test]
    fn a_group_named_by_the_id_is_made_written_joined_and_removed() {
        let t = fake();
        let rdt = LinuxIntelRdtBuilder::default()
            .l3_cache_schema("L3:0=ff")
            .mem_bw_schema("MB:0=50")
            .schemata(vec!["L2:0=f".to_string()])
            .build()
            .unwrap();
        check(&rdt, Some(t.path())).unwrap();
        let g = apply(t.path(), "c1", &rdt, 42).unwrap();
        let dir = t.path().join("c1");
        assert_eq!(
            std::fs::read_to_string(dir.join("schemata")).unwrap(),
            "L3:0=ff\nMB:0=50\nL2:0=f\n"
        );
        assert_eq!(std::fs::read_to_string(dir.join("tasks")).unwrap(), "42");
        // The kernel's files go with the group; a plain dir needs them removed first.
        for f in ["schemata", "tasks"] {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
        Group::of(t.path(), "c1", &rdt).remove().unwrap();
        assert!(!dir.exists());
        drop(g);
    }

    #[test]
    fn monitoring_makes_a_mon_group_under_the_clos_group() {
        let t = fake();
        std::fs::create_dir_all(t.path().join("gold/mon_groups")).unwrap();
        let rdt = LinuxIntelRdtBuilder::default()
            .clos_id("gold")
            .enable_monitoring(true)
            .build()
            .unwrap();
        let g = apply(t.path(), "c5", &rdt, 9).unwrap();
        let mon = t.path().join("gold/mon_groups/c5");
        assert_eq!(std::fs::read_to_string(mon.join("tasks")).unwrap(), "9");
        std::fs::remove_file(mon.join("tasks")).unwrap();
        g.remove().unwrap();
        assert!(!mon.exists() && t.path().join("gold").exists());
    }

    #[test]
    fn a_clos_id_group_is_checked_joined_and_kept() {
        let t = fake();
        let dir = t.path().join("gold");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("schemata"),
            "    L3:0=0ff;1=0f0\n    MB:0= 50;1= 60\n",
        )
        .unwrap();
        let rdt = |l3: &str| {
            LinuxIntelRdtBuilder::default()
                .clos_id("gold")
                .l3_cache_schema(l3)
                .build()
                .unwrap()
        };
        let g = apply(t.path(), "c2", &rdt("L3:0=ff;1=f0"), 7).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("tasks")).unwrap(), "7");
        g.remove().unwrap();
        assert!(dir.join("schemata").exists(), "a closID group was removed");
        let e = apply(t.path(), "c3", &rdt("L3:0=f"), 7)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux.intelRdt.closID") && e.contains("other schemata"),
            "{e}"
        );
        // No schemata and no group: the administrator's group must exist.
        let none = LinuxIntelRdtBuilder::default()
            .clos_id("silver")
            .build()
            .unwrap();
        let e = apply(t.path(), "c4", &none, 7).unwrap_err().to_string();
        assert!(e.contains("no pre-configured resctrl group"), "{e}");
        assert!(!t.path().join("silver").exists());
    }

    #[test]
    fn bad_values_and_a_missing_mount_are_refused_by_name() {
        let t = fake();
        let mb = LinuxIntelRdtBuilder::default()
            .mem_bw_schema("L3:0=1")
            .build()
            .unwrap();
        assert!(check(&mb, Some(t.path()))
            .unwrap_err()
            .to_string()
            .contains("memBwSchema"));
        let ok = LinuxIntelRdtBuilder::default().build().unwrap();
        let e = check(&ok, None).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.intelRdt: no resctrl filesystem"),
            "{e}"
        );
        let clos = LinuxIntelRdtBuilder::default()
            .clos_id("../x")
            .build()
            .unwrap();
        assert!(check(&clos, Some(t.path()))
            .unwrap_err()
            .to_string()
            .contains("closID"));
        std::fs::remove_dir(t.path().join("info/MB")).unwrap();
        let mb = LinuxIntelRdtBuilder::default()
            .mem_bw_schema("MB:0=1")
            .build()
            .unwrap();
        assert!(check(&mb, Some(t.path()))
            .unwrap_err()
            .to_string()
            .contains("no memory bandwidth"));
    }
}
