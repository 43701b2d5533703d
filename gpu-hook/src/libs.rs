//! The NVIDIA driver's user-space files per capability (libnvidia-container's table) and where
//! they are in the driver root. Only files whose version suffix is the running driver's are
//! taken: a leftover library of an older driver would fail against the kernel module.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::request::Capability;
use crate::roots::Roots;

/// Libraries by capability, as sonames without their version.
pub fn libraries(cap: Capability) -> &'static [&'static str] {
    match cap {
        Capability::Utility => &["libnvidia-ml.so", "libnvidia-cfg.so"],
        Capability::Compute => &[
            "libcuda.so",
            "libcudadebugger.so",
            "libnvidia-opencl.so",
            "libnvidia-gpucomp.so",
            "libnvidia-ptxjitcompiler.so",
            "libnvidia-fatbinaryloader.so",
            "libnvidia-allocator.so",
            "libnvidia-compiler.so",
            "libnvidia-pkcs11.so",
            "libnvidia-pkcs11-openssl3.so",
            "libnvidia-nvvm.so",
        ],
        Capability::Video => &[
            "libvdpau_nvidia.so",
            "libnvidia-encode.so",
            "libnvidia-opticalflow.so",
            "libnvcuvid.so",
        ],
        Capability::Graphics => &[
            "libnvidia-eglcore.so",
            "libnvidia-glcore.so",
            "libnvidia-tls.so",
            "libnvidia-glsi.so",
            "libnvidia-fbc.so",
            "libnvidia-ifr.so",
            "libnvidia-rtcore.so",
            "libnvoptix.so",
            "libGLX_nvidia.so",
            "libEGL_nvidia.so",
            "libGLESv2_nvidia.so",
            "libGLESv1_CM_nvidia.so",
            "libnvidia-glvkspirv.so",
            "libnvidia-cbl.so",
            "libnvidia-gpucomp.so",
        ],
        Capability::Ngx => &["libnvidia-ngx.so"],
        Capability::Display | Capability::Compat32 => &[],
    }
}

/// Binaries by capability.
pub fn binaries(cap: Capability) -> &'static [&'static str] {
    match cap {
        Capability::Utility => &["nvidia-smi", "nvidia-debugdump", "nvidia-persistenced"],
        Capability::Compute => &["nvidia-cuda-mps-control", "nvidia-cuda-mps-server"],
        _ => &[],
    }
}

/// Config files the graphics stack loads (ICDs), at the same path in the container.
pub const GRAPHICS_CONFIGS: &[&str] = &[
    "/usr/share/vulkan/icd.d/nvidia_icd.json",
    "/etc/vulkan/icd.d/nvidia_icd.json",
    "/usr/share/vulkan/implicit_layer.d/nvidia_layers.json",
    "/etc/vulkan/implicit_layer.d/nvidia_layers.json",
    "/usr/share/glvnd/egl_vendor.d/10_nvidia.json",
    "/usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json",
    "/usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json",
];

/// Development links the driver installer makes and programs dlopen by: (link, soname).
pub const DEV_LINKS: &[(&str, &str)] = &[
    ("libcuda.so", "libcuda.so.1"),
    ("libnvidia-opticalflow.so", "libnvidia-opticalflow.so.1"),
    ("libGLX_indirect.so.0", "libGLX_nvidia.so.0"),
];

const LIB64_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib",
    "/lib",
];
const LIB32_DIRS: &[&str] = &[
    "/usr/lib/i386-linux-gnu",
    "/usr/lib32",
    "/lib/i386-linux-gnu",
    "/lib32",
];
const BIN_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];

fn existing(roots: &Roots, dirs: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let p = roots.driver(d);
        // /lib is often a symlink to /usr/lib: the same directory once.
        let canon = std::fs::canonicalize(&p).ok();
        if p.is_dir() && !out.iter().any(|o| std::fs::canonicalize(o).ok() == canon) {
            out.push(p);
        }
    }
    out
}

