//! Jepsen-style history check on a real 3-node ensemble: writers increment a counter and append
//! their own (writer, seq) to a list while a fault schedule runs (leader killed, the follower
//! serving a client killed, a client partitioned past its session timeout, a session expired,
//! connections dropped mid-write, the whole ensemble restarted). At the end: the counter equals
//! the number of acknowledged updates, the list holds every acknowledged (writer, seq) exactly
//! once and nothing else, every subscriber converged on ZooKeeper's final payload, and each
//! subscriber's batches replay, in strictly increasing versions, to that payload.
//!
//! Short mode (CI): `cargo test -p zkstate --test torture`. Long mode, by hand:
//! `ZKSTATE_TORTURE_UPDATES=2500 ZKSTATE_TORTURE_ROUNDS=10 cargo test --release -p zkstate --test torture -- --nocapture`
//! (`UPDATES` per writer; the faults go on, round after round, until every writer is done, and
//! the first `ROUNDS` rounds also restart the whole ensemble).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, raw_client, serving_node, soon, unique_dir};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;
use zkstate::{Changes, Connection, Settings, StateEvent, StateOptions, ZkState};
use zkstate_testing::{FaultProxy, ZkCluster};

const WRITERS: usize = 4;
const SESSION: Duration = Duration::from_secs(4);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Ledger {
    counter: u64,
    log: Vec<(usize, u64)>,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One writer: a connection through its own proxies, one per ensemble node.
struct Writer {
    proxies: Vec<FaultProxy>,
    conn: Connection,
    state: ZkState<Ledger>,
}

impl Writer {
    fn each_proxy(&self, f: impl Fn(&FaultProxy)) {
        self.proxies.iter().for_each(f);
    }
}

/// A subscriber's history: the value it started from, then every event.
struct History {
    start: (i32, Value),
    events: Arc<Mutex<Vec<StateEvent>>>,
    state: ZkState<Ledger>,
}

fn record(state: &ZkState<Ledger>) -> History {
    // Subscribe first, then read: a batch in both is skipped at replay by its version.
    let mut changes: Changes = state.subscribe();
    let start = state.d_read();
    let start = (start.version(), start.json().clone());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    tokio::spawn(async move {
        while let Some(event) = changes.next().await {
            sink.lock().await.push(event);
        }
    });
    History {
        start,
        events,
        state: state.clone(),
    }
}

/// Replays a history; checks versions strictly increase; returns the value it arrives at.
async fn replay(history: &History, name: &str) -> Value {
    let (mut version, mut value) = history.start.clone();
    for event in history.events.lock().await.iter() {
        match event {
            StateEvent::Changed(batch) if batch.version <= version => {}
            StateEvent::Changed(batch) => {
                assert!(
                    batch.version > version,
                    "{name}: version {} after {version}",
                    batch.version
                );
                zkstate::diff::apply(&mut value, &batch.changes).unwrap_or_else(|e| {
                    panic!("{name}: batch {} does not apply: {e}", batch.version)
                });
                version = batch.version;
            }
            StateEvent::Lagged {
                version: v,
                value: snapshot,
                ..
            } => {
                version = *v;
                value = Value::clone(snapshot);
            }
            _ => {}
        }
    }
    value
}

fn options() -> StateOptions {
    StateOptions::default()
        .with_event_buffer(1 << 16)
        .with_request_timeout(Duration::from_secs(5))
        .with_lock_timeout(Duration::from_secs(60))
        .with_check_interval(Duration::from_millis(500), Duration::from_millis(1500))
}

async fn start_writer(cluster: &ZkCluster, w: usize, dir: &str) -> Writer {
    let mut proxies = Vec::new();
    for j in 0..cluster.len() {
        // Each writer lists a different node first.
        let node = (w + j) % cluster.len();
        proxies.push(
            FaultProxy::start(&cluster.node_connect_string(node))
                .await
                .expect("proxy"),
        );
    }
    let servers: Vec<String> = proxies.iter().map(FaultProxy::connect_string).collect();
    let settings = Settings::default()
        .with_session_timeout(SESSION)
        .with_connect_timeout(Duration::from_secs(30));
    let conn = Connection::connect(&format!("zookeeper://{}", servers.join(",")), settings)
        .await
        .expect("connect");
    let state = ZkState::with_options(&conn, dir, Ledger::default(), options())
        .await
        .expect("state");
    Writer {
        proxies,
        conn,
        state,
    }
}

/// When the writers must be done by: generous, and proportional to the work (the payload grows
/// with every update, so later updates cost more).
fn deadline_for(updates: u64) -> std::time::Instant {
    std::time::Instant::now() + Duration::from_secs(120) + Duration::from_millis(200 * updates)
}

/// Updates per second in each quarter of the run, with the payload's size at the quarter's end
/// (the log grows by one entry per update).
fn throughput(
    started: std::time::Instant,
    mut times: Vec<std::time::Instant>,
    final_bytes: usize,
) -> String {
    times.sort();
    let n = times.len();
    if n < 4 {
        return "too few updates to tell".to_string();
    }
    let mut parts = Vec::new();
    let mut from = started;
    for quarter in 1..=4 {
        let end = times[n * quarter / 4 - 1];
        let count = n / 4;
        let secs = end.duration_since(from).as_secs_f64().max(1e-3);
        parts.push(format!(
            "{:.0}/s up to {:.0} KB",
            count as f64 / secs,
            final_bytes as f64 * quarter as f64 / 4.0 / 1024.0
        ));
        from = end;
    }
    parts.join(", ")
}

/// Cuts `writer` off and closes its session from a direct client, then lets traffic through:
/// a real expiry (see zkstate_testing::expire_session).
async fn expire(cluster: &ZkCluster, writer: &Writer) {
    let Some(client) = writer.conn.client() else {
        return;
    };
    writer.each_proxy(FaultProxy::refuse);
    let servers = cluster.connect_string();
    let killer = zookeeper_client::Client::connector()
        .with_session(client.session().clone())
        .connect(&servers);
    if let Ok(Ok(killer)) = tokio::time::timeout(Duration::from_secs(10), killer).await {
        drop(killer);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    writer.each_proxy(FaultProxy::pass);
}

/// Runs the fault schedule, round after round, for as long as any of `tasks` runs (the first
/// `restarts` rounds also restart the whole ensemble); returns how many faults it injected, and
/// counts them in `injected` as it goes (for writers that must not finish before some were).
/// Panics when the writers are still running at `deadline`: the system lost liveness.
async fn run_faults<T>(
    cluster: &mut ZkCluster,
    writers: &[Writer],
    restarts: u64,
    tasks: &[tokio::task::JoinHandle<T>],
    deadline: std::time::Instant,
    injected: &AtomicU64,
) -> u64 {
    let mut faults = 0u64;
    let pause = Duration::from_millis(700);
    'schedule: for round in 0.. {
        let steps = 6;
        for step in 0..steps {
            if tasks.iter().all(|t| t.is_finished()) {
                break 'schedule;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "writers still running after the deadline: no progress"
            );
            tokio::time::sleep(pause).await;
            // Cheap faults first, so that a short run still sees every kind.
            let kind = [4, 3, 5, 0, 1, 2][step];
            match kind {
                0 => {
                    if let Some(leader) = cluster.leader().await {
                        eprintln!("round {round}: kill the leader (node {leader}) and restart it");
                        cluster.kill(leader);
                        tokio::time::sleep(pause).await;
                        cluster.restart(leader).await.expect("restart leader");
                    }
                }
                1 => {
                    let writer = &writers[round as usize % writers.len()];
                    let session = writer.conn.session_id();
                    let node = match session {
                        Some(session) => serving_node(cluster, session).await,
                        None => None,
                    };
                    let leader = cluster.leader().await;
                    if let Some(node) = node.filter(|n| Some(*n) != leader) {
                        eprintln!("round {round}: kill the follower (node {node}) a writer is connected to");
                        cluster.kill(node);
                        tokio::time::sleep(pause).await;
                        cluster.restart(node).await.expect("restart follower");
                    } else {
                        continue;
                    }
                }
                2 => {
                    let writer = &writers[(round as usize + 1) % writers.len()];
                    eprintln!("round {round}: partition a writer past its session timeout");
                    writer.each_proxy(FaultProxy::blackhole);
                    tokio::time::sleep(SESSION * 2).await;
                    writer.each_proxy(FaultProxy::pass);
                }
                3 => {
                    eprintln!("round {round}: expire a writer's session");
                    expire(cluster, &writers[(round as usize + 2) % writers.len()]).await;
                }
                4 => {
                    eprintln!("round {round}: drop every connection of a writer mid-write");
                    for _ in 0..3 {
                        writers[(round as usize + 3) % writers.len()].each_proxy(FaultProxy::reset);
                        tokio::time::sleep(Duration::from_millis(37)).await;
                    }
                }
                _ => {
                    if round < restarts {
                        eprintln!("round {round}: restart the whole ensemble");
                        cluster.restart_all().await.expect("restart the ensemble");
                    } else {
                        continue;
                    }
                }
            }
            faults += 1;
            injected.fetch_add(1, Ordering::SeqCst);
        }
    }

    faults
}

/// What the history check found.
struct HistoryCheck {
    kept: usize,
    checked: usize,
    wrong: Vec<String>,
}

/// The history against the acknowledged updates: the kept versions are distinct and newest
/// first; every acknowledged version at or above the oldest kept one is kept (below it, retention
/// trimmed it), exactly once; and each reproduces to a ledger whose last entry is that update and
/// whose counter is its length.
async fn check_history(
    conn: &Connection,
    dir: &str,
    acked: &[((usize, u64), i32)],
) -> HistoryCheck {
    use zkstate::history::HistoryItem;
    let items = zkstate::read_history(conn, dir, zkstate::history::MAX_READ)
        .await
        .expect("history");
    let kept: Vec<i32> = items
        .iter()
        .filter_map(|item| match item {
            HistoryItem::Version(entry) => Some(entry.version),
            _ => None,
        })
        .collect();
    let mut wrong = Vec::new();
    if kept.windows(2).any(|w| w[0] <= w[1]) {
        wrong.push(format!("versions not distinct and newest first: {kept:?}"));
    }
    let oldest = kept.last().copied().unwrap_or(i32::MAX);
    let mut checked = 0;
    for ((w, seq), version) in acked.iter().filter(|(_, v)| *v >= oldest) {
        if kept.iter().filter(|k| *k == version).count() != 1 {
            wrong.push(format!(
                "version {version} of ({w}, {seq}) kept other than once"
            ));
            continue;
        }
        let value = match zkstate::value_at(conn, dir, *version).await {
            Ok(value) => value,
            Err(err) => {
                wrong.push(format!("version {version}: {err}"));
                continue;
            }
        };
        let ledger: Ledger = serde_json::from_value(value).expect("a ledger");
        if ledger.log.last() != Some(&(*w, *seq)) || ledger.counter != ledger.log.len() as u64 {
            wrong.push(format!(
                "version {version} reproduces another value than ({w}, {seq})"
            ));
        }
        checked += 1;
    }
    HistoryCheck {
        kept: kept.len(),
        checked,
        wrong,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_update_is_lost_or_doubled_under_faults() {
    common::init_tracing();
    let per_writer = env_number("ZKSTATE_TORTURE_UPDATES", 75);
    let rounds = env_number("ZKSTATE_TORTURE_ROUNDS", 1);
    let mut cluster = ZkCluster::start(3).await.expect("ensemble");
    let dir = unique_dir("torture");

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        writers.push(start_writer(&cluster, w, &dir).await);
    }
    let observer_conn = Connection::connect(
        &format!("zookeeper://{}", cluster.connect_string()),
        Settings::default().with_session_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("observer");
    let observer = ZkState::with_options(&observer_conn, &dir, Ledger::default(), options())
        .await
        .expect("observer state");
    let mut histories = vec![("observer".to_string(), record(&observer))];
    for (w, writer) in writers.iter().enumerate() {
        histories.push((format!("writer {w}"), record(&writer.state)));
    }

    // The writers.
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (w, writer) in writers.iter().enumerate() {
        let state = writer.state.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut times = Vec::new();
            let mut failed = 0u64;
            for seq in 0..per_writer {
                match state
                    .update_latest(|l| {
                        l.counter += 1;
                        l.log.push((w, seq));
                    })
                    .await
                {
                    Ok(version) => {
                        acked.push(((w, seq), version));
                        times.push(std::time::Instant::now());
                    }
                    Err(err) => {
                        tracing::info!(writer = w, seq, error = %err, "update not applied");
                        failed += 1;
                    }
                }
            }
            (acked, times, failed)
        }));
    }

    let faults = run_faults(
        &mut cluster,
        &writers,
        rounds,
        &tasks,
        deadline_for(per_writer * WRITERS as u64),
        &AtomicU64::new(0),
    )
    .await;

    let mut acked_versions: Vec<((usize, u64), i32)> = Vec::new();
    let mut times = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (ok, at, err) = soon("a writer to finish", task).await.expect("writer task");
        acked_versions.extend(ok);
        times.extend(at);
        failed += err;
    }
    let acked: Vec<(usize, u64)> = acked_versions.iter().map(|(entry, _)| *entry).collect();

    // ZooKeeper's final payload, read directly.
    let raw = raw_client(&cluster.connect_string()).await;
    raw.sync(&format!("{dir}/payload")).await.expect("sync");
    let (data, _) = raw
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("final read");
    let final_ledger: Ledger = serde_json::from_slice(&data).expect("final ledger");
    let final_json = serde_json::to_value(&final_ledger).expect("json");

    let mut counts: HashMap<(usize, u64), usize> = HashMap::new();
    for entry in &final_ledger.log {
        *counts.entry(*entry).or_default() += 1;
    }
    let duplicated = counts.values().filter(|&&n| n > 1).count();
    let lost = acked.iter().filter(|e| !counts.contains_key(e)).count();
    let acked_set: std::collections::HashSet<(usize, u64)> = acked.iter().copied().collect();
    let unacknowledged = final_ledger
        .log
        .iter()
        .filter(|e| !acked_set.contains(e))
        .count();

    for (name, history) in &histories {
        let state = &history.state;
        eventually(&format!("{name} to converge"), || async {
            state.d_read().json() == &final_json
        })
        .await;
    }
    let mut replayed_ok = true;
    for (name, history) in &histories {
        let replayed = replay(history, name).await;
        if replayed != final_json {
            eprintln!("{name}: replayed history differs from the final payload");
            replayed_ok = false;
        }
    }

    let history = check_history(&observer_conn, &dir, &acked_versions).await;
    eprintln!(
        "torture: updates acknowledged {}, not applied {failed}, faults injected {faults}, lost = {lost}, \
         duplicated = {duplicated}, unacknowledged in payload = {unacknowledged}, converged = {}, \
         history: {} kept, {} checked, {} wrong, in {:.0} s; throughput as the payload grew: {}",
        acked.len(),
        if replayed_ok { "yes" } else { "no" },
        history.kept,
        history.checked,
        history.wrong.len(),
        started.elapsed().as_secs_f64(),
        throughput(started, times, data.len())
    );
    assert_eq!(
        final_ledger.counter,
        acked.len() as u64,
        "counter equals the acknowledged updates"
    );
    assert_eq!(lost, 0, "acknowledged updates missing from the payload");
    assert_eq!(duplicated, 0, "updates applied twice");
    assert_eq!(unacknowledged, 0, "updates applied but reported as failed");
    assert_eq!(final_ledger.log.len(), acked.len());
    assert!(
        replayed_ok,
        "every subscriber's batches replay to the final payload"
    );
    assert!(
        faults >= 3,
        "the schedule injected too few faults ({faults}) to mean anything"
    );
    assert!(
        history.checked > 0,
        "no acknowledged version was kept to check"
    );
    assert_eq!(
        history.wrong,
        Vec::<String>::new(),
        "the history agrees with the acknowledged updates"
    );
}

