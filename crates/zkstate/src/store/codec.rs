//! How a payload's bytes become a value and back: plain JSON, or JSON in a zstd frame.
//!
//! A payload is either plain UTF-8 JSON (the default, what every other ZooKeeper client reads)
//! or a [zstd frame](https://datatracker.ietf.org/doc/html/rfc8878) holding that JSON. The two
//! cannot be confused: JSON text never starts with the zstd magic number (`28 B5 2F FD`), which
//! every zstd frame starts with. So every reader tells them apart by the first four bytes, and
//! `zstd -d` reads a compressed payload fetched with any tool.
//!
//! Decompression is capped ([`StateOptions::with_max_decompressed`](crate::StateOptions)): a
//! frame that would expand beyond the cap (a decompression bomb) is refused after reading at
//! most the cap, never allocated whole.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use super::json::is_compressed;
use super::json::Json;
pub(crate) use crate::error::DecodeError;

use crate::options::Limits;
pub use crate::options::{Compression, DEFAULT_MAX_DECOMPRESSED};

/// The largest zstd window (as a power of two) a frame may ask for when it may expand to at most
/// `max_decompressed` bytes: a window beyond the whole content is never needed, so a frame
/// asking for more than the cap, and at least 2^24 (16 MiB, the default cap: the windows zstd's
/// levels choose for large inputs stay below it), is refused before its window is allocated.
/// zstd's own bound is 2^31.
fn max_window_log(max_decompressed: usize) -> u32 {
    let bits = usize::BITS - max_decompressed.saturating_sub(1).leading_zeros();
    bits.clamp(24, 31)
}

/// How many JSON values `text` holds, counted on the bytes without parsing: the root, and every
/// array element and object member (each container's commas, and one more for a non-empty
/// container), strings skipped. It is the number of nodes serde_json would build for valid
/// text; for invalid text, a count all the same (the parse then refuses it).
pub(crate) fn count_values(text: &[u8]) -> usize {
    let mut count = 1usize;
    // Whether the innermost open container has seen a first element yet.
    let mut empty = Vec::new();
    for byte in crate::diff::text::outside_strings(text) {
        if matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
            continue;
        }
        if matches!(byte, b']' | b'}') {
            empty.pop();
            continue;
        }
        if let Some(first) = empty.last_mut().filter(|first| **first) {
            *first = false;
            count += 1;
        }
        match byte {
            b'[' | b'{' => empty.push(true),
            b',' => count += 1,
            _ => {}
        }
    }
    count
}

/// An upper bound on [`count_values`]: one more than the commas and opening brackets anywhere,
/// strings included. A loop the compiler vectorises, many times faster than the exact count.
fn most_values(text: &[u8]) -> usize {
    1 + text
        .iter()
        .filter(|&&byte| matches!(byte, b',' | b'[' | b'{'))
        .count()
}

/// Refuses text with more values than `limits` allow: the exact count only when the quick upper
/// bound is over the limit (as for every payload of legitimate size, it mostly is not).
fn check_values(text: &[u8], limits: Limits) -> Result<(), DecodeError> {
    if most_values(text) <= limits.max_values {
        return Ok(());
    }
    let count = count_values(text);
    if count > limits.max_values {
        return Err(DecodeError::TooManyValues {
            limit: limits.max_values,
            count,
        });
    }
    Ok(())
}

/// The JSON text of a payload: the bytes themselves, or the decompressed frame.
pub(crate) fn unframe(bytes: &[u8], max_decompressed: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    if !is_compressed(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let frame = |e: std::io::Error| DecodeError::Frame(e.to_string());
    let mut decoder = zstd::stream::read::Decoder::new(bytes).map_err(frame)?;
    decoder
        .window_log_max(max_window_log(max_decompressed))
        .map_err(frame)?;
    let mut out = Vec::new();
    // One byte past the cap tells a frame at the cap from one beyond it.
    let cap = u64::try_from(max_decompressed)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Frame(e.to_string()))?;
    if out.len() > max_decompressed {
        return Err(DecodeError::TooLarge {
            limit: max_decompressed,
        });
    }
    Ok(Cow::Owned(out))
}

