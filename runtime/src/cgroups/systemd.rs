//! The systemd cgroup driver's naming, as runc's: linux.cgroupsPath `slice:prefix:name` ->
//! the unit `prefix-name.scope` (or `name` itself when it is a `.slice`) in `slice` (empty:
//! system.slice; `-`: the root slice), and where systemd puts it in the cgroup tree. Pure
//! functions: they are the part of the driver that needs no D-Bus (this host has no systemd;
//! on v1 hosts Gantry places the container at the directory systemd would use).

use std::path::{Path, PathBuf};

/// A container's systemd unit and the slice it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub slice: String,
    pub name: String,
}

/// Parse `slice:prefix:name` (runc: exactly three parts).
pub fn unit(cgroups_path: &Path) -> Result<Unit, String> {
    let s = cgroups_path.to_string_lossy();
    let parts: Vec<&str> = s.split(':').collect();
    let [slice, prefix, name] = parts.as_slice() else {
        return Err(format!(
            "linux.cgroupsPath {s:?}: the systemd driver expects \"slice:prefix:name\""
        ));
    };
    if name.is_empty() {
        return Err(format!("linux.cgroupsPath {s:?}: the unit name is empty"));
    }
    let slice = match *slice {
        "" => "system.slice".to_string(),
        "-" => "-.slice".to_string(),
        s if s.ends_with(".slice") && !s.contains('/') => s.to_string(),
        other => {
            return Err(format!(
                "linux.cgroupsPath {s:?}: {other:?} is not a slice name (NAME.slice, no '/')"
            ))
        }
    };
    // By default a scope, unless a slice is asked for by name (runc's getUnitName).
    let name = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(Unit { slice, name })
}

/// systemd's path for a slice: `a-b-c.slice` lives at `/a.slice/a-b.slice/a-b-c.slice`, and
/// the root slice `-.slice` at `/`.
pub fn expand_slice(slice: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    let Some(base) = slice.strip_suffix(".slice") else {
        return out.join(slice);
    };
    if base.is_empty() || base == "-" {
        return out;
    }
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        out.push(format!("{prefix}.slice"));
    }
    out
}

/// The unit's directory in each hierarchy: `<expanded slice>/<unit>`.
pub fn fs_path(u: &Unit) -> PathBuf {
    expand_slice(&u.slice).join(&u.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(p: &str) -> Unit {
        unit(Path::new(p)).unwrap()
    }

    #[test]
    fn unit_names() {
        assert_eq!(
            u("system.slice:gantry:c1"),
            Unit {
                slice: "system.slice".into(),
                name: "gantry-c1.scope".into()
            }
        );
        assert_eq!(u(":gantry:c1").slice, "system.slice");
        assert_eq!(u("-:gantry:c1").slice, "-.slice");
        // A name that is a slice is the unit itself; the prefix is ignored.
        assert_eq!(u("machine.slice:x:pod-1.slice").name, "pod-1.slice");
        assert_eq!(u("user.slice::c1").name, "-c1.scope");
    }

    #[test]
    fn bad_paths_name_the_field() {
        for p in [
            "/plain/path",
            "a:b",
            "a:b:c:d",
            "system:gantry:c1",
            "system.slice:gantry:",
            "a/b.slice:p:n",
        ] {
            let e = unit(Path::new(p)).unwrap_err();
            assert!(e.starts_with("linux.cgroupsPath"), "{p}: {e}");
        }
    }

    #[test]
    fn paths_in_the_tree() {
        assert_eq!(
            fs_path(&u("system.slice:gantry:c1")),
            PathBuf::from("/system.slice/gantry-c1.scope")
        );
        assert_eq!(
            fs_path(&u("kubepods-besteffort-pod12.slice:cri-containerd:abc")),
            PathBuf::from(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
            )
        );
        assert_eq!(
            fs_path(&u("-:gantry:c1")),
            PathBuf::from("/gantry-c1.scope")
        );
    }
}
