//! The plain (not CDI) GPU request forms a config carries: `NVIDIA_VISIBLE_DEVICES`,
//! `AMD_VISIBLE_DEVICES` and the `gantry.gpu/devices` annotation. Their syntax lives here so
//! that the runtime (which tells whether a container asks for anything and hands the request
//! to gantry-gpu) and gantry-gpu (which resolves it) read it alike.

/// The vendor-neutral request annotation (`nvidia:0,1;amd:all`).
pub const ANNOTATION: &str = "gantry.gpu/devices";

/// The environment variables that list a vendor's GPUs.
pub const VISIBLE_DEVICES: [&str; 2] = ["NVIDIA_VISIBLE_DEVICES", "AMD_VISIBLE_DEVICES"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceList {
    /// Every GPU of the vendor.
    All,
    /// No GPU, but the driver (control nodes, libraries): NVIDIA's `none`.
    NoGpus,
    /// Indices, UUIDs, PCI bus ids, MIG UUIDs or `GPU:MIG` pairs.
    List(Vec<String>),
}

/// Parses a VISIBLE_DEVICES value; `None` when it asks for nothing (unset, empty, `void`).
pub fn device_list(v: &str) -> Option<DeviceList> {
    match v.trim() {
        "" | "void" => None,
        "none" => Some(DeviceList::NoGpus),
        "all" => Some(DeviceList::All),
        list => Some(DeviceList::List(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )),
    }
}
