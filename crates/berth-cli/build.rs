//! Link options of the `berth`, `berth-shim` and `berth-registry` executables.
//!
//! Relative relocations packed as RELR (`-z pack-relative-relocs`, GNU ld ≥ 2.38, glibc ≥ 2.36): a
//! position-independent executable of this size carries ~70,000 relative relocations, which as RELA
//! entries (24 bytes each) are 1.7 MB that the dynamic loader reads at every start — resident memory of
//! every daemon, shim and CLI invocation. As RELR they take a few kilobytes. ASLR is unchanged.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
