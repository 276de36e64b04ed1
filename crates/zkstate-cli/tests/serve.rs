//! `zkstate serve`'s JSON API against a real ZooKeeper: every status code it documents, the
//! live event stream, and hostile input (bad paths, invalid UTF-8, huge bodies) answered with a
//! clear 4xx.

mod common;

use std::time::Duration;

use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes_body::Bytes>>;

/// The body type the client sends.
mod bytes_body {
    pub use axum::body::Bytes;
}

/// A running `zkstate serve`, its address and write token.
struct Server {
    _running: Running,
    base: String,
    token: Option<String>,
    http: Http,
}

async fn serve(zk: &str, extra: &[&str]) -> Server {
    serve_on(zk, "127.0.0.1:0", extra).await
}

/// `zkstate serve --listen LISTEN`; requests go to 127.0.0.1 on its port.
async fn serve_on(zk: &str, listen: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--zk", zk, "serve", "--listen", listen];
    args.extend_from_slice(extra);
    let mut running = Running::spawn(&args);
    let listening = running
        .line_where(Stream::Stdout, |l| l.starts_with("listening on "))
        .await;
    let base = listening
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .replace("0.0.0.0", "127.0.0.1");
    let token_file = extra
        .iter()
        .position(|a| *a == "--token-file")
        .map(|i| extra[i + 1]);
    let token = if let Some(file) = token_file {
        running
            .line_where(Stream::Stderr, |l| {
                l.starts_with("zkstate: write token in ")
            })
            .await;
        let token = std::fs::read_to_string(file).expect("the token file");
        Some(token.trim_end().to_string())
    } else if extra.contains(&"--allow-write") {
        let line = running
            .line_where(Stream::Stdout, |l| l.starts_with("write token: "))
            .await;
        Some(line.trim_start_matches("write token: ").to_string())
    } else {
        None
    };
    Server {
        _running: running,
        base,
        token,
        http: Client::builder(TokioExecutor::new()).build_http(),
    }
}

struct Reply {
    status: u16,
    content_type: String,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body))
        })
    }
}

impl Server {
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(bytes_body::Bytes::from(body)))
            .expect("request");
        let response = tokio::time::timeout(SOON, self.http.request(request))
            .await
            .expect("an answer in time")
            .expect("an HTTP answer");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            content_type,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], Vec::new()).await
    }

    async fn put(
        &self,
        dir: &str,
        if_match: Option<&str>,
        token: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(version) = if_match {
            headers.push(("if-match", version));
        }
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        self.request(
            "PUT",
            &format!("/api/states/{}", encode(dir)),
            &headers,
            body.to_vec(),
        )
        .await
    }
}

impl Server {
    /// `POST /api/states/{dir}/rollback` with `body`, and the token when given.
    async fn rollback(&self, dir: &str, token: Option<&str>, body: &[u8]) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let path = format!("/api/states/{}/rollback", encode(dir));
        self.request("POST", &path, &headers, body.to_vec()).await
    }

    /// `GET /api/states/{dir}/history[?QUERY]`.
    async fn history(&self, dir: &str, query: &str) -> Reply {
        self.get(&format!("/api/states/{}/history{query}", encode(dir)))
            .await
    }

    /// `GET /api/states/{dir}/versions/{version}`.
    async fn version(&self, dir: &str, version: &str) -> Reply {
        self.get(&format!("/api/states/{}/versions/{version}", encode(dir)))
            .await
    }
}

