//! Build-script helper for packages whose binaries, tests, examples or benches link libtorch.
//!
//! `torch-sys` finds libtorch and links it, but a binary built that way still needs the libtorch
//! folder on its library path at run time, and on a CUDA build the linker drops
//! `libtorch_cuda.so` (nothing references it directly), so `tch::Cuda::is_available()` would be
//! false. Call [`link_libtorch`] from `build.rs` to fix both:
//!
//! ```text
//! // build.rs
//! fn main() {
//!     odyssey_build::link_libtorch();
//! }
//! ```
//!
//! The libtorch lib folder comes from `ODYSSEY_LIBTORCH_LIB`, which `scripts/odyssey.sh setup`
//! writes into `.cargo/config.toml`, or else from `LIBTORCH/lib`. Cargo's `rustc-link-arg`
//! applies to the package's own binaries, tests, examples and benches only, so each package that
//! links libtorch calls this from its own build script.

use std::env;
use std::path::{Path, PathBuf};

/// Locate the libtorch library folder from the environment, if set.
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = env::var("ODYSSEY_LIBTORCH_LIB") {
        return Some(PathBuf::from(dir));
    }
    env::var("LIBTORCH").ok().map(|d| Path::new(&d).join("lib"))
}

/// Emit the linker arguments that make this package's binaries find libtorch without
/// `LD_LIBRARY_PATH` (an rpath) and keep `libtorch_cuda` as a dependency when it exists.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=ODYSSEY_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(lib) = libtorch_lib_dir() else {
        println!(
            "cargo:warning=ODYSSEY_LIBTORCH_LIB is not set: run scripts/odyssey.sh setup, \
             or binaries will need LD_LIBRARY_PATH to find libtorch"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        // Without --no-as-needed the linker drops libtorch_cuda (no symbol of it is used
        // directly) and CUDA is then reported as unavailable at run time.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
