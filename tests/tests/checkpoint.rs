//! `checkpoint` and `restore` through CRIU (issue 18). End to end where `criu check` passes;
//! where it does not (CRIU 3.17 on this host's kernel: "vdso: Unexpected rt vDSO area
//! bounds"), the real CRIU's failure is checked to be a clear error that leaves the container
//! as it was (as runc's), and the exact CRIU invocations through a recording stand-in given
//! with `--criu`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use gantry_tests::*;

const RUNC: &str = "/usr/sbin/runc";

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn criu() -> Option<PathBuf> {
    ["/usr/sbin/criu", "/usr/bin/criu", "/usr/local/sbin/criu"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn criu_check_passes(bin: &Path) -> bool {
    std::process::Command::new(bin)
        .arg("check")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A stand-in for criu: records each call's argv (one word a line) in DIR/ACTION.args and
/// acts as CRIU would as far as the runtime sees: `check` passes unless DIR/check-fails
/// exists, `dump` and `restore` fail (with an Error line in the --log-file under
/// --work-dir) if DIR/fail exists; a restore otherwise starts a process that lives for 300 s
/// (or exits 3 after a second, if DIR/exit3 exists) and writes its pid to --pidfile.
struct StandIn {
    dir: TempDir,
}

impl StandIn {
    fn new() -> StandIn {
        let dir = TempDir::new("criu-standin");
        let d = dir.path().display();
        let script = format!(
            r#"#!/bin/sh
rec={d}
action=$1
printf '%s\n' "$@" > "$rec/$action.args"
work=.; log=; pidf=
while [ $# -gt 0 ]; do
  case $1 in
    --work-dir) work=$2; shift;;
    --log-file) log=$2; shift;;
    --pidfile) pidf=$2; shift;;
  esac
  shift
done
case $action in
  check)
    [ -e "$rec/check-fails" ] && {{ echo "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds" >&2; exit 1; }}
    exit 0;;
  dump|pre-dump|restore)
    if [ -e "$rec/fail" ]; then
      echo "(00.000001) Error (criu/stand-in.c:1): stand-in refuses to $action" > "$work/$log"
      exit 1
    fi
    if [ $action = restore ]; then
      if [ -e "$rec/exit3" ]; then
        (sleep 1; exit 3) </dev/null >/dev/null 2>&1 &
      else
        sleep 300 </dev/null >/dev/null 2>&1 &
      fi
      echo $! > "$pidf"
    fi
    exit 0;;
esac
exit 1
"#
        );
        let bin = dir.path().join("criu");
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        StandIn { dir }
    }
    fn bin(&self) -> String {
        self.dir.path().join("criu").to_str().unwrap().to_string()
    }
    fn set(&self, flag: &str, on: bool) {
        let p = self.dir.path().join(flag);
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
    /// The argv of the last call of `action`, as one line.
    fn args(&self, action: &str) -> String {
        let p = self.dir.path().join(format!("{action}.args"));
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("criu {action} was not called: {e}"))
            .lines()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn running(rt: &Rt, b: &Bundle) -> (String, i64) {
    let id = unique_id("ckpt");
    rt.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    (id, pid)
}

fn net_inode(pid: i64) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino()
}

