//! How the API answers an error: a status and a JSON body `{"error": ...}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::exit::Code;

/// An API error: a status and a JSON body `{"error": ...}` with more fields where useful.
pub struct ApiError(pub StatusCode, pub Value);

impl ApiError {
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
        ApiError(status, json!({ "error": message.to_string() }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// How a library error answers over HTTP.
impl From<zkstate::Error> for ApiError {
    fn from(err: zkstate::Error) -> ApiError {
        if let Some(waited) = crate::exit::lock_waited(&err) {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the state's lock is held by another writer; waited {waited:?} for it; nothing written"
                ),
            );
        }
        let status = match &err {
            zkstate::Error::Missing { .. } | zkstate::Error::NotKept { .. } => {
                StatusCode::NOT_FOUND
            }
            zkstate::Error::StaleWrite { .. } => StatusCode::CONFLICT,
            zkstate::Error::InvalidDir(_) | zkstate::Error::InvalidVersion { .. } => {
                StatusCode::BAD_REQUEST
            }
            zkstate::Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            zkstate::Error::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            zkstate::Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            zkstate::Error::Closed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// How a failed listing of the states under the root answers: 404 when the root does not exist,
/// the library's error as it maps (403 permission denied, 504 no answer in time, 500 otherwise).
pub fn listing_error(err: &anyhow::Error) -> ApiError {
    if let Some(state) = err.chain().find_map(|c| c.downcast_ref::<zkstate::Error>()) {
        return state.clone().into();
    }
    let status = match Code::of(err) {
        Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, crate::exit::message(err))
}
