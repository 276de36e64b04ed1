//! A fleet's life on a 3-node ensemble: agents of two application versions (version 2 added
//! fields) restart again and again, cleanly or by crashing (cut off, handles dropped without
//! `close()`), update and read one state, while a raw client writes it too (and once deletes and
//! re-creates its payload, in one transaction), and a rolling upgrade replaces version 1 agents by version 2 ones.
//!
//! At the end: every acknowledged update is in the payload exactly once and nothing that failed
//! is; no field of either version was lost (version 2's counters match its entries); every live
//! agent converged on the payload; `writers/`, `lock/` and `listeners/` hold only live agents'
//! nodes. One summary line says what happened.
//!
//! Short mode (CI): `cargo test -p zkstate --test fleet_soak`. Long mode:
//! `ZKSTATE_SOAK_SECONDS=300 ZKSTATE_SOAK_AGENTS=12 cargo test --release -p zkstate --test fleet_soak -- --nocapture`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{raw_client, unique_dir};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use zkstate::{Connection, Error, Settings, StateOptions, ZkState};
use zkstate_testing::{FaultProxy, ZkCluster};

const SESSION: Duration = Duration::from_secs(4);
const GRACE: Duration = Duration::from_secs(2);
/// The raw client's entries carry this agent id.
const EXTERNAL: u32 = 999;

/// `(agent, life, seq, app version)`: unique per update.
type Entry = (u32, u32, u32, u32);

/// Version 1 of the application's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct V1 {
    log: Vec<Entry>,
}

/// Version 2 added `stats`, with `#[serde(default)]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct V2 {
    log: Vec<Entry>,
    #[serde(default)]
    stats: Stats,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Stats {
    /// Version 2 updates per agent.
    by_agent: BTreeMap<String, u64>,
    totals: Totals,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Totals {
    updates: u64,
}

trait AppValue: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    const VERSION: u32;
    fn append(&mut self, entry: Entry);
}

impl AppValue for V1 {
    const VERSION: u32 = 1;
    fn append(&mut self, entry: Entry) {
        self.log.push(entry);
    }
}

