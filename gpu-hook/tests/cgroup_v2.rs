//! The hook's cgroup v2 path on real cgroups: a process is put into a new directory of the
//! cgroup2 mount (the whole of a pure v2 host; /sys/fs/cgroup/unified on a hybrid one, where a
//! device program needs no controller), a "runtime" attaches a device program to it, and
//! `cgroup::allow` (what `gantry-gpu hook` calls with the container's init pid) must find that
//! directory from /proc/PID/cgroup and our mountinfo, choose the v2 path, and extend the
//! program: the process then opens the allowed fake GPU node 195:1 (ENXIO: no driver behind
//! it, but neither cgroup refused it) and gets EPERM for 195:0, while the devices the
//! runtime's own rules allow keep working. Needs root and a cgroup2 mount.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use cgroup_devices::bpf::{self as devbpf, Rule};
use gantry_gpu::cgroup;
use gantry_gpu::inventory::Node;

mod common;

/// A new cgroup2 directory with one shell in it that opens, for each path written to its
/// stdin, the path and answers one line: `ok` or the error. Removed (after the shell is gone)
/// on drop.
struct Jail {
    dir: PathBuf,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Jail {
    fn new(mnt: &Path, tag: &str) -> Jail {
        let dir = mnt.join(format!("gantry-gpu-test-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"while read d; do if e=$(head -c1 "$d" 2>&1 >/dev/null); then echo ok; else echo "$e"; fi; done"#)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        std::fs::write(dir.join("cgroup.procs"), &pid).unwrap();
        // The v1 devices root, where a container placed on v2 only is on a hybrid host (and
        // which allows everything): the v2 program alone decides, and only v2 is touched.
        let v1 = Path::new("/sys/fs/cgroup/devices/cgroup.procs");
        if v1.exists() {
            std::fs::write(v1, &pid).unwrap();
        }
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        Jail {
            dir,
            child,
            stdin,
            stdout: BufReader::new(stdout),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What opening `dev` from inside the cgroup gives: "ok" or head's error.
    fn open(&mut self, dev: &Path) -> String {
        writeln!(self.stdin, "{}", dev.display()).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    fn assert_opens(&mut self, dev: &Path, why: &str) {
        let r = self.open(dev);
        assert_eq!(r, "ok", "{} ({why})", dev.display());
    }

    /// The open reached the device (ENXIO from a node without a driver): not denied.
    fn assert_reaches(&mut self, dev: &Path, why: &str) {
        let r = self.open(dev);
        assert!(
            r.contains("No such device or address"),
            "{} ({why}): {r}",
            dev.display()
        );
    }

    fn assert_denied(&mut self, dev: &Path, why: &str) {
        let r = self.open(dev);
        assert!(
            r.contains("Operation not permitted"),
            "{} ({why}): {r}",
            dev.display()
        );
    }

    fn cgroup_fd(&self) -> std::fs::File {
        std::fs::File::open(&self.dir).unwrap()
    }

    fn programs(&self) -> (usize, u32) {
        let (ids, flags) = devbpf::query(&self.cgroup_fd()).unwrap();
        (ids.len(), flags)
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Fake GPU nodes 195:0 and 195:1 (no driver behind them) in a directory of their own.
struct FakeNodes {
    dir: PathBuf,
}

impl FakeNodes {
    fn new(tag: &str) -> FakeNodes {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("v2-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for minor in [0, 1] {
            nix::sys::stat::mknod(
                &dir.join(format!("nvidia{minor}")),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(195, minor),
            )
            .unwrap();
        }
        FakeNodes { dir }
    }
    fn path(&self, minor: u32) -> PathBuf {
        self.dir.join(format!("nvidia{minor}"))
    }
    /// The node the hook injects for GPU 1.
    fn gpu1(&self) -> Node {
        Node {
            path: "/dev/nvidia1".into(),
            major: 195,
            minor: 1,
        }
    }
}

impl Drop for FakeNodes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A runtime's default device rules, as runc writes them: deny all, then allow null, zero,
/// random, urandom and tty; full is left out on purpose (a device the runtime denies).
fn runtime_rules() -> Vec<Rule> {
    let c = |major, minor| Rule {
        allow: true,
        typ: Some('c'),
        major: Some(major),
        minor: Some(minor),
        access: Rule::access_bits("rwm"),
    };
    let mut r = vec![Rule {
        allow: false,
        typ: None,
        major: None,
        minor: None,
        access: Rule::access_bits("rwm"),
    }];
    r.extend([c(1, 3), c(1, 5), c(1, 8), c(1, 9), c(5, 0)]);
    r
}

fn setup(tag: &str) -> Option<(Jail, FakeNodes)> {
    let mnt = common::device_program_mount()?;
    Some((Jail::new(&mnt, tag), FakeNodes::new(tag)))
}

/// The hook finds the process's cgroup2 directory (and no v1 one to write) from
/// /proc/PID/cgroup: the v2 path is the one taken.
fn assert_v2_selected(j: &Jail) {
    let t = cgroup::targets(j.pid()).unwrap();
    assert_eq!(t.v2.as_deref(), Some(j.dir.as_path()), "{t:?}");
    assert_eq!(t.v1, None, "{t:?}");
}

#[test]
fn the_runtime_program_is_extended_and_keeps_its_own_rules() {
    let Some((mut j, n)) = setup("extend") else {
        return;
    };
    assert_v2_selected(&j);
    let prog = devbpf::load(&devbpf::program(&runtime_rules())).unwrap();
    devbpf::attach(&j.cgroup_fd(), &prog, devbpf::BPF_F_ALLOW_MULTI, None).unwrap();
    let (null, zero, full) = (
        Path::new("/dev/null"),
        Path::new("/dev/zero"),
        Path::new("/dev/full"),
    );
    j.assert_opens(null, "the runtime allows it");
    j.assert_denied(full, "the runtime denies it");
    j.assert_denied(&n.path(1), "before the hook");

    cgroup::allow(j.pid(), &[n.gpu1()]).unwrap();
    j.assert_reaches(&n.path(1), "the injected GPU after the hook");
    j.assert_denied(&n.path(0), "a GPU that was not injected");
    j.assert_opens(null, "a default device after the hook");
    j.assert_opens(zero, "a default device after the hook");
    j.assert_denied(full, "the runtime's denial after the hook");
    assert_eq!(
        j.programs(),
        (1, devbpf::BPF_F_ALLOW_MULTI),
        "the runtime's program was not replaced in place"
    );

    // A second run (another hook point, a restart) keeps all of it.
    cgroup::allow(j.pid(), &[n.gpu1()]).unwrap();
    j.assert_reaches(&n.path(1), "after a second run");
    j.assert_denied(&n.path(0), "after a second run");
    j.assert_opens(null, "after a second run");
    assert_eq!(j.programs().0, 1);
}

/// Several programs on the cgroup (systemd's and the runtime's, ALLOW_MULTI: all must allow):
/// each is extended. A single program attached without ALLOW_MULTI is replaced by its
/// extended copy.
#[test]
fn every_attached_program_is_extended_multi_or_exclusive() {
    let Some((mut j, n)) = setup("multi") else {
        return;
    };
    for _ in 0..2 {
        let prog = devbpf::load(&devbpf::program(&runtime_rules())).unwrap();
        devbpf::attach(&j.cgroup_fd(), &prog, devbpf::BPF_F_ALLOW_MULTI, None).unwrap();
    }
    cgroup::allow(j.pid(), &[n.gpu1()]).unwrap();
    j.assert_reaches(&n.path(1), "both programs extended");
    j.assert_denied(&n.path(0), "not injected");
    j.assert_opens(Path::new("/dev/null"), "default device");
    assert_eq!(j.programs().0, 2);
    drop(j);

    let Some((mut j, n)) = setup("exclusive") else {
        return;
    };
    let prog = devbpf::load(&devbpf::program(&runtime_rules())).unwrap();
    devbpf::attach(&j.cgroup_fd(), &prog, 0, None).unwrap();
    j.assert_denied(&n.path(1), "before the hook");
    cgroup::allow(j.pid(), &[n.gpu1()]).unwrap();
    j.assert_reaches(&n.path(1), "the exclusive program extended");
    j.assert_denied(&n.path(0), "not injected");
    j.assert_opens(Path::new("/dev/null"), "default device");
    assert_eq!(j.programs(), (1, 0));
}

/// A v2 cgroup without a device program allows every device: the hook adds none (a program
/// of its own would deny the container's other devices).
#[test]
fn no_program_means_nothing_is_attached() {
    let Some((mut j, n)) = setup("none") else {
        return;
    };
    assert_v2_selected(&j);
    cgroup::allow(j.pid(), &[n.gpu1()]).unwrap();
    assert_eq!(j.programs().0, 0);
    j.assert_reaches(&n.path(1), "no program");
    j.assert_reaches(&n.path(0), "no program: everything is allowed");
    j.assert_opens(Path::new("/dev/full"), "no program");
}
