//! Where the GPU code looks on the host. Every host path goes through one of these prefixes, so
//! the same code reads a real host (the defaults) or a fake driver environment in tests.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct Roots {
    /// Where the driver's libraries, binaries, firmware and ld.so.cache are.
    #[arg(long, global = true, default_value = "/")]
    pub driver_root: PathBuf,
    /// Where the device nodes are (DIR/dev/nvidia0, ...).
    #[arg(long, global = true, default_value = "/")]
    pub dev_root: PathBuf,
    /// The host's procfs (DIR/devices, DIR/driver/nvidia). A container's /proc/PID is always
    /// read from the real /proc.
    #[arg(long, global = true, default_value = "/proc")]
    pub proc_root: PathBuf,
    /// The host's sysfs (DIR/class/drm, DIR/class/kfd).
    #[arg(long, global = true, default_value = "/sys")]
    pub sysfs_root: PathBuf,
    /// The NVML library to load (default: libnvidia-ml.so.1 in the driver root's library
    /// directories). When it cannot be loaded, NVIDIA GPUs are found through procfs.
    #[arg(long, global = true)]
    pub nvml_lib: Option<PathBuf>,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            driver_root: "/".into(),
            dev_root: "/".into(),
            proc_root: "/proc".into(),
            sysfs_root: "/sys".into(),
            nvml_lib: None,
        }
    }
}

/// `root` joined with an absolute host path (`/usr/lib` under `/tmp/x` is `/tmp/x/usr/lib`).
pub fn under(root: &Path, p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    root.join(p.strip_prefix("/").unwrap_or(p))
}

impl Roots {
    pub fn driver(&self, p: impl AsRef<Path>) -> PathBuf {
        under(&self.driver_root, p)
    }
    /// A device node: `dev("/dev/nvidia0")`.
    pub fn dev(&self, p: impl AsRef<Path>) -> PathBuf {
        under(&self.dev_root, p)
    }
    /// A procfs file: `proc("devices")`.
    pub fn proc(&self, p: impl AsRef<Path>) -> PathBuf {
        under(&self.proc_root, p)
    }
    pub fn sysfs(&self, p: impl AsRef<Path>) -> PathBuf {
        under(&self.sysfs_root, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_absolute_paths_under_the_root() {
        assert_eq!(
            under(Path::new("/"), "/dev/nvidia0"),
            Path::new("/dev/nvidia0")
        );
        assert_eq!(
            under(Path::new("/tmp/fake"), "/dev/nvidia0"),
            Path::new("/tmp/fake/dev/nvidia0")
        );
        assert_eq!(
            under(Path::new("/proc"), "devices"),
            Path::new("/proc/devices")
        );
    }
}