/// Decodes a payload: unframes it, parses its JSON tree, then `T`. Also says whether the text is
/// canonical (exactly `serde_json::to_vec` of the tree: what zkstate writes).
///
/// `T` is read from canonical text, and from the tree otherwise: one rule, whichever way a copy
/// gets to a payload ([`decode_and_diff`] reads `T` from the text when it diffs texts), so that
/// every instance decodes the same bytes into the same `T`. (The two can differ: serde_json
/// reads an `f32` field straight from the text's digits, but from a tree's `f64` by rounding
/// twice.)
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    limits: Limits,
) -> Result<(T, Value, bool), DecodeError> {
    let text = unframe(bytes, limits.max_decompressed)?;
    check_values(&text, limits)?;
    let json: Value =
        serde_json::from_slice(&text).map_err(|e| DecodeError::Json(e.to_string()))?;
    let canonical = !is_compressed(bytes) && crate::diff::text::is_canonical(&json, &text);
    let value = if canonical {
        serde_json::from_slice(&text)
    } else {
        T::deserialize(&json)
    };
    let value = value.map_err(|e| DecodeError::Json(e.to_string()))?;
    Ok((value, json, canonical))
}

/// A payload decoded and diffed against the copy's JSON.
pub(crate) struct Decoded<T> {
    pub(crate) value: T,
    /// The JSON as the copy keeps it.
    pub(crate) json: Json,
    /// The new tree, when it was parsed (diffing as text does not parse it).
    pub(crate) tree: Option<Arc<Value>>,
    pub(crate) changes: Vec<crate::diff::Change>,
}

