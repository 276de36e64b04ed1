//! The page's files, embedded in the binary: the page needs no network, no CDN and no build step.
//! Its scripts are native ES modules (`<script type="module">`, `import ... from './x.js'`),
//! which a browser runs only when served as JavaScript: every `.js` file is `text/javascript`.

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

/// The files under `/assets/`, by name: the style sheet, the helpers both pages import
/// (`app.js`), the index page's script, and the state page's modules (`state.js` imports the
/// others).
const FILES: &[(&str, &str)] = &[
    ("app.css", include_str!("assets/app.css")),
    ("app.js", include_str!("assets/app.js")),
    ("index.js", include_str!("assets/index.js")),
    ("state.js", include_str!("assets/state.js")),
    ("state-banners.js", include_str!("assets/state-banners.js")),
    ("state-changes.js", include_str!("assets/state-changes.js")),
    ("state-edit.js", include_str!("assets/state-edit.js")),
    ("state-history.js", include_str!("assets/state-history.js")),
    ("state-meta.js", include_str!("assets/state-meta.js")),
    ("state-model.js", include_str!("assets/state-model.js")),
    ("state-stream.js", include_str!("assets/state-stream.js")),
    ("state-token.js", include_str!("assets/state-token.js")),
    ("state-tree.js", include_str!("assets/state-tree.js")),
];

/// The files under `/assets/`.
pub fn by_name(name: &str) -> Option<Asset> {
    let body = FILES
        .iter()
        .find_map(|(file, body)| (*file == name).then_some(*body))?;
    let content_type = if name.ends_with(".css") {
        CSS
    } else if name.ends_with(".js") {
        JS
    } else {
        return None;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The modules a page or script names: `src="/assets/x.js"` and `from './x.js'`.
    fn named_scripts(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        for (open, close) in [("src=\"/assets/", '"'), ("from './", '\'')] {
            for (at, _) in text.match_indices(open) {
                let rest = &text[at + open.len()..];
                if let Some(end) = rest.find(close) {
                    names.push(rest[..end].to_string());
                }
            }
        }
        names
    }

    #[test]
    fn every_script_a_page_or_module_imports_is_served_as_javascript() {
        let mut texts = vec![("index.html", INDEX.body), ("state.html", STATE.body)];
        texts.extend(FILES.iter().filter(|(name, _)| name.ends_with(".js")));
        for (from, text) in texts {
            for name in named_scripts(text) {
                match by_name(&name) {
                    Some(asset) => assert_eq!(asset.content_type, JS, "{name}, from {from}"),
                    None => panic!("{from} imports {name}, which is not served"),
                }
            }
        }
        // The scan finds what it looks for.
        assert!(named_scripts(STATE.body).contains(&"state.js".to_string()));
    }

    #[test]
    fn the_pages_load_their_scripts_as_modules() {
        for page in [INDEX.body, STATE.body] {
            for line in page.lines().filter(|l| l.contains("<script")) {
                assert!(line.contains(r#"type="module""#), "{line}");
            }
        }
    }

    /// The Content-Security-Policy (`default-src 'self'`) forbids inline scripts, inline
    /// handlers, inline styles and `data:` URLs: the pages must use none.
    #[test]
    fn the_pages_use_nothing_the_content_security_policy_refuses() {
        for (name, page) in [("index.html", INDEX.body), ("state.html", STATE.body)] {
            let lower = page.to_ascii_lowercase();
            for line in lower.lines().filter(|l| l.contains("<script")) {
                assert!(
                    line.contains(" src=\"/assets/"),
                    "{name}: inline script: {line}"
                );
            }
            for bad in [" style=", "<style", "javascript:", "data:"] {
                assert!(!lower.contains(bad), "{name} uses {bad}");
            }
            let handler = lower.match_indices(" on").any(|(at, _)| {
                let rest = &lower[at + 3..];
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase())
                    .collect();
                !word.is_empty() && rest[word.len()..].starts_with('=')
            });
            assert!(!handler, "{name} has an inline event handler");
        }
        for (name, body) in FILES.iter().filter(|(name, _)| name.ends_with(".js")) {
            for bad in [
                ".style.",
                "setattribute('style'",
                "innerhtml",
                "eval(",
                "new function(",
            ] {
                assert!(
                    !body.to_ascii_lowercase().contains(bad),
                    "{name} uses {bad}"
                );
            }
        }
    }

    #[test]
    fn every_served_module_is_imported_by_some_page() {
        let mut used: Vec<String> = Vec::new();
        for text in [INDEX.body, STATE.body]
            .into_iter()
            .chain(FILES.iter().map(|(_, body)| *body))
        {
            used.extend(named_scripts(text));
        }
        for (name, _) in FILES.iter().filter(|(name, _)| name.ends_with(".js")) {
            assert!(
                used.iter().any(|u| u == name),
                "{name} is served but nothing imports it"
            );
        }
    }
}
