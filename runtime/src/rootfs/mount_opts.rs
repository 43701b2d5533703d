//! config.json mount options to mount(2) flags, propagation and data, as runc reads them.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq)]
pub struct MountOpts {
    /// Flags to set.
    pub flags: MsFlags,
    /// Propagation changes, applied after the mount in order.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes for mount_setattr(2) (rro, rnosuid, ...): (set, clear).
    pub attr_set: u64,
    pub attr_clr: u64,
    /// Filesystem-specific options, passed as the data string.
    pub data: Vec<String>,
    /// `tmpcopyup` (runc's extension): seed a new tmpfs with what the directory held.
    pub copyup: bool,
}

impl MountOpts {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// (name, clear?, flag)
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("acl", false, MsFlags::MS_POSIXACL),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("atime", true, MsFlags::MS_NOATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("defaults", false, MsFlags::empty()),
    ("dev", true, MsFlags::MS_NODEV),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("iversion", false, MsFlags::MS_I_VERSION),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("loud", true, MsFlags::MS_SILENT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("noacl", true, MsFlags::MS_POSIXACL),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("nodev", false, MsFlags::MS_NODEV),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("noiversion", true, MsFlags::MS_I_VERSION),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("silent", false, MsFlags::MS_SILENT),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("suid", true, MsFlags::MS_NOSUID),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
];

pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

// MOUNT_ATTR_* from <linux/mount.h>.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// Recursive options (runc's rro, rnosuid, ...) for mount_setattr(2): (name, clear?, attr).
/// The access time is one field (MOUNT_ATTR__ATIME) holding RELATIME (0), NOATIME or
/// STRICTATIME, which mount_setattr changes only with MOUNT_ATTR__ATIME in attr_clr and the
/// new value in attr_set. So, as runc: setting a value replaces the field; a negation
/// (ratime, rnorelatime, rnostrictatime) drops that value if it was set, and the field goes
/// back to the kernel's default, relatime (there is no "not relatime" value).
const RECURSIVE: &[(&str, bool, u64)] = &[
    ("rro", false, MOUNT_ATTR_RDONLY),
    ("rrw", true, MOUNT_ATTR_RDONLY),
    ("rnosuid", false, MOUNT_ATTR_NOSUID),
    ("rsuid", true, MOUNT_ATTR_NOSUID),
    ("rnodev", false, MOUNT_ATTR_NODEV),
    ("rdev", true, MOUNT_ATTR_NODEV),
    ("rnoexec", false, MOUNT_ATTR_NOEXEC),
    ("rexec", true, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rrelatime", false, MOUNT_ATTR_RELATIME),
    ("rnorelatime", true, MOUNT_ATTR_RELATIME),
    ("rnoatime", false, MOUNT_ATTR_NOATIME),
    ("ratime", true, MOUNT_ATTR_NOATIME),
    ("rstrictatime", false, MOUNT_ATTR_STRICTATIME),
    ("rnostrictatime", true, MOUNT_ATTR_STRICTATIME),
    ("nosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("symfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
    ("rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
];

/// One recursive option into (attr_set, attr_clr).
fn recursive(set: &mut u64, clr: &mut u64, clear: bool, attr: u64) {
    let atime = attr & MOUNT_ATTR__ATIME == attr; // RELATIME is 0: also an atime value
    match (atime, clear) {
        (false, false) => {
            *set |= attr;
            *clr &= !attr;
        }
        (false, true) => {
            *clr |= attr;
            *set &= !attr;
        }
        (true, false) => {
            *set = (*set & !MOUNT_ATTR__ATIME) | attr;
            *clr |= MOUNT_ATTR__ATIME;
        }
        (true, true) => {
            if *set & MOUNT_ATTR__ATIME == attr {
                *set &= !MOUNT_ATTR__ATIME;
            }
            *clr |= MOUNT_ATTR__ATIME;
        }
    }
}

/// Every option `parse` understands (for the `features` command).
pub fn known_options() -> Vec<&'static str> {
    let mut v: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
    v.extend([
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
        "tmpcopyup",
    ]);
    v.extend(RECURSIVE.iter().map(|(n, _, _)| *n));
    v.sort_unstable();
    v
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("mount option {0:?} is not supported by Gantry")]
pub struct UnsupportedOption(pub String);

pub fn parse(options: &[String]) -> Result<MountOpts, UnsupportedOption> {
    let mut o = MountOpts {
        flags: MsFlags::empty(),
        propagation: Vec::new(),
        attr_set: 0,
        attr_clr: 0,
        data: Vec::new(),
        copyup: false,
    };
    for opt in options {
        if let Some((_, clear, f)) = FLAGS.iter().find(|(n, _, _)| n == opt) {
            if *clear {
                o.flags.remove(*f);
            } else {
                o.flags.insert(*f);
            }
        } else if let Some(p) = propagation_flag(opt) {
            o.propagation.push(p);
        } else if let Some((_, clear, attr)) = RECURSIVE.iter().find(|(n, _, _)| n == opt) {
            recursive(&mut o.attr_set, &mut o.attr_clr, *clear, *attr);
        } else if matches!(opt.as_str(), "idmap" | "ridmap") {
            return Err(UnsupportedOption(opt.clone()));
        } else if opt == "tmpcopyup" {
            o.copyup = true;
        } else {
            o.data.push(opt.clone());
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = parse(&s(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]))
        .unwrap();
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_win() {
        let o = parse(&s(&["ro", "rw", "rbind"])).unwrap();
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(o.is_bind());
    }

    /// runc 1.1's names (acl and its negations) are flags or attributes, never data: passed
    /// as data, most filesystems refuse them.
    #[test]
    fn runc_negations_are_not_data() {
        let o = parse(&s(&["acl"])).unwrap();
        assert_eq!(o.flags, MsFlags::MS_POSIXACL);
        assert_eq!(
            parse(&s(&["acl", "noacl"])).unwrap().flags,
            MsFlags::empty()
        );
        for n in ["ratime", "rnorelatime", "rnostrictatime", "symfollow"] {
            let o = parse(&s(&[n])).unwrap();
            assert!(o.data.is_empty(), "{n} taken as data");
            assert_ne!(o.attr_clr, 0, "{n}");
        }
    }

    /// mount_setattr's atime field: (options, attr_set & __ATIME) with __ATIME always cleared.
    #[test]
    fn recursive_atime_is_one_field() {
        for (opts, want) in [
            (&["rnorelatime"][..], MOUNT_ATTR_RELATIME),
            (&["ratime"], MOUNT_ATTR_RELATIME),
            (&["rnostrictatime"], MOUNT_ATTR_RELATIME),
            (&["rrelatime"], MOUNT_ATTR_RELATIME),
            (&["rnoatime"], MOUNT_ATTR_NOATIME),
            (&["rstrictatime"], MOUNT_ATTR_STRICTATIME),
            (&["rnoatime", "rstrictatime"], MOUNT_ATTR_STRICTATIME),
            (&["rnoatime", "ratime"], MOUNT_ATTR_RELATIME),
            (&["rstrictatime", "ratime"], MOUNT_ATTR_STRICTATIME),
            (&["rstrictatime", "rnostrictatime"], MOUNT_ATTR_RELATIME),
            (&["rnoatime", "rnorelatime"], MOUNT_ATTR_NOATIME),
        ] {
            let o = parse(&s(opts)).unwrap();
            assert_eq!(o.attr_set & MOUNT_ATTR__ATIME, want, "{opts:?}");
            assert_eq!(
                o.attr_clr & MOUNT_ATTR__ATIME,
                MOUNT_ATTR__ATIME,
                "{opts:?}"
            );
        }
        let o = parse(&s(&["rnodiratime", "rnoatime"])).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOATIME);
    }

    #[test]
    fn recursive_and_unsupported() {
        let o = parse(&s(&["rro", "rnosuid"])).unwrap();
        assert_eq!(o.attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        assert!(parse(&s(&["idmap"])).is_err());
    }
}
