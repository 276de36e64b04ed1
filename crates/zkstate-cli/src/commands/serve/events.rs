//! `GET /api/states/{dir}/events`: the live stream of one state, as Server-Sent Events.
//!
//! A snapshot first (on every connection: a reconnecting page resyncs from it; dropped once
//! sent), then the state's frames as the follower serialized them (shared, see
//! [`super::watched`]), and a keep-alive comment every [`KEEPALIVE`]. The stream is polled only
//! as fast as the client reads: a client more than [`STREAM_QUEUE`](super::watched::STREAM_QUEUE)
//! frames behind gets `lagged` (`{"missed"}`) and a fresh snapshot instead of the frames it
//! missed. At most `--max-streams` streams are open at once; past that a new one gets 503.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tokio::time::{Interval, MissedTickBehavior};

use super::app::App;
use super::error::ApiError;
use super::frames::{frame, Item};
use super::watched::Watched;

/// How often an idle stream sends a comment, so that proxies and the browser keep it open.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// One open stream.
struct Open {
    app: Arc<App>,
    dir: String,
    watched: Arc<Watched>,
    frames: broadcast::Receiver<Item>,
    /// The snapshot (and its fault) not yet sent.
    first: Option<Bytes>,
    keepalive: Interval,
    /// This stream's place under `--max-streams`, given back on drop.
    _permit: OwnedSemaphorePermit,
}

impl Drop for Open {
    fn drop(&mut self) {
        // The state stays open for the idle time from the last page that watched it.
        self.watched.touch();
    }
}

/// The frames of a snapshot: `snapshot`, and `fault` when the stored value does not decode.
fn snapshot_frames(snapshot: &Value) -> Bytes {
    let mut out = frame("snapshot", snapshot).to_vec();
    if let Some(fault) = snapshot["fault"].as_str() {
        out.extend_from_slice(&frame("fault", &json!({ "message": fault })));
    }
    Bytes::from(out)
}

impl Open {
    /// The next chunk of the body; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        tokio::select! {
            _ = self.app.stopping.cancelled() => None,
            item = self.frames.recv() => match item {
                Ok(Item::Frame(bytes)) => Some(bytes),
                Ok(Item::Resync { missed }) | Err(RecvError::Lagged(missed)) => {
                    Some(self.resync(missed).await)
                }
                Err(RecvError::Closed) => None,
            },
            _ = self.keepalive.tick() => Some(Bytes::from_static(b":\n\n")),
        }
    }

    /// `lagged`, then a fresh snapshot: the frames still queued are skipped (the receiver
    /// starts again after the newest), so nothing falls between the snapshot and what follows.
    async fn resync(&mut self, missed: u64) -> Bytes {
        self.frames = self.frames.resubscribe();
        let mut out = frame("lagged", &json!({ "missed": missed })).to_vec();
        match self.app.snapshot(&self.dir, &self.watched).await {
            Ok(snapshot) => out.extend_from_slice(&snapshot_frames(&snapshot)),
            Err(ApiError(_, body)) => {
                out.extend_from_slice(&frame("fault", &json!({ "message": body["error"] })));
            }
        }
        Bytes::from(out)
    }
}

/// The refusal of a stream past `--max-streams`.
fn too_many(max: usize) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(json!({
            "error": format!(
                "too many event streams open ({max}, --max-streams): close a page or try again later"
            ),
        })),
    )
        .into_response()
}

pub async fn events(State(app): State<Arc<App>>, Path(raw): Path<String>) -> Response {
    let dir = match app.dir(&raw) {
        Ok(dir) => dir,
        Err(err) => return err.into_response(),
    };
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        return too_many(app.max_streams);
    };
    let watched = match app.watched(&dir).await {
        Ok(watched) => watched,
        Err(err) => return err.into_response(),
    };
    // Subscribed before the snapshot: nothing falls between (the page drops what it has).
    let frames = watched.subscribe();
    let snapshot = match app.snapshot(&dir, &watched).await {
        Ok(snapshot) => snapshot,
        Err(err) => return err.into_response(),
    };
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let open = Open {
        first: Some(snapshot_frames(&snapshot)),
        app,
        dir,
        watched,
        frames,
        keepalive,
        _permit: permit,
    };
    let body = futures::stream::unfold(open, |mut open| async move {
        let chunk = open.next().await?;
        Some((Ok::<_, Infallible>(chunk), open))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}
