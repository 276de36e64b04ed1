//! The payload's JSON as the local copy keeps it: its text, its tree, or both.
//!
//! Every change is diffed against the JSON the copy holds and every update merges into it, so
//! the copy must be able to give the tree. But a tree of `serde_json::Value`s takes about six
//! times its text (a 1 KB payload of records: 6.1 KiB in 93 allocations), and the copy already
//! holds the decoded `T` for `read()`. Below [`TEXT_BELOW`] the text is kept instead and parsed
//! again where a tree is needed, which costs about 4 µs per KB, once per change and once per
//! update.
//!
//! Text that is *canonical* (what zkstate writes: exactly `serde_json::to_vec` of its tree) is
//! kept at every size: the next change is diffed against it as text
//! ([`diff_texts`](crate::diff::text::diff_texts)), which finds the one record that changed in a
//! megabyte without parsing either tree; `T` is read from the new text. The tree of a large
//! payload is kept too when it is at hand (parsing it again would cost milliseconds), and parsed
//! once when first needed when it is not.

use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diff::text::{is_canonical, nesting};
use crate::error::DecodeError;

/// The first four bytes of every zstd frame (RFC 8878, section 3.1.1). JSON text never starts
/// with them, so they tell a compressed payload from a plain one.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Whether stored bytes are a zstd frame (else plain JSON text, which a copy may keep as it is).
pub(crate) fn is_compressed(bytes: &[u8]) -> bool {
    bytes.starts_with(&ZSTD_MAGIC)
}

/// Plain JSON payloads smaller than this keep their text, not their tree. 4 KiB: parsing it
/// again takes ~20 µs, a fiftieth of an update's round trips.
pub(crate) const TEXT_BELOW: usize = 4 * 1024;

/// Text nested deeper than this is not kept unless it was parsed from (a fetched payload): serde_json
/// serialises any depth but parses at most 128 levels, and a text that does not parse back must
/// not be the copy. Diffing texts refuses a new text deeper than this.
pub(crate) const TEXT_DEPTH: usize = 100;

/// The payload as JSON, unknown fields included: what diffs and updates work on.
pub(crate) struct Json {
    /// The text, exactly as stored: kept for a small plain payload, and for a plain payload that
    /// is canonical; `None` when only the tree is kept.
    text: Option<Box<[u8]>>,
    /// Whether `text` is canonical: exactly `serde_json::to_vec` of the tree (what zkstate
    /// writes). The next change is then diffed as text
    /// ([`diff_texts`](crate::diff::text::diff_texts)), and `T` is read from the text: canonical
    /// text has the tree's keys in the tree's order and no duplicate.
    canonical: bool,
    /// The tree: kept from the start when it is at hand and parsing it again would cost more
    /// than keeping it (a payload of [`TEXT_BELOW`] bytes or more), else parsed from the text
    /// the first time [`Json::tree`] is asked for it (by a reader of
    /// [`StateRef::json`](super::StateRef), a subscriber's [`ChangeBatch::value`](super::changes::ChangeBatch::value),
    /// a lagging subscriber's snapshot); [`Json::to_tree`] keeps what it parses only for a large
    /// text.
    tree: OnceLock<Arc<Value>>,
}

impl Json {
    /// Keeps the tree.
    pub(crate) fn of_tree(tree: Arc<Value>) -> Json {
        Json {
            text: None,
            canonical: false,
            tree: OnceLock::from(tree),
        }
    }

    /// Whether a payload stored as these bytes keeps them as its text whatever they hold: plain
    /// JSON (not a zstd frame), under [`TEXT_BELOW`], nested no deeper than serde_json reads back.
    pub(crate) fn keeps_text(stored: &[u8]) -> bool {
        stored.len() < TEXT_BELOW && !is_compressed(stored) && nesting(stored) <= TEXT_DEPTH
    }

