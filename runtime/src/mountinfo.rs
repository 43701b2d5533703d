//! The runtime's one parser of /proc/PID/mountinfo (proc(5)), read once per use.
//!
//! Not the procfs crate's `MountInfo`: it keeps the kernel's octal escapes (`\040` for a space,
//! `\011`, `\012`, `\134`) in the paths, and builds two hash maps per line; here a line is a
//! few borrowed slices and the paths are decoded.

use std::path::PathBuf;

/// One mount, as mountinfo lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The root of the mount inside its filesystem (a hierarchy's cgroup for a cgroup mount).
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    /// Per-superblock options, comma-separated (a v1 cgroup mount's controllers are here).
    pub super_opts: String,
}

impl Mount {
    /// Whether `opt` is one of the superblock options (`cpu`, `name=systemd`, ...).
    pub fn has_super_opt(&self, opt: &str) -> bool {
        self.super_opts.split(',').any(|o| o == opt)
    }
}

/// The kernel's escapes (`\` and three octal digits, for space, tab, newline and backslash)
/// decoded; anything else is kept as written.
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line: `ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS`.
fn line(l: &str) -> Option<Mount> {
    let (left, right) = l.split_once(" - ")?;
    let mut left = left.split(' ');
    let root = left.nth(3)?;
    let point = left.next()?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let super_opts = right.nth(1).unwrap_or("");
    Some(Mount {
        root: unescape(root),
        mount_point: PathBuf::from(unescape(point)),
        fstype: fstype.to_string(),
        super_opts: super_opts.to_string(),
    })
}

/// Every mount of a mountinfo text, in its order (a line that does not parse is skipped).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(line).collect()
}

/// The mounts of this process's mount namespace: one read of /proc/self/mountinfo.
pub fn own() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_optional_fields_and_escapes() {
        let m = parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n\
             50 23 8:1 /a\\040b /mnt/with\\040space\\134x rw - ext4 /dev/sda1 rw\n\
             garbage\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(m[0].fstype, "cgroup");
        assert!(m[0].has_super_opt("cpu") && !m[0].has_super_opt("cpuacct"));
        assert_eq!(m[1].root, "/a b");
        assert_eq!(m[1].mount_point, PathBuf::from("/mnt/with space\\x"));
    }

    #[test]
    fn unescape_keeps_what_is_not_an_escape() {
        assert_eq!(unescape("a\\011b\\012"), "a\tb\n");
        assert_eq!(unescape("no\\9escape\\"), "no\\9escape\\");
    }
}
