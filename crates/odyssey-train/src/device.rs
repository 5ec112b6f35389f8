//! Device and thread selection.

use tch::Device;

/// CUDA device 0 when libtorch sees a GPU, the CPU otherwise.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

/// Set libtorch's intra-op thread count (0 leaves libtorch's default).
pub fn set_threads(n: usize) {
    if n > 0 {
        tch::set_num_threads(n as i32);
    }
}
