//! `zkstate ls` finds the state directories under a path; `zkstate rm` removes one of any size,
//! only with `--yes`.

mod common;

use common::*;

#[tokio::test]
async fn ls_lists_state_dirs_below_a_path() {
    let zk = shared_zk().await;
    let base = unique_dir("ls");
    for dir in ["a", "b/c", "b/d/e", "a/nested"] {
        create_state(&zk, &format!("{base}/{dir}"), "{}").await;
    }
    // Not states: a plain node, and one whose name looks like a layout node.
    raw_mkdir(&zk, &format!("{base}/plain/lock")).await;

    let out = run(&zk, &["ls", &base]).await;
    out.success();
    let expected: Vec<String> = ["a", "a/nested", "b/c", "b/d/e"]
        .iter()
        .map(|d| format!("{base}/{d}"))
        .collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected, "{out}");

    // Without PATH: the URL's base path.
    let url = format!("zookeeper://{zk}{base}/b");
    let out = run_args(&["--zk", &url, "ls"], None, &[]).await;
    out.success();
    assert_eq!(out.stdout, format!("{base}/b/c\n{base}/b/d/e\n"), "{out}");
    // A relative PATH is resolved under it.
    let out = run_args(&["--zk", &url, "ls", "d"], None, &[]).await;
    out.success();
    assert_eq!(out.stdout, format!("{base}/b/d/e\n"), "{out}");

    // From the root, /zookeeper is skipped and ours are there.
    let out = run(&zk, &["ls"]).await;
    out.success();
    assert!(
        out.stdout.lines().all(|l| !l.starts_with("/zookeeper")),
        "{out}"
    );
    assert!(out.stdout.contains(&format!("{base}/b/d/e\n")), "{out}");
}

#[tokio::test]
async fn ls_of_a_missing_path_is_exit_4() {
    let zk = shared_zk().await;
    let base = unique_dir("ls-missing");
    run(&zk, &["ls", &base])
        .await
        .expect_code(4)
        .error_line(&[&base, "does not exist"]);
}

#[tokio::test]
async fn rm_needs_yes() {
    let zk = shared_zk().await;
    let dir = unique_dir("rm-no-yes");
    create_state(&zk, &dir, "1").await;
    run(&zk, &["rm", &dir])
        .await
        .expect_code(2)
        .error_line(&["--yes"]);
    assert!(exists(&zk, &format!("{dir}/payload")).await);
}

#[tokio::test]
async fn rm_removes_the_whole_state_dir() {
    let zk = shared_zk().await;
    let dir = unique_dir("rm");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    create_state(&zk, &format!("{dir}/nested"), "2").await;
    // A live instance: its ephemeral listener record goes too (with --force; the nested state
    // with --recursive).
    let watch = Running::watch(&zk, &dir, &[]).await;
    wait_listeners(&zk, &dir, 1).await;
    let out = run(&zk, &["rm", "--yes", "--recursive", "--force", &dir]).await;
    out.success();
    assert!(out.stderr.starts_with(&format!("removed {dir} (")), "{out}");
    assert!(!exists(&zk, &dir).await, "{dir} still there");
    watch.kill().await;

    run(&zk, &["get", &dir]).await.expect_code(4);
    run(&zk, &["rm", "--yes", &dir])
        .await
        .expect_code(4)
        .error_line(&[&dir, "does not exist"]);
}

#[tokio::test]
async fn rm_refuses_what_is_not_a_state_dir() {
    let zk = shared_zk().await;
    let dir = unique_dir("rm-not-state");
    raw_mkdir(&zk, &format!("{dir}/child")).await;
    run(&zk, &["rm", "--yes", &dir])
        .await
        .expect_code(2)
        .error_line(&["not a state directory"]);
    assert!(exists(&zk, &format!("{dir}/child")).await);
    run(&zk, &["rm", "--yes", "/"])
        .await
        .expect_code(2)
        .error_line(&["refusing"]);
}

/// 500 agents restarting daily for six weeks leave about 20,000 markers if nothing reaps them:
/// more than one transaction can carry (ZooKeeper's 1 MB request limit is about 15,000 deletes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rm_removes_a_state_with_20000_commit_markers() {
    let zk = shared_zk().await;
    let dir = unique_dir("rm-big");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    let client = raw_client(&zk).await;
    let writers = format!("{dir}/writers");
    raw_mkdir(&zk, &writers).await;
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let mut batches = Vec::new();
    for batch in 0..20 {
        let mut txn = client.new_multi_writer();
        for i in 0..1000 {
            let marker = format!("{writers}/{:032x}", batch * 1000 + i);
            txn.add_create(&marker, br#"{"fenced":true}"#, &options)
                .expect("stage a create");
        }
        batches.push(txn.commit());
    }
    for batch in batches {
        batch.await.expect("create 1000 markers");
    }
    let (_, stat) = client.get_children(&writers).await.expect("list");
    assert_eq!(stat.num_children, 20_000);

    let out = run(&zk, &["rm", "--yes", &dir]).await;
    out.success();
    assert!(out.stderr.contains(&format!("removed {dir}")), "{out}");
    assert!(!exists(&zk, &dir).await, "{dir} is gone");
}

