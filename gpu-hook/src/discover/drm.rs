//! AMD GPUs from the KFD topology (ROCm's order), Intel ones (and AMD without KFD) from sysfs:
//! each /sys/class/drm/cardN whose PCI device has the vendor's
//! id, with the renderD node of the same device.

use std::path::{Path, PathBuf};

use crate::inventory::{Gpu, Node, Vendor};
use crate::majors::Majors;
use crate::roots::Roots;

fn vendor_id(v: Vendor) -> &'static str {
    match v {
        Vendor::Nvidia => "0x10de",
        Vendor::Amd => "0x1002",
        Vendor::Intel => "0x8086",
    }
}

/// The DRM entries (cardN, renderDN) and the canonical PCI device dir of each.
fn entries(roots: &Roots, prefix: &str) -> Vec<(u32, PathBuf)> {
    let class = roots.sysfs("class/drm");
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(&class)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n: u32 = name.strip_prefix(prefix)?.parse().ok()?;
                    let dev = std::fs::canonicalize(e.path().join("device")).ok()?;
                    Some((n, dev))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The vendor's DRM GPUs. Their card and render nodes under the dev root are checked
/// against /proc/devices' `drm` major (226 when unlisted) and the minor their names give;
/// one that disagrees is the GPU's `refused`.
pub fn discover(
    roots: &Roots,
    majors: &Majors,
    vendor: Vendor,
    notes: &mut Vec<String>,
) -> Vec<Gpu> {
    if vendor == Vendor::Amd {
        if let Some(gpus) = amd_from_kfd(roots, majors, notes) {
            return gpus;
        }
    }
    let renders = entries(roots, "renderD");
    let mut gpus = Vec::new();
    for (card, dev) in entries(roots, "card") {
        if read_trim(&dev.join("vendor")).as_deref() != Some(vendor_id(vendor)) {
            continue;
        }
        let render = renders.iter().find(|(_, d)| *d == dev).map(|(r, _)| *r);
        let index = gpus.len() as u32;
        gpus.push(gpu_of(
            roots, majors, vendor, index, card, render, &dev, notes,
        ));
    }
    gpus
}

/// `key value` lines (a KFD topology node's `properties`).
fn properties(text: &str) -> Vec<(&str, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

/// AMD GPUs as ROCm numbers them: the KFD topology nodes
/// (/sys/class/kfd/kfd/topology/nodes/N) with a nonzero `gpu_id`, in node order (node 0 and
/// the other CPU nodes have gpu_id 0). Each node's `drm_render_minor` names its render node;
/// the DRM card is the one of the same PCI device, which must have AMD's vendor id 0x1002.
/// `None` when there is no KFD topology (amdgpu without KFD): the caller scans the DRM cards.
fn amd_from_kfd(roots: &Roots, majors: &Majors, notes: &mut Vec<String>) -> Option<Vec<Gpu>> {
    let dir = roots.sysfs("class/kfd/kfd/topology/nodes");
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    nodes.sort();
    let cards = entries(roots, "card");
    let mut gpus = Vec::new();
    for (n, node) in nodes {
        let gpu_id: u64 = read_trim(&node.join("gpu_id"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if gpu_id == 0 {
            continue;
        }
        let text = std::fs::read_to_string(node.join("properties")).unwrap_or_default();
        let props = properties(&text);
        let prop = |k: &str| props.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let Some(render) = prop("drm_render_minor").filter(|m| *m >= 128) else {
            notes.push(format!(
                "KFD node {n} (gpu_id {gpu_id}) has no drm_render_minor; skipped"
            ));
            continue;
        };
        let render = render as u32;
        let Ok(dev) =
            std::fs::canonicalize(roots.sysfs(format!("class/drm/renderD{render}/device")))
        else {
            notes.push(format!(
                "KFD node {n}: renderD{render} is not in {}",
                roots.sysfs("class/drm").display()
            ));
            continue;
        };
        if read_trim(&dev.join("vendor")).as_deref() != Some(vendor_id(Vendor::Amd)) {
            notes.push(format!(
                "KFD node {n}: renderD{render} is not an AMD device (vendor {}); skipped",
                read_trim(&dev.join("vendor")).unwrap_or_default()
            ));
            continue;
        }
        let card = cards.iter().find(|(_, d)| *d == dev).map(|(c, _)| *c);
        let index = gpus.len() as u32;
        let Some(card) = card else {
            notes.push(format!("KFD node {n}: no DRM card for renderD{render}"));
            continue;
        };
        let mut g = gpu_of(
            roots,
            majors,
            Vendor::Amd,
            index,
            card,
            Some(render),
            &dev,
            notes,
        );
        // ROCm's UUID (rocminfo's, amd-smi's): `GPU-` and the KFD node's unique_id in hex.
        if g.uuid.is_none() {
            g.uuid = prop("unique_id")
                .filter(|u| *u != 0)
                .map(|u| format!("GPU-{u:016x}"));
        }
        // location_id is the PCI bus/device/function (bus << 8 | dev << 3 | fn).
        if let (Some(loc), Some(dom)) = (prop("location_id"), prop("domain")) {
            let bdf = format!(
                "{dom:04x}:{:02x}:{:02x}.{}",
                loc >> 8,
                (loc >> 3) & 0x1f,
                loc & 7
            );
            if bdf != g.pci_bus_id {
                notes.push(format!(
                    "KFD node {n}: location {bdf} but renderD{render} is {}",
                    g.pci_bus_id
                ));
            }
        }
        gpus.push(g);
    }
    for (c, d) in &cards {
        let amd = read_trim(&d.join("vendor")).as_deref() == Some(vendor_id(Vendor::Amd));
        if amd
            && !gpus.iter().any(|g| {
                // Its card, or the refused node of a card with the wrong numbers.
                let card = format!("/dev/dri/card{c}");
                let paths = g.nodes.iter().map(|x| &x.path);
                paths
                    .chain(g.refused.iter().map(|r| &r.path))
                    .any(|p| p == Path::new(&card))
            })
        {
            notes.push(format!(
                "AMD card{c} has no KFD topology node: not a ROCm GPU, not listed"
            ));
        }
    }
    Some(gpus)
}

/// One DRM GPU: its card and render nodes under the dev root, name and PCI id from sysfs.
#[allow(clippy::too_many_arguments)]
fn gpu_of(
    roots: &Roots,
    majors: &Majors,
    vendor: Vendor,
    index: u32,
    card: u32,
    render: Option<u32>,
    dev: &Path,
    notes: &mut Vec<String>,
) -> Gpu {
    let (mut nodes, mut refused) = (Vec::new(), Vec::new());
    let mut want = vec![(format!("/dev/dri/card{card}"), card)];
    if let Some(r) = render {
        want.push((format!("/dev/dri/renderD{r}"), r));
    }
    for (p, minor) in want {
        match Node::find_checked(roots, majors, &p, "drm", minor) {
            Ok(Some(n)) => nodes.push(n),
            Ok(None) => notes.push(format!("{p} is missing under the dev root")),
            Err(r) => refused.push(r),
        }
    }
    let uevent = std::fs::read_to_string(dev.join("uevent")).unwrap_or_default();
    let driver = uevent
        .lines()
        .find_map(|l| l.strip_prefix("DRIVER="))
        .unwrap_or("unknown");
    let pci = uevent
        .lines()
        .find_map(|l| l.strip_prefix("PCI_SLOT_NAME="))
        .map(str::to_string)
        .or_else(|| dev.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let device_id = read_trim(&dev.join("device")).unwrap_or_default();
    Gpu {
        vendor,
        index,
        uuid: read_trim(&dev.join("unique_id")),
        name: format!("{vendor} {device_id} ({driver})"),
        pci_bus_id: pci.to_ascii_lowercase(),
        architecture: None,
        brand: None,
        compute_capability: None,
        nodes,
        mig_enabled: false,
        migs: Vec::new(),
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's sysfs (fake-env.sh, 2 AMD GPUs and an Intel one) with the KFD nodes'
    /// render minors swapped: ROCm's order is the topology's, not the DRM cards'.
    #[test]
    fn amd_gpus_come_from_the_kfd_topology() {
        let out = std::env::temp_dir().join(format!("gantry-kfd-unit-{}", std::process::id()));
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-env.sh");
        let o = std::process::Command::new(&fake)
            .arg(&out)
            .args(["--nvidia", "0", "--amd", "2", "--intel", "1"])
            .output()
            .expect("run fake-env.sh (needs root and gcc)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let roots = Roots {
            driver_root: out.join("driver-root"),
            dev_root: out.join("dev-root"),
            proc_root: out.join("proc-root"),
            sysfs_root: out.join("sysfs-root"),
            nvml_lib: None,
        };
        let names = |gpus: &[Gpu]| -> Vec<Vec<String>> {
            gpus.iter()
                .map(|g| {
                    g.nodes
                        .iter()
                        .map(|n| n.path.display().to_string())
                        .collect()
                })
                .collect()
        };
        let mut notes = Vec::new();
        let gpus = discover(&roots, &Majors::default(), Vendor::Amd, &mut notes);
        assert_eq!(
            names(&gpus),
            [
                ["/dev/dri/card0", "/dev/dri/renderD128"],
                ["/dev/dri/card1", "/dev/dri/renderD129"]
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");
        // Swap the topology's render minors (and locations): GPU 0 is then card1.
        let nodes = roots.sysfs("devices/virtual/kfd/kfd/topology/nodes");
        let p1 = std::fs::read_to_string(nodes.join("1/properties")).unwrap();
        let p2 = std::fs::read_to_string(nodes.join("2/properties")).unwrap();
        std::fs::write(nodes.join("1/properties"), p2).unwrap();
        std::fs::write(nodes.join("2/properties"), p1).unwrap();
        let gpus = discover(&roots, &Majors::default(), Vendor::Amd, &mut notes);
        assert_eq!(
            names(&gpus),
            [
                ["/dev/dri/card1", "/dev/dri/renderD129"],
                ["/dev/dri/card0", "/dev/dri/renderD128"]
            ]
        );
        assert_eq!(gpus[0].pci_bus_id, "0000:42:00.0");
        assert!(notes.is_empty(), "{notes:?}");
        // A render minor of the Intel GPU is not an AMD GPU.
        let p = std::fs::read_to_string(nodes.join("2/properties")).unwrap();
        std::fs::write(
            nodes.join("2/properties"),
            p.replace("drm_render_minor 128", "drm_render_minor 130"),
        )
        .unwrap();
        let gpus = discover(&roots, &Majors::default(), Vendor::Amd, &mut notes);
        assert_eq!(gpus.len(), 1);
        assert!(
            notes.iter().any(|n| n.contains("not an AMD device")),
            "{notes:?}"
        );
        // No KFD topology: the DRM cards with vendor 0x1002.
        std::fs::remove_dir_all(roots.sysfs("devices/virtual/kfd")).unwrap();
        let gpus = discover(&roots, &Majors::default(), Vendor::Amd, &mut Vec::new());
        assert_eq!(gpus.len(), 2);
        let _ = std::fs::remove_dir_all(&out);
    }
}
