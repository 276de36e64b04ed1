//! The history of a state over HTTP (see `zkstate::history`): `GET /api/states/{dir}/history`
//! (the kept versions, newest first) and `GET /api/states/{dir}/versions/{version}` (the value
//! of one). Both read ZooKeeper directly, without opening the state: they create nothing, with
//! writes off too. The rollback is a write ([`super::writes::rollback`]).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use zkstate::history::MAX_READ;

use super::app::App;
use super::error::{ApiError, ApiResult};
use crate::output::history_item_json;

/// How many versions a history request answers without `?limit=`.
pub const DEFAULT_LIMIT: usize = 50;

/// The query of a history request: `?limit=N`.
#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<String>,
}

/// `?limit=N`: 1 to [`MAX_READ`], [`DEFAULT_LIMIT`] when absent; 400 otherwise.
fn limit(query: Result<Query<HistoryQuery>, QueryRejection>) -> ApiResult<usize> {
    let Query(query) =
        query.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let Some(text) = query.limit else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_READ).contains(&n) => Ok(n),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be a whole number from 1 to {MAX_READ}; got {text:?}"),
        )),
    }
}

/// `GET /api/states/{dir}/history?limit=N`: `{"dir", "items"}`, newest first.
pub async fn history(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let dir = app.dir(&raw)?;
    let limit = limit(query)?;
    let items = zkstate::read_history(&app.conn, &dir, limit).await?;
    let items: Vec<Value> = items.iter().filter_map(history_item_json).collect();
    Ok(Json(json!({ "dir": dir, "items": items })))
}

/// `GET /api/states/{dir}/versions/{version}`: the value of a kept version, as the JSON it was.
pub async fn version(
    State(app): State<Arc<App>>,
    Path((raw, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let dir = app.dir(&raw)?;
    let version = match version.parse::<i32>() {
        Ok(v) if v >= 0 => v,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("a payload version is a whole number, 0 or more; got {version:?}"),
            ))
        }
    };
    Ok(Json(zkstate::value_at(&app.conn, &dir, version).await?))
}

#[cfg(test)]
mod tests {
    use zkstate::history::HistoryItem;

    use super::*;

    fn query(text: &str) -> Result<Query<HistoryQuery>, QueryRejection> {
        let uri: axum::http::Uri = format!("/h?{text}").parse().expect("a uri");
        Query::try_from_uri(&uri)
    }

    #[test]
    fn the_limit_is_fifty_by_default_and_at_most_the_library_s_read() {
        assert_eq!(limit(query("")).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit(query("limit=7")).ok(), Some(7));
        assert_eq!(limit(query("limit=1000")).ok(), Some(MAX_READ));
        for bad in ["limit=0", "limit=1001", "limit=-3", "limit=many", "limit="] {
            let status = limit(query(bad)).err().map(|ApiError(status, _)| status);
            assert_eq!(status, Some(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    #[test]
    fn a_gap_is_an_item_of_its_own() {
        let gap = HistoryItem::Gap { from: 3, to: 5 };
        assert_eq!(
            history_item_json(&gap),
            Some(json!({"gap": true, "from": 3, "to": 5}))
        );
    }
}
