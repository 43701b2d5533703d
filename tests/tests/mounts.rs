//! root, mounts, rootfsPropagation, maskedPaths, readonlyPaths.

use gantry_tests::*;
use serde_json::json;

fn run_ok(b: &Bundle) -> String {
    let rt = Rt::new();
    let (code, out, err) = rt.run_fg(b, &unique_id("mnt"));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    out
}

#[test]
fn readonly_root_with_writable_tmp() {
    let mut b = Bundle::new(&[]);
    b.sh("touch /x 2>/dev/null && echo root-writable; touch /tmp/x && echo tmp-writable");
    assert_eq!(run_ok(&b), "tmp-writable\n");
    b.edit(|c| c["root"]["readonly"] = json!(false));
    assert_eq!(run_ok(&b), "root-writable\ntmp-writable\n");
}

#[test]
fn mount_types_and_options() {
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "noexec"]}));
        m.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]}));
    })
    .sh("grep -E ' /(proc|dev|dev/pts|dev/mqueue|sys|data|sys/fs/cgroup) ' /proc/self/mountinfo; stat -c %a /data; ls /sys/fs/cgroup");
    let out = run_ok(&b);
    let line = |mp: &str| {
        out.lines()
            .find(|l| l.split(' ').nth(4) == Some(mp))
            .unwrap_or_else(|| panic!("{mp} not mounted: {out}"))
            .to_string()
    };
    assert!(line("/proc").contains(" - proc "));
    assert!(line("/dev/pts").contains(" - devpts "));
    assert!(line("/dev/mqueue").contains(" - mqueue "));
    assert!(line("/sys").contains(" - sysfs ") && line("/sys").contains(" ro,"));
    let data = line("/data");
    assert!(
        data.contains(" - tmpfs ") && data.contains("noexec") && data.contains("size=1024k"),
        "{data}"
    );
    assert!(out.lines().any(|l| l == "700"), "{out}");
    // runc 1.1 leaves the tmpfs under a v1 cgroup mount writable despite "ro".
    if is_gantry() {
        assert!(line("/sys/fs/cgroup").contains(" ro,"));
    }
    assert!(
        out.lines().any(|l| l == "memory" || l == "cgroup.procs"),
        "no cgroup hierarchy inside: {out}"
    );
}

#[test]
fn bind_mounts_dir_file_and_readonly() {
    let host = TempDir::new("bind");
    std::fs::create_dir(host.path().join("d")).unwrap();
    std::fs::write(host.path().join("d/in-dir"), "dir-content").unwrap();
    std::fs::write(host.path().join("file"), "file-content").unwrap();
    let mut b = Bundle::new(&[]);
    let d = host.path().join("d").to_string_lossy().into_owned();
    let f = host.path().join("file").to_string_lossy().into_owned();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/rw", "type": "bind", "source": d, "options": ["rbind"]}));
        m.push(json!({"destination": "/ro", "type": "bind", "source": d, "options": ["bind", "ro"]}));
        m.push(json!({"destination": "/etc/one-file", "type": "bind", "source": f, "options": ["bind", "ro"]}));
    })
    .sh("cat /rw/in-dir; echo; cat /etc/one-file; echo; touch /ro/x 2>/dev/null && echo ro-writable; touch /rw/x && echo rw-ok");
    assert_eq!(run_ok(&b), "dir-content\nfile-content\nrw-ok\n");
    assert!(host.path().join("d/x").exists());
}

#[test]
fn later_mounts_cover_earlier_ones() {
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/stack", "type": "tmpfs", "source": "one", "options": ["size=1m"]}));
        m.push(json!({"destination": "/stack", "type": "tmpfs", "source": "two", "options": ["size=2m"]}));
    })
    .sh("grep ' /stack ' /proc/self/mountinfo | tail -1");
    assert!(run_ok(&b).contains(" two "));
}

#[test]
fn propagation_options() {
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]}));
        m.push(json!({"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": ["rprivate"]}));
        c["linux"]["rootfsPropagation"] = json!("rslave");
    })
    .sh("grep -E ' /(shared|private) ' /proc/self/mountinfo");
    let out = run_ok(&b);
    let shared = out.lines().find(|l| l.contains(" /shared ")).unwrap();
    let private = out.lines().find(|l| l.contains(" /private ")).unwrap();
    assert!(shared.contains("shared:"), "{shared}");
    assert!(
        !private.contains("shared:") && !private.contains("master:"),
        "{private}"
    );
}

#[test]
fn masked_and_readonly_paths() {
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/sys/firmware", "/proc/does-not-exist"]);
        c["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    })
    .sh("wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/shmmni 2>/dev/null && echo sys-writable; echo done");
    assert!(
        !std::fs::read("/proc/timer_list").unwrap().is_empty(),
        "the host file is empty"
    );
    assert_eq!(run_ok(&b), "0\n0\ndone\n");
}

#[test]
fn mount_destination_symlink_stays_in_rootfs() {
    let host = TempDir::new("escape");
    let target = host.path().join("outside");
    std::fs::create_dir(&target).unwrap();
    let mut b = Bundle::new(&[]);
    // The image has a symlink pointing at a host path; mounting there must stay inside.
    std::os::unix::fs::symlink(&target, b.rootfs().join("evil")).unwrap();
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    })
    .sh("touch /evil/written; echo ok");
    let rt = Rt::new();
    let (_code, _out, _err) = rt.run_fg(&b, &unique_id("escape"));
    assert!(
        !target.join("written").exists(),
        "a mount followed a symlink out of the rootfs"
    );
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
}

/// runc's `tmpcopyup`: the tmpfs starts with a copy of the directory it covers (modes, owners,
/// symlinks kept), and writes go to the tmpfs, not the image.
#[test]
fn tmpfs_with_tmpcopyup_starts_with_the_directory_contents() {
    let rt = Rt::new();
    let mut b = Bundle::new(&[]);
    let data = b.rootfs().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("sub/file"), "seed\n").unwrap();
    std::os::unix::fs::symlink("sub/file", data.join("link")).unwrap();
    std::os::unix::fs::chown(data.join("sub"), Some(1234), Some(1234)).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "tmpcopyup"]
        }))
    })
    .sh("cat /data/link; stat -c '%u %F' /data/sub /data/link; echo new > /data/sub/file; grep -c tmpfs /proc/self/mountinfo >/dev/null && awk '$5==\"/data\"{print $9}' /proc/self/mountinfo");
    let (code, out, err) = rt.run_fg(&b, &unique_id("copyup"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "seed");
    assert_eq!(l[1], "1234 directory");
    assert_eq!(l[2], "0 symbolic link");
    assert_eq!(l[3], "tmpfs");
    assert_eq!(
        std::fs::read_to_string(data.join("sub/file")).unwrap(),
        "seed\n",
        "the write reached the image"
    );
}
