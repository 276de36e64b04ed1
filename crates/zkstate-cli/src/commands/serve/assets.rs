//! The page's files, embedded in the binary: the page needs no network, no CDN and no build step.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    pub body: &'static str,
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

pub const INDEX: Asset = Asset {
    body: include_str!("assets/index.html"),
    content_type: HTML,
};
pub const STATE: Asset = Asset {
    body: include_str!("assets/state.html"),
    content_type: HTML,
};

/// The files under `/assets/`.
pub fn by_name(name: &str) -> Option<Asset> {
    let (body, content_type) = match name {
        "app.css" => (include_str!("assets/app.css"), CSS),
        "app.js" => (include_str!("assets/app.js"), JS),
        "index.js" => (include_str!("assets/index.js"), JS),
        "state.js" => (include_str!("assets/state.js"), JS),
        _ => return None,
    };
    Some(Asset { body, content_type })
}

impl IntoResponse for Asset {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                // An upgraded binary is never paired with an old script.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            self.body,
        )
            .into_response()
    }
}
