//! For any two JSON values, applying the diff to the old one gives the new one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // Two documents separated by a NUL byte.
    let mut halves = data.splitn(2, |&b| b == 0);
    let (Some(a), Some(b)) = (halves.next(), halves.next()) else { return };
    let (Ok(old), Ok(new)) = (serde_json::from_slice::<Value>(a), serde_json::from_slice::<Value>(b)) else { return };
    let changes = zkstate::diff::diff(&old, &new);
    let mut patched = old.clone();
    zkstate::diff::apply(&mut patched, &changes).expect("the diff applies");
    assert_eq!(patched, new);
    assert_eq!(changes.is_empty(), old == new);
});
