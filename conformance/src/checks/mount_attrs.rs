//! config.md, Mounts: the propagation options that need a host mount to relate to (slave,
//! rslave, shared, unbindable), the recursive mount attributes (rro, rnosuid), nosymfollow, and
//! idmapped mounts. Each is judged from inside the container: its /proc/self/mountinfo and what
//! a write or a symlink walk there does.
//!
//! config.md: "options (array of strings, OPTIONAL) Mount options of the filesystem to be
//! used"; its Linux mount options list the propagation flags, the recursive `r*` attributes
//! (mount_setattr(2) with AT_RECURSIVE) and `idmap`/`ridmap`. runtime.md, Create: "If the
//! runtime cannot apply a property as specified in the configuration, it MUST generate an
//! error".

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::{json, Value};

use crate::check::{ensure, expect_eq, Check, Ctx, Failure, Level::*, Live, Outcome};
use crate::checks::root_mounts::{mount_line, mount_opts, mountinfo, push_mount};
use crate::harness::{only_caps, TempDir};

pub fn checks() -> Vec<Check> {
    let m = "config.md#mounts";
    let p = "config-linux.md#rootfs-mount-propagation";
    vec![
        Check::new("config.mounts.propagation.rslave", p, Must, |c| {
            slave(c, "rslave")
        }),
        Check::new("config.mounts.propagation.slave", p, Must, |c| {
            slave(c, "slave")
        }),
        Check::new(
            "config.mounts.propagation.rslave.receives",
            p,
            Must,
            slave_receives,
        ),
        Check::new("config.mounts.propagation.shared", p, Must, shared),
        Check::new("config.mounts.propagation.unbindable", p, Must, unbindable),
        Check::new("config.mounts.options.rro", m, Must, rro),
        Check::new(
            "config.mounts.options.ro.not-recursive",
            m,
            Must,
            ro_top_only,
        ),
        Check::new("config.mounts.options.rnosuid", m, Must, rnosuid),
        Check::new("config.mounts.options.nosymfollow", m, Must, nosymfollow),
        Check::new("config.mounts.idmap", m, Must, idmap),
    ]
}

/// A tmpfs mounted on the host at a fresh directory (with a tmpfs at `sub` inside it if asked),
/// made a shared peer group so that copies of it relate to it; detached on drop.
struct HostMount {
    dir: TempDir,
}

impl HostMount {
    fn new(tag: &str, sub: bool) -> Result<HostMount, Failure> {
        let dir = TempDir::new(tag);
        let hm = HostMount { dir };
        let p = hm.dir.path();
        mount(
            Some("conformance"),
            p,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .map_err(|e| Failure::Skip(format!("cannot mount a tmpfs on the host: {e}")))?;
        if sub {
            std::fs::create_dir(p.join("sub")).map_err(|e| e.to_string())?;
            mount(
                Some("conformance-sub"),
                &p.join("sub"),
                Some("tmpfs"),
                MsFlags::empty(),
                Some("size=1m"),
            )
            .map_err(|e| format!("mount sub: {e}"))?;
        }
        mount(
            None::<&str>,
            p,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| format!("make-shared {}: {e}", p.display()))?;
        Ok(hm)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn source(&self) -> String {
        self.path().to_string_lossy().into_owned()
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let p = self.dir.path();
        let _ = umount2(&p.join("sub"), MntFlags::MNT_DETACH);
        let _ = umount2(p, MntFlags::MNT_DETACH);
    }
}

fn bind_at(source: String, dest: &'static str, opts: Vec<&'static str>) -> impl FnOnce(&mut Value) {
    move |v| {
        push_mount(
            v,
            json!({"destination": dest, "type": "bind", "source": source, "options": opts}),
        )
    }
}

/// The optional fields (shared:N, master:N, unbindable) of mount point `mp` in `mountinfo`.
fn optional_fields<'a>(mountinfo: &'a str, mp: &str) -> Option<Vec<&'a str>> {
    let pre = mount_line(mountinfo, mp)?.split(" - ").next()?;
    Some(pre.split(' ').skip(6).collect())
}

/// The optional fields of `mp` as the container sees it.
fn fields_inside(ctx: &Ctx, edit: impl FnOnce(&mut Value), mp: &str) -> Result<String, Failure> {
    let line = mountinfo(ctx, edit, mp)?;
    Ok(optional_fields(&line, mp).unwrap_or_default().join(" "))
}

