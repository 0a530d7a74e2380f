//! With the `lnd` feature: generates the LND gRPC client from our own subset of LND's
//! protocol (`proto/`), using a vendored `protoc` so a fresh machine needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    #[cfg(feature = "lnd")]
    {
        // prost-build finds protoc through this variable; it is set for this build script's
        // process only.
        std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
        tonic_prost_build::configure()
            .build_server(false)
            .build_client(true)
            .compile_protos(&["proto/lnrpc.proto", "proto/routerrpc.proto"], &["proto"])?;
    }
    Ok(())
}
