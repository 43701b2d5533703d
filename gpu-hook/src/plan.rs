//! What a container gets, decided before anything is touched: device nodes, bind mounts,
//! symlinks and the library directories to refresh. `gantry-gpu list` prints it; the hook
//! applies it; the same plan can be written as CDI container edits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::inventory::{Inventory, Node, Vendor};
use crate::libs::{self, LibDir};
use crate::request::Capability;
use crate::roots::Roots;
use crate::select::Selection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Socket,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub host: PathBuf,
    pub container: PathBuf,
    pub kind: Kind,
    pub writable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symlink {
    pub link: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Bind-mounted from the dev root to the same path, and allowed in the device cgroup.
    pub devices: Vec<Node>,
    pub mounts: Vec<Mount>,
    pub symlinks: Vec<Symlink>,
    /// Container library directories whose ld.so.cache entries must be refreshed.
    pub ldconfig_dirs: Vec<PathBuf>,
    pub notes: Vec<String>,
    /// Nodes the container needs that /proc/devices contradicts: the plan must not be applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

/// Where libraries go in the container.
#[derive(Debug, Clone)]
pub struct LibTargets {
    pub lib64: PathBuf,
    pub lib32: PathBuf,
}

impl LibTargets {
    /// Libraries into `lib64`; 32-bit ones into Debian's i386 directory next to a multiarch
    /// `lib64`, else /usr/lib.
    pub fn at(lib64: PathBuf) -> LibTargets {
        let lib32 = if lib64.ends_with("x86_64-linux-gnu") {
            PathBuf::from("/usr/lib/i386-linux-gnu")
        } else {
            PathBuf::from("/usr/lib")
        };
        LibTargets { lib64, lib32 }
    }

    /// Debian-like images (with /usr/lib/x86_64-linux-gnu or /etc/debian_version) use the
    /// multiarch directories; others /usr/lib64 and /usr/lib. `exists` answers for paths
    /// inside the container's root.
    pub fn for_image(exists: impl Fn(&Path) -> bool) -> LibTargets {
        if exists(Path::new("/usr/lib/x86_64-linux-gnu"))
            || exists(Path::new("/etc/debian_version"))
        {
            LibTargets {
                lib64: "/usr/lib/x86_64-linux-gnu".into(),
                lib32: "/usr/lib/i386-linux-gnu".into(),
            }
        } else {
            LibTargets {
                lib64: "/usr/lib64".into(),
                lib32: "/usr/lib".into(),
            }
        }
    }
}

impl Plan {
    fn device(&mut self, n: &Node) {
        if !self.devices.iter().any(|d| d.path == n.path) {
            self.devices.push(n.clone());
        }
    }

    fn mount(&mut self, host: PathBuf, container: PathBuf, kind: Kind, writable: bool) {
        if !self.mounts.iter().any(|m| m.container == container) {
            self.mounts.push(Mount {
                host,
                container,
                kind,
                writable,
            });
        }
    }

    fn symlink(&mut self, link: PathBuf, target: PathBuf) {
        if !self.symlinks.iter().any(|s| s.link == link) {
            self.symlinks.push(Symlink { link, target });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.mounts.is_empty() && self.symlinks.is_empty()
    }
}

pub fn build(
    roots: &Roots,
    inv: &Inventory,
    sel: &Selection,
    caps: &BTreeSet<Capability>,
    targets: &LibTargets,
) -> Plan {
    let mut plan = Plan::default();
    let has = |c| caps.contains(&c);
    let refuse = |plan: &mut Plan, path: &str| {
        for r in inv.refused.iter().filter(|r| r.path == Path::new(path)) {
            plan.refused.push(r.to_string());
        }
    };
    for p in &sel.picked {
        plan.refused
            .extend(p.gpu.refused.iter().map(|r| r.to_string()));
        for n in &p.gpu.nodes {
            plan.device(n);
        }
        if let Some(m) = &p.mig {
            plan.refused.extend(m.refused.iter().map(|r| r.to_string()));
            for n in &m.nodes {
                plan.device(n);
            }
        }
    }
    if sel.vendors.contains(&Vendor::Nvidia) {
        refuse(&mut plan, "/dev/nvidiactl");
        if has(Capability::Compute) {
            refuse(&mut plan, "/dev/nvidia-uvm");
            refuse(&mut plan, "/dev/nvidia-uvm-tools");
        }
        if has(Capability::Display) {
            refuse(&mut plan, "/dev/nvidia-modeset");
        }
        if let Some(driver) = &inv.nvidia {
            for n in &driver.control {
                let name = n.path.to_string_lossy();
                let wanted = match name.as_ref() {
                    "/dev/nvidiactl" => true,
                    "/dev/nvidia-uvm" | "/dev/nvidia-uvm-tools" => has(Capability::Compute),
                    "/dev/nvidia-modeset" => has(Capability::Display),
                    _ => false,
                };
                if wanted {
                    plan.device(n);
                }
            }
            if has(Capability::Graphics) || has(Capability::Display) {
                nvidia_drm_nodes(roots, inv, sel, &mut plan);
            }
            nvidia_files(roots, &driver.version, caps, targets, &mut plan);
        }
    }
    if sel.vendors.contains(&Vendor::Amd) {
        refuse(&mut plan, "/dev/kfd");
        if let Some(kfd) = &inv.amd_kfd {
            plan.device(kfd);
        }
    }
    plan
}

/// The DRM card and render nodes of the selected NVIDIA GPUs (graphics, display), refused
/// like the GPU's own when their numbers are wrong.
fn nvidia_drm_nodes(roots: &Roots, inv: &Inventory, sel: &Selection, plan: &mut Plan) {
    let mut notes = Vec::new();
    let drm = crate::discover::drm::discover(roots, &inv.majors, Vendor::Nvidia, &mut notes);
    for p in sel.picked.iter().filter(|p| p.gpu.vendor == Vendor::Nvidia) {
        if let Some(d) = drm.iter().find(|d| d.pci_bus_id == p.gpu.pci_bus_id) {
            plan.refused.extend(d.refused.iter().map(|r| r.to_string()));
            for n in &d.nodes {
                plan.device(n);
            }
        }
    }
}

fn nvidia_files(
    roots: &Roots,
    version: &str,
    caps: &BTreeSet<Capability>,
    targets: &LibTargets,
    plan: &mut Plan,
) {
    let mut want: Vec<(&str, bool)> = Vec::new();
    for c in caps {
        for l in libs::libraries(*c) {
            want.push((l, false));
            if caps.contains(&Capability::Compat32) {
                want.push((l, true));
            }
        }
    }
    let dirs64: Vec<LibDir> = libs::lib_dirs(roots)
        .iter()
        .map(|d| LibDir::read(d))
        .collect();
    let dirs32: Vec<LibDir> = libs::lib32_dirs(roots)
        .iter()
        .map(|d| LibDir::read(d))
        .collect();
    let mut sonames = Vec::new();
    for (prefix, is32) in want {
        let (dirs, target) = if is32 {
            (&dirs32, &targets.lib32)
        } else {
            (&dirs64, &targets.lib64)
        };
        let Some(lib) = dirs.iter().find_map(|d| d.find(prefix, version)) else {
            continue;
        };
        let container = target.join(&lib.file_name);
        plan.mount(lib.host.clone(), container, Kind::File, false);
        if let Some(so) = &lib.soname {
            if *so != lib.file_name {
                plan.symlink(target.join(so), lib.file_name.clone().into());
                sonames.push((target.clone(), so.clone()));
            }
        }
        if !plan.ldconfig_dirs.contains(target) {
            plan.ldconfig_dirs.push(target.clone());
        }
    }
    for (link, soname) in libs::DEV_LINKS {
        for (dir, so) in &sonames {
            if so == soname {
                plan.symlink(dir.join(link), PathBuf::from(soname));
            }
        }
    }
    for c in caps {
        for b in libs::binaries(*c) {
            if let Some(host) = libs::find_binary(roots, b) {
                plan.mount(host, Path::new("/usr/bin").join(b), Kind::File, false);
            }
        }
    }
    if caps.contains(&Capability::Utility) || caps.contains(&Capability::Compute) {
        for fw in libs::firmware(roots, version) {
            let container = Path::new("/lib/firmware/nvidia")
                .join(version)
                .join(fw.file_name().unwrap_or_default());
            plan.mount(fw, container, Kind::File, false);
        }
    }
    if caps.contains(&Capability::Graphics) {
        for cfg in libs::GRAPHICS_CONFIGS {
            let host = roots.driver(cfg);
            if host.is_file() {
                plan.mount(host, cfg.into(), Kind::File, false);
            }
        }
    }
    // IPC: the persistence daemon's socket (utility) and the MPS pipe directory (compute).
    if caps.contains(&Capability::Utility) {
        let sock = roots.driver("/run/nvidia-persistenced/socket");
        if sock.exists() {
            plan.mount(
                sock,
                "/run/nvidia-persistenced/socket".into(),
                Kind::Socket,
                false,
            );
        }
    }
    if caps.contains(&Capability::Compute) {
        let mps = roots.driver("/tmp/nvidia-mps");
        if mps.is_dir() {
            plan.mount(mps, "/tmp/nvidia-mps".into(), Kind::Dir, true);
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.devices {
            writeln!(
                f,
                "device  {} (c {}:{})",
                d.path.display(),
                d.major,
                d.minor
            )?;
        }
        for m in &self.mounts {
            let kind = match m.kind {
                Kind::File => "file",
                Kind::Dir => "dir",
                Kind::Socket => "socket",
            };
            writeln!(
                f,
                "{kind:<7} {} <- {}{}",
                m.container.display(),
                m.host.display(),
                if m.writable { " (rw)" } else { "" }
            )?;
        }
        for s in &self.symlinks {
            writeln!(f, "symlink {} -> {}", s.link.display(), s.target.display())?;
        }
        for d in &self.ldconfig_dirs {
            writeln!(f, "ldconfig {}", d.display())?;
        }
        for n in &self.notes {
            writeln!(f, "note    {n}")?;
        }
        for r in &self.refused {
            writeln!(f, "refused {r}")?;
        }
        Ok(())
    }
}
