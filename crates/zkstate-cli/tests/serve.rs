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
    let mut args = vec!["--zk", zk, "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut running = Running::spawn(&args);
    let listening = running
        .line_where(Stream::Stdout, |l| l.starts_with("listening on "))
        .await;
    let base = listening
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    let token = if extra.contains(&"--allow-write") {
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

/// A listing of the root that fails answers with what failed: 404 for a root that does not
/// exist, 403 for a state the server may not read; the message says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_listing_answers_404_for_a_missing_root_and_403_for_a_forbidden_state() {
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

    let root = unique_dir("serve-forbidden");
    create_state(&zk, &format!("{root}/open"), "{}").await;
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
        403,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("permission denied")));
}
