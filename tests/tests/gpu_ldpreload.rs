//! CVE-2025-23266 class: an image's `LD_PRELOAD=/proc/self/cwd/evil.so` must never load into
//! a gantry-gpu hook. evil.so is a real shared object (built here with cc) whose constructor
//! appends the path of the program it was loaded into to a marker file on the host (and to
//! `evil-ran` in its cwd). The image puts it at its root and sets LD_PRELOAD in process.env;
//! the container's createContainer hook is the entry `gantry-gpu cdi generate` writes, as a
//! CDI engine would apply it. Under Gantry, runc and crun it never loads (the entry sets
//! `env`); the same entry without `env` is the control, which runc (it runs createContainer
//! hooks with the container's environment, from the rootfs) does load it into: the test can
//! see the attack. Also gantry-gpu's own second line: started with loader variables, it
//! re-executes itself without them.

use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_tests::fakegpu::{gpu_bin, FakeGpu};
use gantry_tests::{skip, unique_id, Bundle, Rt, TempDir};
use serde_json::{json, Value};

/// evil.so, writing to `marker` (and to ./evil-ran) from its constructor.
fn build_evil(dir: &Path, marker: &Path) -> PathBuf {
    let src = dir.join("evil.c");
    std::fs::write(
        &src,
        r#"#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) n = 0;
    exe[n] = '\n';
    const char *paths[] = { MARKER, "evil-ran" };
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { (void)!write(fd, exe, n + 1); close(fd); }
    }
}
"#,
    )
    .unwrap();
    let so = dir.join("evil.so");
    let o = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(format!("-DMARKER=\"{}\"", marker.display()))
        .arg(&src)
        .output()
        .expect("cc");
    assert!(
        o.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    so
}

/// The hook of a spec `gantry-gpu cdi generate` wrote, as an OCI hook.
fn generated_hook(f: &FakeGpu) -> Value {
    let (ok, out, err) = f.gpu(&[
        "cdi",
        "generate",
        "--lib-dir",
        "/usr/lib64",
        "--capabilities",
        "compute,utility",
    ]);
    assert!(ok, "{err}");
    let spec: Value = serde_json::from_str(&out).unwrap();
    let h = &spec["containerEdits"]["hooks"][0];
    assert_eq!(h["hookName"], "createContainer");
    assert!(
        h["env"].as_array().is_some_and(|e| !e.is_empty()),
        "the generated hook has no env: {h}"
    );
    json!({"path": h["path"], "args": h["args"], "env": h["env"]})
}

/// What the marker files say was loaded, with a bundle whose createContainer hook is `hook`.
fn run_with(rt: &Rt, hook: &Value, evil: &Path, marker: &Path) -> Result<String, String> {
    let mut b = Bundle::new(&[]);
    b.edit(|c| {
        c["hooks"] = json!({"createContainer": [hook]});
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("LD_PRELOAD=/proc/self/cwd/evil.so"));
    })
    .sh("true");
    std::fs::copy(evil, b.rootfs().join("evil.so")).unwrap();
    let _ = std::fs::remove_file(marker);
    let (code, _, err) = rt.run_fg(&b, &unique_id("ldpreload"));
    if code != 0 {
        return Err(err);
    }
    let mut seen = std::fs::read_to_string(marker).unwrap_or_default();
    seen += &std::fs::read_to_string(b.rootfs().join("evil-ran")).unwrap_or_default();
    seen += &std::fs::read_to_string(b.path().join("evil-ran")).unwrap_or_default();
    Ok(seen)
}

fn loaded_into_gpu_hook(seen: &str) -> bool {
    seen.lines().any(|l| l.ends_with("/gantry-gpu"))
}

#[test]
fn an_images_ld_preload_never_loads_into_gantry_gpu_hooks() {
    let f = FakeGpu::new(&[]);
    let t = TempDir::new("ldpreload");
    let marker = t.path().join("marker");
    let evil = build_evil(t.path(), &marker);
    let hook = generated_hook(f);
    let mut bare = hook.clone();
    bare.as_object_mut().unwrap().remove("env");
    let gantry = gantry_tests::fakegpu::workspace().join("target/release/gantry");
    for bin in [
        gantry.as_path(),
        Path::new("/usr/sbin/runc"),
        Path::new("/usr/bin/crun"),
    ] {
        let name = bin.file_name().unwrap().to_string_lossy().into_owned();
        if !bin.exists() {
            skip(format!("{name}: not installed at {}", bin.display()));
            continue;
        }
        let rt = Rt::with_runtime(bin);
        let seen = match run_with(&rt, &hook, &evil, &marker) {
            Ok(s) => s,
            Err(e) if name == "crun" && e.contains("hybrid") => {
                skip(format!(
                    "crun refuses this hybrid cgroup host: {}",
                    e.trim()
                ));
                continue;
            }
            Err(e) => panic!("{name}: the container failed: {e}"),
        };
        assert!(
            !loaded_into_gpu_hook(&seen),
            "{name}: the image's LD_PRELOAD loaded into the generated hook: {seen}"
        );
        // The control: the same entry without env.
        let control = run_with(&rt, &bare, &evil, &marker);
        eprintln!("{name}: a hook entry without env: {control:?}");
        match name.as_str() {
            // runc runs it with the image's environment: the attack is real and visible.
            "runc" => assert!(
                control.as_ref().is_ok_and(|s| loaded_into_gpu_hook(s)),
                "runc: the control did not load evil.so, so this test cannot see the attack: {control:?}"
            ),
            // Gantry gives a hook exactly its env: none.
            "gantry" => assert!(
                control.as_ref().is_ok_and(|s| !loaded_into_gpu_hook(s)),
                "gantry: {control:?}"
            ),
            _ => {}
        }
    }
}

/// Started with loader variables, gantry-gpu re-executes itself without them: evil.so's
/// constructor runs once (the loader ran it before main), not again in the re-executed
/// program, nor in what gantry-gpu runs; the note names the variables; the command works.
#[test]
fn gantry_gpu_re_executes_itself_without_loader_variables() {
    let f = FakeGpu::new(&[]);
    let t = TempDir::new("ldpreload-self");
    let marker = t.path().join("marker");
    let evil = build_evil(t.path(), &marker);
    let o = Command::new(gpu_bin())
        .args(f.flags())
        .arg("info")
        .current_dir(t.path())
        .env("LD_PRELOAD", &evil)
        .env("LD_LIBRARY_PATH", "/nonexistent")
        .env("LD_DEBUG", "files")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("NVIDIA driver"),
        "{err}"
    );
    assert!(
        err.contains("loader variables set (LD_DEBUG, LD_LIBRARY_PATH, LD_PRELOAD): re-executed without them"),
        "{err}"
    );
    let seen = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(seen.lines().count(), 1, "{seen}");
    // LD_DEBUG=files reports each program the loader starts: one, the first; the
    // re-executed program ran without LD_DEBUG (kept, it would say so a second time).
    assert_eq!(
        err.matches("transferring control:").count(),
        1,
        "LD_DEBUG not honoured, or kept across the re-exec: {err}"
    );
    // No variables, no note (cargo test sets LD_LIBRARY_PATH: cleared).
    let o = Command::new(gpu_bin())
        .args(f.flags())
        .arg("info")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("loader variables"));
}
