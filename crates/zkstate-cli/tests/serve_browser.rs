//! `zkstate serve` in a real browser: Debian's headless Chromium driven through chromedriver
//! (scripts/test.sh installs both when missing). The state page shows an outside change without
//! a reload, edits through the page reach ZooKeeper, invalid JSON shows the server's message
//! with its line and column, a conflicting edit shows the conflict, the index lists the state,
//! and a screenshot of the page is saved under target/. The history panel lists the versions
//! written, shows a version's differences, and rolls back to an older one (a save's message
//! typed beside Save, which stays in view at 1280×900). A page of another origin can neither
//! read the API (`fetch` with `mode: 'no-cors'`) nor frame the page.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// On the command line of every process this test starts (in the profile directory's name, which
/// Chromium's `--user-data-dir` and chromedriver's `--log-path` carry): scripts/test.sh looks for
/// it to find leftovers, without mistaking a browser the user runs for one.
const MARKER: &str = "zkstate-browser-test-";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// chromedriver and the Chromium it starts, in their own process group: killed together when
/// this is dropped, even when the test fails half way (a SIGKILL to chromedriver alone would
/// leave Chromium running).
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// chromedriver on a free port, and a WebDriver session of headless Chromium.
async fn browser(profile: &std::path::Path) -> (Driver, fantoccini::Client) {
    for binary in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            std::path::Path::new(binary).exists(),
            "{binary} is missing: `apt-get install -y chromium chromium-driver` (scripts/test.sh does it)"
        );
    }
    let port = free_port();
    let driver = Driver {
        child: Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.join("chromedriver.log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // As the machine's notes say: no sandbox as root, and none of Chromium's background
    // connections (this machine has no network).
    let args = json!([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        format!("--user-data-dir={}", profile.display()),
    ]);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": CHROMIUM, "args": args }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session of headless Chromium");
    (driver, client)
}

