//! Any bytes an external actor writes decode to a value or a typed error, never a panic: plain
//! JSON, and zstd frames (the input is also tried behind the zstd magic number, so that the
//! frame decoder sees arbitrary headers and blocks).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Config {
    name: String,
    replicas: u32,
    globs: Vec<String>,
}

/// The first four bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

fuzz_target!(|data: &[u8]| {
    let _ = zkstate::decode_payload::<Config>(data);
    let _ = zkstate::decode_payload::<Vec<String>>(data);
    let _ = zkstate::decode_payload::<serde_json::Value>(data);
    let mut framed = ZSTD_MAGIC.to_vec();
    framed.extend_from_slice(data);
    let _ = zkstate::decode_payload::<serde_json::Value>(&framed);
});
