//! Payloads written to cost memory, by a raw client, into a state that `zkstate watch` and a page
//! of `zkstate serve` follow with the default limits: each is refused with a typed error naming
//! its limit and count, the last good value is kept, the next good value is delivered, and each
//! process's peak memory (`VmHWM`) stays below the bound the README's security section states.

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The raw bytes of a `zkstate serve` event stream, read as they come.
struct EventStream {
    socket: TcpStream,
    seen: String,
}

impl EventStream {
    /// Opens the event stream of `dir` on the server at `base` (`http://127.0.0.1:PORT`).
    async fn open(base: &str, dir: &str) -> EventStream {
        let host = base.trim_start_matches("http://");
        let mut socket = TcpStream::connect(host).await.expect("connect to serve");
        let path = dir.replace('/', "%2F");
        let request = format!(
            "GET /api/states/{path}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).await.expect("request");
        let mut stream = EventStream {
            socket,
            seen: String::new(),
        };
        stream.until("event: snapshot", 1).await;
        stream
    }

    /// Reads until `needle` has been seen `count` times in the whole stream.
    async fn until(&mut self, needle: &str, count: usize) {
        let mut buf = vec![0; 1 << 16];
        while self.seen.matches(needle).count() < count {
            let read = tokio::time::timeout(SOON, self.socket.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{needle:?} x{count} not seen in time"))
                .expect("read");
            assert!(read > 0, "the stream ended before {needle:?} x{count}");
            self.seen.push_str(&String::from_utf8_lossy(&buf[..read]));
        }
    }
}

/// The bound the README states for a default-configured instance, whatever is written.
const PEAK_BOUND_KIB: u64 = 160 * 1024;

/// `[0,0,…,0]` with `n` zeros.
fn zeros(n: usize) -> Vec<u8> {
    let mut text = Vec::with_capacity(2 * n + 1);
    text.push(b'[');
    for i in 0..n {
        if i > 0 {
            text.push(b',');
        }
        text.push(b'0');
    }
    text.push(b']');
    text
}

/// `[{},{},…]` with `n` objects.
fn empty_objects(n: usize) -> Vec<u8> {
    let mut text = b"[".to_vec();
    text.extend(std::iter::repeat_n(&b"{},"[..], n).flatten());
    text.pop();
    text.push(b']');
    text
}

fn frame(text: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(text, 3).expect("compress")
}

/// The process's peak resident memory, from `/proc/<pid>/status`.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM");
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("a number of kB")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_built_to_exhaust_memory_are_refused_and_watch_and_serve_stay_small() {
    let zk = shared_zk().await;
    let root = unique_dir("hostile-payloads");
    let dir = format!("{root}/s");
    create_state(&zk, &dir, "[1,2,3]").await;
    let mut watch = Running::watch(&zk, &dir, &[]).await;
    let serve_args = [
        "--zk",
        &zk,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        &root,
    ];
    let mut serve = Running::spawn(&serve_args);
    let listening = serve
        .line_where(Stream::Stdout, |l| l.starts_with("listening on "))
        .await;
    let base = listening
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    let mut page = EventStream::open(&base, &dir).await;
    let serve_before = peak_kib(serve.pid());
    let payload = format!("{dir}/payload");
    let before = peak_kib(watch.pid());

    // The largest plain payload ZooKeeper takes, as costly as plain JSON gets: 1 MB of zeros,
    // 499,000 values, within the limits: applied (its changes past the batch cap are one root
    // change).
    raw_set(&zk, &payload, &zeros(499_000)).await;
    let line = watch.stdout_lines(1).await.remove(0);
    assert!(
        line.starts_with("~ . [1,2,3] -> [0,0,"),
        "{}",
        &line[..line.len().min(80)]
    );
    raw_set(&zk, &payload, b"[1,2,3]").await;
    watch.stdout_lines(1).await;

    // 15 MiB of zeros in a frame of a few KB (under the 16 MiB decompression cap): 7.8 million
    // values. 64 MiB of zeros: over the cap. 1.2 million empty objects in a frame.
    let limit = "json values, more than the limit of 1048576";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a frame of 15 MiB of zeros",
            frame(&zeros(7_800_000)),
            limit,
        ),
        (
            "a frame of 64 MiB of zeros",
            frame(&zeros(32 << 20)),
            "decompresses to more than 16777216 bytes",
        ),
        (
            "a frame of 1.2 M empty objects",
            frame(&empty_objects(1_200_000)),
            limit,
        ),
    ];
    let printed = watch.seen.len();
    for (what, bytes, expected) in &cases {
        assert!(bytes.len() < 1_000_000, "{what}: {} bytes", bytes.len());
        raw_set(&zk, &payload, bytes).await;
        let line = watch
            .line_where(Stream::Stderr, |line| line.contains("does not decode"))
            .await;
        assert!(
            line.contains(expected),
            "{what}: {line}\n{}",
            watch.transcript()
        );
        let faults = cases.iter().take_while(|(w, _, _)| w != what).count() + 1;
        page.until("event: fault", faults).await;
    }
    assert_eq!(page.seen.matches(limit).count(), 2, "{}", page.seen);
    let refused: Vec<_> = watch.seen[printed..]
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .collect();
    assert!(
        refused.is_empty(),
        "no change printed for a refused payload: {refused:?}"
    );
    raw_set(&zk, &payload, b"[1,2,3,4]").await;
    assert_eq!(
        watch.stdout_lines(1).await,
        vec!["+ [3] 4"],
        "the next good value, diffed against the last good one\n{}",
        watch.transcript()
    );
    page.until("[1,2,3,4]", 1).await;
    let peak = peak_kib(watch.pid());
    eprintln!("zkstate watch: VmHWM {before} KiB before, {peak} KiB after the hostile payloads");
    let serve_peak = peak_kib(serve.pid());
    eprintln!("zkstate serve: VmHWM {serve_before} KiB before, {serve_peak} KiB after");
    for (who, peak) in [("watch", peak), ("serve", serve_peak)] {
        assert!(
            peak < PEAK_BOUND_KIB,
            "zkstate {who}: peak {peak} KiB, bound {PEAK_BOUND_KIB} KiB\n{}",
            watch.transcript()
        );
    }
    watch.kill().await;
    serve.kill().await;
}