/// `encodeURIComponent` for a path.
fn encode(dir: &str) -> String {
    dir.replace('%', "%25").replace('/', "%2F")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_read_only_api_answer_with_every_documented_status() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-ro");
    let dir = format!("{root}/monitor");
    create_state(&zk, &dir, r#"{"globs":["systemd*"]}"#).await;
    let watch = Running::watch(&zk, &dir, &[]).await;
    wait_listeners(&zk, &dir, 1).await;
    let server = serve(&zk, &["--root", &root]).await;

    // The page, from the binary; its scripts are ES modules, which a browser runs only when
    // they are served as JavaScript.
    for (path, kind) in [
        ("/", "text/html"),
        ("/state?dir=%2Fa", "text/html"),
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/index.js", "text/javascript"),
        ("/assets/state.js", "text/javascript"),
        ("/assets/state-banners.js", "text/javascript"),
        ("/assets/state-changes.js", "text/javascript"),
        ("/assets/state-edit.js", "text/javascript"),
        ("/assets/state-history.js", "text/javascript"),
        ("/assets/state-meta.js", "text/javascript"),
        ("/assets/state-model.js", "text/javascript"),
        ("/assets/state-stream.js", "text/javascript"),
        ("/assets/state-token.js", "text/javascript"),
        ("/assets/state-tree.js", "text/javascript"),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(
            reply.content_type.starts_with(kind),
            "{path}: {}",
            reply.content_type
        );
    }
    assert_eq!(server.get("/assets/nope.js").await.status, 404);
    assert_eq!(server.get("/no/such/page").await.status, 404);

    let config = server.get("/api/config").await.json();
    assert_eq!(config["allow_write"], json!(false));
    assert_eq!(config["root"], json!(root));

    let states = server.get("/api/states").await.json();
    let rows = states["states"].as_array().expect("states");
    assert_eq!(rows.len(), 1, "{states}");
    assert_eq!(rows[0]["dir"], json!(dir));
    assert_eq!(rows[0]["version"], json!(0));
    assert_eq!(rows[0]["listeners"], json!(1));

    let state = server.get(&format!("/api/states/{}", encode(&dir))).await;
    assert_eq!(state.status, 200);
    let state = state.json();
    assert_eq!(state["value"], json!({"globs": ["systemd*"]}));
    assert_eq!(state["version"], json!(0));
    assert!(state["size"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(state["listeners"].as_array().map(Vec::len), Some(1));

    // Missing, outside the root, and hostile paths.
    let missing = server
        .get(&format!("/api/states/{}", encode(&format!("{root}/none"))))
        .await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("does not exist")));
    assert_eq!(server.get("/api/states/%2Felsewhere").await.status, 404);
    for bad in [
        "..",
        "%2E%2E",
        "relative",
        &format!("{}%2F..%2Fx", encode(&root)),
        "%2Fa%2F%2Fb",
        "%FF%FE",
    ] {
        let reply = server.get(&format!("/api/states/{bad}")).await;
        assert_eq!(
            reply.status,
            400,
            "{bad}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }

    // Writes are off: 403 whatever the request.
    let reply = server.put(&dir, Some("0"), Some("x"), br#"{"a":1}"#).await;
    assert_eq!(reply.status, 403);
    assert!(reply.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("--allow-write")));
    drop(watch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_compare_and_set_with_the_token_and_every_refusal_is_a_clear_4xx() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-rw");
    let dir = format!("{root}/cfg");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let server = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let token = server.token.clone().expect("a token");
    assert_eq!(
        server.get("/api/config").await.json()["allow_write"],
        json!(true)
    );

    let ok = server
        .put(&dir, Some("0"), Some(&token), br#"{"n":1}"#)
        .await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json(), json!({"version": 1}));
    assert_eq!(payload(&zk, &dir).await, (json!({"n": 1}), 1));
    // A quoted ETag works too.
    let ok = server
        .put(&dir, Some("\"1\""), Some(&token), br#"{"n":2}"#)
        .await;
    assert_eq!(ok.status, 200);

    // A stale version: 409 with what ZooKeeper holds; nothing written.
    let conflict = server
        .put(&dir, Some("0"), Some(&token), br#"{"n":9}"#)
        .await;
    assert_eq!(conflict.status, 409);
    let body = conflict.json();
    assert_eq!(body["version"], json!(2));
    assert_eq!(body["value"], json!({"n": 2}));
    assert_eq!(payload(&zk, &dir).await, (json!({"n": 2}), 2));

    // Invalid JSON: 400 with line and column.
    let bad = server
        .put(&dir, Some("2"), Some(&token), b"{\n  \"n\": ,\n}")
        .await;
    assert_eq!(bad.status, 400);
    let body = bad.json();
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(2), Some(8))
    );
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("invalid JSON in the request body at line 2, column 8")));
    // Invalid UTF-8 in the body.
    assert_eq!(
        server
            .put(&dir, Some("2"), Some(&token), b"\"\xff\xfe\"")
            .await
            .status,
        400
    );
    // No token, a wrong one.
    assert_eq!(
        server
            .put(&dir, Some("2"), None, br#"{"n":3}"#)
            .await
            .status,
        403
    );
    assert_eq!(
        server
            .put(&dir, Some("2"), Some("wrong"), br#"{"n":3}"#)
            .await
            .status,
        403
    );
    // No If-Match; a negative or garbage one.
    assert_eq!(
        server
            .put(&dir, None, Some(&token), br#"{"n":3}"#)
            .await
            .status,
        428
    );
    assert_eq!(
        server
            .put(&dir, Some("-1"), Some(&token), br#"{"n":3}"#)
            .await
            .status,
        400
    );
    assert_eq!(
        server
            .put(&dir, Some("abc"), Some(&token), br#"{"n":3}"#)
            .await
            .status,
        400
    );
    // A missing state, and a body above the limit.
    assert_eq!(
        server
            .put(&format!("{root}/none"), Some("0"), Some(&token), b"{}")
            .await
            .status,
        404
    );
    let huge = vec![b' '; 17 * 1024 * 1024];
    assert_eq!(
        server
            .put(&dir, Some("2"), Some(&token), &huge)
            .await
            .status,
        413
    );
    // Nothing of those was written.
    assert_eq!(payload(&zk, &dir).await, (json!({"n": 2}), 2));
}

/// The next named event of an SSE body (keep-alive comments skipped): its name and JSON data.
async fn next_event(body: &mut hyper::body::Incoming, text: &mut String) -> (String, Value) {
    loop {
        if let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.starts_with(':') {
                continue;
            }
            let name = event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("")
                .to_string();
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            return (
                name,
                serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
            );
        }
        let frame = tokio::time::timeout(SOON, body.frame())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_starts_with_a_snapshot_and_pushes_an_outside_change() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-sse");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let server = serve(&zk, &["--root", &root]).await;
    let request = hyper::Request::get(format!(
        "{}/api/states/{}/events",
        server.base,
        encode(&dir)
    ))
    .body(Full::new(bytes_body::Bytes::new()))
    .expect("request");
    let response = server.http.request(request).await.expect("the stream");
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream")));
    let mut body = response.into_body();
    let mut text = String::new();
    let (name, snapshot) = next_event(&mut body, &mut text).await;
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["value"], json!({"a": 1}));

    raw_set(&zk, &format!("{dir}/payload"), br#"{"a":2}"#).await;
    let (name, change) = loop {
        let (name, data) = next_event(&mut body, &mut text).await;
        if name == "change" {
            break (name, data);
        }
    };
    assert_eq!(name, "change");
    assert_eq!(change["version"], json!(1));
    assert_eq!(change["value"], json!({"a": 2}));
    assert_eq!(
        change["changes"],
        json!([{"kind": "modified", "path": ["a"], "old": 1, "new": 2}])
    );
    tokio::time::sleep(Duration::ZERO).await;
}

/// On loopback the server answers only to its own names: a page of another site whose DNS name
/// was rebound to 127.0.0.1 sends that name as Host and gets 403, whatever it asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_server_refuses_foreign_host_names_against_dns_rebinding() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-host");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"secret":1}"#).await;
    let server = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let token = server.token.clone().expect("a token");
    let port = server
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .expect("the port");
    let state = format!("/api/states/{}", encode(&dir));

    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost:{}", port.wrapping_add(1)),
        "localhost".to_string(),
    ] {
        for path in [
            "/",
            "/assets/state-edit.js",
            "/api/config",
            "/api/states",
            state.as_str(),
        ] {
            let reply = server
                .request("GET", path, &[("host", &host)], Vec::new())
                .await;
            assert_eq!(
                reply.status,
                403,
                "{host} {path}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            let body = reply.json();
            let error = body["error"].as_str().unwrap_or("");
            assert!(
                error.contains("DNS rebinding") && error.contains(&format!("127.0.0.1:{port}")),
                "{host} {path}: {body}"
            );
        }
        // Nor can it write, even with the token.
        let bearer = format!("Bearer {token}");
        let reply = server
            .request(
                "PUT",
                &state,
                &[
                    ("host", &host),
                    ("if-match", "0"),
                    ("authorization", &bearer),
                ],
                br#"{"secret":2}"#.to_vec(),
            )
            .await;
        assert_eq!(reply.status, 403, "{host} PUT");
    }
    assert_eq!(payload(&zk, &dir).await, (json!({"secret": 1}), 0));

    // Its own names, with the port, in any case.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let reply = server
            .request("GET", &state, &[("host", &host)], Vec::new())
            .await;
        assert_eq!(reply.status, 200, "{host}");
        assert_eq!(reply.json()["value"], json!({"secret": 1}), "{host}");
    }
}

/// A listing of a root that does not exist answers 404, and says which root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_a_missing_root_answers_404() {
    let zk = shared_zk().await;
    let missing = unique_dir("serve-no-root");
    let server = serve(&zk, &["--root", &missing]).await;
    let reply = server.get("/api/states").await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains(&missing) && e.contains("does not exist")),
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

/// A node under the root that this client may not list (its ACL names another user) is a row
/// of its own, marked unreadable with its path; the other states are listed as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_node_is_listed_as_unreadable_and_the_rest_still_answer() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-forbidden");
    let open = format!("{root}/open");
    create_state(&zk, &open, r#"{"a":1}"#).await;
    let secret = format!("{root}/secret");
    run(
        &zk,
        &[
            "--auth",
            "alice:secret",
            "--acl",
            "creator-only",
            "set",
            "--create",
            &secret,
            "{}",
        ],
    )
    .await
    .success();
    let server = serve(&zk, &["--root", &root]).await;
    let reply = server.get("/api/states").await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    let rows = body["states"].as_array().expect("states");
    assert_eq!(rows.len(), 2, "{body}");
    assert_eq!(rows[0]["dir"], json!(open), "{body}");
    assert_eq!(rows[0]["version"], json!(0), "{body}");
    assert_eq!(rows[0].get("unreadable"), None, "{body}");
    assert_eq!(rows[1]["dir"], json!(secret), "{body}");
    assert_eq!(rows[1]["unreadable"], json!(true), "{body}");
    assert!(
        rows[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("permission denied") && e.contains(&secret)),
        "{body}"
    );
    // The state itself answers 403.
    let reply = server
        .get(&format!("/api/states/{}", encode(&secret)))
        .await;
    assert_eq!(
        reply.status,
        403,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

/// An event stream, read as its events come.
struct Events {
    body: hyper::body::Incoming,
    text: String,
}

impl Events {
    async fn next(&mut self) -> (String, Value) {
        next_event(&mut self.body, &mut self.text).await
    }

    /// The next event named `name`, skipping the others.
    async fn next_named(&mut self, name: &str) -> Value {
        loop {
            let (got, data) = self.next().await;
            if got == name {
                return data;
            }
        }
    }
}

impl Server {
    /// Opens the event stream of `dir`: its status, and the stream when it is 200.
    async fn events(&self, dir: &str) -> (u16, hyper::HeaderMap, Option<Events>) {
        let request =
            hyper::Request::get(format!("{}/api/states/{}/events", self.base, encode(dir)))
                .body(Full::new(bytes_body::Bytes::new()))
                .expect("request");
        let response = tokio::time::timeout(SOON, self.http.request(request))
            .await
            .expect("an answer in time")
            .expect("an HTTP answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let events = (status == 200).then(|| Events {
            body: response.into_body(),
            text: String::new(),
        });
        (status, headers, events)
    }

    /// `GET /api/stats`.
    async fn stats(&self) -> Value {
        self.get("/api/stats").await.json()
    }

    /// Waits (within [`SOON`]) until `/api/stats` satisfies `ok`; returns it.
    async fn stats_where(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + SOON;
        loop {
            let stats = self.stats().await;
            if ok(&stats) {
                return stats;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "/api/stats never showed {what}; last {stats}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the port")
    }
}

/// Past `--max-streams` a new event stream gets 503 at once (with Retry-After), and a stream
/// that ends gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_streams_a_new_event_stream_gets_503() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-cap");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let server = serve(&zk, &["--root", &root, "--max-streams", "2"]).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let (status, _, events) = server.events(&dir).await;
        assert_eq!(status, 200);
        let mut events = events.expect("a stream");
        assert_eq!(events.next().await.0, "snapshot");
        open.push(events);
    }
    let (status, headers, _) = server.events(&dir).await;
    assert_eq!(status, 503);
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let refused = server
        .request(
            "GET",
            &format!("/api/states/{}/events", encode(&dir)),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(refused.status, 503);
    assert!(refused.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("--max-streams")));
    let stats = server.stats().await;
    assert_eq!(
        (stats["streams"].clone(), stats["max_streams"].clone()),
        (json!(2), json!(2))
    );

    // One page goes away: its place is free again.
    open.pop();
    server
        .stats_where("one stream", |s| s["streams"] == json!(1))
        .await;
    let (status, _, _) = server.events(&dir).await;
    assert_eq!(status, 200);
}

/// A client that does not read falls behind: it is not buffered without end but skips to a
/// `lagged` event and a fresh snapshot of the current version, while a client that keeps up
/// gets every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stream_gets_lagged_and_a_fresh_snapshot_instead_of_every_change() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let zk = shared_zk().await;
    let root = unique_dir("serve-lag");
    let dir = format!("{root}/big");
    // Each value is large: a few of them fill the socket buffers.
    let pad = "x".repeat(700 * 1024);
    let value = |n: u32| format!(r#"{{"n":{n},"pad":"{pad}"}}"#);
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    raw_set(&zk, &format!("{dir}/payload"), value(0).as_bytes()).await;
    let server = serve(&zk, &["--root", &root]).await;

    // The slow client: a small receive buffer, and it stops reading after the headers.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut slow = socket
        .connect(
            format!("127.0.0.1:{}", server.port())
                .parse()
                .expect("addr"),
        )
        .await
        .expect("connect");
    let request = format!(
        "GET /api/states/{}/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        encode(&dir),
        server.port()
    );
    slow.write_all(request.as_bytes()).await.expect("send");
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: snapshot") {
        let n = tokio::time::timeout(SOON, slow.read(&mut buf))
            .await
            .expect("the snapshot in time")
            .expect("read");
        assert!(
            n > 0,
            "the stream ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }

    // The fast client paces the writes: each is seen before the next, so each is one change.
    let (_, _, fast) = server.events(&dir).await;
    let mut fast = fast.expect("a stream");
    let snapshot = fast.next_named("snapshot").await;
    let mut version = snapshot["version"].as_i64().expect("a version");
    const WRITES: u32 = 40;
    for n in 1..=WRITES {
        let written = raw_set(&zk, &format!("{dir}/payload"), value(n).as_bytes()).await;
        loop {
            let change = fast.next_named("change").await;
            if change["version"] == json!(written) {
                assert_eq!(change["value"]["n"], json!(n));
                break;
            }
        }
        version = i64::from(written);
    }

    // The slow client reads again: somewhere it was told it lagged, then got the current version.
    let marker = b"event: lagged\ndata: ";
    let deadline = tokio::time::Instant::now() + SOON;
    let mut scanned: usize = 0;
    let resync = loop {
        let text = &seen[scanned.saturating_sub(marker.len() + 64)..];
        if let Some(at) = text.windows(marker.len()).position(|w| w == marker) {
            let after = &text[at..];
            let snap = b"event: snapshot\ndata: ";
            if let Some(s) = after.windows(snap.len()).position(|w| w == snap) {
                let data = &after[s + snap.len()..];
                if let Some(end) = data.iter().position(|b| *b == b'\n') {
                    break serde_json::from_slice::<Value>(&data[..end]).expect("snapshot JSON");
                }
            }
        } else {
            scanned = seen.len();
        }
        let n = tokio::time::timeout_at(deadline, slow.read(&mut buf))
            .await
            .expect("a lagged event in time")
            .expect("read");
        assert!(n > 0, "the slow stream ended without a lagged event");
        seen.extend_from_slice(&buf[..n]);
    };
    assert_eq!(resync["version"], json!(version));
    assert_eq!(resync["value"]["n"], json!(WRITES));
}

/// An API request made by a page of another site or origin is refused with 403 and opens
/// nothing; the server's own page, and a navigation to it from elsewhere, still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_api_requests_are_refused_and_open_no_state() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-xsite");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"secret":1}"#).await;
    let server = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let token = server.token.clone().expect("a token");
    let own = format!("http://127.0.0.1:{}", server.port());
    let state = format!("/api/states/{}", encode(&dir));
    let events = format!("{state}/events");

    let foreign = format!("http://127.0.0.1:{}", server.port().wrapping_add(1));
    let refusals: Vec<Vec<(&str, &str)>> = vec![
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("sec-fetch-mode", "no-cors"),
        ],
        vec![("origin", "http://evil.example")],
        vec![("origin", &foreign)],
        vec![("origin", "null")],
    ];
    let mut refused = 0;
    for headers in &refusals {
        for path in [
            state.as_str(),
            events.as_str(),
            "/api/states",
            "/api/config",
        ] {
            let reply = server.request("GET", path, headers, Vec::new()).await;
            assert_eq!(reply.status, 403, "{headers:?} {path}");
            assert!(
                reply.json()["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("cross-site request refused")),
                "{headers:?} {path}"
            );
            refused += 1;
        }
        let bearer = format!("Bearer {token}");
        let mut with_token = headers.clone();
        with_token.extend([("if-match", "0"), ("authorization", bearer.as_str())]);
        let reply = server
            .request("PUT", &state, &with_token, br#"{"secret":2}"#.to_vec())
            .await;
        assert_eq!(reply.status, 403, "{headers:?} PUT");
        refused += 1;
    }
    let stats = server.stats().await;
    assert_eq!(stats["refused"]["cross_site"], json!(refused), "{stats}");
    assert_eq!(
        stats["open_states"],
        json!(0),
        "a refused request opened a state: {stats}"
    );
    assert_eq!(payload(&zk, &dir).await, (json!({"secret": 1}), 0));

    // The server's own page: same-origin, or a request no page made.
    for headers in [
        vec![],
        vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())],
        vec![("sec-fetch-site", "none")],
    ] {
        let reply = server.request("GET", &state, &headers, Vec::new()).await;
        assert_eq!(reply.status, 200, "{headers:?}");
    }
    // A link from another site opens the page (it cannot frame it, nor read the API).
    let reply = server
        .request(
            "GET",
            "/state?dir=%2Fa",
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 200);
}

/// Beyond loopback (0.0.0.0) the server answers only to this host's own IP address and the
/// names of `--allow-host`: a page whose DNS name was rebound to this host is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_only_allowed_names_and_own_addresses_are_answered() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-lan");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"secret":1}"#).await;
    let server = serve_on(
        &zk,
        "0.0.0.0:0",
        &[
            "--root",
            &root,
            "--allow-host",
            "zk.example.test",
            "--allow-host",
            "ops.example.test",
        ],
    )
    .await;
    let port = server.port();
    let state = format!("/api/states/{}", encode(&dir));
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("zk.example.test:{port}"),
        "ZK.Example.Test".to_string(),
        "ops.example.test:443".to_string(),
    ] {
        for path in ["/", state.as_str()] {
            let reply = server
                .request("GET", path, &[("host", &host)], Vec::new())
                .await;
            assert_eq!(
                reply.status,
                200,
                "{host} {path}: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    let mut refused = 0;
    for host in [
        format!("evil.example:{port}"),
        format!("zk.example.test.evil.example:{port}"),
        format!("localhost:{port}"),
        format!("192.0.2.1:{port}"),
        "".to_string(),
    ] {
        for path in ["/", "/api/states", state.as_str()] {
            let reply = server
                .request("GET", path, &[("host", &host)], Vec::new())
                .await;
            assert_eq!(reply.status, 403, "{host:?} {path}");
            let body = reply.json();
            let error = body["error"].as_str().unwrap_or("");
            assert!(
                error.contains("DNS rebinding") && error.contains("--allow-host"),
                "{host:?} {path}: {body}"
            );
            refused += 1;
        }
    }
    let stats = server.stats().await;
    assert_eq!(stats["refused"]["host"], json!(refused), "{stats}");
}

/// Every answer (page, asset, API, stream, error, refusal) carries the security headers; the
/// API's are never cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-headers");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let server = serve(&zk, &["--root", &root]).await;
    let state = format!("/api/states/{}", encode(&dir));
    let expect = |what: &str, headers: &hyper::HeaderMap, api: bool| {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            get("content-security-policy"),
            Some("default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"),
            "{what}"
        );
        assert_eq!(get("x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(get("referrer-policy"), Some("no-referrer"), "{what}");
        if api {
            assert_eq!(get("cache-control"), Some("no-store"), "{what}");
        }
    };
    for (path, status, api) in [
        ("/", 200, false),
        ("/state?dir=%2Fa", 200, false),
        ("/assets/app.js", 200, false),
        ("/assets/app.css", 200, false),
        ("/favicon.ico", 204, false),
        ("/no/such/page", 404, false),
        ("/api/config", 200, true),
        ("/api/stats", 200, true),
        ("/api/states", 200, true),
        (state.as_str(), 200, true),
        ("/api/states/relative", 400, true),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, status, "{path}");
        expect(path, &reply.headers, api);
    }
    let reply = server.put(&dir, Some("0"), None, b"{}").await;
    assert_eq!(reply.status, 403);
    expect("PUT", &reply.headers, true);
    let reply = server
        .request("GET", &state, &[("host", "evil.example")], Vec::new())
        .await;
    assert_eq!(reply.status, 403);
    expect("a refused host", &reply.headers, true);
    let reply = server
        .request(
            "GET",
            &state,
            &[("sec-fetch-site", "cross-site")],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 403);
    expect("a cross-site request", &reply.headers, true);
    let (status, headers, _) = server.events(&dir).await;
    assert_eq!(status, 200);
    expect("the event stream", &headers, true);
}

/// Sends a PUT whose body never ends (a huge Content-Length, or chunks that keep coming) and
/// returns the status line the server answers with while the body is still being sent.
async fn put_never_ending(server: &Server, dir: &str, token: &str, chunked: bool) -> String {
    let target = format!("PUT /api/states/{}", encode(dir));
    write_never_ending(server, &target, token, chunked).await
}

/// [`put_never_ending`] for a rollback.
async fn rollback_never_ending(server: &Server, dir: &str, token: &str, chunked: bool) -> String {
    let target = format!("POST /api/states/{}/rollback", encode(dir));
    write_never_ending(server, &target, token, chunked).await
}

/// Sends `target` (`METHOD PATH`) with a body that never ends; the status line of the answer.
async fn write_never_ending(server: &Server, target: &str, token: &str, chunked: bool) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .expect("connect");
    let (read, mut write) = stream.into_split();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", 10u64 << 30)
    };
    let head = format!(
        "{target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nIf-Match: 0\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n{length}\r\n\r\n",
        server.port()
    );
    write
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    // Keeps sending until the answer came (or the server closed the connection).
    let sender = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        loop {
            let sent = if chunked {
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                write.write_all(&framed).await
            } else {
                write.write_all(&chunk).await
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let mut line = String::new();
    let read = tokio::time::timeout(SOON, BufReader::new(read).read_line(&mut line)).await;
    sender.abort();
    let _ = sender.await;
    read.expect("an answer while the body is still coming")
        .expect("read the status line");
    line.trim_end().to_string()
}

/// A PUT or a rollback with a wrong token, or with writes off, is refused before its body is
/// read: a body that never ends still gets its 403 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_refused_before_its_body_is_read() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-put-early");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let writable = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let read_only = serve(&zk, &["--root", &root]).await;
    for chunked in [false, true] {
        assert_eq!(
            put_never_ending(&writable, &dir, "wrong", chunked).await,
            "HTTP/1.1 403 Forbidden",
            "a wrong token, chunked {chunked}"
        );
        assert_eq!(
            put_never_ending(&read_only, &dir, "anything", chunked).await,
            "HTTP/1.1 403 Forbidden",
            "writes off, chunked {chunked}"
        );
    }
    for chunked in [false, true] {
        assert_eq!(
            rollback_never_ending(&writable, &dir, "wrong", chunked).await,
            "HTTP/1.1 403 Forbidden",
            "a rollback with a wrong token, chunked {chunked}"
        );
        assert_eq!(
            rollback_never_ending(&read_only, &dir, "anything", chunked).await,
            "HTTP/1.1 403 Forbidden",
            "a rollback with writes off, chunked {chunked}"
        );
    }
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
    // A good token with a body that does not fit is 413, still without reading it all.
    let token = writable.token.clone().expect("a token");
    assert_eq!(
        put_never_ending(&writable, &dir, &token, false).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(
        rollback_never_ending(&writable, &dir, &token, false).await,
        "HTTP/1.1 413 Payload Too Large"
    );
}

/// With writes off, opening a state (its page, its stream) creates no node: a state written by
/// another tool with only its payload is shown live, and still has only its payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_writes_off_opening_a_state_creates_no_node() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-no-create");
    let dir = format!("{root}/bare");
    raw_mkdir(&zk, &dir).await;
    raw_create(&zk, &format!("{dir}/payload"), br#"{"a":1}"#).await;
    let server = serve(&zk, &["--root", &root]).await;

    let reply = server.get(&format!("/api/states/{}", encode(&dir))).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let state = reply.json();
    assert_eq!(
        (state["value"].clone(), state["version"].clone()),
        (json!({"a": 1}), json!(0))
    );
    let (status, _, events) = server.events(&dir).await;
    assert_eq!(status, 200);
    let mut events = events.expect("a stream");
    let snapshot = events.next_named("snapshot").await;
    assert_eq!(snapshot["value"], json!({"a": 1}));

    // Live all the same: an outside change arrives with its differences.
    raw_set(&zk, &format!("{dir}/payload"), br#"{"a":2}"#).await;
    let change = events.next_named("change").await;
    assert_eq!(change["version"], json!(1));
    assert_eq!(change["value"], json!({"a": 2}));
    assert_eq!(
        change["changes"],
        json!([{"kind": "modified", "path": ["a"], "old": 1, "new": 2}])
    );
    for child in ["listeners", "lock", "writers"] {
        assert!(
            !exists(&zk, &format!("{dir}/{child}")).await,
            "serve created {dir}/{child}"
        );
    }
    let client = raw_client(&zk).await;
    let children = client.list_children(&dir).await.expect("list");
    assert_eq!(children, vec!["payload".to_string()]);
}

/// A state no page watches is closed again after `--idle-close`; one a stream watches stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_no_page_watches_is_closed_after_the_idle_time() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-idle");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let server = serve(&zk, &["--root", &root, "--idle-close", "0.5"]).await;
    assert_eq!(
        server
            .get(&format!("/api/states/{}", encode(&dir)))
            .await
            .status,
        200
    );
    assert_eq!(server.stats().await["open_states"], json!(1));
    server
        .stats_where("the state closed", |s| s["open_states"] == json!(0))
        .await;

    // While a stream watches it, it stays open past the idle time (a change still arrives).
    let (_, _, events) = server.events(&dir).await;
    let mut events = events.expect("a stream");
    events.next_named("snapshot").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.stats().await["open_states"], json!(1));
    raw_set(&zk, &format!("{dir}/payload"), br#"{"a":2}"#).await;
    assert_eq!(events.next_named("change").await["value"], json!({"a": 2}));
    drop(events);
    server
        .stats_where("the state closed after its stream", |s| {
            s["open_states"] == json!(0) && s["streams"] == json!(0)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_holds_the_write_token_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let zk = shared_zk().await;
    let root = unique_dir("serve-token-file");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let file = std::env::temp_dir().join(format!("zkstate-token-{}", std::process::id()));
    std::fs::write(&file, "left by someone else").expect("an old file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = file.to_str().expect("utf-8");
    let server = serve(
        &zk,
        &["--root", &root, "--allow-write", "--token-file", path],
    )
    .await;
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token file is private");
    assert!(
        !server
            ._running
            .seen
            .iter()
            .any(|(_, l)| l.starts_with("write token: ")),
        "the token is not printed"
    );
    let token = server.token.clone();
    let put = server
        .put(&dir, Some("0"), token.as_deref(), br#"{"a":2}"#)
        .await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 2}), 1));
    let _ = std::fs::remove_file(&file);
}

/// The version items of a history answer, newest first (gaps left out).
fn versions_of(history: &Value) -> Vec<Value> {
    history["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {history}"))
        .iter()
        .filter(|item| item.get("gap").is_none())
        .cloned()
        .collect()
}

/// Each write through the API has its history entry: tool `serve`, the message given with
/// `?message=`, what it changed, and a time in both forms; each kept version's value reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_lists_each_write_through_the_api_with_its_message() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-history");
    let dir = format!("{root}/cfg");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let server = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let token = server.token.clone().expect("a token");
    let bearer = format!("Bearer {token}");
    let headers = [
        ("content-type", "application/json"),
        ("if-match", "0"),
        ("authorization", bearer.as_str()),
    ];
    // A message of any characters, as the page sends it (encodeURIComponent).
    let path = format!(
        "/api/states/{}?message=raise%20n%20%E2%80%94%20f%C3%BCr%20the%20batch",
        encode(&dir)
    );
    let put = server
        .request("PUT", &path, &headers, br#"{"n":1}"#.to_vec())
        .await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let put = server
        .put(&dir, Some("1"), Some(&token), br#"{"n":2,"tag":"x"}"#)
        .await;
    assert_eq!(put.json(), json!({"version": 2}));

    let reply = server.history(&dir, "").await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let history = reply.json();
    assert_eq!(history["dir"], json!(dir));
    let versions = versions_of(&history);
    assert_eq!(versions.len(), 2, "{history}");
    let (newest, older) = (&versions[0], &versions[1]);
    assert_eq!(newest["version"], json!(2), "{history}");
    assert_eq!(newest["author"]["tool"], json!("serve"), "{history}");
    assert_eq!(newest["author"]["program"], json!("zkstate"), "{history}");
    assert_eq!(
        newest["author"]["program_version"],
        json!(env!("CARGO_PKG_VERSION")),
        "{history}"
    );
    assert!(newest["author"]["pid"].is_u64(), "{history}");
    assert_eq!(newest["message"], Value::Null, "{history}");
    assert_eq!(
        newest["changes"],
        json!({"added": 1, "modified": 1, "removed": 0, "paths": ["/n", "/tag"]}),
        "{history}"
    );
    assert_eq!(
        (
            &newest["outside"],
            &newest["rollback_of"],
            &newest["reproducible"]
        ),
        (&json!(false), &Value::Null, &json!(true)),
        "{history}"
    );
    assert!(newest["bytes"].as_u64().is_some_and(|b| b > 0), "{history}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as i64;
    let time_ms = newest["time_ms"].as_i64().expect("time_ms");
    assert!((now_ms - time_ms).abs() < 600_000, "{history}");
    let time = newest["time"].as_str().expect("time");
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "an RFC 3339 UTC time: {time}"
    );
    assert_eq!(older["version"], json!(1), "{history}");
    assert_eq!(
        older["message"],
        json!("raise n — für the batch"),
        "{history}"
    );
    assert_eq!(older["author"]["tool"], json!("serve"), "{history}");

    // The limit: one item; out of bounds, a clear 400.
    let one = server.history(&dir, "?limit=1").await.json();
    assert_eq!(versions_of(&one).len(), 1, "{one}");
    for bad in ["?limit=0", "?limit=1001", "?limit=lots"] {
        let reply = server.history(&dir, bad).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert!(
            reply.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("1 to 1000")),
            "{bad}"
        );
    }

    // The value of each kept version, as it was.
    let reply = server.version(&dir, "1").await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json(), json!({"n": 1}));
    assert_eq!(
        server.version(&dir, "2").await.json(),
        json!({"n": 2, "tag": "x"})
    );
    for bad in ["-1", "two"] {
        assert_eq!(server.version(&dir, bad).await.status, 400, "{bad}");
    }
    // A version never kept: 404 in the API's error form.
    let reply = server.version(&dir, "99").await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("version 99") && e.contains("not kept")),
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    // A missing state.
    let missing = format!("{root}/none");
    assert_eq!(server.history(&missing, "").await.status, 404);
    assert_eq!(server.version(&missing, "0").await.status, 404);
}

