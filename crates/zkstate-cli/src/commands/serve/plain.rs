//! A state followed without `ZkState`: the payload read with a data watch and read again each
//! time the watch fires. Used with writes off for a state whose layout lacks `listeners`,
//! `lock` or `writers`, because opening a `ZkState` creates what is missing and the library has
//! no open that creates nothing. Creates no node; registers no listener.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use zkstate::Connection;
use zookeeper_client::{OneshotWatcher, Stat};

use super::error::{ApiError, ApiResult};
use super::frames::{frame, Item};

/// The pause before reading again after a failed read (a lost session, a timeout).
const RETRY: Duration = Duration::from_secs(1);

/// The value last read, and what the state page shows of it.
#[derive(Clone, Debug)]
pub struct Copy {
    /// The last value that decoded.
    pub value: Arc<Value>,
    /// The version of `value`.
    pub version: i32,
    pub mzxid: i64,
    pub czxid: i64,
    pub size: i32,
    pub mtime_ms: i64,
    /// Why the payload now stored does not decode, or is gone.
    pub fault: Option<String>,
}

/// What one read found.
enum Read {
    Data(Vec<u8>, Stat, OneshotWatcher),
    /// No payload; the watcher fires when one is created.
    Missing(OneshotWatcher),
}

async fn read_once(conn: &Connection, payload: &str, timeout: Duration) -> ApiResult<Read> {
    let client = conn
        .wait_connected(timeout)
        .await
        .map_err(|err| ApiError::new(StatusCode::GATEWAY_TIMEOUT, err))?;
    loop {
        match zkstate::within(
            "reading",
            payload,
            timeout,
            client.get_and_watch_data(payload),
        )
        .await
        {
            Ok((data, stat, watcher)) => return Ok(Read::Data(data, stat, watcher)),
            Err(zkstate::Error::Missing { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        match zkstate::within(
            "reading",
            payload,
            timeout,
            client.check_and_watch_stat(payload),
        )
        .await?
        {
            (None, watcher) => return Ok(Read::Missing(watcher)),
            // Created again in between: read it.
            (Some(_), _) => continue,
        }
    }
}

/// The first read of `payload`, and the watch that follows it.
///
/// # Errors
/// 404 when there is no payload; 500 when it does not decode; the library's errors otherwise.
pub async fn read(
    conn: &Connection,
    payload: &str,
    timeout: Duration,
) -> ApiResult<(Copy, OneshotWatcher)> {
    let (data, stat, watcher) = match read_once(conn, payload, timeout).await? {
        Read::Data(data, stat, watcher) => (data, stat, watcher),
        Read::Missing(_) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{payload} does not exist"),
            ))
        }
    };
    let value: Value = zkstate::decode_payload(&data).map_err(|err| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "payload {payload} (version {}) does not decode: {err}",
                stat.version
            ),
        )
    })?;
    Ok((
        Copy {
            value: Arc::new(value),
            version: stat.version,
            mzxid: stat.mzxid,
            czxid: stat.czxid,
            size: stat.data_length,
            mtime_ms: stat.mtime,
            fault: None,
        },
        watcher,
    ))
}

/// Reads the payload again each time `watcher` fires, keeps `copy` current and sends each
/// change (with its differences) or fault to every stream. Runs until aborted.
pub async fn follow(
    conn: Connection,
    payload: String,
    timeout: Duration,
    mut watcher: OneshotWatcher,
    copy: watch::Sender<Copy>,
    frames: broadcast::Sender<Item>,
) {
    loop {
        // Any event (a change, a deletion, a lost session) means: read again.
        watcher.changed().await;
        watcher = loop {
            match read_once(&conn, &payload, timeout).await {
                Ok(Read::Data(data, stat, next)) => {
                    apply(&payload, &data, &stat, &copy, &frames);
                    break next;
                }
                Ok(Read::Missing(next)) => {
                    let message = format!("{payload} was deleted; showing its last value");
                    copy.send_modify(|c| c.fault = Some(message.clone()));
                    let _ =
                        frames.send(Item::Frame(frame("fault", &json!({ "message": message }))));
                    break next;
                }
                Err(ApiError(_, body)) => {
                    tracing::debug!(path = %payload, error = %body["error"], "cannot read the payload");
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
    }
}

/// Applies one read: a new value becomes a `change` with its differences, a payload that does
/// not decode a `fault` (the last good value stays).
fn apply(
    payload: &str,
    data: &[u8],
    stat: &Stat,
    copy: &watch::Sender<Copy>,
    frames: &broadcast::Sender<Item>,
) {
    let old = copy.borrow().clone();
    if stat.mzxid == old.mzxid && old.fault.is_none() {
        return;
    }
    match zkstate::decode_payload::<Value>(data) {
        Ok(value) => {
            let changes = zkstate::diff::diff(&old.value, &value);
            let value = Arc::new(value);
            let item = Item::Frame(frame(
                "change",
                &json!({
                    "version": stat.version,
                    "mzxid": stat.mzxid,
                    "origin": "remote",
                    "changes": changes,
                    "value": &*value,
                    "size": stat.data_length,
                    "mtime_ms": stat.mtime,
                }),
            ));
            copy.send_replace(Copy {
                value,
                version: stat.version,
                mzxid: stat.mzxid,
                czxid: stat.czxid,
                size: stat.data_length,
                mtime_ms: stat.mtime,
                fault: None,
            });
            let _ = frames.send(item);
        }
        Err(err) => {
            let message = format!(
                "payload {payload} (version {}) does not decode: {err}",
                stat.version
            );
            copy.send_modify(|c| c.fault = Some(message.clone()));
            let _ = frames.send(Item::Frame(frame("fault", &json!({ "message": message }))));
        }
    }
}
