//! The routes of `zkstate serve`: the embedded page, and the JSON API over the library
//! ([`App`] holds what they share).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub use super::app::{App, Settings};
use super::error::{ApiError, ApiResult};
use super::{assets, events, guard, listing};
use crate::commands::{json_error, Source};

/// The largest body a `PUT` takes: well above the largest state (a compressed one may hold many
/// MB of JSON), well below what could hurt the server.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { assets::INDEX }))
        .route("/state", get(|| async { assets::STATE }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/assets/{name}", get(asset))
        .route("/api/config", get(config))
        .route("/api/stats", get(stats))
        .route("/api/states", get(listing::states))
        .route("/api/states/{dir}", get(state).put(put_state))
        .route("/api/states/{dir}/events", get(events::events))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            app.gate.clone(),
            guard::guard,
        ))
        .layer(middleware::from_fn(guard::headers))
        .with_state(app)
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::by_name(&name) {
        Some(asset) => asset.into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, format!("no asset {name}")).into_response(),
    }
}

async fn config(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "allow_write": app.token.is_some(),
        "root": app.root,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// What the server holds and refused: `GET /api/stats`.
async fn stats(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "open_states": app.open_states(),
        "streams": app.max_streams - app.streams.available_permits(),
        "max_streams": app.max_streams,
        "refused": {
            "host": app.gate.counters.refused_host.load(Ordering::Relaxed),
            "cross_site": app.gate.counters.refused_cross_site.load(Ordering::Relaxed),
        },
    }))
}

async fn state(State(app): State<Arc<App>>, Path(raw): Path<String>) -> ApiResult<Json<Value>> {
    let dir = app.dir(&raw)?;
    let w = app.watched(&dir).await?;
    Ok(Json(app.snapshot(&dir, &w).await?))
}

/// `If-Match: 17`, `If-Match: "17"` or `W/"17"`: the version the client showed.
fn if_match(headers: &HeaderMap) -> ApiResult<i32> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "a write needs If-Match with the version it replaces",
        ));
    };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    match text.parse::<i32>() {
        Ok(version) if version >= 0 => Ok(version),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("If-Match must be a payload version, 0 or more; got {text:?}"),
        )),
    }
}

/// A write. The token, the path and `If-Match` are checked before the body is read: a request
/// refused for them costs nothing, however large or slow its body.
async fn put_state(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    app.write_allowed(request.headers())?;
    let dir = app.dir(&raw)?;
    let version = if_match(request.headers())?;
    // Within `MAX_BODY` (the limit `DefaultBodyLimit` put on the request): 413 past it.
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let value: Value = serde_json::from_slice(&body).map_err(|err| {
        ApiError(
            StatusCode::BAD_REQUEST,
            json!({
                "error": json_error(&Source::Body, &err),
                "line": err.line(),
                "column": err.column(),
            }),
        )
    })?;
    drop(body);
    let w = app.watched(&dir).await?;
    let Some(state) = w.state() else {
        // Only with writes off, refused above.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "writes are off: start zkstate serve with --allow-write",
        ));
    };
    match state.replace_at(version, value).await {
        Ok(new) => Ok(Json(json!({ "version": new }))),
        Err(zkstate::Error::StaleWrite { remote, .. }) => {
            let current = state.c_read().await.ok();
            let (now, value) = match &current {
                Some(current) => (Some(current.version()), current.json().clone()),
                None => (remote, Value::Null),
            };
            Err(ApiError(
                StatusCode::CONFLICT,
                json!({
                    "error": format!(
                        "version conflict: the page showed version {version}, zookeeper holds {}; nothing written",
                        now.map_or("another".to_string(), |v| v.to_string())
                    ),
                    "version": now,
                    "value": value,
                }),
            ))
        }
        Err(err) => Err(err.into()),
    }
}
