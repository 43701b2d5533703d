//! What a discovery backend (NVML, procfs) reports about an NVIDIA GPU.

/// What one discovery backend reports about a GPU, before device nodes are attached.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub minor: u32,
    pub uuid: Option<String>,
    pub name: String,
    pub pci_bus_id: String,
    pub architecture: Option<String>,
    pub brand: Option<String>,
    pub compute_capability: Option<String>,
    pub mig_enabled: bool,
    /// (MIG uuid, GPU instance id, compute instance id), in NVML's order.
    pub migs: Vec<(Option<String>, u32, u32)>,
}