/// The raw writer: versioned read-modify-write without the lock, as an external actor would.
/// Returns the entries it saw acknowledged and those whose outcome it could not know.
async fn raw_writer(
    servers: String,
    dir: String,
    id: usize,
    updates: u64,
) -> (Vec<(usize, u64)>, Vec<(usize, u64)>) {
    let client = raw_client(&servers).await;
    let path = format!("{dir}/payload");
    let (mut acked, mut unknown) = (Vec::new(), Vec::new());
    for seq in 0..updates {
        loop {
            let Ok((data, stat)) = client.get_data(&path).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(mut ledger) = serde_json::from_slice::<Ledger>(&data) else {
                break;
            };
            ledger.counter += 1;
            ledger.log.push((id, seq));
            let bytes = serde_json::to_vec(&ledger).unwrap_or_default();
            match client.set_data(&path, &bytes, Some(stat.version)).await {
                Ok(_) => acked.push((id, seq)),
                Err(zookeeper_client::Error::BadVersion) => continue,
                // The reply was lost: a raw client cannot know; it gives this entry up.
                Err(_) => unknown.push((id, seq)),
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (acked, unknown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_versioned_writer_beside_zkstate_writers_loses_nothing_acknowledged() {
    common::init_tracing();
    let per_writer = env_number("ZKSTATE_TORTURE_UPDATES", 75);
    let mut cluster = ZkCluster::start(3).await.expect("ensemble");
    let dir = unique_dir("torture-external");
    let mut writers = Vec::new();
    for w in 0..3 {
        writers.push(start_writer(&cluster, w, &dir).await);
    }
    let external = 99;
    let raw = tokio::spawn(raw_writer(
        cluster.connect_string(),
        dir.clone(),
        external,
        per_writer,
    ));
    // The writers go on past `per_writer` until the schedule has injected `MIN_FAULTS` faults,
    // so that a fast machine cannot finish the short mode before any fault and pass vacuously.
    const MIN_FAULTS: u64 = 3;
    let injected = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (w, writer) in writers.iter().enumerate() {
        let (state, injected) = (writer.state.clone(), injected.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut seq = 0;
            while seq < per_writer || injected.load(Ordering::SeqCst) < MIN_FAULTS {
                let update = state.update_latest(|l| {
                    l.counter += 1;
                    l.log.push((w, seq));
                });
                if update.await.is_ok() {
                    acked.push((w, seq));
                }
                seq += 1;
            }
            acked
        }));
    }
    let faults = run_faults(
        &mut cluster,
        &writers,
        1,
        &tasks,
        deadline_for(per_writer * 4),
        &injected,
    )
    .await;
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(soon("a writer to finish", task).await.expect("writer task"));
    }
    let (raw_acked, raw_unknown) = soon("the external writer to finish", raw)
        .await
        .expect("raw task");

    let client = raw_client(&cluster.connect_string()).await;
    client.sync(&format!("{dir}/payload")).await.expect("sync");
    let (data, _) = client
        .get_data(&format!("{dir}/payload"))
        .await
        .expect("final read");
    let ledger: Ledger = serde_json::from_slice(&data).expect("final ledger");
    let mut counts: HashMap<(usize, u64), usize> = HashMap::new();
    for entry in &ledger.log {
        *counts.entry(*entry).or_default() += 1;
    }
    eprintln!(
        "torture with an external writer: zkstate acknowledged {}, external acknowledged {}, external unknown {}, faults {faults}",
        acked.len(),
        raw_acked.len(),
        raw_unknown.len()
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "an entry was applied twice"
    );
    for entry in acked.iter().chain(&raw_acked) {
        assert!(
            counts.contains_key(entry),
            "acknowledged {entry:?} was lost"
        );
    }
    // zkstate's own entries: exactly the acknowledged ones.
    let ours = ledger.log.iter().filter(|(w, _)| *w != external).count();
    assert_eq!(
        ours,
        acked.len(),
        "zkstate entries that were not acknowledged reached the payload"
    );
    let theirs = ledger.log.len() - ours;
    assert!(theirs >= raw_acked.len() && theirs <= raw_acked.len() + raw_unknown.len());
    assert_eq!(ledger.counter as usize, ledger.log.len());
    assert!(
        faults >= MIN_FAULTS,
        "the schedule injected too few faults ({faults}) to mean anything"
    );
}
