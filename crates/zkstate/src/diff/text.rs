//! The diff of two JSON *texts* that differ in one place, without parsing either whole.
//!
//! A change to a large state usually touches one small part of it: one record of thousands.
//! Parsing both texts into trees to find that part costs milliseconds for a megabyte, almost
//! all of it allocation. When the old text is *canonical* (exactly `serde_json::to_vec` of its
//! tree: what zkstate writes), [`diff_texts`] finds the part instead:
//!
//! 1. the common prefix and suffix of the two texts (memory comparisons);
//! 2. the innermost object or array of the old text whose brackets lie in the common prefix and
//!    suffix, by a scan of the old text's structure up to that container's end (which allocates
//!    only its stack of open containers);
//! 3. that container's text in both (for an array, only the elements the change touches, when
//!    there are as many after it): parsed into trees (small), the new one checked canonical
//!    (serialised again, it is the same bytes), diffed with [`diff`](super::diff), the container's
//!    path put in front of every change.
//!
//! Outside the container both texts are the same bytes, so both trees are the same there, and
//! [`diff`](super::diff) recurses through objects key by key and arrays index by index: the changes
//! are exactly those of the whole trees. Canonical text has no duplicate key that could hide a
//! part of it and no other spelling of the same tree, so the new text is canonical in turn and
//! the next change can be diffed the same way.
//!
//! Anything else (not canonical, the change spans most of the text, the root itself changed,
//! nesting near serde_json's limit) answers `None`, and the caller parses both trees.

use serde_json::Value;

use super::{diff_within, path_bytes, Change, PathSegment, BATCH};

/// A part of more than this share of the old text is not worth it: parsing its two versions
/// costs as much as parsing the new text whole.
const MAX_SHARE: usize = 4;

/// The changes from `old` to `new`, when `old` is canonical JSON text and they differ in one
/// object, or in elements of one array, that are small next to the whole; `None` when that
/// cannot be told this way.
///
/// `Some` also vouches for `new`: it is canonical JSON text, serde_json reads it back (what
/// changed is nested no deeper than `max_depth` in all; the rest is `old`'s), and the changes are
/// `diff(old tree, new tree)`.
///
/// `old` must be canonical (`serde_json::to_vec` of its tree) and read back by serde_json (a
/// text it parsed, or one nested no deeper than 128); given other text, the answer is wrong or
/// `None`, never a panic.
pub(crate) fn diff_texts(old: &[u8], new: &[u8], max_depth: usize) -> Option<Vec<Change>> {
    let prefix = common_prefix(old, new);
    if prefix == old.len() && prefix == new.len() {
        return Some(Vec::new());
    }
    // The suffix may not reach into the prefix of the shorter text.
    let suffix = common_suffix(old, new).min(old.len().min(new.len()) - prefix);
    let end_of_change = old.len() - suffix;
    // Where a position of the old text after the change is in the new text.
    let in_new = |at: usize| (at + new.len()).checked_sub(old.len());
    let share = old.len() / MAX_SHARE;

    let mut scan = Scan::new(old);
    scan.run_until(prefix, usize::MAX)?;
    // Which element each open container was at when the change began.
    let at_prefix: Vec<(usize, usize)> = scan
        .frames
        .iter()
        .map(|frame| (frame.index, frame.member_start))
        .collect();
    let depth = scan.run_until(end_of_change, scan.frames.len())?;
    // The innermost container open from before the change until after it.
    let inner = depth.checked_sub(1)?;
    let path: Vec<PathSegment> = scan.frames[..inner]
        .iter()
        .map(|frame| frame.segment(old))
        .collect::<Option<_>>()?;

    // In an array, the elements the change touches, pair by pair: the diff pairs elements by
    // index, so when both arrays have as many, each pair is diffed alone, and the pairs whose
    // bytes are the same have no change.
    if !scan.frames.get(inner)?.object {
        let (first, from) = *at_prefix.get(inner)?;
        let walk = Walk {
            old,
            new,
            end_of_change,
            depth: inner + 1,
            max_depth,
            budget: share,
        };
        if let Some(changes) = walk.elements(from, first) {
            return prefixed(changes, &path);
        }
    }

    // The whole container, when it is small next to the text.
    let start = scan.frames.get(inner)?.open;
    let end = scan.close_of(inner, start.saturating_add(share))?;
    let (old_part, new_part) = parse_parts(
        old.get(start..end)?,
        new.get(start..in_new(end)?)?,
        inner,
        max_depth,
    )?;
    prefixed(diff_within(&old_part, &new_part, BATCH)?, &path)
}

