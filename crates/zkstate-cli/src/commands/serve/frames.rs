//! What a state's follower hands its event streams: SSE frames, serialized once and shared.

use axum::body::Bytes;
use serde_json::Value;

/// How many frames of a state a stream may fall behind before it skips to a fresh snapshot.
/// The frames are shared by every stream of the state: at most this many values are held per
/// state, whatever the number of pages.
pub const STREAM_QUEUE: usize = 16;

/// What the following task hands every stream of the state.
#[derive(Clone, Debug)]
pub enum Item {
    /// A serialized SSE event (`change`, `listeners` or `fault`), shared.
    Frame(Bytes),
    /// The follower itself missed `missed` changes: every stream resyncs from a snapshot.
    Resync { missed: u64 },
}

/// An SSE event: `event: NAME`, one `data:` line of compact JSON (which has no line break).
pub fn frame(name: &str, data: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Writing a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
