//! libtorch's CUDA half, loaded on demand. Our binaries link `libtorch_cpu` only (the linker drops
//! a library none of our symbols uses, and `libtorch_cuda` registers itself from its static
//! initialisers), so without this `tch::Cuda::is_available()` is false even on a GPU machine and
//! a `["cuda", "cpu"]` preference silently runs on the CPU. It is loaded only where an NVIDIA
//! driver is present, so CPU machines never map the CUDA libraries (hundreds of MB).

use std::path::Path;
use std::sync::OnceLock;

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

/// Found through the binaries' rpath (the libtorch directory) or `LD_LIBRARY_PATH`.
const TORCH_CUDA: &str = "libtorch_cuda.so";

static RUNTIME: OnceLock<Result<Library, String>> = OnceLock::new();

/// Whether this process can run on CUDA; the first call loads libtorch's CUDA library when an
/// NVIDIA driver is present.
pub fn is_available() -> bool {
    load().is_ok() && tch::Cuda::is_available()
}

/// Why CUDA cannot be used here, for error messages; `None` when it can.
pub fn unavailable_reason() -> Option<String> {
    match load() {
        Err(reason) => Some(reason),
        Ok(()) if !tch::Cuda::is_available() => Some("libtorch found no CUDA device".to_string()),
        Ok(()) => None,
    }
}

fn load() -> Result<(), String> {
    let loaded = RUNTIME.get_or_init(|| {
        if !driver_present() {
            return Err("no NVIDIA driver on this machine".to_string());
        }
        // SAFETY: libtorch_cuda's initialisers only register CUDA hooks with libtorch_cpu, which
        // is already loaded; the library is never unloaded (kept in RUNTIME).
        unsafe { Library::open(Some(TORCH_CUDA), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| {
            format!("libtorch has no CUDA library here ({TORCH_CUDA}: {e}); install a CUDA build of torch")
        })
    });
    loaded.as_ref().map(|_| ()).map_err(Clone::clone)
}

fn driver_present() -> bool {
    Path::new("/proc/driver/nvidia/version").exists() || Path::new("/dev/nvidiactl").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_nothing_is_loaded_and_the_reason_says_so() {
        if driver_present() {
            return; // a GPU machine: scripts/bench/gpu.sh checks that path
        }
        assert!(!is_available());
        assert_eq!(unavailable_reason().as_deref(), Some("no NVIDIA driver on this machine"));
    }
}