/// Parses the two versions of a part that lies `depth` containers deep; `None` unless both
/// parse and the new one is canonical and not nested deeper than `max_depth` in all.
fn parse_parts(old: &[u8], new: &[u8], depth: usize, max_depth: usize) -> Option<(Value, Value)> {
    if depth + nesting(new) > max_depth {
        return None;
    }
    let old_part: Value = serde_json::from_slice(old).ok()?;
    let new_part: Value = serde_json::from_slice(new).ok()?;
    is_canonical(&new_part, new).then_some((old_part, new_part))
}

fn path_of(change: &mut Change) -> &mut Vec<PathSegment> {
    match change {
        Change::Added { path, .. }
        | Change::Removed { path, .. }
        | Change::Modified { path, .. } => path.segments_mut(),
    }
}

/// `changes` with `path` in front of each of their paths; `None` when that would take them past
/// the batch's [`BATCH`] budget of path bytes (each change copies the prefix).
fn prefixed(mut changes: Vec<Change>, path: &[PathSegment]) -> Option<Vec<Change>> {
    let own: usize = changes
        .iter()
        .map(|c| path_bytes(c.path().segments()))
        .sum();
    let added = changes.len().saturating_mul(path_bytes(path));
    if own.saturating_add(added) > BATCH.path_bytes {
        return None;
    }
    if !path.is_empty() {
        for change in &mut changes {
            let at = path_of(change);
            at.splice(0..0, path.iter().cloned());
        }
    }
    Some(changes)
}

/// Elements of one array, paired by index in the old and the new text.
struct Walk<'a> {
    old: &'a [u8],
    new: &'a [u8],
    /// Where the common suffix starts in the old text.
    end_of_change: usize,
    /// How many containers hold an element.
    depth: usize,
    max_depth: usize,
    /// At most this many bytes of differing elements are parsed.
    budget: usize,
}

impl Walk<'_> {
    /// The changes from the element at `from` (both texts; index `first`) on, until the rest of
    /// both texts is their common suffix. `None` when the arrays have a different number of
    /// elements, an element does not parse or is not canonical, or the budget runs out.
    fn elements(&self, from: usize, first: usize) -> Option<Vec<Change>> {
        let (old, new) = (self.old, self.new);
        // First the pairs that differ, by their bytes alone (nothing parsed if the counts or the
        // budget say no), then each of them parsed and diffed.
        let mut differ = Vec::new();
        let (mut o, mut n, mut index, mut bytes) = (from, from, first, 0usize);
        loop {
            let (old_end, new_end) = (value_end(old, o)?, value_end(new, n)?);
            if old.get(o..old_end)? != new.get(n..new_end)? {
                bytes += (old_end - o) + (new_end - n);
                if bytes > self.budget {
                    return None;
                }
                differ.push((o..old_end, n..new_end, index));
            }
            // From here on both texts are the common suffix: nothing else changed.
            if old_end >= self.end_of_change
                && (old_end + new.len()).checked_sub(old.len()) == Some(new_end)
            {
                break;
            }
            match (old.get(old_end)?, new.get(new_end)?) {
                (b',', b',') => (o, n, index) = (old_end + 1, new_end + 1, index + 1),
                _ => return None,
            }
        }
        let mut changes = Vec::new();
        let mut spent = 0usize;
        for (old_range, new_range, index) in differ {
            let (a, b) = parse_parts(
                old.get(old_range)?,
                new.get(new_range)?,
                self.depth,
                self.max_depth,
            )?;
            for mut change in diff_within(&a, &b, BATCH)? {
                path_of(&mut change).insert(0, PathSegment::Index(index));
                spent = spent.saturating_add(path_bytes(change.path().segments()));
                changes.push(change);
            }
            if changes.len() > BATCH.changes || spent > BATCH.path_bytes {
                return None;
            }
        }
        Some(changes)
    }
}

