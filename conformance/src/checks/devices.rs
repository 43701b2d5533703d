//! config-linux.md, Devices and Default Devices; runtime-linux.md, /dev symbolic links;
//! linux.resources.devices as the container sees it.

use serde_json::json;

use crate::check::{ensure, expect_eq, Check, Ctx, Level::*, Outcome};

pub fn checks() -> Vec<Check> {
    let d = "config-linux.md#default-devices";
    let s = "runtime-linux.md#dev-symbolic-links";
    vec![
        Check::new("config-linux.devices.default.null", d, Must, |c| {
            default_dev(c, "null", "1:3")
        }),
        Check::new("config-linux.devices.default.zero", d, Must, |c| {
            default_dev(c, "zero", "1:5")
        }),
        Check::new("config-linux.devices.default.full", d, Must, |c| {
            default_dev(c, "full", "1:7")
        }),
        Check::new("config-linux.devices.default.random", d, Must, |c| {
            default_dev(c, "random", "1:8")
        }),
        Check::new("config-linux.devices.default.urandom", d, Must, |c| {
            default_dev(c, "urandom", "1:9")
        }),
        Check::new("config-linux.devices.default.tty", d, Must, |c| {
            default_dev(c, "tty", "5:0")
        }),
        Check::new("config-linux.devices.default.ptmx", d, Must, ptmx),
        Check::new("config-linux.devices.default.usable", d, Must, usable),
        Check::new("runtime-linux.dev-symlinks.fd", s, Must, |c| {
            symlink(c, "fd", "/proc/self/fd")
        }),
        Check::new("runtime-linux.dev-symlinks.stdin", s, Must, |c| {
            symlink(c, "stdin", "/proc/self/fd/0")
        }),
        Check::new("runtime-linux.dev-symlinks.stdout", s, Must, |c| {
            symlink(c, "stdout", "/proc/self/fd/1")
        }),
        Check::new("runtime-linux.dev-symlinks.stderr", s, Must, |c| {
            symlink(c, "stderr", "/proc/self/fd/2")
        }),
        Check::new(
            "config-linux.devices.char",
            "config-linux.md#devices",
            Must,
            char_dev,
        ),
        Check::new(
            "config-linux.devices.block",
            "config-linux.md#devices",
            Must,
            block_dev,
        ),
        Check::new(
            "config-linux.devices.fileMode",
            "config-linux.md#devices",
            Must,
            file_mode,
        ),
        Check::new(
            "config-linux.devices.uid-gid",
            "config-linux.md#devices",
            Must,
            owner,
        ),
        Check::new(
            "config-linux.resources.devices.deny",
            "config-linux.md#allowed-device-list",
            Must,
            deny,
        ),
        Check::new(
            "config-linux.resources.devices.allow",
            "config-linux.md#allowed-device-list",
            Must,
            allow,
        ),
    ]
}

/// "the runtime MUST supply these devices": each is a character device with its kernel
/// major:minor.
fn default_dev(ctx: &Ctx, name: &str, majmin: &str) -> Outcome {
    let out = ctx.sh(|_| {}, &format!("stat -L -c '%F %t:%T' /dev/{name}"))?;
    let (maj, min) = majmin.split_once(':').unwrap_or_default();
    let want = format!(
        "character special file {:x}:{:x}\n",
        maj.parse::<u32>().unwrap_or(0),
        min.parse::<u32>().unwrap_or(0)
    );
    expect_eq(name, out, want)
}

/// "/dev/ptmx: A bind-mount or symlink of the container's /dev/pts/ptmx."
fn ptmx(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(|_| {}, "stat -L -c %i /dev/ptmx /dev/pts/ptmx")?;
    let l: Vec<&str> = out.lines().collect();
    ensure(
        l.len() == 2 && l[0] == l[1],
        format!("/dev/ptmx is not the container's pts/ptmx (inodes {l:?})"),
    )
}

/// The default devices work: reads from zero, writes to null, full is full.
fn usable(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |_| {},
        "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; head -c 3 /dev/urandom | wc -c; echo x > /dev/full 2>/dev/null || echo full-ok",
    )?;
    expect_eq("device use", out.as_str(), "null-ok\n3\n3\nfull-ok\n")
}

/// "runtimes MUST create the following symlinks if the source file exists after processing
/// mounts."
fn symlink(ctx: &Ctx, name: &str, target: &str) -> Outcome {
    let out = ctx.sh(|_| {}, &format!("readlink /dev/{name}"))?;
    expect_eq(name, out.trim(), target)
}

/// "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container."
fn char_dev(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["devices"] =
                json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229}])
        },
        "stat -c '%F %t:%T' /dev/conf-fuse",
    )?;
    expect_eq("node", out.as_str(), "character special file a:e5\n")
}

fn block_dev(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["devices"] =
                json!([{"path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 3}])
        },
        "stat -c '%F %t:%T' /dev/conf-loop",
    )?;
    expect_eq("node", out.as_str(), "block special file 7:3\n")
}

/// "fileMode (uint32, OPTIONAL) - file mode for the device."
fn file_mode(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["devices"] = json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o604}]),
        "stat -c %a /dev/conf-fuse",
    )?;
    expect_eq("mode", out.as_str(), "604\n")
}

/// "uid (uint32, OPTIONAL) - id of device owner ... gid (uint32, OPTIONAL) - id of device group."
fn owner(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| v["linux"]["devices"] = json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "uid": 7, "gid": 8}]),
        "stat -c '%u %g' /dev/conf-fuse",
    )?;
    expect_eq("owner", out.as_str(), "7 8\n")
}

/// "devices (array of objects, OPTIONAL) configures the allowed device list. The runtime MUST
/// apply entries in the listed order": deny-all then nothing for 10:229, so opening it fails.
fn deny(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["devices"] =
                json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229}]);
            v["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        },
        "(: < /dev/conf-fuse) 2>/dev/null && echo opened || echo denied",
    )?;
    expect_eq("open", out.as_str(), "denied\n")
}

/// The later allow entry wins over the earlier deny-all.
fn allow(ctx: &Ctx) -> Outcome {
    let out = ctx.sh(
        |v| {
            v["linux"]["devices"] =
                json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229}]);
            v["linux"]["resources"]["devices"] = json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}
            ]);
        },
        "(: < /dev/conf-fuse) && echo opened || echo denied",
    )?;
    expect_eq("open", out.as_str(), "opened\n")
}
