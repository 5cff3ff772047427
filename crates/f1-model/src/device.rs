//! Where tensors live: the CPU, or an NVIDIA GPU in a build with the `cuda` feature.

use candle_core::Device;

use crate::error::{Error, Result};

/// The device named `cpu`, `cuda` (the first GPU) or `cuda:N`.
pub fn parse(name: &str) -> Result<Device> {
    let ordinal = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        _ => match name.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(ordinal)) => ordinal,
            _ => {
                return Err(Error::Device(format!(
                    "'{name}' is not a device (cpu, cuda or cuda:N)"
                )))
            }
        },
    };
    cuda(ordinal)
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|e| Error::Device(format!("cuda:{ordinal}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda(ordinal: usize) -> Result<Device> {
    Err(Error::Device(format!(
        "cuda:{ordinal}: this f1ai was built without CUDA; rebuild with `--features cuda`"
    )))
}

/// A short name for `device`, as [`parse`] reads it.
pub fn name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_parses_and_bad_names_are_errors() {
        assert!(parse("cpu").unwrap().is_cpu());
        assert_eq!(name(&parse("cpu").unwrap()), "cpu");
        for bad in ["gpu", "cuda:", "cuda:x", "CPU"] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(error.contains(bad) && error.contains("cuda:N"), "{error}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_get_it() {
        let error = parse("cuda:1").unwrap_err().to_string();
        assert!(error.contains("--features cuda"), "{error}");
    }
}
