//! The routes of `zkstate serve`: the embedded page, and the JSON API over the library
//! ([`App`] holds what they share).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub use super::app::{App, Settings};
use super::error::{ApiError, ApiResult};
use super::writes::{self, MAX_BODY, MAX_ROLLBACK_BODY};
use super::{assets, events, guard, history, listing};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { assets::INDEX }))
        .route("/state", get(|| async { assets::STATE }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/assets/{name}", get(asset))
        .route("/api/config", get(config))
        .route("/api/stats", get(stats))
        .route("/api/states", get(listing::states))
        .route("/api/states/{dir}", get(state).put(writes::put_state))
        .route("/api/states/{dir}/events", get(events::events))
        .route("/api/states/{dir}/history", get(history::history))
        .route(
            "/api/states/{dir}/versions/{version}",
            get(history::version),
        )
        .route(
            "/api/states/{dir}/rollback",
            post(writes::rollback).layer(DefaultBodyLimit::max(MAX_ROLLBACK_BODY)),
        )
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
