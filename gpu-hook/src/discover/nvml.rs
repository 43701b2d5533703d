//! NVIDIA GPUs through NVML (nvml-wrapper, which loads the library at run time, so a host
//! without the driver still runs the binary).

use std::path::Path;

use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::found::Found;

pub struct NvmlReport {
    pub driver_version: String,
    pub cuda_version: Option<String>,
    pub gpus: Vec<Found>,
}

#[derive(Debug, thiserror::Error)]
pub enum NvmlFailure {
    /// The library is not there: a host without the NVIDIA driver.
    #[error("cannot load {0}")]
    NotFound(String),
    #[error("{what}: {source}")]
    Call {
        what: &'static str,
        source: NvmlError,
    },
}

fn call(what: &'static str) -> impl FnOnce(NvmlError) -> NvmlFailure {
    move |source| NvmlFailure::Call { what, source }
}

pub fn query(lib: &Path) -> Result<NvmlReport, NvmlFailure> {
    let nvml = Nvml::builder()
        .lib_path(lib.as_os_str())
        .init()
        .map_err(|e| match e {
            NvmlError::LibloadingError(_) => {
                NvmlFailure::NotFound(format!("{} ({e})", lib.display()))
            }
            source => NvmlFailure::Call {
                what: "nvmlInit",
                source,
            },
        })?;
    let driver_version = nvml
        .sys_driver_version()
        .map_err(call("nvmlSystemGetDriverVersion"))?;
    // 12040 means CUDA 12.4.
    let cuda_version = nvml
        .sys_cuda_driver_version()
        .ok()
        .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10));
    let count = nvml.device_count().map_err(call("nvmlDeviceGetCount"))?;
    let mut gpus = Vec::new();
    for i in 0..count {
        let d = nvml
            .device_by_index(i)
            .map_err(call("nvmlDeviceGetHandleByIndex"))?;
        let mig_enabled = d.mig_mode().map(|m| m.current == 1).unwrap_or(false);
        let mut migs = Vec::new();
        if mig_enabled {
            let max = d.mig_device_count().unwrap_or(0);
            for j in 0..max {
                let m = match d.mig_device_by_index(j) {
                    Ok(m) => m,
                    Err(NvmlError::NotFound) => continue,
                    Err(e) => return Err(call("nvmlDeviceGetMigDeviceHandleByIndex")(e)),
                };
                let (gi, ci) = instance_ids(&nvml, &m)?;
                migs.push((m.uuid().ok(), gi, ci));
            }
        }
        gpus.push(Found {
            minor: d.minor_number().map_err(call("nvmlDeviceGetMinorNumber"))?,
            uuid: d.uuid().ok(),
            name: d.name().unwrap_or_default(),
            pci_bus_id: d
                .pci_info()
                .map(|p| normalize_bus_id(&p.bus_id))
                .map_err(call("nvmlDeviceGetPciInfo"))?,
            architecture: d
                .architecture()
                .ok()
                .map(|a| format!("{a:?}").to_lowercase()),
            brand: d.brand().ok().map(|b| format!("{b:?}").to_lowercase()),
            compute_capability: d
                .cuda_compute_capability()
                .ok()
                .map(|c| format!("{}.{}", c.major, c.minor)),
            mig_enabled,
            migs,
        });
    }
    Ok(NvmlReport {
        driver_version,
        cuda_version,
        gpus,
    })
}

/// The GPU and compute instance ids of a MIG device (not wrapped by nvml-wrapper: called
/// through its loaded symbol table).
fn instance_ids(nvml: &Nvml, mig: &nvml_wrapper::Device<'_>) -> Result<(u32, u32), NvmlFailure> {
    let lib = nvml.lib();
    let missing = |what: &'static str| NvmlFailure::Call {
        what,
        source: NvmlError::FunctionNotFound,
    };
    let gi_fn = lib
        .nvmlDeviceGetGpuInstanceId
        .as_ref()
        .map_err(|_| missing("nvmlDeviceGetGpuInstanceId"))?;
    let ci_fn = lib
        .nvmlDeviceGetComputeInstanceId
        .as_ref()
        .map_err(|_| missing("nvmlDeviceGetComputeInstanceId"))?;
    let (mut gi, mut ci) = (0u32, 0u32);
    // SAFETY: the handle comes from the same live Nvml instance; both functions write one
    // unsigned int through a valid pointer and keep nothing.
    let (r1, r2) = unsafe { (gi_fn(mig.handle(), &mut gi), ci_fn(mig.handle(), &mut ci)) };
    if r1 != 0 || r2 != 0 {
        return Err(NvmlFailure::Call {
            what: "nvmlDeviceGetGpuInstanceId/ComputeInstanceId",
            source: NvmlError::Unknown,
        });
    }
    Ok((gi, ci))
}

/// "00000000:01:00.0" -> "0000:01:00.0", lower case: the form procfs and sysfs use.
pub fn normalize_bus_id(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    match id.split_once(':') {
        Some((dom, rest)) if dom.len() > 4 => format!("{}:{rest}", &dom[dom.len() - 4..]),
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_ids_use_the_short_domain() {
        assert_eq!(normalize_bus_id("00000000:1A:00.0"), "0000:1a:00.0");
        assert_eq!(normalize_bus_id("0000:01:00.0"), "0000:01:00.0");
    }

    #[test]
    fn a_missing_library_is_not_found() {
        assert!(matches!(
            query(Path::new("/nonexistent/libnvidia-ml.so.1")),
            Err(NvmlFailure::NotFound(_))
        ));
    }
}
