//! Any bytes an external actor writes decode to a value or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Config {
    name: String,
    replicas: u32,
    globs: Vec<String>,
}

fuzz_target!(|data: &[u8]| {
    let _ = zkstate::decode_payload::<Config>(data);
    let _ = zkstate::decode_payload::<Vec<String>>(data);
    let _ = zkstate::decode_payload::<serde_json::Value>(data);
});
