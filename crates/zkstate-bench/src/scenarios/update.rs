//! Scenario 3: The locked update against a raw Curator-style lock cycle; 4. the re-reading update against
//! a raw versioned read-modify-write. Each alone, then with 4 writers on 4 sessions.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use zkstate::ZkState;
use zookeeper_client::{Acls, Client, LockOptions, LockPrefix};

use crate::common::{interleaved, progress, Env, Pace, RawPaths};
use crate::payload::{bump, records_of_size, Records};
use crate::report::{Measure, Report, Row};
use crate::stats::Summary;

/// How many writers contend, each on its own session.
const WRITERS: usize = 4;

/// The raw lock cycle: Curator-layout lock, fenced `set_data` of the changed value, release
/// (dropping the `LockClient` deletes the lock node in the background).
pub(crate) async fn raw_locked_write(
    client: &Client,
    paths: &RawPaths,
    copy: &Mutex<Records>,
    version: &AtomicI32,
    i: u64,
    versioned: bool,
) -> Result<()> {
    let prefix = LockPrefix::new_curator(&paths.lock, "lock-")?;
    let lock = client
        .lock(prefix, b"", LockOptions::new(Acls::anyone_all()))
        .await?;
    let bytes = {
        let mut value = copy.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        bump(&mut value, i);
        crate::payload::as_written(&*value)?
    };
    let expected = versioned.then(|| version.load(Ordering::Acquire));
    let stat = lock.set_data(&paths.payload, &bytes, expected).await?;
    version.store(stat.version, Ordering::Release);
    drop(lock);
    Ok(())
}

/// The raw side of a locked write: the client, the state's paths, its copy of the value and the
/// version it last wrote.
pub(crate) type RawSide<'a> = (&'a Client, &'a RawPaths, &'a Mutex<Records>, &'a AtomicI32);

/// `update()` against the raw lock cycle on the same state directory, in alternating rounds.
pub(crate) async fn update_vs_raw_lock(
    state: &ZkState<Records>,
    raw: RawSide<'_>,
    n: usize,
    warmup: usize,
    pace: Pace,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let (client, paths, copy, version) = raw;
    interleaved(
        n,
        warmup,
        pace,
        |i| async move {
            state.update(|v| bump(v, i)).await?;
            Ok(None)
        },
        |i| async move {
            raw_locked_write(client, paths, copy, version, i, true).await?;
            Ok(None)
        },
    )
    .await
}

/// The raw re-reading write: read, change, write at the version read; again on `BadVersion`.
/// Returns how many times it started over.
async fn raw_versioned_rmw(client: &Client, path: &str, i: u64) -> Result<u64> {
    let mut retries = 0;
    loop {
        let (data, stat) = client.get_data(path).await?;
        let mut value: Records = serde_json::from_slice(&data)?;
        bump(&mut value, i);
        let bytes = crate::payload::as_written(&value)?;
        match client.set_data(path, &bytes, Some(stat.version)).await {
            Ok(_) => return Ok(retries),
            Err(zookeeper_client::Error::BadVersion) => retries += 1,
            Err(err) => return Err(err.into()),
        }
    }
}

/// The server's request and transaction counters (`srvr`: `Received`, `Zxid`) and this machine's
/// busy CPU time (`/proc/stat`), read before and after a contended window: what the window cost
/// the server per operation, and whether the machine's cores were the limit.
#[derive(Clone, Copy)]
struct Load {
    received: u64,
    zxid: i64,
    busy: u64,
    total: u64,
}

impl Load {
    async fn read(servers: &str) -> Result<Load> {
        let srvr = zkstate_testing::four_letter_word(servers, "srvr").await?;
        let field = |name: &str| {
            srvr.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
                .with_context(|| format!("no {name} line in srvr: {srvr}"))
        };
        let received = field("Received:")?.parse().context("srvr Received")?;
        let zxid = field("Zxid: 0x")?;
        let zxid = i64::from_str_radix(zxid, 16).context("srvr Zxid")?;
        // The first line of /proc/stat: "cpu  user nice system idle iowait irq softirq steal …",
        // in clock ticks summed over every core.
        let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        let total: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        Ok(Load {
            received,
            zxid,
            busy: total.saturating_sub(idle),
            total,
        })
    }

