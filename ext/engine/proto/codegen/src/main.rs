//! Writes the prost messages and the tonic client and server of `rpc.proto` into the directory
//! given as the only argument, with a vendored `protoc` (nothing to install).

fn main() -> std::io::Result<()> {
    let out_dir = std::env::args().nth(1).expect("usage: anycable-proto-codegen OUT_DIR");
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(std::io::Error::other)?;
    // prost-build finds protoc through PROTOC; this program has no other threads yet.
    std::env::set_var("PROTOC", protoc);
    tonic_prost_build::configure()
        // No `RpcClient::connect(endpoint)` helper: it would clash with the `Connect` call.
        .build_transport(false)
        .out_dir(out_dir)
        .emit_rerun_if_changed(false)
        .compile_protos(&[format!("{proto_dir}/rpc.proto")], &[proto_dir.to_owned()])
}