/// Decodes a payload and diffs it against `current`: what applying a fetched payload costs
/// (the caller runs it on the blocking pool from [`BIG`](super::copy::BIG) bytes on).
///
/// When the copy holds canonical text and the new payload differs from it in one small part,
/// the two texts are diffed as text and `T` is read from the new text (canonical too, as
/// [`decode`] would read it): no tree is parsed
/// ([`diff_texts`](crate::diff::text::diff_texts)). Otherwise the new payload is [`decode`]d
/// and the trees are diffed, one after the other: reading `T` on a second thread while the tree
/// is built does not pay on two cores, where the two threads compete with the other work.
pub(crate) fn decode_and_diff<T: DeserializeOwned>(
    current: &Json,
    bytes: &[u8],
    limits: Limits,
) -> Result<Decoded<T>, DecodeError> {
    if let Some(old) = current.canonical_text().filter(|_| !is_compressed(bytes)) {
        check_values(bytes, limits)?;
        let changes = crate::diff::text::diff_texts(old, bytes, super::json::TEXT_DEPTH);
        if let Some(changes) = changes {
            let value =
                serde_json::from_slice::<T>(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
            return Ok(Decoded {
                value,
                json: Json::canonical(bytes.to_vec()),
                tree: None,
                changes,
            });
        }
    }
    let (value, tree, canonical) = decode::<T>(bytes, limits)?;
    let changes = crate::diff::diff_at_most(&current.to_tree(), &tree);
    let tree = Arc::new(tree);
    Ok(Decoded {
        value,
        json: Json::fetched(tree.clone(), bytes, canonical),
        tree: Some(tree),
        changes,
    })
}

/// The bytes to store for `json`. Serialising a `Value` cannot fail (its keys are strings);
/// compressing into memory cannot fail either but for allocation, reported as a `String`.
pub(crate) fn encode(json: &Value, compression: Compression) -> Result<Vec<u8>, String> {
    let text = serde_json::to_vec(json).map_err(|e| e.to_string())?;
    match compression.for_payload(false) {
        Compression::Zstd { level } => {
            zstd::bulk::compress(&text, level).map_err(|e| e.to_string())
        }
        _ => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    /// The default limits with this decompression cap.
    fn cap(max_decompressed: usize) -> Limits {
        Limits {
            max_decompressed,
            ..Limits::default()
        }
    }

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_json_round_trips_unchanged() {
        let value = json!({"globs": ["systemd*"], "interval_s": 5});
        let bytes = encode(&value, Compression::None).expect("encode");
        assert_eq!(bytes, serde_json::to_vec(&value).expect("json"));
        let (decoded, json, canonical) = decode::<Value>(&bytes, cap(1024)).expect("decode");
        assert!(canonical);
        assert_eq!(decoded, value);
        assert_eq!(json, value);
    }

    #[test]
    fn zstd_frames_are_told_apart_and_decoded() {
        let value = json!({"big": "x".repeat(10_000)});
        let bytes = encode(&value, Compression::Zstd { level: 3 }).expect("encode");
        assert!(is_compressed(&bytes));
        assert!(bytes.len() < 1000, "compressed to {}", bytes.len());
        let (decoded, _, canonical) = decode::<Value>(&bytes, cap(1 << 20)).expect("decode");
        assert!(!canonical, "a frame is not text");
        assert_eq!(decoded, value);
    }

    #[test]
    fn truncated_and_corrupt_frames_are_typed_errors() {
        let value = json!({"big": "abcdefgh".repeat(1000)});
        let bytes = encode(&value, Compression::Zstd { level: 3 }).expect("encode");
        for cut in [4, 5, 10, bytes.len() / 2, bytes.len() - 1] {
            match decode::<Value>(&bytes[..cut], cap(1 << 20)) {
                Err(DecodeError::Frame(_)) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let mut corrupt = bytes.clone();
        for byte in corrupt.iter_mut().skip(8) {
            *byte ^= 0x5A;
        }
        assert!(matches!(
            decode::<Value>(&corrupt, cap(1 << 20)),
            Err(DecodeError::Frame(_))
        ));
    }

    #[test]
    fn a_decompression_bomb_is_refused_at_the_cap() {
        // 64 MiB of zeros compresses to a few KB.
        let zeros = vec![b' '; 64 << 20];
        let bomb = zstd::bulk::compress(&zeros, 3).expect("compress");
        assert!(bomb.len() < 64 << 10);
        assert_eq!(
            decode::<Value>(&bomb, cap(1 << 20)),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn every_path_reads_t_from_canonical_text_alike() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Halfway {
            a: Inner,
            pad: Vec<u32>,
        }
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Inner {
            x: f32,
        }
        // An f64 halfway between two f32s: read from the digits it is one f32, from the tree's
        // f64 rounded again the other. Every instance must read the same bytes alike.
        let pad: Vec<u32> = (0..200).collect();
        let old = serde_json::to_vec(&json!({"a": {"x": 1.0}, "pad": pad})).expect("json");
        let new = serde_json::to_vec(&json!({"a": {"x": 1.000_000_059_604_644_8}, "pad": pad}))
            .expect("json");
        let from_text: Halfway = serde_json::from_slice(&new).expect("text");
        let tree: Value = serde_json::from_slice(&new).expect("tree");
        let from_tree = Halfway::deserialize(&tree).expect("tree");
        assert_ne!(from_text, from_tree, "the case this test is about");

        let (opened, _, canonical) = decode::<Halfway>(&new, cap(1 << 20)).expect("decode");
        assert!(canonical);
        let (_, old_tree, _) = decode::<Value>(&old, cap(1 << 20)).expect("decode");
        let current = Json::fetched(Arc::new(old_tree), &old, true);
        let diffed = decode_and_diff::<Halfway>(&current, &new, cap(1 << 20)).expect("diff");
        assert!(diffed.tree.is_none(), "diffed as text");
        assert_eq!(opened, from_text);
        assert_eq!(diffed.value, from_text);
        assert_eq!(Json::canonical(new).decode::<Halfway>(None), Ok(from_text));
    }

    #[test]
    fn wrong_magic_is_a_json_error() {
        assert!(matches!(
            decode::<Value>(&[0x28, 0xB5, 0x2F, 0x00, 1, 2], cap(1024)),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            decode::<Value>(b"\x00garbage", cap(1024)),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn written_plain_bytes_are_canonical() {
        let tree = json!({"b": [1.5, "x"], "a": null});
        let bytes = encode(&tree, Compression::None).expect("encode");
        let json = Json::written(Arc::new(tree.clone()), Some(bytes.clone()));
        assert_eq!(json.canonical_text(), Some(&bytes[..]));
        assert_eq!(*json.to_tree(), tree);
    }

    /// The nodes serde_json builds for `value`: itself and, below it, every element and member.
    fn nodes(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(nodes).sum(),
            Value::Object(map) => map.values().map(nodes).sum(),
            _ => 0,
        }
    }

    #[test]
    fn values_are_counted_as_the_nodes_of_the_tree_strings_skipped() {
        for text in [
            "1",
            "[]",
            "{}",
            "[1,2,3]",
            r#"{"a":1,"b":[1,2],"c":{}}"#,
            r#"["a,b]","c{[,"]"#,
            r#"["a\"],",["x"]]"#,
            " [ 1 , [ ] , { \"k\" : [ 2 ] } ] ",
            "[[[[[[0]]]]]]",
        ] {
            let tree: Value = serde_json::from_str(text).expect(text);
            assert_eq!(count_values(text.as_bytes()), nodes(&tree), "{text}");
            assert!(most_values(text.as_bytes()) >= nodes(&tree), "{text}");
            let pretty = serde_json::to_vec_pretty(&tree).expect("pretty");
            assert_eq!(count_values(&pretty), nodes(&tree), "{text}, pretty");
        }
    }

    #[test]
    fn a_payload_with_more_values_than_the_limit_is_refused_before_it_is_parsed() {
        let limits = Limits {
            max_values: 3,
            ..Limits::default()
        };
        assert!(decode::<Value>(b"[0,0]", limits).is_ok());
        assert_eq!(
            decode::<Value>(b"[0,0,0]", limits).map(|_| ()),
            Err(DecodeError::TooManyValues { limit: 3, count: 4 })
        );
        // Inside a frame, counted on the decompressed text.
        let frame = encode(&json!([0, 0, 0]), Compression::ZSTD).expect("frame");
        assert!(matches!(
            decode::<Value>(&frame, limits),
            Err(DecodeError::TooManyValues { count: 4, .. })
        ));
        // On the text path too: a canonical copy and a canonical new payload.
        let current = Json::canonical(b"[0,0]".to_vec());
        assert!(matches!(
            decode_and_diff::<Value>(&current, b"[0,0,0]", limits),
            Err(DecodeError::TooManyValues { .. })
        ));
    }

    #[test]
    fn a_payload_that_differs_in_more_places_than_a_batch_carries_is_one_root_change() {
        // Too many changes.
        let many: Vec<u32> = (0..crate::diff::BATCH.changes as u32 + 1).collect();
        let bytes = serde_json::to_vec(&many).expect("json");
        let current = Json::of_tree(Arc::new(json!([])));
        let decoded =
            decode_and_diff::<Value>(&current, &bytes, Limits::default()).expect("decode");
        assert_eq!(decoded.changes.len(), 1);
        assert!(matches!(
            &decoded.changes[0],
            crate::Change::Modified { path, .. } if path.segments().is_empty()
        ));
    }

    #[test]
    fn changes_under_a_long_key_cost_no_more_than_the_batch_budget() {
        // 100 changes that each copy a 200 KB key would be 20 MB of paths.
        let diffed = |key: &str| {
            let old = json!({ key: vec![0; 100] });
            let new = serde_json::to_vec(&json!({ key: vec![1; 100] })).expect("json");
            let copies = [
                Json::of_tree(Arc::new(old.clone())),
                Json::canonical(serde_json::to_vec(&old).expect("json")),
            ];
            copies.map(|current| {
                decode_and_diff::<Value>(&current, &new, Limits::default())
                    .expect("decode")
                    .changes
            })
        };
        for changes in diffed(&"k".repeat(200_000)) {
            assert_eq!(changes.len(), 1, "one root change");
            assert!(changes[0].path().segments().is_empty());
        }
        for changes in diffed("k") {
            assert_eq!(changes.len(), 100, "a short key: one change per element");
        }
    }

    #[test]
    fn strings_ending_in_a_backslash_and_keys_with_brackets_are_skipped_whole() {
        for text in [r#"["a\\",1]"#, r#"{"{[":1,"]}":[2,3]}"#, r#"["\\\"",{}]"#] {
            let tree: Value = serde_json::from_str(text).expect(text);
            assert_eq!(count_values(text.as_bytes()), nodes(&tree), "{text}");
        }
    }
}