/// A rollback through the API writes the kept value again as a new version whose entry says
/// `rollback_of`; it is a compare-and-set on `if_version` (409 with the current version and
/// value), and a version not kept is 404. Nothing refused is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_restores_a_kept_version_only_over_the_version_shown() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-rollback");
    let dir = format!("{root}/cfg");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let server = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let token = server.token.clone().expect("a token");
    for (version, body) in [("0", r#"{"n":1}"#), ("1", r#"{"n":2}"#)] {
        let put = server
            .put(&dir, Some(version), Some(&token), body.as_bytes())
            .await;
        assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    }

    let ok = server
        .rollback(
            &dir,
            Some(&token),
            br#"{"to": 1, "if_version": 2, "message": "n=2 broke the batch"}"#,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json(), json!({"version": 3}));
    assert_eq!(payload(&zk, &dir).await, (json!({"n": 1}), 3));
    let history = server.history(&dir, "?limit=1").await.json();
    let entry = &versions_of(&history)[0];
    assert_eq!(
        (
            &entry["version"],
            &entry["rollback_of"],
            &entry["message"],
            &entry["author"]["tool"]
        ),
        (
            &json!(3),
            &json!(1),
            &json!("n=2 broke the batch"),
            &json!("serve")
        ),
        "{history}"
    );

    // A stale if_version: 409 with what ZooKeeper holds; nothing written.
    let stale = server
        .rollback(&dir, Some(&token), br#"{"to": 2, "if_version": 2}"#)
        .await;
    assert_eq!(stale.status, 409);
    let body = stale.json();
    assert_eq!(
        (&body["version"], &body["value"]),
        (&json!(3), &json!({"n": 1})),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("version conflict")),
        "{body}"
    );
    // A version never kept; then versions written before an outside write, whose values
    // ZooKeeper no longer has.
    let never = server
        .rollback(&dir, Some(&token), br#"{"to": 99, "if_version": 3}"#)
        .await;
    assert_eq!(never.status, 404);
    assert!(
        never.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("not kept")),
        "{}",
        String::from_utf8_lossy(&never.body)
    );
    let outside = raw_set(&zk, &format!("{dir}/payload"), br#"{"n":7}"#).await;
    let lost = server
        .rollback(
            &dir,
            Some(&token),
            format!(r#"{{"to": 2, "if_version": {outside}}}"#).as_bytes(),
        )
        .await;
    assert_eq!(lost.status, 404, "{}", String::from_utf8_lossy(&lost.body));
    assert_eq!(server.version(&dir, "2").await.status, 404);
    assert_eq!(payload(&zk, &dir).await, (json!({"n": 7}), outside));
}

/// A rollback needs the token, writes on, a same-origin page, `if_version`, and a body that is
/// the JSON documented; each refusal is a clear 4xx and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_refused_without_the_token_or_writes_and_for_a_bad_body() {
    let zk = shared_zk().await;
    let root = unique_dir("serve-rollback-refused");
    let dir = format!("{root}/cfg");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    let server = serve(&zk, &["--root", &root, "--allow-write"]).await;
    let read_only = serve(&zk, &["--root", &root]).await;
    let token = server.token.clone().expect("a token");
    let put = server
        .put(&dir, Some("0"), Some(&token), br#"{"n":1}"#)
        .await;
    assert_eq!(put.status, 200);
    let good = br#"{"to": 0, "if_version": 1}"#;

    // No token, a wrong one, writes off (the read-only server still shows the history).
    for (who, reply) in [
        ("no token", server.rollback(&dir, None, good).await),
        (
            "a wrong token",
            server.rollback(&dir, Some("wrong"), good).await,
        ),
        (
            "writes off",
            read_only.rollback(&dir, Some(&token), good).await,
        ),
    ] {
        assert_eq!(reply.status, 403, "{who}");
        assert!(reply.json()["error"].is_string(), "{who}");
    }
    let shown = read_only.history(&dir, "").await;
    assert_eq!(shown.status, 200);
    assert_eq!(versions_of(&shown.json()).len(), 1);
    // A page of another origin, even with the token.
    let bearer = format!("Bearer {token}");
    let reply = server
        .request(
            "POST",
            &format!("/api/states/{}/rollback", encode(&dir)),
            &[
                ("origin", "http://evil.example"),
                ("authorization", bearer.as_str()),
            ],
            good.to_vec(),
        )
        .await;
    assert_eq!(reply.status, 403);

    // Bad bodies: 400 with the place, 428 without if_version, 413 past 64 KiB.
    let bad = server
        .rollback(&dir, Some(&token), b"{\n  \"to\": ,\n}")
        .await;
    assert_eq!(bad.status, 400);
    let body = bad.json();
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(2), Some(9))
    );
    for text in [
        r#"{"to": "one", "if_version": 1}"#,
        r#"{"to": 0, "if_version": 1, "force": true}"#,
        r#"{"if_version": 1}"#,
        r#"{"to": -1, "if_version": 1}"#,
        "[]",
    ] {
        let reply = server.rollback(&dir, Some(&token), text.as_bytes()).await;
        assert_eq!(reply.status, 400, "{text}");
    }
    assert_eq!(
        server
            .rollback(&dir, Some(&token), br#"{"to": 0}"#)
            .await
            .status,
        428
    );
    let huge = format!(
        r#"{{"to": 0, "if_version": 1, "message": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    assert_eq!(
        server
            .rollback(&dir, Some(&token), huge.as_bytes())
            .await
            .status,
        413
    );
    // A missing state.
    assert_eq!(
        server
            .rollback(&format!("{root}/none"), Some(&token), good)
            .await
            .status,
        404
    );
    assert_eq!(payload(&zk, &dir).await, (json!({"n": 1}), 1));
}
