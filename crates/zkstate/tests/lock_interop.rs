//! The write lock is Curator's InterProcessMutex, exactly: zkstate writers and another client
//! taking `<dir>/lock` with zookeeper-client's `Client::lock(LockPrefix::new_curator(..))` (the
//! same recipe as Curator) exclude each other, whichever holds it first.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect, eventually, raw_client, shared_server, unique_dir};
use serde::{Deserialize, Serialize};
use zkstate::{Error, ZkState};
use zkstate_testing::four_letter_word;
use zookeeper_client::{Acls, Client, LockOptions, LockPrefix};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Counter {
    n: u64,
}

async fn curator_lock<'a>(client: &'a Client, dir: &'a str) -> zookeeper_client::LockClient<'a> {
    let prefix = LockPrefix::new_curator(dir, "lock-").expect("prefix");
    client
        .lock(prefix, b"raw", LockOptions::new(Acls::anyone_all()))
        .await
        .expect("the Curator lock")
}

async fn lock_nodes(client: &Client, dir: &str) -> usize {
    client.list_children(dir).await.map_or(0, |c| c.len())
}

/// The node holding the lock: the lowest sequence under `lock_dir` (every contender's node ends
/// in `-lock-<sequence>`).
async fn holder_node(client: &Client, lock_dir: &str) -> String {
    let children = client.list_children(lock_dir).await.expect("lock nodes");
    let lowest = children
        .iter()
        .min_by_key(|name| name.rsplit('-').next().map(str::to_string))
        .expect("a lock node");
    format!("{lock_dir}/{lowest}")
}

/// Whether some session watches `node`, as the server reports it (`wchp`: the watched paths,
/// each followed by its sessions). A contender queued behind the holder watches the holder's
/// node: seeing the watch is seeing that contender decide to wait.
async fn watched(servers: &str, node: &str) -> bool {
    let watches = four_letter_word(servers, "wchp").await.expect("wchp");
    watches.lines().any(|line| line.trim() == node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_waits_for_a_curator_lock_holder_and_the_holder_waits_for_an_update() {
    let server = shared_server().await;
    let dir = unique_dir("lock-interop");
    let conn = connect(&server.connect_string()).await;
    let state = ZkState::new(&conn, &dir, Counter::default())
        .await
        .expect("state");
    let lock_dir = format!("{dir}/lock");
    let payload = format!("{dir}/payload");
    let servers = server.connect_string();
    let raw = raw_client(&servers).await;

    // The other client holds the lock: the update waits behind it.
    let held = curator_lock(&raw, &lock_dir).await;
    let done = Arc::new(AtomicBool::new(false));
    let update = tokio::spawn({
        let (state, done) = (state.clone(), done.clone());
        async move {
            let version = state.update(|c| c.n += 1).await;
            done.store(true, Ordering::SeqCst);
            version
        }
    });
    // Proof that the update is contending: its node is queued behind the holder's, and it
    // watches the holder's node (it has listed the nodes, seen it is not first, and waits).
    eventually("the update to queue for the lock", || async {
        lock_nodes(&raw, &lock_dir).await == 2
    })
    .await;
    let holder = holder_node(&raw, &lock_dir).await;
    eventually("the update to watch the holder's lock node", || {
        watched(&servers, &holder)
    })
    .await;
    // It is waiting, and nothing was written: the payload is still the one it was created as.
    let (_, stat) = raw.get_data(&payload).await.expect("payload");
    assert_eq!(
        stat.version, 0,
        "the update wrote while another held the lock"
    );
    assert!(
        !done.load(Ordering::SeqCst),
        "the update returned while another held the lock"
    );
    drop(held);
    let version = update
        .await
        .expect("task")
        .expect("the update after the release");
    assert_eq!(version, 1);

    // zkstate holds the lock inside its closure: another client that asks for it then waits
    // until the commit released it.
    let other_acquired = Arc::new(AtomicBool::new(false));
    let mut contender = None;
    state
        .update(|c| {
            c.n += 1;
            let (raw_in, lock_dir_in, acquired) =
                (raw.clone(), lock_dir.clone(), other_acquired.clone());
            contender = Some(tokio::spawn(async move {
                let lock = curator_lock(&raw_in, &lock_dir_in).await;
                acquired.store(true, Ordering::SeqCst);
                drop(lock);
            }));
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    eventually("the other client to queue for the lock", || async {
                        lock_nodes(&raw, &lock_dir).await == 2
                    })
                    .await;
                    // The other client has seen that zkstate holds the lock and waits for its
                    // node to go.
                    let holder = holder_node(&raw, &lock_dir).await;
                    eventually("the other client to watch zkstate's lock node", || {
                        watched(&servers, &holder)
                    })
                    .await;
                })
            });
            assert!(
                !other_acquired.load(Ordering::SeqCst),
                "another client took the lock while the closure ran"
            );
        })
        .await
        .expect("update");
    let contender = contender.expect("the closure ran");
    contender
        .await
        .expect("the other client gets the lock after the commit");
    assert!(other_acquired.load(Ordering::SeqCst));
    state.close().await;
}