/// slave / rslave: "MS_SLAVE": the bind of a shared host mount gets the host's peer group as
/// its master and is no peer of it (no shared:N).
fn slave(ctx: &Ctx, opt: &'static str) -> Outcome {
    let hm = HostMount::new("slave", false)?;
    let f = fields_inside(ctx, bind_at(hm.source(), "/m", vec!["rbind", opt]), "/m")?;
    ensure(
        f.split(' ').any(|x| x.starts_with("master:")) && !f.contains("shared:"),
        format!("/m with {opt} has propagation {f:?}, want master:N and no shared:N"),
    )
}

/// rslave in effect: a mount the host makes under the source after the container started
/// appears in the container (propagation host to container), and the container's own mount
/// there does not reach the host.
fn slave_receives(ctx: &Ctx) -> Outcome {
    let hm = HostMount::new("slave", false)?;
    std::fs::create_dir(hm.path().join("late")).map_err(|e| e.to_string())?;
    std::fs::create_dir(hm.path().join("inner")).map_err(|e| e.to_string())?;
    let host = TempDir::new("host");
    let mut b = crate::harness::Bundle::new(&[]);
    b.bind(host.path(), "/host")
        .sh(
            "mount -t tmpfs conformance-inner /m/inner || exit 3; echo up > /host/up; \
             while [ ! -e /host/go ]; do sleep 0.05; done; \
             grep -c ' /m/late ' /proc/self/mountinfo > /host/seen; exec sleep 300",
        )
        .edit(|v| {
            bind_at(hm.source(), "/m", vec!["rbind", "rslave"])(v);
            // The script mounts a tmpfs: it needs CAP_SYS_ADMIN.
            only_caps(v, &["CAP_SYS_ADMIN"]);
        });
    let live = Live::from_bundle(ctx, b, host)?;
    live.op(&["start"])?;
    live.wait_file("up")?;
    mount(
        Some("conformance-late"),
        &hm.path().join("late"),
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m"),
    )
    .map_err(|e| format!("mount late on the host: {e}"))?;
    let late = Unmount(hm.path().join("late"));
    std::fs::write(live.host.path().join("go"), "").map_err(|e| e.to_string())?;
    let seen = live.wait_file("seen")?;
    let host_mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    drop(live);
    drop(late);
    expect_eq("host mount seen inside at /m/late", seen.trim(), "1")?;
    ensure(
        !host_mi.contains("conformance-inner"),
        "the container's mount under an rslave mount reached the host",
    )
}

/// Detaches a mount on drop.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

/// shared (not recursive): "MS_SHARED": the mount is in a peer group (shared:N).
fn shared(ctx: &Ctx) -> Outcome {
    let f = fields_inside(
        ctx,
        |v| {
            push_mount(
                v,
                json!({"destination": "/s", "type": "tmpfs", "source": "tmpfs", "options": ["shared"]}),
            )
        },
        "/s",
    )?;
    ensure(
        f.split(' ').any(|x| x.starts_with("shared:")),
        format!("/s with shared has propagation {f:?}"),
    )
}

/// unbindable: "MS_UNBINDABLE": mountinfo marks it unbindable, and a bind of it fails inside.
fn unbindable(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            push_mount(
                v,
                json!({"destination": "/u", "type": "tmpfs", "source": "tmpfs", "options": ["unbindable"]}),
            );
            only_caps(v, &["CAP_SYS_ADMIN"]);
        },
        "grep ' /u ' /proc/self/mountinfo; mkdir -p /tmp/b; \
         mount --bind /u /tmp/b 2>/dev/null && echo bound || echo refused",
    )?;
    let (mi, last) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    let f = optional_fields(mi, "/u").ok_or("/u is not a mount point inside")?;
    ensure(
        f.contains(&"unbindable"),
        format!("/u has propagation {:?}, want unbindable", f.join(" ")),
    )?;
    expect_eq("mount --bind of /u", last, "refused")
}

/// What a write does at each path of `paths`, from inside: "w" or "ro".
const WRITES: &str = "for p in /m/x /m/sub/x; do touch $p 2>/dev/null && echo w || echo ro; done";

/// rro: read-only recursively (MOUNT_ATTR_RDONLY with AT_RECURSIVE): the submount of a bind is
/// read-only too.
fn rro(ctx: &Ctx) -> Outcome {
    let hm = HostMount::new("rro", true)?;
    let b = ctx.bundle(bind_at(hm.source(), "/m", vec!["rbind", "rro"]), WRITES);
    let out = crate::check::run_fg_ok(&ctx.rt(), &b)?;
    expect_eq("writes at /m/x and /m/sub/x", out.as_str(), "ro\nro\n")
}

