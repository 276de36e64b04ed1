//! `zkstate edit`: `$EDITOR` scripts stand in for a person. A saved change is written at the
//! version read; unchanged text writes nothing; bad JSON is exit 2 with line and column and the
//! file kept; a write by someone else while editing is exit 3 with the edited text kept.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

/// An executable editor script in `dir` whose body gets the file as `$1`.
fn editor(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    let script = format!("#!/bin/sh\nset -e\n{body}\n");
    if let Err(err) = std::fs::write(&path, script) {
        panic!("cannot write {}: {err}", path.display());
    }
    if let Err(err) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)) {
        panic!("cannot chmod {}: {err}", path.display());
    }
    path.display().to_string()
}

fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary directory: {err}"),
    }
}

/// The path after "kept at " in an error line; the file must exist.
fn kept_file(out: &Output) -> PathBuf {
    let Some((_, rest)) = out.stderr.split_once("kept at ") else {
        panic!("no kept file named\n{out}");
    };
    let path = PathBuf::from(rest.trim());
    assert!(
        path.is_file(),
        "kept file {} missing\n{out}",
        path.display()
    );
    path
}

#[tokio::test]
async fn edit_writes_the_saved_change() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-ok");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let tmp = scratch();
    // The editor sees the pretty payload, then saves a new value.
    let seen = tmp.path().join("seen.json");
    let script = editor(
        tmp.path(),
        "ed.sh",
        &format!(
            "cp \"$1\" '{}'\nprintf '%s\\n' '{{\"a\": 2, \"b\": [true]}}' > \"$1\"",
            seen.display()
        ),
    );
    let out = run_with(&zk, &["edit", &dir], None, &[("EDITOR", &script)]).await;
    out.success();
    assert_eq!(out.stderr, "version 1\n", "{out}");
    assert_eq!(
        std::fs::read_to_string(&seen).ok().as_deref(),
        Some("{\n  \"a\": 1\n}\n")
    );
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 2, "b": [true]}), 1));
}

#[tokio::test]
async fn unchanged_text_writes_nothing() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-unchanged");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let out = run_with(&zk, &["edit", &dir], None, &[("EDITOR", "true")]).await;
    out.success();
    assert!(out.stderr.contains("unchanged"), "{out}");
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
}

#[tokio::test]
async fn bad_json_is_exit_2_and_keeps_the_file() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-bad-json");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let tmp = scratch();
    let script = editor(
        tmp.path(),
        "ed.sh",
        "printf '{\\n  \"a\": ,\\n}\\n' > \"$1\"",
    );
    let out = run_with(&zk, &["edit", &dir], None, &[("EDITOR", &script)]).await;
    out.expect_code(2)
        .error_line(&["invalid JSON", "line 2, column 8", "nothing written"]);
    let kept = kept_file(&out);
    assert_eq!(
        std::fs::read_to_string(&kept).ok().as_deref(),
        Some("{\n  \"a\": ,\n}\n")
    );
    let _ = std::fs::remove_file(kept);
    assert_eq!(payload(&zk, &dir).await, (json!({"a": 1}), 0));
}

#[tokio::test]
async fn a_write_during_the_edit_is_a_conflict_exit_3() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-conflict");
    create_state(&zk, &dir, r#"{"who":"nobody"}"#).await;
    let tmp = scratch();
    // While "editing", someone else writes the state.
    let script = editor(
        tmp.path(),
        "ed.sh",
        &format!(
            "'{BIN}' --zk '{zk}' set '{dir}' '{{\"who\":\"other\"}}'\nprintf '%s\\n' '{{\"who\": \"me\"}}' > \"$1\""
        ),
    );
    let out = run_with(&zk, &["edit", &dir], None, &[("EDITOR", &script)]).await;
    out.expect_code(3);
    // The other writer's `version 1` comes first, then our one error line.
    let error = out.stderr.lines().last().unwrap_or("");
    assert!(
        error.starts_with("zkstate: ")
            && error.contains("version conflict")
            && error.contains("version 0")
            && error.contains("holds version 1")
            && error.contains("nothing written"),
        "{out}"
    );
    let kept = kept_file(&out);
    assert_eq!(
        std::fs::read_to_string(&kept).ok().as_deref(),
        Some("{\"who\": \"me\"}\n")
    );
    let _ = std::fs::remove_file(kept);
    assert_eq!(payload(&zk, &dir).await, (json!({"who": "other"}), 1));
}

#[tokio::test]
async fn a_failing_editor_writes_nothing() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-editor-fails");
    create_state(&zk, &dir, "1").await;
    let out = run_with(&zk, &["edit", &dir], None, &[("EDITOR", "false")]).await;
    out.expect_code(1)
        .error_line(&["editor", "nothing written"]);
    let _ = std::fs::remove_file(kept_file(&out));
    assert_eq!(payload(&zk, &dir).await, (json!(1), 0));
}

#[tokio::test]
async fn edit_of_a_missing_state_is_exit_4() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-missing");
    run_with(&zk, &["edit", &dir], None, &[("EDITOR", "true")])
        .await
        .expect_code(4)
        .error_line(&["does not exist"]);
}

/// The editor gets the environment without the credential variables: neither the credential
/// nor the file that holds it.
#[tokio::test]
async fn the_editor_runs_without_the_credential_variables() {
    let zk = shared_zk().await;
    let dir = unique_dir("edit-env");
    create_state(&zk, &dir, "1").await;
    let tmp = scratch();
    let auth = tmp.path().join("auth");
    std::fs::write(&auth, "alice:s3cret\n").expect("write the auth file");
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let seen = tmp.path().join("env");
    let script = editor(tmp.path(), "ed.sh", &format!("env > '{}'", seen.display()));
    let auth = auth.display().to_string();
    let env = [
        ("EDITOR", script.as_str()),
        ("ZOOKEEPER_AUTH", "alice:s3cret"),
        ("ZOOKEEPER_AUTH_FILE", auth.as_str()),
        ("ZKSTATE_TEST_MARK", "kept"),
    ];
    let out = run_with(&zk, &["edit", &dir], None, &env).await;
    out.success();
    let environment = std::fs::read_to_string(&seen).expect("the editor's environment");
    assert!(
        environment.lines().any(|l| l == "ZKSTATE_TEST_MARK=kept"),
        "the rest of the environment is passed\n{environment}"
    );
    for name in ["ZOOKEEPER_AUTH=", "ZOOKEEPER_AUTH_FILE="] {
        assert!(
            !environment.lines().any(|l| l.starts_with(name)),
            "{name} reached the editor\n{environment}"
        );
    }
    assert!(!environment.contains("s3cret"), "{environment}");
}
