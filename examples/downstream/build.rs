//! Binaries that link libtorch need to find it at run time and, on a CUDA machine, must keep
//! `libtorch_cuda` linked; `odyssey-build` does both (see docs/library.md).
fn main() {
    odyssey_build::link_libtorch();
}