/// A tree that changes under every attempt (a writer that never stops adding records): `rm`
/// runs out of attempts and fails (exit 1) saying DIR is still there, although its first
/// transactions removed 1,000 nodes; once the writer stops, `rm` removes it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rm_that_runs_out_of_attempts_with_the_dir_still_there_fails() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures::stream::{FuturesUnordered, StreamExt};
    use zookeeper_client::{Acls, CreateMode};

    let zk = shared_zk().await;
    let dir = unique_dir("rm-churn");
    create_state(&zk, &dir, r#"{"a":1}"#).await;
    // 1,500 markers: more than one transaction, so the first one (1,000 leaves) succeeds.
    let client = raw_client(&zk).await;
    let writers = format!("{dir}/writers");
    raw_mkdir(&zk, &writers).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for batch in 0..3 {
        let mut txn = client.new_multi_writer();
        for i in 0..500 {
            let marker = format!("{writers}/{:032x}", batch * 500 + i);
            txn.add_create(&marker, b"{}", &persistent)
                .expect("stage a create");
        }
        txn.commit().await.expect("create 500 markers");
    }

    // The churn: eight creates in flight under listeners at all times, so that the transaction
    // that deletes `listeners` finds it not empty on every attempt.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let churn = tokio::spawn({
        let (zk, dir, stop, created) = (zk.clone(), dir.clone(), stop.clone(), created.clone());
        async move {
            let churn = raw_client(&zk).await;
            let path = format!("{dir}/listeners/churn-");
            let ephemeral = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
            let mut in_flight = FuturesUnordered::new();
            while !stop.load(Ordering::SeqCst) {
                while in_flight.len() < 8 {
                    in_flight.push(churn.create(&path, b"", &ephemeral));
                }
                if let Some(result) = in_flight.next().await {
                    result.expect("a churn record");
                    created.fetch_add(1, Ordering::SeqCst);
                }
            }
            while let Some(result) = in_flight.next().await {
                result.expect("a churn record");
            }
        }
    });
    while created.load(Ordering::SeqCst) < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let out = run(&zk, &["rm", "--yes", "--force", &dir]).await;
    stop.store(true, Ordering::SeqCst);
    churn.await.expect("the churn task");
    out.expect_code(1)
        .error_line(&["kept changing", "still there"]);
    assert!(exists(&zk, &dir).await, "{dir} is there, as the error says");
    // Something was removed on the way: that alone is no success.
    let removed: usize = out
        .stderr
        .split_once(" attempts (")
        .and_then(|(_, rest)| rest.split_once(" nodes removed"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of removed nodes\n{out}"));
    assert!(removed >= 1000, "{out}");

    // The churn stopped: rm removes everything.
    let out = run(&zk, &["rm", "--yes", &dir]).await;
    out.success();
    assert!(out.stderr.starts_with(&format!("removed {dir} (")), "{out}");
    assert!(!exists(&zk, &dir).await, "{dir} is gone");
}

/// A node whose ACL denies this client (another user's, creator-only) is reported as unreadable
/// with its path, on stderr and in `--json`, and the walk goes on: exit 0.
#[tokio::test]
async fn ls_reports_a_node_it_may_not_read_and_lists_the_rest() {
    let zk = shared_zk().await;
    let base = unique_dir("ls-unreadable");
    create_state(&zk, &format!("{base}/a"), "{}").await;
    create_state(&zk, &format!("{base}/z/b"), "{}").await;
    let secret = format!("{base}/m-secret");
    let other = raw_client_as(&zk, "mallory:other").await;
    let private =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::creator_all());
    other
        .create(&secret, b"", &private)
        .await
        .expect("a node only its creator may read");

    let out = run(&zk, &["ls", &base]).await;
    out.success();
    assert_eq!(
        out.stdout,
        format!("{base}/a\n{base}/z/b\n"),
        "stdout lists the states only\n{out}"
    );
    assert_eq!(
        out.stderr,
        format!(
            "zkstate: {secret}: unreadable (permission denied); states under it are not listed\n"
        ),
        "{out}"
    );

    let out = run(&zk, &["ls", "--json", &base]).await;
    out.success();
    assert_eq!(
        out.json(),
        serde_json::json!({
            "states": [format!("{base}/a"), format!("{base}/z/b")],
            "unreadable": [secret],
        }),
        "{out}"
    );

    // PATH itself unreadable: nothing to list, one error line.
    let out = run(&zk, &["ls", &secret]).await;
    out.expect_code(1)
        .error_line(&["permission denied", &secret]);

    // A `zkstate ls` from the root by another test of this binary need not meet it.
    other.delete(&secret, None).await.expect("remove the node");
}

/// The README's own layout: `/apps/monitor` is a state and `globs` a state nested under it.
/// `rm` of the parent names the nested state and refuses; with live instances it says how many
/// and refuses; with `--recursive --force` it removes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rm_refuses_nested_states_without_recursive_and_live_instances_without_force() {
    let zk = shared_zk().await;
    let dir = unique_dir("rm-nested");
    let nested = format!("{dir}/globs");
    create_state(&zk, &dir, "{}").await;
    create_state(&zk, &nested, "[]").await;
    run(&zk, &["rm", "--yes", &dir])
        .await
        .expect_code(2)
        .error_line(&["1 nested state", &nested, "--recursive", "nothing removed"]);
    assert!(exists(&zk, &nested).await);

    let watch = Running::watch(&zk, &nested, &[]).await;
    wait_listeners(&zk, &nested, 1).await;
    run(&zk, &["rm", "--yes", "--recursive", &dir])
        .await
        .expect_code(2)
        .error_line(&["1 live instance uses", "--force", "nothing removed"]);
    assert!(exists(&zk, &nested).await);
    run(&zk, &["rm", "--yes", "-r", "--force", &dir])
        .await
        .success();
    assert!(!exists(&zk, &dir).await, "{dir} is gone");
    watch.kill().await;
}