/// Where the JSON value that starts at `start` ends (canonical text: no whitespace).
fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'"' => string_end(text, start),
        b'{' | b'[' => {
            let (mut depth, mut at) = (0usize, start);
            loop {
                match text.get(at)? {
                    b'"' => at = string_end(text, at)?,
                    b'{' | b'[' => {
                        depth += 1;
                        at += 1;
                    }
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        at += 1;
                        if depth == 0 {
                            return Some(at);
                        }
                    }
                    _ => at += 1,
                }
            }
        }
        _ => {
            let len = text[start..]
                .iter()
                .position(|b| matches!(b, b',' | b']' | b'}'))
                .unwrap_or(text.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

/// Where the string whose quote is at `start` ends (after its closing quote).
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        match text.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

/// Whether `text` is exactly `serde_json::to_vec(tree)`; stops at the first byte that differs.
pub(crate) fn is_canonical(tree: &Value, text: &[u8]) -> bool {
    /// Compares what is written with the expected bytes instead of keeping it.
    struct Compare<'a>(&'a [u8]);

    impl std::io::Write for Compare<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            match self.0.strip_prefix(bytes) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(bytes.len())
                }
                None => Err(std::io::ErrorKind::InvalidData.into()),
            }
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut rest = Compare(text);
    serde_json::to_writer(&mut rest, tree).is_ok() && rest.0.is_empty()
}

/// The bytes of a JSON text that are not inside a string: a string shows as its opening quote
/// only (escapes are followed, so `"a\\"` ends where it should).
pub(crate) fn outside_strings(text: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let (mut in_string, mut escaped) = (false, false);
    text.iter().copied().filter(move |&byte| {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            return false;
        }
        in_string = byte == b'"';
        true
    })
}

