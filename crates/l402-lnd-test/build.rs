//! Generates the LND gRPC *server* side from l402-lightning's own `.proto` subset, so client
//! and test server speak exactly the same messages. Uses a vendored `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "../l402-lightning/proto";
    println!("cargo:rerun-if-changed={dir}");
    // prost-build finds protoc through this variable, set for this build script only.
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().build_server(true).build_client(false).compile_protos(
        &["../l402-lightning/proto/lnrpc.proto", "../l402-lightning/proto/routerrpc.proto"],
        &[dir],
    )?;
    Ok(())
}
