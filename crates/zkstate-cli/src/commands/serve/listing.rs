//! `GET /api/states`: every state under the root, with what the index shows.
//!
//! The tree is walked as `zkstate ls` walks it ([`ls::listing`]); a node under the root that this
//! client may not list (a ZooKeeper ACL that denies it, `NoAuth`) is answered as a row
//! `{"dir", "unreadable": true, "error"}` and the walk goes on. Then the
//! version and rollout of each state are read, at most [`STATES_CONCURRENCY`] states at a time:
//! a tree of thousands of states does not start thousands of rollouts at once.

use axum::extract::State;
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;

use super::app::App;
use super::error::{listing_error, ApiResult};
use crate::commands::{ls, payload_path};

/// How many states `/api/states` reads (stat and rollout) at a time.
pub const STATES_CONCURRENCY: usize = 16;

/// What the walk found, in path order.
enum Found {
    State(String),
    /// A node under the root that cannot be listed: a state or not, nobody here can tell.
    Unreadable(String),
}

impl Found {
    fn path(&self) -> &str {
        match self {
            Found::State(path) | Found::Unreadable(path) => path,
        }
    }
}

/// The index row of one state.
async fn row(app: &App, client: &zookeeper_client::Client, dir: &str) -> Value {
    let payload = payload_path(dir);
    let (status, stat) = futures::join!(
        zkstate::rollout(&app.conn, dir, None),
        zkstate::within(
            "reading",
            &payload,
            app.timeout,
            client.check_stat(&payload)
        ),
    );
    let status = status.ok();
    let stat = stat.ok().flatten();
    json!({
        "dir": dir,
        "version": stat.as_ref().map(|s| s.version),
        "size": stat.as_ref().map(|s| s.data_length),
        "mtime_ms": stat.as_ref().map(|s| s.mtime),
        "listeners": status.as_ref().map(|s| s.total),
        "applied": status.as_ref().map(|s| s.applied),
    })
}

pub async fn states(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    let client = app.client().await?;
    let listing = ls::listing(&client, &app.root, app.timeout)
        .await
        .map_err(|err| listing_error(&err))?;
    let mut found: Vec<Found> = listing.states.into_iter().map(Found::State).collect();
    found.extend(listing.unreadable.into_iter().map(Found::Unreadable));
    found.sort_by(|a, b| a.path().cmp(b.path()));
    let mut rows: Vec<(usize, Value)> = futures::stream::iter(found.into_iter().enumerate())
        .map(|(at, found)| {
            let (app, client) = (&app, &client);
            async move {
                let row = match found {
                    Found::State(dir) => row(app, client, &dir).await,
                    Found::Unreadable(path) => json!({
                        "dir": path,
                        "unreadable": true,
                        "error": format!(
                            "permission denied: this client may not list {path} (its ZooKeeper ACL); states under it are not shown"
                        ),
                    }),
                };
                (at, row)
            }
        })
        .buffer_unordered(STATES_CONCURRENCY)
        .collect()
        .await;
    rows.sort_by_key(|(at, _)| *at);
    let rows: Vec<Value> = rows.into_iter().map(|(_, row)| row).collect();
    Ok(Json(json!({ "root": app.root, "states": rows })))
}
