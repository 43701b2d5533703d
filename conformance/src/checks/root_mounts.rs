//! config.md, Root and Mounts; config-linux.md, rootfsPropagation.

use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, Check, Ctx, Level::*, Outcome};
use crate::harness::TempDir;

pub fn checks() -> Vec<Check> {
    vec![
        Check::new("config.root.path", "config.md#root", Must, root_path),
        Check::new(
            "config.root.readonly.true",
            "config.md#root",
            Must,
            readonly_true,
        ),
        Check::new(
            "config.root.readonly.false",
            "config.md#root",
            Must,
            readonly_false,
        ),
        Check::new("config.mounts.proc", "config.md#mounts", Must, proc_),
        Check::new("config.mounts.sysfs", "config.md#mounts", Must, sysfs),
        Check::new("config.mounts.devpts", "config.md#mounts", Must, devpts),
        Check::new("config.mounts.mqueue", "config.md#mounts", Must, mqueue),
        Check::new(
            "config.mounts.tmpfs.options",
            "config.md#mounts",
            Must,
            tmpfs_options,
        ),
        Check::new("config.mounts.cgroup", "config.md#mounts", Must, cgroup),
        Check::new("config.mounts.bind.dir", "config.md#mounts", Must, bind_dir),
        Check::new(
            "config.mounts.bind.file",
            "config.md#mounts",
            Must,
            bind_file,
        ),
        Check::new("config.mounts.bind.ro", "config.md#mounts", Must, bind_ro),
        Check::new(
            "config.mounts.options.nosuid-nodev-noexec",
            "config.md#mounts",
            Must,
            flags,
        ),
        Check::new(
            "config.mounts.destination.created",
            "config.md#mounts",
            Should,
            dest_created,
        ),
        Check::new("config.mounts.order", "config.md#mounts", Must, order),
        Check::new(
            "config.mounts.not-on-host",
            "config.md#mounts",
            Must,
            not_on_host,
        ),
        Check::new(
            "config.mounts.propagation.rshared",
            "config-linux.md#rootfs-mount-propagation",
            Must,
            rshared,
        ),
        Check::new(
            "config.mounts.propagation.rprivate",
            "config-linux.md#rootfs-mount-propagation",
            Must,
            rprivate,
        ),
        Check::new(
            "config-linux.rootfsPropagation.private",
            "config-linux.md#rootfs-mount-propagation",
            Must,
            rootfs_private,
        ),
    ]
}

pub(crate) fn push_mount(v: &mut Value, m: Value) {
    if let Some(a) = v["mounts"].as_array_mut() {
        a.push(m);
    }
}

/// The /proc/self/mountinfo line of mount point `mp`, as the container sees it (the last one).
pub(crate) fn mountinfo(
    ctx: &Ctx,
    edit: impl FnOnce(&mut Value),
    mp: &str,
) -> Result<String, String> {
    let out = ctx.sh(edit, "cat /proc/self/mountinfo")?;
    mount_line(&out, mp)
        .map(str::to_string)
        .ok_or_else(|| format!("{mp} is not a mount point inside"))
}

/// The line of mount point `mp` in a mountinfo text (the last: the one on top).
pub(crate) fn mount_line<'a>(mountinfo: &'a str, mp: &str) -> Option<&'a str> {
    mountinfo.lines().rfind(|l| l.split(' ').nth(4) == Some(mp))
}

fn fs_type(line: &str) -> &str {
    line.split(" - ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
}

pub(crate) fn mount_opts(line: &str) -> Vec<&str> {
    line.split(' ').nth(5).unwrap_or("").split(',').collect()
}

/// "path (string, REQUIRED) Specifies the path to the root filesystem for the container ...
/// either an absolute path or a relative path to the bundle": a file only in this bundle's
/// rootfs is visible at /.
fn root_path(ctx: &Ctx) -> Outcome {
    let b = ctx.bundle(|_| {}, "cat /marker-in-rootfs");
    std::fs::write(b.rootfs().join("marker-in-rootfs"), "this rootfs\n")
        .map_err(|e| e.to_string())?;
    let out = crate::check::run_fg_ok(&ctx.rt(), &b)?;
    expect_eq("marker", out.as_str(), "this rootfs\n")
}

/// "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the
/// container."
fn readonly_true(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["root"]["readonly"] = json!(true),
        "touch /x 2>/dev/null && echo writable || echo read-only",
    )?;
    expect_eq("root", out.as_str(), "read-only\n")
}

/// false (the default): writable.
fn readonly_false(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["root"]["readonly"] = json!(false),
        "touch /x 2>/dev/null && echo writable || echo read-only",
    )?;
    expect_eq("root", out.as_str(), "writable\n")
}

/// "type (string, OPTIONAL) The type of the filesystem to be mounted": each is mounted as
/// that type, at its destination.
fn proc_(ctx: &Ctx) -> Outcome {
    expect_eq("type", fs_type(&mountinfo(ctx, |_| {}, "/proc")?), "proc")
}

fn sysfs(ctx: &Ctx) -> Outcome {
    let l = mountinfo(ctx, |_| {}, "/sys")?;
    expect_eq("type", fs_type(&l), "sysfs")?;
    ensure(
        mount_opts(&l).contains(&"ro"),
        format!("options \"ro\" not applied: {l}"),
    )
}

fn devpts(ctx: &Ctx) -> Outcome {
    expect_eq(
        "type",
        fs_type(&mountinfo(ctx, |_| {}, "/dev/pts")?),
        "devpts",
    )
}

