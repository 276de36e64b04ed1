//! The URL and settings parsers never panic, and what they accept prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkstate::{Settings, ZkUrl};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(url) = ZkUrl::parse(text) {
        let again = ZkUrl::parse(&url.to_string()).expect("a printed URL parses");
        assert_eq!(again, url);
    }
    let _ = Settings::from_toml_str(text);
});
