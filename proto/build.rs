//! Compiles `tower/v1/*.proto` with a vendored protoc, so a fresh machine needs no system
//! protoc. An operator's `PROTOC` still wins when set.

const PROTOS: [&str; 3] = [
    "tower/v1/common.proto",
    "tower/v1/worker.proto",
    "tower/v1/collector.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=PROTOC");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    tonic_prost_build::configure().compile_with_config(config, &PROTOS, &["."])?;
    Ok(())
}