/// The driver root's 64-bit library directories (host paths), in search order: those of the
/// driver root's /etc/ld.so.cache (where the dynamic loader finds the driver, wherever
/// ld.so.conf put it), then the standard ones.
pub fn lib_dirs(roots: &Roots) -> Vec<PathBuf> {
    with_cache_dirs(roots, true, existing(roots, LIB64_DIRS))
}

pub fn lib32_dirs(roots: &Roots) -> Vec<PathBuf> {
    with_cache_dirs(roots, false, existing(roots, LIB32_DIRS))
}

fn with_cache_dirs(roots: &Roots, is64: bool, fixed: Vec<PathBuf>) -> Vec<PathBuf> {
    let Ok(bytes) = std::fs::read(roots.driver("/etc/ld.so.cache")) else {
        return fixed;
    };
    let Some(entries) = crate::ldcache::parse(&bytes) else {
        return fixed;
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.is_x86_64() == is64 && e.is_elf_libc6())
    {
        if let Some(dir) = Path::new(&e.path).parent() {
            let host = roots.driver(dir);
            if host.is_dir() && !out.contains(&host) {
                out.push(host);
            }
        }
    }
    let canon: Vec<_> = out.iter().map(|d| std::fs::canonicalize(d).ok()).collect();
    for d in fixed {
        let c = std::fs::canonicalize(&d).ok();
        if !out.contains(&d) && !canon.contains(&c) {
            out.push(d);
        }
    }
    out
}

/// A driver library found on the host: the versioned file and the sonames linking to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    pub host: PathBuf,
    pub file_name: String,
    pub soname: Option<String>,
}

/// An index of one library directory: file names and the symlinks pointing at each.
pub struct LibDir {
    dir: PathBuf,
    files: Vec<String>,
    links_to: HashMap<String, Vec<String>>,
}

impl LibDir {
    pub fn read(dir: &Path) -> LibDir {
        let mut files = Vec::new();
        let mut links_to: HashMap<String, Vec<String>> = HashMap::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.file_type() {
                Ok(t) if t.is_symlink() => {
                    if let Ok(target) = std::fs::read_link(e.path()) {
                        if let Some(t) = target.file_name() {
                            links_to
                                .entry(t.to_string_lossy().into_owned())
                                .or_default()
                                .push(name);
                        }
                    }
                }
                Ok(t) if t.is_file() => files.push(name),
                _ => {}
            }
        }
        LibDir {
            dir: dir.to_path_buf(),
            files,
            links_to,
        }
    }

    /// `prefix.VERSION` (libcuda.so.550.54.14), if this directory has it.
    pub fn find(&self, prefix: &str, version: &str) -> Option<Library> {
        let want = format!("{prefix}.{version}");
        let name = self.files.iter().find(|f| **f == want)?;
        let host = self.dir.join(name);
        // The installer's soname link (libcuda.so.1 -> libcuda.so.550.54.14) saves reading
        // the file; without one, DT_SONAME from the ELF itself.
        let soname = self
            .links_to
            .get(name)
            .and_then(|links| {
                links
                    .iter()
                    .filter(|l| l.starts_with(prefix) && l.len() > prefix.len())
                    .min_by_key(|l| l.len())
                    .cloned()
            })
            .or_else(|| elf_soname(&host));
        Some(Library {
            host,
            file_name: name.clone(),
            soname,
        })
    }
}

/// DT_SONAME of an ELF shared object.
pub fn elf_soname(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let elf = goblin::elf::Elf::parse(&bytes).ok()?;
    elf.soname.map(str::to_string)
}

/// A binary in the driver root.
pub fn find_binary(roots: &Roots, name: &str) -> Option<PathBuf> {
    existing(roots, BIN_DIRS)
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The GSP firmware of this driver version: /lib/firmware/nvidia/VERSION/*.bin.
pub fn firmware(roots: &Roots, version: &str) -> Vec<PathBuf> {
    let dir = roots.driver(format!("/lib/firmware/nvidia/{version}"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    v.sort();
    v
}