/// With the real CRIU: end to end where it can dump here; where it cannot, the error is
/// clear and the container keeps running, as with runc.
#[test]
fn real_criu_checkpoints_or_says_why_not() {
    let Some(criu) = criu() else {
        return skip("no criu installed (apt-get install criu)");
    };
    let mut rts = vec![Rt::new()];
    if is_gantry() && Path::new(RUNC).exists() {
        rts.push(Rt::with_runtime(RUNC));
    }
    let can = criu_check_passes(&criu);
    for rt in rts {
        let n = rt.bin.file_name().unwrap().to_string_lossy().into_owned();
        let b = Bundle::new(&["sleep", "300"]);
        let (id, _) = running(&rt, &b);
        let img = TempDir::new("ckpt-img");
        let image = img.path().join("images");
        let o = rt.run(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
        if can {
            assert!(o.status.success(), "{n}: {}", err(&o));
            assert!(image.join("descriptors.json").exists(), "{n}");
            assert!(
                rt.ids().is_empty(),
                "{n}: checkpoint without --leave-running ends it"
            );
            rt.ok(&[
                "restore",
                "--detach",
                "--image-path",
                image.to_str().unwrap(),
                "--bundle",
                b.path().to_str().unwrap(),
                &id,
            ]);
            assert_eq!(rt.status(&id), "running", "{n}");
            continue;
        }
        assert_eq!(o.status.code(), Some(1), "{n}: {}", err(&o));
        assert_eq!(
            rt.status(&id),
            "running",
            "{n}: a failed checkpoint ends nothing"
        );
        if n == "gantry" {
            let e = err(&o);
            assert!(e.contains("criu dump failed"), "{e}");
            assert!(
                e.contains("Error (criu/"),
                "CRIU's own error is quoted: {e}"
            );
            assert!(e.contains(&format!("{}/dump.log", image.display())), "{e}");
            assert!(e.contains("`criu check` fails on this host too"), "{e}");
        }
    }
    if !can {
        skip("criu check fails on this kernel: the checkpoint itself is tested with a stand-in");
    }
}

#[test]
fn checkpoint_runs_criu_dump_as_runc_asks_it() {
    if !is_gantry() {
        return skip_not_gantry("runc drives CRIU over RPC (criu swrk), not its command line");
    }
    let rt = Rt::new();
    let criu = StandIn::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let data = TempDir::new("ckpt-data");
    b.bind(data.path(), "/data");
    // No network namespace of its own: the host's is external.
    b.edit(|c| {
        let nss = c["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "network");
    });
    let (id, pid) = running(&rt, &b);
    let dirs = TempDir::new("ckpt-dirs");
    let (image, work) = (dirs.path().join("img"), dirs.path().join("work"));
    let o = rt.run(&[
        "--criu",
        &criu.bin(),
        "checkpoint",
        "--image-path",
        image.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        "--leave-running",
        "--tcp-established",
        "--ext-unix-sk",
        "--shell-job",
        "--file-locks",
        "--manage-cgroups-mode",
        "full",
        &id,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let freezer = v1_cgroup_dir("freezer", &format!("/gantry/{id}"));
    let freeze = if freezer.is_dir() {
        format!(" --freeze-cgroup {}", freezer.display())
    } else {
        String::new()
    };
    assert_eq!(
        criu.args("dump"),
        format!(
            "dump --tree {pid} --images-dir {img} --work-dir {work} --log-file dump.log -v4 \
             --root {root} --tcp-established --ext-unix-sk --shell-job --file-locks \
             --manage-cgroups --manage-cgroups-mode full --leave-running{freeze} \
             --external mnt[/data]:/data --external net[{ino}]:extRootNetNS",
            img = image.display(),
            work = work.display(),
            root = b.rootfs().display(),
            ino = net_inode(pid),
        )
    );
    let desc: Vec<String> =
        serde_json::from_slice(&std::fs::read(image.join("descriptors.json")).unwrap()).unwrap();
    assert_eq!(desc.len(), 3, "{desc:?}");
    assert_eq!(
        desc[0], "/dev/null",
        "the init's stdin, as the harness gives it"
    );
    assert_eq!(rt.status(&id), "running", "--leave-running");

    // A pre-dump: memory only (with its parent images tracked), the container stays.
    rt.ok(&[
        "--criu",
        &criu.bin(),
        "checkpoint",
        "--pre-dump",
        "--image-path",
        image.to_str().unwrap(),
        "--parent-path",
        "../parent",
        &id,
    ]);
    let pre = criu.args("pre-dump");
    assert!(pre.starts_with(&format!("pre-dump --tree {pid} ")), "{pre}");
    assert!(
        pre.contains("--track-mem --prev-images-dir ../parent"),
        "{pre}"
    );
    assert!(!pre.contains("--leave-running"), "{pre}");
    assert_eq!(rt.status(&id), "running", "--pre-dump");

    // A failing CRIU: its own error, the log file and `criu check`'s verdict; nothing ends.
    criu.set("fail", true);
    criu.set("check-fails", true);
    let o = rt.run(&[
        "--criu",
        &criu.bin(),
        "checkpoint",
        "--image-path",
        image.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(e.contains("criu dump failed"), "{e}");
    assert!(e.contains("stand-in refuses to dump"), "{e}");
    assert!(
        e.contains(&format!("log file: {}/dump.log", image.display())),
        "{e}"
    );
    assert!(e.contains("Unexpected rt vDSO area bounds"), "{e}");
    assert_eq!(rt.status(&id), "running");
    criu.set("fail", false);

    // A checkpoint that succeeds without --leave-running ends the container, as runc's.
    rt.ok(&[
        "--criu",
        &criu.bin(),
        "checkpoint",
        "--image-path",
        image.to_str().unwrap(),
        &id,
    ]);
    assert!(rt.ids().is_empty(), "{:?}", rt.ids());
    assert!(!cgroup_dir("memory", &format!("/gantry/{id}")).exists());

    // A stopped container does not checkpoint; a missing criu binary is an error.
    let (id, _) = running(&rt, &Bundle::new(&["true"]));
    assert!(rt.wait_status(&id, "stopped"));
    let o = rt.run(&["--criu", &criu.bin(), "checkpoint", &id]);
    assert!(err(&o).contains("container not running"), "{}", err(&o));
    let o = rt.run(&["--criu", "/no/such/criu", "checkpoint", &id]);
    assert!(!o.status.success());
}

#[test]
fn restore_runs_criu_restore_and_records_the_container() {
    if !is_gantry() {
        return skip_not_gantry("runc drives CRIU over RPC (criu swrk), not its command line");
    }
    let rt = Rt::new();
    let criu = StandIn::new();
    let mut b = Bundle::new(&["sleep", "300"]);
    let data = TempDir::new("rst-data");
    b.bind(data.path(), "/data");
    let dirs = TempDir::new("rst-dirs");
    let image = dirs.path().join("img");
    std::fs::create_dir_all(&image).unwrap();
    std::fs::write(
        image.join("descriptors.json"),
        r#"["/dev/null","pipe:[4242]","pipe:[4243]"]"#,
    )
    .unwrap();
    let id = unique_id("rst");
    let pidfile = dirs.path().join("pid");
    let restore = |extra: &[&str], id: &str| {
        let mut args = vec![
            "--criu",
            &criu.bin(),
            "restore",
            "--image-path",
            image.to_str().unwrap(),
            "--bundle",
            b.path().to_str().unwrap(),
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(id.to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        rt.run(&refs)
    };

    // CRIU fails: a clear error, and no container, state or cgroup is left.
    criu.set("fail", true);
    let o = restore(&["--detach"], &id);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains("criu restore failed") && e.contains("stand-in refuses to restore"),
        "{e}"
    );
    assert!(
        e.contains(&format!("log file: {}/restore.log", image.display())),
        "{e}"
    );
    assert!(rt.ids().is_empty(), "{:?}", rt.ids());
    assert!(!cgroup_dir("memory", &format!("/gantry/{id}")).exists());
    criu.set("fail", false);

    // CRIU restores: the process it reports is the container's, in its cgroup.
    let o = restore(
        &[
            "--detach",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "--shell-job",
            "--tcp-established",
        ],
        &id,
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        criu.args("restore"),
        format!(
            "restore --images-dir {img} --work-dir {img} --log-file restore.log -v4 --root {root} \
             --restore-detached --pidfile {img}/restore.pid --tcp-established --shell-job \
             --manage-cgroups --cgroup-root /gantry/{id} --external mnt[/data]:{data} \
             --inherit-fd fd[1]:pipe:[4242] --inherit-fd fd[2]:pipe:[4243]",
            img = image.display(),
            root = b.rootfs().display(),
            data = data.path().display(),
        )
    );
    let st = rt.state(&id).unwrap();
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(
        proc_cgroup(pid, "memory").as_deref(),
        Some(format!("/gantry/{id}").as_str()),
        "the restored init is in the container's cgroup"
    );
    // A second restore under the same id is refused before CRIU runs.
    std::fs::remove_file(criu.dir.path().join("restore.args")).unwrap();
    let o = restore(&["--detach"], &id);
    assert!(!o.status.success());
    assert!(
        !criu.dir.path().join("restore.args").exists(),
        "CRIU ran for a taken id"
    );
    rt.ok(&["delete", "--force", &id]);
    assert!(rt.ids().is_empty());

    // In the foreground: the restored process's exit code, and the container is gone.
    criu.set("exit3", true);
    let id2 = unique_id("rst");
    let o = restore(&[], &id2);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(rt.ids().is_empty(), "{:?}", rt.ids());

    // No checkpoint at --image-path: said before anything is made.
    let o = rt.run(&[
        "--criu",
        &criu.bin(),
        "restore",
        "--image-path",
        "/no/such/images",
        "--bundle",
        b.path().to_str().unwrap(),
        &id2,
    ]);
    assert!(
        err(&o).contains("no checkpoint at /no/such/images"),
        "{}",
        err(&o)
    );
}