fn mqueue(ctx: &Ctx) -> Outcome {
    expect_eq(
        "type",
        fs_type(&mountinfo(ctx, |_| {}, "/dev/mqueue")?),
        "mqueue",
    )
}

/// "options (array of strings, OPTIONAL) Mount options of the filesystem to be used": data
/// options (size, mode) reach the filesystem.
fn tmpfs_options(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| push_mount(v, json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=710"]})),
        "grep ' /data ' /proc/self/mountinfo; stat -c %a /data",
    )?;
    ensure(
        out.contains(" - tmpfs ") && out.contains("size=1024k"),
        format!("mountinfo: {out}"),
    )?;
    ensure(out.ends_with("\n710\n"), format!("mode: {out}"))
}

fn cgroup(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| push_mount(v, json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]})),
        "ls /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
    )?;
    ensure(
        out.lines().count() == 2,
        format!("no cgroup hierarchies inside: {out}"),
    )
}

fn bind_dir(ctx: &Ctx) -> Outcome {
    let host = TempDir::new("bind");
    std::fs::write(host.path().join("in-dir"), "dir-content").map_err(|e| e.to_string())?;
    let src = host.path().to_string_lossy().into_owned();
    let out = ctx.sh(
        |v| push_mount(v, json!({"destination": "/bound", "type": "bind", "source": src, "options": ["rbind", "rw"]})),
        "cat /bound/in-dir; echo back > /bound/written",
    )?;
    expect_eq("read", out.as_str(), "dir-content")?;
    ensure(
        host.path().join("written").exists(),
        "a write inside did not reach the host dir",
    )
}

fn bind_file(ctx: &Ctx) -> Outcome {
    let host = TempDir::new("bindf");
    let f = host.path().join("file");
    std::fs::write(&f, "file-content").map_err(|e| e.to_string())?;
    let src = f.to_string_lossy().into_owned();
    let out = ctx.sh(
        |v| push_mount(v, json!({"destination": "/etc/one-file", "type": "bind", "source": src, "options": ["bind"]})),
        "cat /etc/one-file",
    )?;
    expect_eq("content", out.as_str(), "file-content")
}

fn bind_ro(ctx: &Ctx) -> Outcome {
    let host = TempDir::new("bindro");
    let src = host.path().to_string_lossy().into_owned();
    let out = ctx.sh(
        |v| push_mount(v, json!({"destination": "/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]})),
        "touch /ro/x 2>/dev/null && echo writable || echo read-only",
    )?;
    expect_eq("ro bind", out.as_str(), "read-only\n")?;
    ensure(
        !host.path().join("x").exists(),
        "the file was written through",
    )
}

fn flags(ctx: &Ctx) -> Outcome {
    let l = mountinfo(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/flags", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec"]}),
            )
        },
        "/flags",
    )?;
    let o = mount_opts(&l);
    for f in ["nosuid", "nodev", "noexec"] {
        ensure(o.contains(&f), format!("{f} missing: {l}"))?;
    }
    Ok(())
}

/// A destination missing in the rootfs is made. The spec only says "destination (string,
/// REQUIRED) Destination of mount point: path inside container"; making it is what runc, crun
/// and the runtime-tools validation suite do and what bundles rely on, hence SHOULD.
fn dest_created(ctx: &Ctx) -> Outcome {
    let l = mountinfo(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/not/yet/there", "type": "tmpfs", "source": "tmpfs"}),
            )
        },
        "/not/yet/there",
    )?;
    expect_eq("type", fs_type(&l), "tmpfs")
}

/// "The runtime MUST mount entries in the listed order": the later of two on one destination
/// is the visible one.
fn order(ctx: &Ctx) -> Outcome {
    let l = mountinfo(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/stack", "type": "tmpfs", "source": "first", "options": ["size=1m"]}),
            );
            push_mount(
                v,
                json!({"destination": "/stack", "type": "tmpfs", "source": "second", "options": ["size=2m"]}),
            );
        },
        "/stack",
    )?;
    ensure(
        l.contains(" second "),
        format!("top mount is not the later one: {l}"),
    )
}

/// Mounts are made in the container's mount namespace: the host sees none of them.
fn not_on_host(ctx: &Ctx) -> Outcome {
    let c = crate::check::Live::started(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/only-inside", "type": "tmpfs", "source": "conformance-inside"}),
            )
        },
        "echo up > /host/mark; exec sleep 300",
    )?;
    c.wait_file("mark")?;
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    ensure(
        !host.contains("conformance-inside"),
        "a container mount is visible on the host",
    )
}

/// Propagation options are per mount: rshared makes a shared peer group.
fn rshared(ctx: &Ctx) -> Outcome {
    let l = mountinfo(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]}),
            )
        },
        "/shared",
    )?;
    ensure(
        l.split(' ').any(|f| f.starts_with("shared:")),
        format!("not shared: {l}"),
    )
}

fn rprivate(ctx: &Ctx) -> Outcome {
    let l = mountinfo(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": ["rprivate"]}),
            )
        },
        "/private",
    )?;
    ensure(
        !l.split(' ')
            .any(|f| f.starts_with("shared:") || f.starts_with("master:")),
        format!("not private: {l}"),
    )
}

/// "rootfsPropagation (string, OPTIONAL) sets the rootfs's mount propagation. Its value is
/// either slave, private, shared or unbindable."
fn rootfs_private(ctx: &Ctx) -> Outcome {
    let l = mountinfo(
        ctx,
        |v| v["linux"]["rootfsPropagation"] = json!("private"),
        "/",
    )?;
    ensure(
        !l.split(' ')
            .any(|f| f.starts_with("shared:") || f.starts_with("master:")),
        format!("/ is not private: {l}"),
    )
}
