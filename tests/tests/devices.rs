//! Default devices and /dev symlinks, and linux.devices.

use gantry_tests::*;
use serde_json::json;

#[test]
fn default_devices_and_symlinks() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.sh("for d in null zero full random urandom tty; do stat -c '%n %t:%T %a' /dev/$d; done; for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; echo x > /dev/null && head -c 4 /dev/zero | wc -c");
    let (code, out, err) = rt.run_fg(&b, &unique_id("dev"));
    assert_eq!(code, 0, "{err}");
    for (name, mm) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        assert!(
            out.contains(&format!("/dev/{name} {mm} 666")),
            "{name}: {out}"
        );
    }
    for (l, t) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        assert!(out.lines().any(|x| x == format!("{l} {t}")), "{l}: {out}");
    }
    assert!(out.ends_with("4\n"));
}

#[test]
fn linux_devices_with_mode_and_owner() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 7, "gid": 8}]);
        c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]);
    })
    .sh("stat -c '%t:%T %a %u %g %F' /dev/fuse");
    let (code, out, err) = rt.run_fg(&b, &unique_id("devs"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "a:e5 640 7 8 character special file\n");
}

#[test]
fn denied_device_cannot_be_opened() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    // The node exists (mknod) but the cgroup's device rules do not allow it.
    b.edit(|c| {
        c["linux"]["devices"] =
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    })
    .sh("cat /dev/fuse 2>&1; echo done");
    let (code, out, err) = rt.run_fg(&b, &unique_id("deny"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
}
