//! The payload's JSON as the local copy keeps it: the tree, or for a small plain payload the text
//! it was parsed from.
//!
//! Every change is diffed against the JSON the copy holds and every update merges into it, so
//! the copy must be able to give the tree. But a tree of `serde_json::Value`s takes about six
//! times its text (a 1 KB payload of records: 6.1 KiB in 93 allocations), and the copy already
//! holds the decoded `T` for `read()`. Below [`TEXT_BELOW`] the text is kept instead and parsed
//! again where a tree is needed, which costs about 4 µs per KB, once per change and once per
//! update. Above it the tree is kept: parsing again would cost milliseconds on every change.

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::codec;

/// Plain JSON payloads smaller than this keep their text, not their tree. 4 KiB: parsing it
/// again takes ~20 µs, a fiftieth of an update's round trips.
pub(crate) const TEXT_BELOW: usize = 4 * 1024;

/// Text nested deeper than this keeps its tree: serde_json serialises any depth but parses at
/// most 128 levels, and a text that does not parse back must not be the copy.
const TEXT_DEPTH: usize = 100;

/// The payload as JSON, unknown fields included: what diffs and updates work on.
#[derive(Debug)]
pub(crate) struct Json {
    /// The text of a small plain payload, exactly as stored; `None` when the tree is kept.
    text: Option<Box<[u8]>>,
    /// The tree: kept from the start when there is no text, else parsed from the text the first
    /// time [`Json::tree`] is asked for it (by a reader of [`StateRef::json`](super::StateRef),
    /// or a lagging subscriber's snapshot); [`Json::to_tree`] does not keep what it parses.
    tree: OnceLock<Arc<Value>>,
}

impl Json {
    /// Keeps the tree.
    pub(crate) fn of_tree(tree: Arc<Value>) -> Json {
        Json {
            text: None,
            tree: OnceLock::from(tree),
        }
    }

    /// Whether a payload stored as these bytes keeps them as its text ([`Json::kept`]): plain
    /// JSON (not a zstd frame), under [`TEXT_BELOW`], nested no deeper than serde_json reads back.
    pub(crate) fn keeps_text(stored: &[u8]) -> bool {
        stored.len() < TEXT_BELOW && !codec::is_compressed(stored) && nesting(stored) <= TEXT_DEPTH
    }

    /// `tree` and the bytes it is `stored` as, when at hand: the bytes alone are kept when
    /// [`Json::keeps_text`] says so, the tree otherwise.
    ///
    /// The bytes must be `tree` as stored: parsed into it (a fetched payload), or serialised from
    /// it (a payload this process wrote; serde_json's `float_roundtrip` makes every number parse
    /// back to itself, and the depth check keeps out text that would not parse back).
    pub(crate) fn kept(tree: Arc<Value>, stored: Option<Vec<u8>>) -> Json {
        match stored {
            Some(text) if Json::keeps_text(&text) => Json {
                text: Some(text.into_boxed_slice()),
                tree: OnceLock::new(),
            },
            _ => Json::of_tree(tree),
        }
    }

    /// The tree, parsed from the text the first time and kept from then on: for callers that
    /// need a reference that lives as long as the snapshot.
    pub(crate) fn tree(&self) -> &Arc<Value> {
        self.tree.get_or_init(|| Arc::new(self.parse()))
    }

    /// The tree, without keeping it when it has to be parsed: for the writer's diffs and the
    /// updates' merges, which need it for a moment.
    pub(crate) fn to_tree(&self) -> Arc<Value> {
        match self.tree.get() {
            Some(tree) => tree.clone(),
            None => Arc::new(self.parse()),
        }
    }

    /// Whether the text is what is kept.
    #[cfg(test)]
    pub(crate) fn holds_text(&self) -> bool {
        self.text.is_some() && self.tree.get().is_none()
    }

    fn parse(&self) -> Value {
        // The text is only kept when it parses back to its tree (`kept`'s contract): this does
        // not fail. Were it to, a null tree is a wrong diff, not a crash; the next fetch
        // replaces it.
        self.text
            .as_deref()
            .and_then(|text| serde_json::from_slice(text).ok())
            .unwrap_or(Value::Null)
    }
}

/// How deeply arrays and objects nest in a JSON text (brackets inside strings do not count).
fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_small_plain_payload_keeps_its_text_and_gives_the_same_tree() {
        let text = br#"{"a":[1,2,{"b":"c"}],"z":null}"#.to_vec();
        let tree: Value = serde_json::from_slice(&text).expect("json");
        let json = Json::kept(Arc::new(tree.clone()), Some(text));
        assert!(json.text.is_some());
        assert!(json.tree.get().is_none(), "no tree kept until asked for");
        assert_eq!(*json.to_tree(), tree);
        assert!(
            json.tree.get().is_none(),
            "to_tree does not keep what it parsed"
        );
        assert_eq!(**json.tree(), tree);
        assert!(json.tree.get().is_some(), "tree() keeps it");
    }

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting(b"1"), 0);
        assert_eq!(nesting(br#"{"a":[1,{"b":[]}],"c":"[[[{\"]]"}"#), 4);
        assert_eq!(nesting(br#"["\\",[2]]"#), 2);
    }

    #[test]
    fn text_that_would_not_parse_back_keeps_its_tree() {
        // serde_json writes any depth but reads at most 128 levels.
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let text = serde_json::to_vec(&deep).expect("serialises");
        assert!(text.len() < TEXT_BELOW);
        assert!(serde_json::from_slice::<Value>(&text).is_err());
        let json = Json::kept(Arc::new(deep.clone()), Some(text));
        assert!(json.text.is_none(), "the tree is kept");
        assert_eq!(**json.tree(), deep);
    }

    #[test]
    fn a_large_or_compressed_payload_keeps_its_tree() {
        let big = json!({"blob": "x".repeat(TEXT_BELOW)});
        let text = serde_json::to_vec(&big).expect("json");
        let json = Json::kept(Arc::new(big.clone()), Some(text));
        assert!(json.text.is_none());
        assert_eq!(**json.tree(), big);

        // A zstd frame keeps the tree; so does a payload whose bytes are not at hand.
        let frame = codec::encode(&json!([1]), codec::Compression::ZSTD).expect("frame");
        assert!(!Json::keeps_text(&frame));
        let json = Json::kept(Arc::new(json!([1])), Some(frame));
        assert!(json.text.is_none());
        assert_eq!(*json.to_tree(), json!([1]));
        assert!(Json::kept(Arc::new(json!([1])), None).text.is_none());
    }
}