    /// "N requests and M transactions per operation, CPU P% busy" for the window since `self`.
    fn describe(self, after: Load, operations: usize) -> String {
        let per = |d: f64| d / operations.max(1) as f64;
        let busy = (after.busy - self.busy) as f64 / (after.total - self.total).max(1) as f64;
        format!(
            "{:.1} requests and {:.2} transactions per update, both cores {:.0}% busy",
            per(after.received.saturating_sub(self.received) as f64),
            per((after.zxid - self.zxid) as f64),
            busy * 100.0
        )
    }
}

/// What a contended run found: every operation's latency, how many it did per second, how many
/// attempts had to start over.
struct Contended {
    latencies: Vec<Duration>,
    rate: f64,
    retries: u64,
}

/// Runs `WRITERS` tasks for `window`; `op(w, i)` does one operation of writer `w` and returns
/// how many times it had to start over.
async fn contended<S, F, Fut>(sessions: Vec<S>, window: Duration, op: F) -> Result<Contended>
where
    S: Send + Sync + 'static,
    F: Fn(std::sync::Arc<S>, u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<u64>> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(w, session)| {
            let session = std::sync::Arc::new(session);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut retries = 0;
                let mut i = (w as u64) << 32;
                while started.elapsed() < window {
                    let t = Instant::now();
                    retries += op(session.clone(), i).await?;
                    latencies.push(t.elapsed());
                    i += 1;
                }
                Ok::<_, anyhow::Error>((latencies, retries))
            })
        })
        .collect();
    let mut all = Contended {
        latencies: Vec::new(),
        rate: 0.0,
        retries: 0,
    };
    for task in tasks {
        let (latencies, retries) = task.await??;
        all.latencies.extend(latencies);
        all.retries += retries;
    }
    all.rate = all.latencies.len() as f64 / started.elapsed().as_secs_f64();
    Ok(all)
}

