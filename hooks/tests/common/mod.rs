//! Shared fixtures: hooks, scratch directories, and a mount namespace holder.
#![allow(dead_code)]

use hooks::Hook;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const STATE: &str = r#"{"ociVersion":"1.2.0","id":"c1","status":"created","pid":4242,"bundle":"/tmp/bundle","annotations":{"a":"b"}}"#;

pub fn hook(path: &str, args: Option<&[&str]>, env: Option<&[&str]>, timeout: Option<i64>) -> Hook {
    let mut h = Hook::default();
    h.set_path(path.into());
    h.set_args(args.map(|a| a.iter().map(|s| s.to_string()).collect()));
    h.set_env(env.map(|e| e.iter().map(|s| s.to_string()).collect()));
    h.set_timeout(timeout);
    h
}

/// `/bin/sh -c SCRIPT` with argv[0] "sh".
pub fn sh(script: &str) -> Hook {
    hook("/bin/sh", Some(&["sh", "-c", script]), None, None)
}

/// A directory removed (with everything under it) on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gantry-hooks-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process holding a new, private mount namespace in which a tmpfs with a file
/// `marker` is mounted over `dir` (hiding what the host has there).
pub struct MountNs {
    child: Child,
}

impl MountNs {
    pub fn new(dir: &Path) -> Self {
        let script = format!(
            "mount -t tmpfs gantry-test {0} && touch {0}/marker && echo ready && exec sleep 1000",
            dir.display()
        );
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare");
        // Blocks until the mount is in place: no sleeps.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "namespace holder failed");
        MountNs { child }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn ns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/mnt", self.pid()))
    }

    pub fn ns_link(&self) -> String {
        std::fs::read_link(self.ns_path())
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn own_mnt_ns() -> String {
    std::fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
