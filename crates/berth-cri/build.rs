//! Generates the CRI v1 messages and gRPC services from the vendored `proto/api.proto` with
//! protox (a protobuf compiler in Rust, so no `protoc` is needed to build Berth).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/api.proto");
    let descriptors = protox::compile(["proto/api.proto"], ["proto"])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