/// Who holds the lock, as the holders themselves see it: each one enters on taking the lock and
/// leaves before releasing it; entering while another is inside is an overlap.
#[derive(Default)]
struct Holders {
    inside: AtomicUsize,
    overlaps: AtomicUsize,
    entries: AtomicUsize,
}

impl Holders {
    fn enter(&self) {
        self.entries.fetch_add(1, Ordering::SeqCst);
        if self.inside.fetch_add(1, Ordering::SeqCst) != 0 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Two zkstate writers and two raw Curator-recipe holders take the lock 40 times each, and every
/// holder records, in memory shared by all four, when it is inside: a raw holder from the moment
/// `Client::lock` returns until just before it drops the lock, a zkstate writer for the whole run
/// of its update closure (which runs under the lock), each staying inside a few milliseconds.
/// Two holders inside at once is counted as an overlap and must never happen. Unlike a lost
/// increment, this can fail: the zkstate writes are version-checked and retried on
/// `StaleWrite`, so an overlap would not lose an increment, but it would put two holders inside
/// at once (and the windows cover most of each holding, so a lock that did not exclude would
/// show overlaps within a few of the 160 acquisitions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkstate_and_curator_lock_holders_never_overlap() {
    let server = shared_server().await;
    let dir = unique_dir("lock-overlap");
    let payload = format!("{dir}/payload");
    let lock_dir = format!("{dir}/lock");
    const EACH: u64 = 40;
    const INSIDE: Duration = Duration::from_millis(3);
    let holders = Arc::new(Holders::default());
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let conn = connect(&server.connect_string()).await;
        let state = ZkState::new(&conn, &dir, Counter::default())
            .await
            .expect("state");
        let holders = holders.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < EACH {
                let update = state.update(|c| {
                    holders.enter();
                    c.n += 1;
                    tokio::task::block_in_place(|| std::thread::sleep(INSIDE));
                    holders.leave();
                });
                match update.await {
                    Ok(_) => done += 1,
                    // The other side wrote and this copy had not seen it yet: try again.
                    Err(Error::StaleWrite { .. }) => {}
                    Err(err) => panic!("update: {err}"),
                }
            }
            state.close().await;
            (conn, done)
        }));
    }
    let mut raws = Vec::new();
    for _ in 0..2 {
        let (servers, payload, lock_dir, holders) = (
            server.connect_string(),
            payload.clone(),
            lock_dir.clone(),
            holders.clone(),
        );
        raws.push(tokio::spawn(async move {
            let client = raw_client(&servers).await;
            for _ in 0..EACH {
                let lock = curator_lock(&client, &lock_dir).await;
                holders.enter();
                let (data, stat) = client.get_data(&payload).await.expect("read");
                let mut counter: Counter = serde_json::from_slice(&data).expect("json");
                counter.n += 1;
                let bytes = serde_json::to_vec(&counter).expect("json");
                lock.set_data(&payload, &bytes, Some(stat.version))
                    .await
                    .expect("a fenced write under the lock");
                tokio::time::sleep(INSIDE).await;
                holders.leave();
                drop(lock);
            }
        }));
    }
    for task in tasks {
        let (conn, done) = task.await.expect("zkstate writer");
        assert_eq!(done, EACH);
        conn.close().await;
    }
    for task in raws {
        task.await.expect("raw writer");
    }
    assert!(
        holders.entries.load(Ordering::SeqCst) >= (4 * EACH) as usize,
        "every holder went inside"
    );
    assert_eq!(
        holders.overlaps.load(Ordering::SeqCst),
        0,
        "two holders were inside the lock at once"
    );
    let client = raw_client(&server.connect_string()).await;
    let (data, _) = client.get_data(&payload).await.expect("read");
    let counter: Counter = serde_json::from_slice(&data).expect("json");
    assert_eq!(counter.n, 4 * EACH, "every increment is there, once");
}
