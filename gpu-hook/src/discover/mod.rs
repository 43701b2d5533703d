//! Finding GPUs: NVIDIA through NVML (procfs when NVML is missing or broken), AMD and Intel
//! through sysfs DRM entries.

pub mod drm;
pub mod mig;
pub mod nvidia;
pub mod nvml;
pub mod searched;
