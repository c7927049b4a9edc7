//! Which device the speech tests run on, chosen from outside: `SPEECH_TEST_DEVICE=cuda` makes
//! them run on the GPU in float16 (`scripts/bench/gpu.sh` does), unset or `cpu` keeps the CPU.
//! Plain names, no torch types, so testkit stays light; the tests map them to their own.

/// The variable the tests read.
pub const SPEECH_TEST_DEVICE: &str = "SPEECH_TEST_DEVICE";

/// A device the speech tests can be asked to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDevice {
    Cpu,
    /// The first GPU, in float16.
    Cuda,
}

impl TestDevice {
    /// `cpu` or `cuda`, as the worker's `--device` spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            TestDevice::Cpu => "cpu",
            TestDevice::Cuda => "cuda",
        }
    }

    pub fn is_cuda(self) -> bool {
        self == TestDevice::Cuda
    }
}

/// `$SPEECH_TEST_DEVICE`: `cpu` when unset or empty. Panics on any other value, so a typo never
/// runs the tests on the CPU while the caller believes they ran on the GPU.
pub fn test_device() -> TestDevice {
    let value = std::env::var(SPEECH_TEST_DEVICE).unwrap_or_default();
    parse(&value).unwrap_or_else(|| panic!("{SPEECH_TEST_DEVICE}={value:?}: expected `cpu` or `cuda`"))
}

fn parse(value: &str) -> Option<TestDevice> {
    match value.trim() {
        "" | "cpu" => Some(TestDevice::Cpu),
        "cuda" => Some(TestDevice::Cuda),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_anything_else_is_refused() {
        assert_eq!(parse(""), Some(TestDevice::Cpu));
        assert_eq!(parse("cpu"), Some(TestDevice::Cpu));
        assert_eq!(parse("cuda"), Some(TestDevice::Cuda));
        assert_eq!(parse("gpu"), None);
        assert_eq!(parse("cuda:1"), None);
        assert_eq!(TestDevice::Cuda.as_str(), "cuda");
    }
}