/// Waits until the element's text satisfies `ok`; returns the text.
async fn text_where(client: &fantoccini::Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + SOON;
    let mut last = String::new();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{css} never satisfied the condition; last text {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn js(client: &fantoccini::Client, script: &str) -> Value {
    client.execute(script, vec![]).await.expect(script)
}

async fn click(client: &fantoccini::Client, css: &str) {
    client
        .wait()
        .at_most(SOON)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"))
        .click()
        .await
        .unwrap_or_else(|err| panic!("click {css}: {err}"));
}

/// Puts `text` in the editor as a user typing would (the page listens to `input`).
async fn type_into_editor(client: &fantoccini::Client, text: &str) {
    let script = format!(
        "const e = document.getElementById('editor'); e.value = {}; e.dispatchEvent(new Event('input')); return true;",
        serde_json::to_string(text).expect("json")
    );
    js(client, &script).await;
}

fn screenshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/zkstate-serve-state.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_page_follows_changes_edits_and_shows_conflicts_in_a_real_browser() {
    let zk = shared_zk().await;
    let root = unique_dir("browser");
    let dir = format!("{root}/process-monitor");
    create_state(
        &zk,
        &dir,
        r#"{"globs":["systemd*","rsync*"],"interval_s":5,"limits":{"cpu":2,"memory_mb":512}}"#,
    )
    .await;
    // Two live instances, for the listeners table.
    let a = Running::watch(&zk, &dir, &[]).await;
    let b = Running::watch(&zk, &dir, &[]).await;
    wait_listeners(&zk, &dir, 2).await;

    let mut server = Running::spawn(&[
        "--zk",
        &zk,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        &root,
        "--allow-write",
    ]);
    let base = server
        .line_where(Stream::Stdout, |l| l.starts_with("listening on "))
        .await
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    let token = server
        .line_where(Stream::Stdout, |l| l.starts_with("write token: "))
        .await
        .trim_start_matches("write token: ")
        .to_string();

    let profile = tempfile::Builder::new()
        .prefix(MARKER)
        .tempdir()
        .expect("profile dir");
    let (_driver, client) = browser(profile.path()).await;
    let page = format!("{base}/state?dir={}", dir.replace('/', "%2F"));
    client.goto(&page).await.expect("open the state page");
    text_where(&client, "#status", |t| t == "live").await;
    text_where(&client, "#version", |t| t == "0").await;
    // Under the page's Content-Security-Policy its modules run (the status above) and its
    // style sheet applies.
    assert_eq!(
        js(
            &client,
            "return getComputedStyle(document.querySelector('header.top')).display;"
        )
        .await,
        json!("flex")
    );
    // One row per live instance, showing the two watches' pids.
    let mut pids = vec![a.pid().to_string(), b.pid().to_string()];
    pids.sort();
    let rows = "return Array.from(document.querySelectorAll('#listeners-body tr.listener td:nth-child(3)')).map(td => td.textContent).sort();";
    let deadline = Instant::now() + SOON;
    loop {
        let shown = js(&client, rows).await;
        if shown == json!(pids) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the listeners table shows pids {shown}, not {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A marker in the page: if it survives, the page was never reloaded.
    js(&client, "window.__zkstateMarker = 42; return true;").await;

    // An outside change with a raw ZooKeeper client: the value and the change appear.
    raw_set(
        &zk,
        &format!("{dir}/payload"),
        br#"{"globs":["systemd*","rsync*","firefox*"],"interval_s":5,"limits":{"cpu":2,"memory_mb":512}}"#,
    )
    .await;
    text_where(&client, "#version", |t| t == "1").await;
    text_where(&client, "#changes", |t| t.contains("firefox*")).await;
    client
        .find(Locator::Css(r#"li.batch[data-version="1"] li.added"#))
        .await
        .expect("the change listed as an addition");
    text_where(&client, "#value", |t| t.contains("firefox*")).await;
    assert_eq!(
        js(&client, "return window.__zkstateMarker;").await,
        json!(42),
        "the page was reloaded"
    );
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_path(), &png).expect("save the screenshot");

    // The tree's buttons: "collapse all" folds `globs`, "default view" opens it again.
    click(&client, "#collapse-all").await;
    text_where(&client, "#value", |t| !t.contains("firefox*")).await;
    click(&client, "#expand-default").await;
    text_where(&client, "#value", |t| t.contains("firefox*")).await;

    // An edit through the page reaches ZooKeeper (the page asks for the token once).
    click(&client, "#edit").await;
    type_into_editor(
        &client,
        r#"{"globs":["systemd*","rsync*","firefox*"],"interval_s":10,"limits":{"cpu":2,"memory_mb":512}}"#,
    )
    .await;
    click(&client, "#save").await;
    client
        .wait()
        .at_most(SOON)
        .for_element(Locator::Css("#token"))
        .await
        .expect("the token dialog")
        .send_keys(&token)
        .await
        .expect("type the token");
    click(&client, "#token-ok").await;
    text_where(&client, "#save-result", |t| {
        t.contains("saved as version 2")
    })
    .await;
    let (stored, version) = payload(&zk, &dir).await;
    assert_eq!((stored["interval_s"].clone(), version), (json!(10), 2));

    // Invalid JSON: the page sends it as it is and shows the server's 400, which names the line
    // and column; the editor selects that place (the `,` where a value was expected).
    text_where(&client, "#version", |t| t == "2").await;
    click(&client, "#edit").await;
    type_into_editor(&client, "{\n  \"interval_s\": ,\n  \"globs\": []\n}").await;
    click(&client, "#save").await;
    let error = text_where(&client, "#edit-error", |t| !t.is_empty()).await;
    assert!(
        error.starts_with("Not saved: invalid JSON in the request body at line 2, column 17"),
        "{error}"
    );
    assert_eq!(
        js(
            &client,
            "return document.getElementById('editor').selectionStart;"
        )
        .await,
        json!(18),
        "the editor selects the place of the error"
    );
    assert_eq!(payload(&zk, &dir).await.1, 2, "nothing written");
    click(&client, "#cancel").await;

    // A conflicting edit: someone writes while the page edits version 2.
    text_where(&client, "#version", |t| t == "2").await;
    click(&client, "#edit").await;
    type_into_editor(
        &client,
        r#"{"globs":["systemd*"],"interval_s":10,"limits":{"cpu":2,"memory_mb":512}}"#,
    )
    .await;
    raw_set(
        &zk,
        &format!("{dir}/payload"),
        br#"{"globs":["systemd*","rsync*","firefox*"],"interval_s":30,"limits":{"cpu":2,"memory_mb":512}}"#,
    )
    .await;
    text_where(&client, "#version", |t| t == "3").await;
    click(&client, "#save").await;
    let conflict = text_where(&client, "#conflict", |t| t.contains("conflict")).await;
    assert!(
        conflict.contains('3'),
        "the conflict names the current version: {conflict}"
    );
    text_where(&client, "#conflict-diff", |t| t.contains("interval_s")).await;
    let (stored, version) = payload(&zk, &dir).await;
    assert_eq!(
        (stored["interval_s"].clone(), version),
        (json!(30), 3),
        "nothing written"
    );

    // The index page (its own module, and the helpers it shares with the state page) lists it.
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the index");
    text_where(&client, "#states-body", |t| t.contains(&dir)).await;

    client.close().await.expect("close the browser");
    drop((a, b));
}

/// A tiny HTTP server for another origin: answers every request with `page`, then closes.
struct OtherOrigin {
    port: u16,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

async fn other_origin(page: impl Fn(u16) -> String + Send + 'static) -> OtherOrigin {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let html = page(port);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let html = html.clone();
            tokio::spawn(async move {
                // The request's head; its content does not matter.
                let mut head = vec![0u8; 8192];
                let _ = socket.read(&mut head).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    OtherOrigin {
        port,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

/// Waits until `script` (an expression) is true in the page.
async fn until(client: &fantoccini::Client, what: &str, script: &str) {
    let deadline = Instant::now() + SOON;
    loop {
        if js(client, &format!("return Boolean({script});")).await == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never: {what} ({script})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /api/stats` of the server at `base`, from the test (no browser).
async fn stats(base: &str) -> Value {
    use http_body_util::BodyExt;

    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<axum::body::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let uri: hyper::Uri = format!("{base}/api/stats").parse().expect("uri");
    let response = tokio::time::timeout(SOON, client.get(uri))
        .await
        .expect("an answer in time")
        .expect("an HTTP answer");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_origin_can_neither_read_the_api_nor_frame_the_page() {
    let zk = shared_zk().await;
    let root = unique_dir("browser-xsite");
    let dir = format!("{root}/secret");
    create_state(&zk, &dir, r#"{"password":"hunter2"}"#).await;
    let mut server = Running::spawn(&[
        "--zk",
        &zk,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        &root,
    ]);
    let base = server
        .line_where(Stream::Stdout, |l| l.starts_with("listening on "))
        .await
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    let encoded = dir.replace('/', "%2F");

    // Another origin (another port of the same host: same-site, not same-origin) whose page
    // asks the API without CORS (the answer would be opaque, but the request would open the
    // state) and frames the state page.
    let (api, page) = (
        format!("{base}/api/states/{encoded}"),
        format!("{base}/state?dir={encoded}"),
    );
    let other = other_origin(move |_| {
        format!(
            r#"<!DOCTYPE html><title>other</title>
<iframe id="frame" src="{page}"></iframe>
<script>
window.done = {{ frame: false, fetch: null }};
document.getElementById('frame').addEventListener('load', () => {{ window.done.frame = true; }});
fetch('{api}', {{ mode: 'no-cors' }}).then(() => {{ window.done.fetch = 'answered'; }}, () => {{ window.done.fetch = 'failed'; }});
fetch('{api}/events', {{ mode: 'no-cors' }}).then(() => {{ window.done.events = 'answered'; }}, () => {{ window.done.events = 'failed'; }});
</script>"#
        )
    })
    .await;

    let profile = tempfile::Builder::new()
        .prefix(MARKER)
        .tempdir()
        .expect("profile dir");
    let (_driver, client) = browser(profile.path()).await;
    client
        .goto(&format!("http://127.0.0.1:{}/", other.port))
        .await
        .expect("open the other origin's page");
    until(
        &client,
        "both requests answered and the frame loaded",
        "window.done && window.done.fetch && window.done.events && window.done.frame",
    )
    .await;
    // The server refused both requests (counted), and opened nothing.
    let seen = stats(&base).await;
    assert!(
        seen["refused"]["cross_site"].as_u64() >= Some(2),
        "the API requests of the other origin were not refused: {seen}"
    );
    assert_eq!(seen["open_states"], json!(0), "{seen}");
    assert_eq!(seen["streams"], json!(0), "{seen}");

    // Framing is refused even for the server's own origin, where a frame's document would be
    // readable: a frame of about:blank is, the frame of the state page is not (Chromium shows
    // its error page, of an opaque origin, instead).
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the index");
    text_where(&client, "#states-body", |t| t.contains(&dir)).await;
    js(
        &client,
        &format!(
            r#"window.frames_ = {{}};
for (const [name, src] of [['blank', 'about:blank'], ['page', '/state?dir={encoded}']]) {{
  const f = document.createElement('iframe');
  f.addEventListener('load', () => {{ window.frames_[name] = f; }});
  f.src = src;
  document.body.append(f);
}}
return true;"#
        ),
    )
    .await;
    until(
        &client,
        "both frames loaded",
        "window.frames_.blank && window.frames_.page",
    )
    .await;
    assert_eq!(
        js(
            &client,
            "return window.frames_.blank.contentDocument !== null;"
        )
        .await,
        json!(true),
        "a same-origin frame's document is readable"
    );
    assert_eq!(
        js(
            &client,
            "const d = window.frames_.page.contentDocument; return d === null || d.getElementById('dir') === null;"
        )
        .await,
        json!(true),
        "the state page was framed"
    );
    let seen = stats(&base).await;
    assert_eq!(
        seen["streams"],
        json!(0),
        "the framed page opened a stream: {seen}"
    );

    client.close().await.expect("close the browser");
    drop(other);
    server.kill().await;
}

/// `zkstate serve --allow-write --root ROOT`: the running server, its base URL and token.
async fn serve_writable(zk: &str, root: &str) -> (Running, String, String) {
    let mut server = Running::spawn(&[
        "--zk",
        zk,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        root,
        "--allow-write",
    ]);
    let base = server
        .line_where(Stream::Stdout, |l| l.starts_with("listening on "))
        .await
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    let token = server
        .line_where(Stream::Stdout, |l| l.starts_with("write token: "))
        .await
        .trim_start_matches("write token: ")
        .to_string();
    (server, base, token)
}

/// Resizes the window so that the page's viewport is `width`×`height`.
async fn viewport(client: &fantoccini::Client, width: u32, height: u32) {
    client
        .set_window_size(width, height)
        .await
        .expect("resize the window");
    let frame = js(
        client,
        "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
    )
    .await;
    let extra = |at: usize| {
        frame[at]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    };
    client
        .set_window_size(width + extra(0), height + extra(1))
        .await
        .expect("resize the window");
    let inner = js(client, "return [window.innerWidth, window.innerHeight];").await;
    assert_eq!(inner, json!([width, height]), "the viewport");
}

/// The text of the history row of `version`, once it is listed.
async fn history_row(client: &fantoccini::Client, version: i32) -> String {
    text_where(
        client,
        &format!(r#"tr.history-entry[data-version="{version}"]"#),
        |t| !t.is_empty(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_panel_lists_versions_and_rolls_back_to_one_in_a_real_browser() {
    let zk = shared_zk().await;
    let root = unique_dir("browser-history");
    let dir = format!("{root}/batch");
    create_state(&zk, &dir, r#"{"interval_s":5,"limits":{"cpu":2}}"#).await;
    let (server, base, token) = serve_writable(&zk, &root).await;
    let profile = tempfile::Builder::new()
        .prefix(MARKER)
        .tempdir()
        .expect("profile dir");
    let (_driver, client) = browser(profile.path()).await;
    let page = format!("{base}/state?dir={}", dir.replace('/', "%2F"));
    client.goto(&page).await.expect("open the state page");
    text_where(&client, "#version", |t| t == "0").await;
    viewport(&client, 1280, 900).await;

    // A save through the page with a message typed beside Save, which stays in view.
    click(&client, "#edit").await;
    let save_in_view = "const r = document.getElementById('save').getBoundingClientRect(); \
        return r.bottom <= window.innerHeight && r.right <= window.innerWidth && r.top >= 0;";
    assert_eq!(
        js(&client, save_in_view).await,
        json!(true),
        "Save is out of view"
    );
    type_into_editor(&client, r#"{"interval_s":10,"limits":{"cpu":2}}"#).await;
    client
        .find(Locator::Css("#save-message"))
        .await
        .expect("the message input")
        .send_keys("slower polling")
        .await
        .expect("type the message");
    click(&client, "#save").await;
    client
        .wait()
        .at_most(SOON)
        .for_element(Locator::Css("#token"))
        .await
        .expect("the token dialog")
        .send_keys(&token)
        .await
        .expect("type the token");
    click(&client, "#token-ok").await;
    text_where(&client, "#save-result", |t| {
        t.contains("saved as version 1")
    })
    .await;
    // A second write, from the command line: the panel reloads on the new version.
    run(
        &zk,
        &[
            "set",
            &dir,
            r#"{"interval_s":60,"limits":{"cpu":2}}"#,
            "-m",
            "from the cli",
        ],
    )
    .await
    .success();
    text_where(&client, "#version", |t| t == "2").await;
    let first = history_row(&client, 1).await;
    assert!(
        first.contains("slower polling") && first.contains("serve") && first.contains("~1"),
        "{first}"
    );
    let second = history_row(&client, 2).await;
    assert!(
        second.contains("from the cli") && second.contains("cli"),
        "{second}"
    );

    // A click on a version shows what it changed from the one before it.
    click(&client, r#"tr.history-entry[data-version="2"] td.version"#).await;
    text_where(&client, "#history-diff", |t| {
        t.contains(".interval_s") && t.contains("60")
    })
    .await;

    // Roll back to version 1: a new version holding version 1's value, listed as a rollback.
    click(
        &client,
        r#"tr.history-entry[data-version="1"] button.rollback"#,
    )
    .await;
    text_where(&client, "#save-result", |t| {
        t.contains("rolled back to version 1 as version 3")
    })
    .await;
    let (stored, version) = payload(&zk, &dir).await;
    assert_eq!(
        (stored, version),
        (json!({"interval_s": 10, "limits": {"cpu": 2}}), 3)
    );
    text_where(&client, "#version", |t| t == "3").await;
    text_where(
        &client,
        r#"tr.history-entry[data-version="3"] .badge.rollback-of"#,
        |t| t == "rollback of 1",
    )
    .await;
    // The version shown now has no rollback of its own; the older ones keep theirs.
    client
        .find(Locator::Css(
            r#"tr.history-entry[data-version="2"] button.rollback"#,
        ))
        .await
        .expect("a rollback button on version 2");
    let png = client.screenshot().await.expect("screenshot");
    let shot =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/zkstate-serve-history.png");
    std::fs::write(shot, &png).expect("save the screenshot");

    client.close().await.expect("close the browser");
    server.kill().await;
}