/// ro is not recursive (the contrast that gives rro its meaning, and what runc does): the bind
/// itself is read-only, its submount stays writable.
fn ro_top_only(ctx: &Ctx) -> Outcome {
    let hm = HostMount::new("ro", true)?;
    let b = ctx.bundle(bind_at(hm.source(), "/m", vec!["rbind", "ro"]), WRITES);
    let out = crate::check::run_fg_ok(&ctx.rt(), &b)?;
    expect_eq("writes at /m/x and /m/sub/x", out.as_str(), "ro\nw\n")
}

/// rnosuid: nosuid on the bind and its submount (mountinfo's per-mount options).
fn rnosuid(ctx: &Ctx) -> Outcome {
    let hm = HostMount::new("rnosuid", true)?;
    let out = ctx.sh(
        bind_at(hm.source(), "/m", vec!["rbind", "rnosuid"]),
        "cat /proc/self/mountinfo",
    )?;
    for mp in ["/m", "/m/sub"] {
        let l = mount_line(&out, mp).ok_or(format!("{mp} is not a mount point inside"))?;
        let opts = mount_opts(l);
        ensure(
            opts.contains(&"nosuid"),
            format!("{mp} is not nosuid: {}", opts.join(",")),
        )?;
    }
    Ok(())
}

/// nosymfollow (MS_NOSYMFOLLOW, Linux 5.10): a symlink under the mount is not followed in path
/// resolution; the file it names is still readable by its own name.
fn nosymfollow(ctx: &Ctx) -> Outcome {
    let src = TempDir::new("nosymfollow");
    std::fs::write(src.path().join("file"), "data\n").map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink("file", src.path().join("link")).map_err(|e| e.to_string())?;
    let source = src.path().to_string_lossy().into_owned();
    let out = ctx.sh(
        bind_at(source, "/m", vec!["bind", "nosymfollow"]),
        "cat /m/file; cat /m/link 2>/dev/null || echo refused",
    )?;
    expect_eq("cat /m/file, then /m/link", out.as_str(), "data\nrefused\n")
}

/// idmap: config.md, "uidMappings (array of type LinuxIDMapping, OPTIONAL) The mapping to
/// convert UIDs from the source file system to the destination mount point". The mount swaps
/// uids (and gids) 0 and 4242: a file the host owns as 0:0 shows as 4242:4242 inside. A
/// runtime without idmapped mounts cannot apply the mount: create MUST fail (and its features,
/// mountExtensions.idmap.enabled, must not claim them). What fails is a container that runs
/// with the mount not idmapped, or a refusal by a runtime that claims the feature.
fn idmap(ctx: &Ctx) -> Outcome {
    let claimed = crate::checks::misc::features(ctx)
        .map(|f| f["linux"]["mountExtensions"]["idmap"]["enabled"] == json!(true))
        .unwrap_or(false);
    let src = TempDir::new("idmap");
    std::fs::write(src.path().join("file"), "x").map_err(|e| e.to_string())?;
    let source = src.path().to_string_lossy().into_owned();
    let edit = move |v: &mut Value| {
        v["ociVersion"] = json!("1.1.0");
        // A swap of 0 and 4242 reads the same whichever way a runtime orders the pair.
        let map = json!([{"containerID": 0, "hostID": 4242, "size": 1},
                         {"containerID": 4242, "hostID": 0, "size": 1}]);
        push_mount(
            v,
            json!({"destination": "/m", "type": "bind", "source": source,
                   "options": ["bind", "idmap"], "uidMappings": map, "gidMappings": map}),
        )
    };
    match ctx.sh(edit, "stat -c %u:%g /m/file") {
        Ok(out) => expect_eq("owner of /m/file inside", out.trim(), "4242:4242"),
        Err(e) if claimed => Err(Failure::Fail(format!(
            "features claims idmap mounts, but the container did not run: {e}"
        ))),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::optional_fields;

    #[test]
    fn optional_fields_of_a_mount() {
        let mi = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /m rw,relatime master:7 - tmpfs conformance rw
31 22 0:27 / /u rw unbindable - tmpfs tmpfs rw
32 22 0:28 / /p rw - tmpfs tmpfs rw
";
        assert_eq!(optional_fields(mi, "/m"), Some(vec!["master:7"]));
        assert_eq!(optional_fields(mi, "/u"), Some(vec!["unbindable"]));
        assert_eq!(optional_fields(mi, "/p"), Some(vec![]));
        assert_eq!(optional_fields(mi, "/x"), None);
    }
}
