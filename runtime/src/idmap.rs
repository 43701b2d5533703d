//! Writing a new user namespace's uid and gid maps. Root writes /proc/PID/{uid,gid}_map
//! itself. An unprivileged caller may write only a map of its own id (size 1, after denying
//! setgroups for the gid map); any other map (a subordinate range from /etc/subuid and
//! /etc/subgid) goes through the setuid helpers newuidmap/newgidmap (package uidmap), which
//! check the ranges against those files, as runc and crun do.

use std::path::PathBuf;

use gantry_sys::is_executable;
use oci_spec::runtime::{Linux, LinuxIdMapping};

#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    #[error("linux.{field} [{map}]: write /proc/{pid}/{file}: {err}")]
    Write {
        field: &'static str,
        map: String,
        pid: i32,
        file: &'static str,
        err: std::io::Error,
    },
    #[error(
        "linux.{field} [{map}]: an unprivileged user can map only its own id ({own}); other ids need {tool} (package uidmap), not found in PATH, and ranges for user {user} in {subfile}"
    )]
    NoTool {
        field: &'static str,
        map: String,
        own: u32,
        tool: &'static str,
        user: String,
        subfile: &'static str,
    },
    #[error("linux.{field} [{map}]: {tool} refused it (are these ranges in {subfile} for user {user}?): {msg}")]
    Tool {
        field: &'static str,
        map: String,
        tool: &'static str,
        user: String,
        subfile: &'static str,
        msg: String,
    },
}

/// One kind of map: uid or gid.
struct Kind {
    field: &'static str,
    file: &'static str,
    tool: &'static str,
    subfile: &'static str,
}

const UID: Kind = Kind {
    field: "uidMappings",
    file: "uid_map",
    tool: "newuidmap",
    subfile: "/etc/subuid",
};
const GID: Kind = Kind {
    field: "gidMappings",
    file: "gid_map",
    tool: "newgidmap",
    subfile: "/etc/subgid",
};

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The map in an error message: "0 1000 1, 1 100000 65536".
fn map_summary(maps: &[LinuxIdMapping]) -> String {
    map_text(maps).trim_end().replace('\n', ", ")
}

/// Whether the kernel lets an unprivileged process write `maps` itself: exactly one entry,
/// of the caller's own id, of size 1 (user_namespaces(7)).
pub fn writable_unprivileged(maps: &[LinuxIdMapping], own: u32) -> bool {
    matches!(maps, [m] if m.host_id() == own && m.size() == 1)
}

/// Where `tool` is: in PATH, else in the standard directories (su and sudo reset PATH).
fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

/// The caller's user name, as newuidmap looks it up in /etc/subuid.
fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

/// `newuidmap PID C1 H1 S1 C2 H2 S2 ...`.
fn tool_args(pid: i32, maps: &[LinuxIdMapping]) -> Vec<String> {
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    args
}

fn write_direct(pid: i32, k: &Kind, maps: &[LinuxIdMapping]) -> Result<(), IdMapError> {
    std::fs::write(format!("/proc/{pid}/{}", k.file), map_text(maps)).map_err(|err| {
        IdMapError::Write {
            field: k.field,
            map: map_summary(maps),
            pid,
            file: k.file,
            err,
        }
    })
}

fn write_with_tool(
    pid: i32,
    k: &Kind,
    maps: &[LinuxIdMapping],
    own: u32,
) -> Result<(), IdMapError> {
    let user = user_name(nix::unistd::getuid().as_raw());
    let Some(tool) = find_tool(k.tool) else {
        return Err(IdMapError::NoTool {
            field: k.field,
            map: map_summary(maps),
            own,
            tool: k.tool,
            user,
            subfile: k.subfile,
        });
    };
    let refused = |msg: String| IdMapError::Tool {
        field: k.field,
        map: map_summary(maps),
        tool: k.tool,
        user: user.clone(),
        subfile: k.subfile,
        msg,
    };
    let out = std::process::Command::new(&tool)
        .args(tool_args(pid, maps))
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| refused(format!("run {}: {e}", tool.display())))?;
    if !out.status.success() {
        return Err(refused(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Write the uid and gid maps of `pid`, just cloned into a new user namespace and waiting.
pub fn write(pid: i32, linux: &Linux, rootless: bool) -> Result<(), IdMapError> {
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    if !rootless {
        write_direct(pid, &UID, uids)?;
        return write_direct(pid, &GID, gids);
    }
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    for (k, maps, own) in [(&UID, uids, euid), (&GID, gids, egid)] {
        if maps.is_empty() {
            continue;
        }
        if writable_unprivileged(maps, own) {
            if k.file == "gid_map" {
                // The kernel lets an unprivileged writer map its gid only after setgroups is
                // denied (else dropping a group could grant access). With newgidmap it stays
                // allowed, as in runc, so the container can set its additional groups.
                std::fs::write(format!("/proc/{pid}/setgroups"), "deny").map_err(|err| {
                    IdMapError::Write {
                        field: k.field,
                        map: map_summary(maps),
                        pid,
                        file: "setgroups",
                        err,
                    }
                })?;
            }
            write_direct(pid, k, maps)?;
        } else {
            write_with_tool(pid, k, maps, own)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(s)
            .build()
            .unwrap()
    }

    #[test]
    fn own_id_only_is_writable_unprivileged() {
        assert!(writable_unprivileged(&[m(0, 1000, 1)], 1000));
        assert!(writable_unprivileged(&[m(5, 1000, 1)], 1000));
        assert!(!writable_unprivileged(&[m(0, 1000, 2)], 1000));
        assert!(!writable_unprivileged(&[m(0, 1001, 1)], 1000));
        assert!(!writable_unprivileged(
            &[m(0, 1000, 1), m(1, 100000, 65536)],
            1000
        ));
    }

    /// Without newuidmap the error names the field, the mapping, the tool and the file.
    #[test]
    fn missing_tool_error_names_the_mapping() {
        let e = IdMapError::NoTool {
            field: UID.field,
            map: map_summary(&[m(0, 1000, 1), m(1, 100000, 65536)]),
            own: 1000,
            tool: UID.tool,
            user: "alice".into(),
            subfile: UID.subfile,
        }
        .to_string();
        assert!(
            e.starts_with("linux.uidMappings [0 1000 1, 1 100000 65536]:")
                && e.contains("newuidmap (package uidmap)")
                && e.contains("user alice in /etc/subuid"),
            "{e}"
        );
    }

    #[test]
    fn tool_arguments_and_summary() {
        let maps = [m(0, 1000, 1), m(1, 100000, 65536)];
        assert_eq!(
            tool_args(42, &maps),
            ["42", "0", "1000", "1", "1", "100000", "65536"]
        );
        assert_eq!(map_summary(&maps), "0 1000 1, 1 100000 65536");
    }
}
