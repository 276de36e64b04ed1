//! Key paths: where in a JSON value a change happened.

use std::fmt::{self, Write as _};

/// One step of a key path: an object key or an array index.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum PathSegment {
    /// A key of an object.
    Key(String),
    /// An index into an array.
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> PathSegment {
        PathSegment::Key(key.to_string())
    }
}

impl From<String> for PathSegment {
    fn from(key: String) -> PathSegment {
        PathSegment::Key(key)
    }
}

impl From<usize> for PathSegment {
    fn from(index: usize) -> PathSegment {
        PathSegment::Index(index)
    }
}

/// The path from the root of the value to a changed place.
///
/// Serialised as an array of keys and indexes (`["hosts", 2, "name"]`); displayed in jq style
/// (`.hosts[2].name`, `[2].name`, `.` for the root, `["a b"]` for keys that are not identifiers).
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeyPath(Vec<PathSegment>);

impl KeyPath {
    /// The empty path, which names the root.
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// Whether this is the root (no segments).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no segments (same as [`KeyPath::is_root`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a segment.
    pub fn push(&mut self, segment: impl Into<PathSegment>) {
        self.0.push(segment.into());
    }

    /// Removes and returns the last segment.
    pub fn pop(&mut self) -> Option<PathSegment> {
        self.0.pop()
    }

    /// This path with one more segment.
    #[must_use]
    pub fn child(&self, segment: impl Into<PathSegment>) -> KeyPath {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(segment.into());
        KeyPath(segments)
    }

    /// The path without its last segment, or `None` for the root.
    pub fn parent(&self) -> Option<KeyPath> {
        self.0
            .split_last()
            .map(|(_, parent)| KeyPath(parent.to_vec()))
    }

    /// The last segment, or `None` for the root.
    pub fn last(&self) -> Option<&PathSegment> {
        self.0.last()
    }

    /// The segments, to change in place.
    pub(crate) fn segments_mut(&mut self) -> &mut Vec<PathSegment> {
        &mut self.0
    }

    /// The segments, by value.
    pub fn into_segments(self) -> Vec<PathSegment> {
        self.0
    }
}

impl From<Vec<PathSegment>> for KeyPath {
    fn from(segments: Vec<PathSegment>) -> KeyPath {
        KeyPath(segments)
    }
}

impl FromIterator<PathSegment> for KeyPath {
    fn from_iter<I: IntoIterator<Item = PathSegment>>(iter: I) -> KeyPath {
        KeyPath(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a KeyPath {
    type Item = &'a PathSegment;
    type IntoIter = std::slice::Iter<'a, PathSegment>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The CLI's contract prints `+ [2] "firefox*"` and `~ .name ...`: a bracket needs no dot.
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for segment in &self.0 {
            match segment {
                PathSegment::Key(key) if is_identifier(key) => write!(f, ".{key}")?,
                PathSegment::Key(key) => {
                    f.write_str("[")?;
                    write_json_string(f, key)?;
                    f.write_str("]")?;
                }
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes `s` as a JSON string literal, so that quoted keys read back unambiguously.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segments: Vec<PathSegment>) -> KeyPath {
        KeyPath::from(segments)
    }

    #[test]
    fn display() {
        assert_eq!(KeyPath::root().to_string(), ".");
        assert_eq!(
            path(vec!["name".into(), 2.into(), "x".into()]).to_string(),
            ".name[2].x"
        );
        assert_eq!(path(vec![2.into()]).to_string(), "[2]");
        assert_eq!(path(vec![0.into(), 1.into()]).to_string(), "[0][1]");
        assert_eq!(path(vec!["a b".into()]).to_string(), r#"["a b"]"#);
        assert_eq!(
            path(vec!["a".into(), "a b".into(), "_c9".into()]).to_string(),
            r#".a["a b"]._c9"#
        );
        assert_eq!(path(vec!["".into()]).to_string(), r#"[""]"#);
        assert_eq!(path(vec!["9lives".into()]).to_string(), r#"["9lives"]"#);
        assert_eq!(
            path(vec!["q\"\\\n\u{1}é".into()]).to_string(),
            r#"["q\"\\\n\u0001é"]"#
        );
    }

    #[test]
    fn building() {
        let mut p = KeyPath::root();
        assert!(p.is_root() && p.is_empty());
        p.push("a");
        p.push(3);
        assert_eq!(p.len(), 2);
        assert_eq!(p.last(), Some(&PathSegment::Index(3)));
        assert_eq!(p.parent(), Some(path(vec!["a".into()])));
        assert_eq!(p.child("b").segments(), &["a".into(), 3.into(), "b".into()]);
        assert_eq!(p.pop(), Some(PathSegment::Index(3)));
        assert_eq!(KeyPath::root().parent(), None);
        let collected: KeyPath = vec![PathSegment::from("x"), PathSegment::from(1)]
            .into_iter()
            .collect();
        assert_eq!(collected.to_string(), ".x[1]");
        assert_eq!((&collected).into_iter().count(), 2);
        assert_eq!(collected.into_segments().len(), 2);
    }

    #[test]
    fn serde_form() {
        let p = path(vec!["hosts".into(), 2.into(), "name".into()]);
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(json, r#"["hosts",2,"name"]"#);
        let back: Result<KeyPath, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(p));
    }
}
