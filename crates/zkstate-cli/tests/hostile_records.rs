//! Records are remote input: a listener record whose host name holds terminal controls (erase
//! the line, return to its start, reverse what follows) prints escaped in the human output of
//! `listeners` and `rollout`, and as it is in their `--json` output.

mod common;

use common::*;
use zookeeper_client::{Acls, CreateMode};

/// Erases the line, returns to its start, writes a fake status, and reverses what follows.
const HOST: &str = "web-1\u{1b}[2K\rall applied \u{202e}1-bew";

/// The characters a terminal would act on rather than show.
fn raw_controls(bytes: &[u8]) -> Vec<char> {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

#[track_caller]
fn assert_no_raw_controls(out: &Output) {
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let bytes = text.as_bytes();
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&b'\r'),
            "a raw ESC or CR byte on {stream}\n{}",
            out.to_string().escape_debug()
        );
        let found = raw_controls(bytes);
        assert!(
            found.is_empty(),
            "raw control characters {found:?} on {stream}\n{}",
            out.to_string().escape_debug()
        );
    }
}

#[tokio::test]
async fn a_host_name_with_terminal_controls_prints_escaped_in_human_output_and_as_is_in_json() {
    let zk = shared_zk().await;
    let dir = unique_dir("hostile-host");
    create_state(&zk, &dir, r#"{"n":0}"#).await;
    // An ephemeral record of this raw session: a live instance that has applied nothing.
    let client = raw_client(&zk).await;
    let record = serde_json::json!({
        "id": "evil", "hostname": HOST, "pid": 66, "started_at_ms": 1, "applied_version": -1
    });
    client
        .create(
            &format!("{dir}/listeners/evil"),
            record.to_string().as_bytes(),
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("planted record");
    wait_listeners(&zk, &dir, 1).await;
    let escaped = r"web-1\u{1b}[2K\u{d}all applied \u{202e}1-bew";

    let out = run(&zk, &["listeners", &dir]).await;
    out.success();
    assert_no_raw_controls(&out);
    assert!(out.stdout.contains(escaped), "{out}");

    let out = run(&zk, &["rollout", &dir]).await;
    out.expect_code(6);
    assert_no_raw_controls(&out);
    assert!(
        out.stdout
            .contains(&format!("waiting for {escaped} pid 66 (on -1)")),
        "{out}"
    );
    // The wait prints the same line on stderr, and the error line names the laggard.
    let out = run(&zk, &["--timeout", "1", "rollout", "--wait", &dir]).await;
    out.expect_code(6);
    assert_no_raw_controls(&out);
    assert!(out.stderr.contains(escaped), "{out}");

    let out = run(&zk, &["listeners", "--json", &dir]).await;
    out.success();
    assert_eq!(out.json()[0]["hostname"], HOST, "{out}");
    let out = run(&zk, &["rollout", "--json", &dir]).await;
    out.expect_code(6);
    assert_eq!(out.json()["pending"][0]["hostname"], HOST, "{out}");
}