/// One update, retried on `StaleWrite` (what a caller of `update()` does when another writer
/// got there first); returns the number of retries.
async fn zk_update(state: &ZkState<Records>, i: u64, latest: bool) -> Result<u64> {
    let mut retries = 0;
    loop {
        let result = if latest {
            state.update_latest(|v| bump(v, i)).await
        } else {
            state.update(|v| bump(v, i)).await
        };
        match result {
            Ok(_) => return Ok(retries),
            Err(zkstate::Error::StaleWrite { .. }) => retries += 1,
            Err(err) => return Err(err).context("update"),
        }
    }
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    let plan = &env.plan;
    let records = records_of_size(1024);
    let bytes = crate::payload::as_written(&records)?;

    // 3a. Uncontended locked update.
    progress("3. update() against raw lock + fenced set_data + release");
    let conn = env.connection().await?;
    let state = ZkState::new(&conn, "s3-update", records.clone()).await?;
    let raw = env.raw().await?;
    let paths = RawPaths::new("s3-update");
    paths.create(&raw, &bytes).await?;
    let copy = Mutex::new(records.clone());
    let version = AtomicI32::new(raw.get_data(&paths.payload).await?.1.version);
    let (zk, base) = update_vs_raw_lock(
        &state,
        (&raw, &paths, &copy, &version),
        plan.update,
        plan.warmup,
        Pace::Burst,
    )
    .await?;
    report.rows.push(
        Row::new(
            "3a",
            "`update()`, one writer",
            Measure::latency(Summary::of_durations(&zk), "update"),
            "raw lock + fenced versioned `set_data` + release (drop)",
            Measure::latency(Summary::of_durations(&base), "lock cycle"),
        )
        .target_p50_ratio("p50 ≤ 0.85× raw", 0.85)
        .target_p99_ratio("p99 ≤ 1.3× raw", 1.3),
    );

    // 4a. Uncontended re-reading update.
    progress("4. update_latest() against raw get_data + versioned set_data");
    let raw_path = paths.payload.clone();
    let (zk, base) = interleaved(
        plan.update_latest,
        plan.warmup,
        Pace::Burst,
        |i| {
            let state = &state;
            async move {
                state.update_latest(|v| bump(v, i)).await?;
                Ok(None)
            }
        },
        |i| {
            let (raw, path) = (&raw, &raw_path);
            async move {
                raw_versioned_rmw(raw, path, i).await?;
                Ok(None)
            }
        },
    )
    .await?;
    report.rows.push(Row::new(
        "4a",
        "`update_latest()`, one writer",
        Measure::latency(Summary::of_durations(&zk), "update_latest"),
        "raw `get_data` + versioned `set_data` (again on BadVersion)",
        Measure::latency(Summary::of_durations(&base), "versioned rmw"),
    ));
    state.close().await;
    conn.close().await;
    drop(raw);

    // 3b and 4b. Four writers on four sessions.
    progress(format!(
        "3b/4b. {WRITERS} contending writers on {WRITERS} sessions"
    ));
    let mut conns = Vec::new();
    let mut states = Vec::new();
    let mut raws = Vec::new();
    let contended_paths = RawPaths::new("s3-contended");
    for _ in 0..WRITERS {
        let conn = env.connection().await?;
        states.push(ZkState::new(&conn, "s3-contended", records.clone()).await?);
        conns.push(conn);
        let raw = env.raw().await?;
        contended_paths.create(&raw, &bytes).await?;
        raws.push(raw);
    }
    let window = plan.contended_window;
    let before = Load::read(&env.servers).await?;
    let zk = contended(states.clone(), window, |s, i| async move {
        zk_update(&s, i, false).await
    })
    .await?;
    let zk_load = before.describe(Load::read(&env.servers).await?, zk.latencies.len());
    let before = Load::read(&env.servers).await?;
    let base = contended(
        raws.iter()
            .map(|c| {
                (
                    c.clone(),
                    contended_paths.clone(),
                    Mutex::new(records.clone()),
                    AtomicI32::new(0),
                )
            })
            .collect(),
        window,
        |s, i| async move {
            let (client, paths, copy, version) = &*s;
            // The lock alone makes the writers exclusive: the raw side writes without a version
            // check, so it needs no read (the floor of a locked write).
            raw_locked_write(client, paths, copy, version, i, false).await?;
            Ok(0)
        },
    )
    .await?;
    let base_load = before.describe(Load::read(&env.servers).await?, base.latencies.len());
    report.rows.push(
        Row::new(
            "3b",
            format!("`update()`, {WRITERS} writers on {WRITERS} sessions (StaleWrite retried)"),
            Measure::latency(Summary::of_durations(&zk.latencies), "contended update"),
            format!("raw lock + fenced `set_data` + release, {WRITERS} writers"),
            Measure::latency(
                Summary::of_durations(&base.latencies),
                "contended lock cycle",
            ),
        )
        .with_rates(Some(zk.rate), Some(base.rate))
        .target_rate_ratio("throughput ≥ 1.2× raw", 1.2),
    );
    report.notes.push(format!(
        "3b: `update()` writes at the local copy's version; with {WRITERS} contending writers {} of {} updates \
         failed with StaleWrite first and were retried (a retry counts in the latency of its update). What each \
         window cost the server (from `srvr`, every session counted; zkstate's writers also follow the state, the \
         raw writers follow nothing) and the machine (`/proc/stat`): zkstate {zk_load}; raw {base_load}.",
        zk.retries,
        zk.latencies.len()
    ));

    let zk = contended(states.clone(), window, |s, i| async move {
        zk_update(&s, i, true).await
    })
    .await?;
    let raw_clients: Vec<(Client, String)> = raws
        .iter()
        .map(|c| (c.clone(), contended_paths.payload.clone()))
        .collect();
    let base = contended(raw_clients, window, |s, i| async move {
        let (client, path) = &*s;
        raw_versioned_rmw(client, path, i).await
    })
    .await?;
    report.rows.push(
        Row::new(
            "4b",
            format!("`update_latest()`, {WRITERS} writers on {WRITERS} sessions"),
            Measure::latency(
                Summary::of_durations(&zk.latencies),
                "contended update_latest",
            ),
            format!("raw versioned read-modify-write, {WRITERS} writers"),
            Measure::latency(Summary::of_durations(&base.latencies), "contended rmw"),
        )
        .with_rates(Some(zk.rate), Some(base.rate)),
    );
    report.notes.push(format!(
        "4b: the raw optimistic writers started over {} times on BadVersion in {} writes; `update_latest()` never \
         needs to (the lock serialises zkstate writers).",
        base.retries,
        base.latencies.len()
    ));
    for state in &states {
        state.close().await;
    }
    for conn in &conns {
        conn.close().await;
    }
    Ok(())
}
