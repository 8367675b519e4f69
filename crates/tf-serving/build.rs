//! Compiles the TensorFlow Serving .proto files with protox (pure Rust, no protoc) and
//! generates prost messages and tonic services from them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["tensorflow.proto", "serving.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
