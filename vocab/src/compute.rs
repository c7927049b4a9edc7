//! Where and in what precision a model runs.

use std::fmt;
use std::str::FromStr;

use crate::names::{deserialize_from_str, named, UnknownName};

/// A device as configuration and presets name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    /// `cuda` (`None`: the first GPU) or `cuda:N`.
    Cuda(Option<u32>),
    /// CUDA when this machine has it, else the CPU.
    Auto,
}

impl Device {
    /// The names, as error messages list them.
    pub const NAMES: &'static [&'static str] = &["cpu", "cuda", "cuda:N", "auto"];
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(None) => f.write_str("cuda"),
            Device::Cuda(Some(n)) => write!(f, "cuda:{n}"),
            Device::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for Device {
    type Err = UnknownName;

    /// `gpu` is taken for `cuda`, as the worker always has.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(None)),
            "auto" => Ok(Device::Auto),
            _ => {
                s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(|n| Device::Cuda(Some(n))).ok_or_else(|| {
                    UnknownName { what: "device", given: s.to_string(), allowed: Device::NAMES, note: "" }
                })
            }
        }
    }
}

impl serde::Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

deserialize_from_str!(Device);

named! {
    /// The precision a model computes in.
    pub enum ComputeType as "compute_type" {
        /// float16 on CUDA, float32 on a CPU.
        Auto = "auto" | "default",
        Float32 = "float32",
        /// On a CPU it computes in float32, as CTranslate2 does.
        Float16 = "float16",
        /// Everything in bfloat16 (on CUDA, or a CPU that computes it natively: AMX).
        Bfloat16 = "bfloat16",
        /// int8 weights in the decoder's linear layers, activations quantized per row at each
        /// product, float32 elsewhere. CUDA computes in float16 instead.
        Int8 = "int8",
    }
}

deserialize_from_str!(ComputeType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_print_as_they_were_named() {
        for name in ["cpu", "cuda", "cuda:1", "auto"] {
            assert_eq!(name.parse::<Device>().unwrap().to_string(), name);
        }
        assert_eq!("gpu".parse::<Device>().unwrap(), Device::Cuda(None));
        let err = "tpu".parse::<Device>().unwrap_err().to_string();
        assert_eq!(err, r#"unknown device "tpu"; expected cpu, cuda, cuda:N or auto"#);
        assert!("cuda:x".parse::<Device>().is_err());
    }

    #[test]
    fn compute_types_parse_and_name_the_allowed_ones() {
        assert_eq!("default".parse::<ComputeType>().unwrap(), ComputeType::Auto);
        assert_eq!("float16".parse::<ComputeType>().unwrap(), ComputeType::Float16);
        assert_eq!("int8".parse::<ComputeType>().unwrap(), ComputeType::Int8);
        let err = "int4".parse::<ComputeType>().unwrap_err().to_string();
        assert_eq!(err, r#"unknown compute_type "int4"; expected auto, float32, float16, bfloat16 or int8"#);
        let json: ComputeType = serde_json::from_str(r#""float32""#).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), r#""float32""#);
    }
}