    /// A payload read from ZooKeeper: `tree` parsed from `stored`, which is `canonical` or not
    /// (`codec::decode` tells). Keeps the text when it is small ([`Json::keeps_text`]) or
    /// canonical, and the tree when it is large or there is no text.
    pub(crate) fn fetched(tree: Arc<Value>, stored: &[u8], canonical: bool) -> Json {
        if Json::keeps_text(stored) || canonical {
            Json::text_and_tree(stored.to_vec(), canonical, tree)
        } else {
            Json::of_tree(tree)
        }
    }

    /// A payload this process wrote: `stored` is what `codec::encode` made of `tree`, so plain
    /// bytes are canonical; they are kept when they parse back (nested no deeper than
    /// [`TEXT_DEPTH`]).
    pub(crate) fn written(tree: Arc<Value>, stored: Option<Vec<u8>>) -> Json {
        match stored {
            Some(text) if !is_compressed(&text) && nesting(&text) <= TEXT_DEPTH => {
                debug_assert!(is_canonical(&tree, &text));
                Json::text_and_tree(text, true, tree)
            }
            _ => Json::of_tree(tree),
        }
    }

    /// Canonical text whose tree is not parsed yet: what
    /// [`diff_texts`](crate::diff::text::diff_texts) vouched for.
    pub(crate) fn canonical(text: Vec<u8>) -> Json {
        Json {
            text: Some(text.into_boxed_slice()),
            canonical: true,
            tree: OnceLock::new(),
        }
    }

    /// The text, and the tree too when the text is large (parsing it again would cost more).
    fn text_and_tree(text: Vec<u8>, canonical: bool, tree: Arc<Value>) -> Json {
        let keep_tree = text.len() >= TEXT_BELOW;
        Json {
            text: Some(text.into_boxed_slice()),
            canonical,
            tree: if keep_tree {
                OnceLock::from(tree)
            } else {
                OnceLock::new()
            },
        }
    }

    /// The stored text, when kept.
    pub(crate) fn text(&self) -> Option<&[u8]> {
        self.text.as_deref()
    }

    /// The text, when it is canonical: the next change can be diffed against it as text.
    pub(crate) fn canonical_text(&self) -> Option<&[u8]> {
        self.text.as_deref().filter(|_| self.canonical)
    }

    /// The tree, parsed from the text the first time and kept from then on: for callers that
    /// need a reference that lives as long as the snapshot.
    pub(crate) fn tree(&self) -> &Arc<Value> {
        self.tree.get_or_init(|| Arc::new(self.parse()))
    }

    /// The tree, for the writer's diffs and the updates' merges, which need it for a moment:
    /// parsed from a small text each time (not kept, the copy stays small), from a large one
    /// once (kept, it would cost milliseconds each time).
    pub(crate) fn to_tree(&self) -> Arc<Value> {
        match (self.tree.get(), &self.text) {
            (Some(tree), _) => tree.clone(),
            (None, Some(text)) if text.len() >= TEXT_BELOW => self.tree().clone(),
            (None, _) => Arc::new(self.parse()),
        }
    }

    /// `T` from this JSON again, by `codec::decode`'s rule: from canonical text, else from the
    /// tree (`tree`, when the caller has it at hand: it is not parsed again, nor kept).
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        tree: Option<&Value>,
    ) -> Result<T, DecodeError> {
        let result = match (self.canonical_text(), tree) {
            (Some(text), _) => serde_json::from_slice(text),
            (None, Some(tree)) => T::deserialize(tree),
            (None, None) => T::deserialize(&*self.to_tree()),
        };
        result.map_err(|e| DecodeError::Json(e.to_string()))
    }

    /// Whether the tree of a large text is not parsed yet: what an update parses off the
    /// workers before it merges.
    pub(crate) fn lacks_large_tree(&self) -> bool {
        self.tree.get().is_none() && self.text.as_ref().is_some_and(|t| t.len() >= TEXT_BELOW)
    }

    /// The same JSON, its tree not shared: for a small text's change batch, whose subscribers'
    /// parse must not stay in the copy.
    pub(crate) fn detached(&self) -> Json {
        match &self.text {
            Some(text) => Json {
                text: Some(text.clone()),
                canonical: self.canonical,
                tree: OnceLock::new(),
            },
            None => Json::of_tree(self.tree().clone()),
        }
    }

    /// Whether the text is what is kept.
    #[cfg(test)]
    pub(crate) fn holds_text(&self) -> bool {
        self.text.is_some() && self.tree.get().is_none()
    }

    fn parse(&self) -> Value {
        // Text is only kept when it parses back to its tree (the constructors' contract): this
        // does not fail. Were it to, a null tree is a wrong diff, not a crash; the next fetch
        // replaces it.
        self.text
            .as_deref()
            .and_then(|text| serde_json::from_slice(text).ok())
            .unwrap_or(Value::Null)
    }
}