impl AppValue for V2 {
    const VERSION: u32 = 2;
    fn append(&mut self, entry: Entry) {
        self.log.push(entry);
        *self.stats.by_agent.entry(entry.0.to_string()).or_default() += 1;
        self.stats.totals.updates += 1;
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options() -> StateOptions {
    StateOptions::default()
        .with_request_timeout(Duration::from_secs(5))
        .with_lock_timeout(Duration::from_secs(60))
        .with_marker_grace(GRACE)
        .with_event_buffer(4096)
}

fn settings() -> Settings {
    Settings::default()
        .with_session_timeout(SESSION)
        .with_connect_timeout(Duration::from_secs(30))
}

#[derive(Default)]
struct Tally {
    acked: Vec<Entry>,
    unknown: Vec<Entry>,
    failed: u64,
    lives: u64,
    clean: u64,
    crashed: u64,
    upgraded: u64,
}

/// An agent's last life, left running for the final checks.
struct Live {
    conn: Connection,
    id: String,
    json: Box<dyn Fn() -> Value + Send + Sync>,
    close: Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>,
    _proxies: Vec<FaultProxy>,
}

/// One life of one agent of version `T`: open, update and read a while, then end cleanly or
/// crash. Returns the handles when `last`.
async fn life<T: AppValue>(
    servers: &[String],
    dir: &str,
    agent: u32,
    life: u32,
    updates: u32,
    last: bool,
    tally: &Mutex<Tally>,
) -> Option<Live> {
    let mut proxies = Vec::new();
    for server in servers {
        proxies.push(FaultProxy::start(server).await.expect("proxy"));
    }
    let url = format!(
        "zookeeper://{}",
        proxies
            .iter()
            .map(FaultProxy::connect_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let conn = Connection::connect(&url, settings())
        .await
        .expect("connect");
    let state = match ZkState::<T>::with_options(&conn, dir, T::default(), options()).await {
        Ok(state) => state,
        // The payload is being deleted and re-created by the outside actor: try again later.
        Err(err) => {
            tracing::info!(agent, life, error = %err, "cannot open the state now");
            conn.close().await;
            return None;
        }
    };
    for seq in 0..updates {
        let entry = (agent, life, seq, T::VERSION);
        match state.update_latest(|value| value.append(entry)).await {
            Ok(_) => tally.lock().await.acked.push(entry),
            Err(Error::OutcomeUnknown { .. }) => tally.lock().await.unknown.push(entry),
            Err(err) => {
                tracing::info!(agent, life, seq, error = %err, "update not applied");
                tally.lock().await.failed += 1;
            }
        }
        if seq % 3 == 0 {
            let _ = state.read();
        }
        let pause = rand::thread_rng().gen_range(0..30);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let mut t = tally.lock().await;
    t.lives += 1;
    if T::VERSION == 2 {
        t.upgraded += 1;
    }
    if last {
        drop(t);
        let reader = state.clone();
        let closer = state.clone();
        return Some(Live {
            conn,
            id: state.id().to_string(),
            json: Box::new(move || reader.d_read().json().clone()),
            close: Box::new(move || Box::pin(async move { closer.close().await })),
            _proxies: proxies,
        });
    }
    if rand::thread_rng().gen_bool(0.5) {
        t.clean += 1;
        drop(t);
        state.close().await;
        conn.close().await;
    } else {
        // A crash: cut off, then everything dropped without close. The session ends on the
        // server only when it expires.
        t.crashed += 1;
        drop(t);
        proxies.iter().for_each(FaultProxy::blackhole);
        drop(state);
        drop(conn);
        drop(proxies);
    }
    None
}

/// An agent: lives until `end`, version 1 until `upgrade_at`, version 2 after.
async fn agent(
    servers: Vec<String>,
    dir: String,
    id: u32,
    end: Instant,
    upgrade_at: Instant,
    tally: Arc<Mutex<Tally>>,
) -> Live {
    let mut n = 0;
    loop {
        let last = Instant::now() >= end;
        let updates = rand::thread_rng().gen_range(3..10);
        let live = if Instant::now() < upgrade_at {
            life::<V1>(&servers, &dir, id, n, updates, last, &tally).await
        } else {
            life::<V2>(&servers, &dir, id, n, updates, last, &tally).await
        };
        n += 1;
        if let Some(live) = live {
            return live;
        }
    }
}

/// The outside actor: versioned read-modify-writes of the raw JSON (keeping every field), and
/// once, halfway, a delete and re-create of the payload with the same content.
async fn outside_actor(
    servers: String,
    dir: String,
    end: Instant,
    recreate_at: Instant,
) -> (Vec<Entry>, Vec<Entry>, bool) {
    let client = raw_client(&servers).await;
    let path = format!("{dir}/payload");
    let (mut acked, mut unknown) = (Vec::new(), Vec::new());
    let mut recreated = false;
    let mut n = 0;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let Ok((data, stat)) = client.get_data(&path).await else {
            continue;
        };
        if !recreated && Instant::now() >= recreate_at {
            // An operator restores the state: delete it and create it again, same content, in
            // one transaction (a new incarnation for every watcher). Done in two steps, an
            // instance opening the state with `new()` in between would create it afresh.
            let open = zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all());
            let mut txn = client.new_multi_writer();
            txn.add_delete(&path, Some(stat.version))
                .expect("stage delete");
            txn.add_create(&path, &data, &open).expect("stage create");
            if txn.commit().await.is_ok() {
                recreated = true;
            }
            continue;
        }
        let Ok(mut value) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        let entry = (EXTERNAL, 0, n, 0);
        if let Some(log) = value["log"].as_array_mut() {
            log.push(json!([entry.0, entry.1, entry.2, entry.3]));
        }
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        match client.set_data(&path, &bytes, Some(stat.version)).await {
            Ok(_) => acked.push(entry),
            Err(zookeeper_client::Error::BadVersion | zookeeper_client::Error::NoNode) => continue,
            Err(_) => unknown.push(entry),
        }
        n += 1;
    }
    (acked, unknown, recreated)
}

async fn children(client: &zookeeper_client::Client, path: &str) -> HashSet<String> {
    match client.list_children(path).await {
        Ok(children) => children.into_iter().collect(),
        Err(zookeeper_client::Error::NoNode) => HashSet::new(),
        Err(err) => panic!("list {path}: {err}"),
    }
}

/// The history after the run: its kept versions distinct and newest first, every reproducible
/// one reproduced (the newest, when it is the payload's version, as the final payload), and how
/// many entries and nodes it holds. Panics on a violation.
async fn check_history(servers: &str, dir: &str, final_json: &Value) -> (usize, usize) {
    use zkstate::history::HistoryItem;
    let conn = zkstate::Connection::connect(&format!("zookeeper://{servers}"), settings())
        .await
        .expect("connect");
    let items = zkstate::read_history(&conn, dir, zkstate::history::MAX_READ)
        .await
        .expect("history");
    let entries: Vec<_> = items
        .iter()
        .filter_map(|item| match item {
            HistoryItem::Version(entry) => Some(entry),
            _ => None,
        })
        .collect();
    let versions: Vec<i32> = entries.iter().map(|e| e.version).collect();
    assert!(
        versions.windows(2).all(|w| w[0] > w[1]),
        "kept versions distinct and newest first: {versions:?}"
    );
    for entry in entries.iter().filter(|e| e.reproducible) {
        let value = zkstate::value_at(&conn, dir, entry.version)
            .await
            .expect("a reproducible version reproduces");
        if entry.version == versions[0] {
            assert_eq!(&value, final_json, "the newest kept version is the payload");
        }
    }
    let raw = raw_client(servers).await;
    let nodes = children(&raw, &format!("{dir}/history")).await.len();
    conn.close().await;
    (entries.len(), nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_two_versions_restarting_and_crashing_loses_nothing_and_leaves_no_node() {
    common::init_tracing();
    let seconds = env_number("ZKSTATE_SOAK_SECONDS", 20);
    let agents = env_number("ZKSTATE_SOAK_AGENTS", 6) as u32;
    let started = Instant::now();
    let cluster = ZkCluster::start(3).await.expect("ensemble");
    let servers: Vec<String> = (0..cluster.len())
        .map(|i| cluster.node_connect_string(i))
        .collect();
    let dir = unique_dir("soak");
    let end = started + Duration::from_secs(seconds);
    let upgrade_at = started + Duration::from_secs(seconds * 2 / 5);
    let recreate_at = started + Duration::from_secs(seconds / 2);

    // The state exists before the fleet starts (a version 1 deployment).
    {
        let conn = Connection::connect(
            &format!("zookeeper://{}", cluster.connect_string()),
            settings(),
        )
        .await
        .expect("connect");
        let state = ZkState::with_options(&conn, &dir, V1::default(), options())
            .await
            .expect("create");
        state.close().await;
        conn.close().await;
    }

    let tally = Arc::new(Mutex::new(Tally::default()));
    let fleet: Vec<_> = (0..agents)
        .map(|id| {
            tokio::spawn(agent(
                servers.clone(),
                dir.clone(),
                id,
                end,
                upgrade_at,
                tally.clone(),
            ))
        })
        .collect();
    let actor = tokio::spawn(outside_actor(
        cluster.connect_string(),
        dir.clone(),
        end,
        recreate_at,
    ));
    // Generous, and proportional to the run: a stuck agent fails the test rather than hang it.
    let limit = Duration::from_secs(seconds * 3 + 120);
    let mut live = Vec::new();
    for task in fleet {
        let agent = tokio::time::timeout(limit, task)
            .await
            .expect("an agent finished its lives in time")
            .expect("agent task");
        live.push(agent);
    }
    let (ext_acked, ext_unknown, recreated) = actor.await.expect("actor task");
    assert!(recreated, "the delete and re-create happened");

    let raw = raw_client(&cluster.connect_string()).await;
    let payload = format!("{dir}/payload");
    raw.sync(&payload).await.expect("sync");
    let (data, _) = raw.get_data(&payload).await.expect("final read");
    let final_json: Value = serde_json::from_slice(&data).expect("json");
    let final_value: V2 = serde_json::from_value(final_json.clone()).expect("version 2 reads it");

    let tally = tally.lock().await;
    let mut counts: HashMap<Entry, usize> = HashMap::new();
    for entry in &final_value.log {
        *counts.entry(*entry).or_default() += 1;
    }
    let duplicated = counts.values().filter(|&&n| n > 1).count();
    let acked: HashSet<Entry> = tally.acked.iter().chain(&ext_acked).copied().collect();
    let unknown: HashSet<Entry> = tally.unknown.iter().chain(&ext_unknown).copied().collect();
    let lost = acked.iter().filter(|e| !counts.contains_key(e)).count();
    let unacknowledged = counts
        .keys()
        .filter(|e| !acked.contains(e) && !unknown.contains(e))
        .count();
    // Version 2's own fields: every version 2 entry counted, whatever version 1 did since.
    let v2_entries = final_value.log.iter().filter(|e| e.3 == 2).count() as u64;
    let mut v2_lost = u64::from(final_value.stats.totals.updates != v2_entries);
    for (agent, n) in &final_value.stats.by_agent {
        let entries = final_value
            .log
            .iter()
            .filter(|e| e.3 == 2 && e.0.to_string() == *agent)
            .count() as u64;
        v2_lost += u64::from(*n != entries);
    }

    // Every live agent converges on the payload.
    let converge_by = Instant::now() + Duration::from_secs(30);
    for agent in &live {
        while (agent.json)() != final_json {
            assert!(
                Instant::now() < converge_by,
                "agent {} did not converge",
                agent.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // After the crashed sessions expire and the markers' grace passes, only live agents' nodes.
    let live_ids: HashSet<String> = live.iter().map(|a| a.id.clone()).collect();
    let nodes_by = Instant::now() + SESSION * 3 + GRACE * 4 + Duration::from_secs(20);
    let (mut dead_writers, mut dead_listeners, mut locks);
    loop {
        let writers = children(&raw, &format!("{dir}/writers")).await;
        let listeners = children(&raw, &format!("{dir}/listeners")).await;
        locks = children(&raw, &format!("{dir}/lock")).await.len();
        dead_writers = writers.difference(&live_ids).count();
        dead_listeners = listeners.difference(&live_ids).count();
        if dead_writers == 0 && dead_listeners == 0 && locks == 0 && listeners == live_ids {
            break;
        }
        assert!(
            Instant::now() < nodes_by,
            "nodes of dead agents remain: {dead_writers} markers, {dead_listeners} records, {locks} lock nodes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let history = check_history(&cluster.connect_string(), &dir, &final_json).await;
    eprintln!(
        "fleet soak: {agents} agents, {} lives ({} clean, {} crashed, {} as version 2), \
         {} updates acknowledged ({} by version 2), {} not applied, {} unknown, \
         external {} acknowledged (+1 delete and re-create), lost = {lost}, duplicated = {duplicated}, \
         unacknowledged in payload = {unacknowledged}, version 2 fields lost = {v2_lost}, \
         converged = yes, nodes of dead agents = {}, history: {} kept, {} nodes, in {:.0} s",
        tally.lives,
        tally.clean,
        tally.crashed,
        tally.upgraded,
        tally.acked.len(),
        tally.acked.iter().filter(|e| e.3 == 2).count(),
        tally.failed,
        unknown.len(),
        ext_acked.len(),
        dead_writers + dead_listeners + locks,
        history.0,
        history.1,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0, "acknowledged updates missing from the payload");
    assert_eq!(duplicated, 0, "updates applied twice");
    assert_eq!(unacknowledged, 0, "updates applied but reported as failed");
    assert_eq!(v2_lost, 0, "version 2 fields lost by version 1 updates");
    assert!(
        history.1
            <= zkstate::history::DEFAULT_HISTORY_VERSIONS + zkstate::history::MAX_TRIMMED_PER_WRITE,
        "the history stays bounded: {} nodes",
        history.1
    );
    assert!(
        tally.crashed > 0 && tally.clean > 0,
        "both kinds of restart happened"
    );
    assert!(tally.upgraded > 0, "the rolling upgrade happened");
    for agent in live {
        (agent.close)().await;
        agent.conn.close().await;
    }
}
