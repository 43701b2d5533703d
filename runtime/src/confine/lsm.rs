//! AppArmor profiles and SELinux labels for the exec'd program, where the host has the LSM.

use std::path::Path;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
        && Path::new("/sys/kernel/security/apparmor").exists()
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Ask the kernel to switch to `profile` at the next exec.
pub fn set_apparmor_exec(profile: &str) -> std::io::Result<()> {
    let p = if Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(p, format!("exec {profile}"))
}

pub fn set_selinux_exec(label: &str) -> std::io::Result<()> {
    std::fs::write("/proc/self/attr/exec", label)
}