/// How deeply arrays and objects nest in a JSON text (brackets inside strings do not count).
pub(crate) fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for byte in outside_strings(text) {
        match byte {
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

/// The length of the longest common prefix, compared a block at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + BLOCK <= len && a[at..at + BLOCK] == b[at..at + BLOCK] {
        at += BLOCK;
    }
    at + a[at..len]
        .iter()
        .zip(&b[at..len])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of the longest common suffix, compared a block at a time.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let len = a.len().min(b.len());
    let (a, b) = (&a[a.len() - len..], &b[b.len() - len..]);
    let mut from = len;
    while from >= BLOCK && a[from - BLOCK..from] == b[from - BLOCK..from] {
        from -= BLOCK;
    }
    (len - from)
        + a[..from]
            .iter()
            .rev()
            .zip(b[..from].iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
}

/// An object or array open at the scan's position.
struct Frame {
    /// Where its bracket is.
    open: usize,
    object: bool,
    /// The last key seen, quotes included: the key of the member being read.
    key: (usize, usize),
    /// The element being read, for an array.
    index: usize,
    /// Where the member or element being read starts (after the bracket or the comma).
    member_start: usize,
}

impl Frame {
    /// The path step from this container into the member or element being read.
    fn segment(&self, text: &[u8]) -> Option<PathSegment> {
        if self.object {
            let key: String = serde_json::from_slice(text.get(self.key.0..self.key.1)?).ok()?;
            Some(PathSegment::Key(key))
        } else {
            Some(PathSegment::Index(self.index))
        }
    }
}

/// A forward scan of a JSON text's structure: which containers are open, at which member.
/// Trusts the text to be JSON (it was parsed before); on text that is not, it stops with `None`
/// or gives a wrong frame, which the caller's parse of the container then refuses.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
    frames: Vec<Frame>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a [u8]) -> Scan<'a> {
        Scan {
            text,
            at: 0,
            frames: Vec::new(),
        }
    }

    /// Reads every token that starts before `until`; returns the least number of open
    /// containers after any of them closed (and `least` if none went below it).
    fn run_until(&mut self, until: usize, mut least: usize) -> Option<usize> {
        while self.at < until.min(self.text.len()) {
            self.token()?;
            least = least.min(self.frames.len());
        }
        Some(least)
    }

    /// Reads on until the container `index` closes; returns the position after its bracket.
    /// `None` past `limit`.
    fn close_of(&mut self, index: usize, limit: usize) -> Option<usize> {
        while self.frames.len() > index {
            if self.at >= limit || self.at >= self.text.len() {
                return None;
            }
            self.token()?;
        }
        Some(self.at)
    }

    /// Reads one token (a string whole, else one byte).
    fn token(&mut self) -> Option<()> {
        let text = self.text;
        let at = self.at;
        match text[at] {
            b'"' => {
                self.at = string_end(text, at)?;
                if text.get(self.at) == Some(&b':') {
                    self.frames.last_mut()?.key = (at, self.at);
                }
            }
            open @ (b'{' | b'[') => {
                self.frames.push(Frame {
                    open: at,
                    object: open == b'{',
                    key: (0, 0),
                    index: 0,
                    member_start: at + 1,
                });
                self.at += 1;
            }
            b'}' | b']' => {
                self.frames.pop()?;
                self.at += 1;
            }
            b',' => {
                if let Some(frame) = self.frames.last_mut() {
                    frame.index += 1;
                    frame.member_start = at + 1;
                }
                self.at += 1;
            }
            _ => self.at += 1,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::diff;
    use super::*;

    fn texts(old: &Value, new: &Value) -> (Vec<u8>, Vec<u8>) {
        (
            serde_json::to_vec(old).expect("json"),
            serde_json::to_vec(new).expect("json"),
        )
    }

    /// The text diff of `old` to `new`, which must answer, and answer the trees' diff.
    fn diffed_as_text(old: &Value, new: &Value) -> Vec<Change> {
        let (a, b) = texts(old, new);
        let changes = diff_texts(&a, &b, 100).expect("diffed as text");
        assert_eq!(changes, diff(old, new));
        changes
    }

    fn records(n: usize) -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"id": i, "name": format!("svc-{i}"), "tags": ["a", "b"], "n": 0}))
                .collect(),
        )
    }

    #[test]
    fn a_change_inside_one_record_is_diffed_as_text() {
        let old = records(100);
        let mut new = old.clone();
        new[57]["n"] = json!(1);
        new[57]["tags"][1] = json!("c");
        let changes = diffed_as_text(&old, &new);
        assert_eq!(changes[0].path().to_string(), "[57].n");
    }

    #[test]
    fn changes_to_several_elements_of_a_large_array_diff_only_those_elements() {
        let old = records(100);
        let mut new = old.clone();
        new[3]["n"] = json!(1);
        new[9]["tags"] = json!([]);
        let changes = diffed_as_text(&old, &new);
        assert_eq!(changes[0].path().to_string(), "[3].n");

        // Deeper: the array is a member, its path in front.
        let old = json!({"list": records(100), "v": 1});
        let mut new = old.clone();
        new["list"][40]["id"] = json!("x");
        new["list"][41]["id"] = json!("y");
        let changes = diffed_as_text(&old, &new);
        assert_eq!(changes[1].path().to_string(), ".list[41].id");

        // The first and the last record: the pairs between are the same bytes, not parsed.
        let old = records(100);
        let mut new = old.clone();
        new[0]["n"] = json!(1);
        new[99]["name"] = json!("last");
        let changes = diffed_as_text(&old, &new);
        assert_eq!(changes[1].path().to_string(), "[99].name");
    }

    #[test]
    fn an_element_inserted_into_a_large_array_is_left_to_the_trees() {
        // Every later element moves: the diff pairs by index, so only the whole array tells.
        let old = records(100);
        let mut new = old.clone();
        new.as_array_mut()
            .expect("array")
            .insert(50, json!({"id": "new"}));
        let (a, b) = texts(&old, &new);
        assert_eq!(diff_texts(&a, &b, 100), None);
        // In a small array, the array is diffed whole.
        let old = json!({"small": [1, 2, 3], "pad": records(40)});
        let mut new = old.clone();
        new["small"]
            .as_array_mut()
            .expect("array")
            .insert(1, json!(9));
        diffed_as_text(&old, &new);
    }

    #[test]
    fn keys_with_escapes_and_brackets_in_strings_do_not_confuse_the_scan() {
        let old = json!({
            "a\"]}": {"x": "[[{\"", "y": [1, 2]},
            "b\\": [{"q": "}}]]\\"}, {"q": "]"}],
            "c": (0..50).map(|i| json!({"v": i})).collect::<Vec<_>>(),
        });
        let mut new = old.clone();
        new["b\\"][1]["q"] = json!("[");
        let changes = diffed_as_text(&old, &new);
        assert_eq!(changes[0].path().to_string(), r#"["b\\"][1].q"#);
    }

    #[test]
    fn numbers_that_grow_and_elements_added_at_the_end_are_found() {
        let old = json!({"list": [{"n": 12}, {"n": 5}], "pad": records(20)});
        let mut new = old.clone();
        new["list"][0]["n"] = json!(123);
        diffed_as_text(&old, &new);

        let mut new = old.clone();
        new["list"]
            .as_array_mut()
            .expect("array")
            .push(json!({"n": 6}));
        diffed_as_text(&old, &new);
    }

    #[test]
    fn a_change_of_the_root_or_most_of_the_text_is_left_to_the_trees() {
        let (a, b) = texts(&json!([1, 2]), &json!({"a": 1}));
        assert_eq!(diff_texts(&a, &b, 100), None);
        let (a, b) = texts(&json!(1), &json!(2));
        assert_eq!(diff_texts(&a, &b, 100), None);
        // Every record changes: more than a quarter of the text to parse.
        let old = records(40);
        let mut new = old.clone();
        for i in 0..40 {
            new[i]["n"] = json!(1);
        }
        let (a, b) = texts(&old, &new);
        assert_eq!(diff_texts(&a, &b, 100), None);
    }

    #[test]
    fn equal_texts_have_no_changes() {
        let (a, _) = texts(&records(3), &json!(null));
        assert_eq!(diff_texts(&a, &a, 100), Some(Vec::new()));
    }

    #[test]
    fn new_text_that_is_not_canonical_or_not_json_is_refused() {
        let old = json!({"a": {"b": 1}, "pad": records(20)});
        let a = serde_json::to_vec(&old).expect("json");
        let spaced =
            String::from_utf8(a.clone())
                .expect("utf8")
                .replacen(r#"{"b":1}"#, r#"{"b": 2}"#, 1);
        assert_eq!(diff_texts(&a, spaced.as_bytes(), 100), None);
        let duplicate = String::from_utf8(a.clone()).expect("utf8").replacen(
            r#"{"b":1}"#,
            r#"{"b":1,"b":2}"#,
            1,
        );
        assert_eq!(diff_texts(&a, duplicate.as_bytes(), 100), None);
        let broken =
            String::from_utf8(a.clone())
                .expect("utf8")
                .replacen(r#"{"b":1}"#, r#"{"b":1e400}"#, 1);
        assert_eq!(diff_texts(&a, broken.as_bytes(), 100), None);
        let truncated = &a[..a.len() - 1];
        assert_eq!(diff_texts(&a, truncated, 100), None);
    }

    #[test]
    fn a_change_that_nests_too_deep_is_left_to_the_trees() {
        let old = json!({"a": {"b": 1}, "pad": records(20)});
        let mut deep = json!(1);
        for _ in 0..10 {
            deep = json!([deep]);
        }
        let mut new = old.clone();
        new["a"]["b"] = deep;
        let (a, b) = texts(&old, &new);
        assert_eq!(diff_texts(&a, &b, 8), None);
        assert_eq!(diff_texts(&a, &b, 100), Some(diff(&old, &new)));
    }

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting(b"1"), 0);
        assert_eq!(nesting(br#"{"a":[1,{"b":[]}],"c":"[[[{\"]]"}"#), 4);
        assert_eq!(nesting(br#"["\\",[2]]"#), 2);
    }

    #[test]
    fn canonical_means_the_same_bytes() {
        let tree = json!({"b": [1, 2.5, "x"], "a": null});
        let text = serde_json::to_vec(&tree).expect("json");
        assert!(is_canonical(&tree, &text));
        assert!(!is_canonical(&tree, &text[..text.len() - 1]));
        assert!(!is_canonical(&tree, br#"{"a": null,"b":[1,2.5,"x"]}"#));
        let mut longer = text.clone();
        longer.push(b' ');
        assert!(!is_canonical(&tree, &longer));
    }

    #[test]
    fn garbage_never_panics() {
        let old = serde_json::to_vec(&records(10)).expect("json");
        for new in [
            &b""[..],
            b"[",
            b"]]]]",
            b"\"",
            b"[{\"a\\",
            &old[..old.len() / 2],
        ] {
            let _ = diff_texts(&old, new, 100);
            let _ = diff_texts(new, &old, 100);
        }
    }
}