/// Two JSONs are equal when their trees are (the text is parsed if need be).
impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        match (self.canonical_text(), other.canonical_text()) {
            (Some(a), Some(b)) => a == b,
            _ => self.tree() == other.tree(),
        }
    }
}

/// Shows the tree (the text is parsed if need be).
impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.tree().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(text: &[u8]) -> Arc<Value> {
        Arc::new(serde_json::from_slice(text).expect("json"))
    }

    #[test]
    fn a_small_plain_payload_keeps_its_text_and_gives_the_same_tree() {
        // Not canonical (a space): kept as text all the same, but not diffed as text.
        let text = br#"{"a":[1,2,{"b":"c"}], "z":null}"#;
        let tree = parsed(text);
        let json = Json::fetched(tree.clone(), text, false);
        assert_eq!(json.text(), Some(&text[..]));
        assert_eq!(json.canonical_text(), None);
        assert!(json.tree.get().is_none(), "no tree kept until asked for");
        assert_eq!(json.to_tree(), tree);
        assert!(
            json.tree.get().is_none(),
            "to_tree does not keep what it parsed"
        );
        assert_eq!(json.tree(), &tree);
        assert!(json.tree.get().is_some(), "tree() keeps it");
    }

    #[test]
    fn canonical_text_is_kept_at_every_size_with_a_large_tree_when_at_hand() {
        let small = br#"{"a":[1,2,{"b":"c"}],"z":null}"#;
        let json = Json::fetched(parsed(small), small, true);
        assert_eq!(json.canonical_text(), Some(&small[..]));
        assert!(json.holds_text());

        let big = serde_json::to_vec(&json!({"blob": "x".repeat(TEXT_BELOW)})).expect("json");
        let json = Json::fetched(parsed(&big), &big, true);
        assert_eq!(json.canonical_text(), Some(&big[..]));
        assert!(json.tree.get().is_some(), "a large tree at hand is kept");

        let json = Json::canonical(big.clone());
        assert!(json.tree.get().is_none());
        let tree = json.to_tree();
        assert!(
            Arc::ptr_eq(&tree, json.tree()),
            "a large text is parsed once"
        );
        assert_eq!(json.decode::<Value>(None), Ok((*tree).clone()));
    }

    #[test]
    fn a_large_payload_that_is_not_canonical_or_is_compressed_keeps_its_tree() {
        let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(TEXT_BELOW));
        let json = Json::fetched(parsed(big.as_bytes()), big.as_bytes(), false);
        assert_eq!(json.text(), None);
        assert_eq!(json.tree()["blob"].as_str().map(str::len), Some(TEXT_BELOW));

        // A zstd frame keeps the tree; so does a write whose bytes are not at hand.
        let frame = zstd::bulk::compress(b"[1]", 3).expect("frame");
        assert!(!Json::keeps_text(&frame));
        let json = Json::fetched(Arc::new(json!([1])), &frame, false);
        assert_eq!(json.text(), None);
        assert_eq!(*json.to_tree(), json!([1]));
        let json = Json::written(Arc::new(json!([1])), Some(frame));
        assert_eq!(json.text(), None);
        assert_eq!(Json::written(Arc::new(json!([1])), None).text(), None);
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
        let json = Json::written(Arc::new(deep.clone()), Some(text));
        assert!(json.text.is_none(), "the tree is kept");
        assert_eq!(**json.tree(), deep);
    }
}
