//! For any two JSON values, applying the diff to the old one gives the new one. And for any bytes
//! that arrive after a payload zkstate wrote (canonical JSON, which a copy diffs as text), the
//! copy's changes are the trees' diff, or the bytes are refused: never a wrong diff, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zkstate::bench::{decode_and_diff, Held};

fuzz_target!(|data: &[u8]| {
    // Two documents separated by a NUL byte.
    let mut halves = data.splitn(2, |&b| b == 0);
    let (Some(a), Some(b)) = (halves.next(), halves.next()) else { return };
    let Ok(old) = serde_json::from_slice::<Value>(a) else { return };
    if let Ok(new) = serde_json::from_slice::<Value>(b) {
        let changes = zkstate::diff::diff(&old, &new);
        let mut patched = old.clone();
        zkstate::diff::apply(&mut patched, &changes).expect("the diff applies");
        assert_eq!(patched, new);
        assert_eq!(changes.is_empty(), old == new);
    }

    // The old document as zkstate writes it, and new bytes: the second half as it is, and the
    // old text with its middle replaced by the second half (mostly the same text, as a change
    // usually is).
    let Ok(canonical) = serde_json::to_vec(&old) else { return };
    let Ok(held) = Held::of(&canonical) else { return };
    let middle = canonical.len() / 2;
    let mut spliced = canonical[..middle].to_vec();
    spliced.extend_from_slice(b);
    spliced.extend_from_slice(&canonical[(middle + b.len()).min(canonical.len())..]);
    for new_bytes in [b, &spliced[..]] {
        if let Ok((value, _, changes)) = decode_and_diff::<Value>(&held, new_bytes) {
            let new: Value = serde_json::from_slice(new_bytes).expect("accepted bytes parse");
            assert_eq!(value, new);
            assert_eq!(changes, zkstate::diff::diff(&old, &new));
        }
    }
});
