fn main() {
    odyssey_build::link_libtorch();
}
