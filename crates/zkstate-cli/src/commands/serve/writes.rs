//! The writes of the API, with `--allow-write` only: `PUT /api/states/{dir}` (a new value,
//! compare-and-set on `If-Match`) and `POST /api/states/{dir}/rollback` (a kept version written
//! again, compare-and-set on `if_version`). Both go through the watched state's locked write
//! (the same path as `zkstate set --if-version` and `zkstate rollback --if-version`), both take
//! a history message, and both check the token and the path before reading the body: a request
//! refused for them costs nothing, however large or slow its body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use zkstate::ZkState;

use super::app::App;
use super::error::{ApiError, ApiResult};
use super::watched::Watched;
use crate::commands::{json_error, Source};

/// The largest body a `PUT` takes: well above the largest state (a compressed one may hold many
/// MB of JSON), well below what could hurt the server.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The largest body a rollback takes: two versions and a message (the library keeps at most
/// [`zkstate::MAX_MESSAGE`] bytes of it), with room for JSON escapes.
pub const MAX_ROLLBACK_BODY: usize = 64 * 1024;

/// The query of a `PUT`: `?message=...`, the write's history message.
#[derive(Deserialize)]
struct PutQuery {
    message: Option<String>,
}

/// The body of a rollback.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The kept version to write again.
    to: i32,
    /// The version the page shows: the rollback is written only if ZooKeeper holds it.
    if_version: Option<i32>,
    message: Option<String>,
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

/// A message given blank is no message.
fn message(given: Option<String>) -> Option<String> {
    given.filter(|m| !m.trim().is_empty())
}

/// The body, within the limit `DefaultBodyLimit` put on the route (413 past it).
async fn body(request: Request) -> ApiResult<Bytes> {
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))
}

/// 400 for a body that is not the JSON expected, with the line and column.
fn invalid_json(err: &serde_json::Error) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        json!({
            "error": json_error(&Source::Body, err),
            "line": err.line(),
            "column": err.column(),
        }),
    )
}

/// The library's state of a watched state, to write through.
fn writable(w: &Watched) -> ApiResult<&ZkState<Value>> {
    // `None` only with writes off, refused before.
    w.state().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "writes are off: start zkstate serve with --allow-write",
        )
    })
}

/// The 409 of a compare-and-set on `shown` that found another version: what ZooKeeper holds now
/// (`{"error", "version", "value"}`).
async fn conflict(state: &ZkState<Value>, shown: i32, remote: Option<i32>) -> ApiError {
    let current = state.c_read().await.ok();
    let (now, value) = match &current {
        Some(current) => (Some(current.version()), current.json().clone()),
        None => (remote, Value::Null),
    };
    ApiError(
        StatusCode::CONFLICT,
        json!({
            "error": format!(
                "version conflict: the page showed version {shown}, zookeeper holds {}; nothing written",
                now.map_or("another".to_string(), |v| v.to_string())
            ),
            "version": now,
            "value": value,
        }),
    )
}

/// `PUT /api/states/{dir}[?message=...]`: writes the body as the new value if ZooKeeper holds
/// the version of `If-Match`.
pub async fn put_state(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    app.write_allowed(request.headers())?;
    let dir = app.dir(&raw)?;
    let version = if_match(request.headers())?;
    let Query(query) = Query::<PutQuery>::try_from_uri(request.uri())
        .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let body = body(request).await?;
    let value: Value = serde_json::from_slice(&body).map_err(|err| invalid_json(&err))?;
    drop(body);
    let w = app.watched(&dir).await?;
    let state = writable(&w)?;
    let written = state
        .noted(message(query.message))
        .replace_at(version, value)
        .await;
    answer(state, version, written).await
}

/// The answer to a compare-and-set write at `shown`: `{"version"}`, 409 with what ZooKeeper
/// holds, or the error's status.
async fn answer(
    state: &ZkState<Value>,
    shown: i32,
    written: Result<i32, zkstate::Error>,
) -> ApiResult<Json<Value>> {
    match written {
        Ok(new) => Ok(Json(json!({ "version": new }))),
        Err(zkstate::Error::StaleWrite { remote, .. }) => Err(conflict(state, shown, remote).await),
        Err(err) => Err(err.into()),
    }
}

/// `POST /api/states/{dir}/rollback` with `{"to", "if_version", "message"}`: writes the value of
/// kept version `to` again as a new version, if ZooKeeper holds `if_version`.
pub async fn rollback(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    app.write_allowed(request.headers())?;
    let dir = app.dir(&raw)?;
    let body = body(request).await?;
    let asked: RollbackBody = serde_json::from_slice(&body).map_err(|err| invalid_json(&err))?;
    let expected = rollback_versions(&asked)?;
    let w = app.watched(&dir).await?;
    let state = writable(&w)?;
    let written = state
        .noted(message(asked.message))
        .rollback_to_at(asked.to, expected)
        .await;
    answer(state, expected, written).await
}

/// The version a rollback expects: 428 without `if_version` (as a `PUT` without `If-Match`),
/// 400 for a negative version.
fn rollback_versions(asked: &RollbackBody) -> ApiResult<i32> {
    let Some(expected) = asked.if_version else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "a rollback needs if_version: the version it replaces",
        ));
    };
    for (name, version) in [("to", asked.to), ("if_version", expected)] {
        if version < 0 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a payload version, 0 or more; got {version}"),
            ));
        }
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(text: &str) -> Result<RollbackBody, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn a_rollback_body_needs_if_version_and_versions_of_zero_or_more() {
        let ok = asked(r#"{"to": 3, "if_version": 7, "message": "back"}"#).expect("valid");
        assert_eq!(rollback_versions(&ok).ok(), Some(7));
        let status = |text: &str| {
            rollback_versions(&asked(text).expect("valid JSON"))
                .err()
                .map(|ApiError(status, _)| status)
        };
        assert_eq!(
            status(r#"{"to": 3}"#),
            Some(StatusCode::PRECONDITION_REQUIRED)
        );
        assert_eq!(
            status(r#"{"to": -1, "if_version": 2}"#),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            status(r#"{"to": 1, "if_version": -2}"#),
            Some(StatusCode::BAD_REQUEST)
        );
        assert!(asked(r#"{"to": 1, "if_version": 2, "force": true}"#).is_err());
        assert!(asked(r#"{"if_version": 2}"#).is_err());
    }

    #[test]
    fn a_blank_message_is_no_message() {
        assert_eq!(message(Some("  ".into())), None);
        assert_eq!(message(Some("why".into())), Some("why".into()));
        assert_eq!(message(None), None);
    }
}
