//! Scenario 9: Compression: the bytes ZooKeeper sends per change of a ~500 KB state to 100
//! instances, as plain JSON and as zstd, counted by a [`FaultProxy`] in front of the server; and
//! what decoding each costs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use zkstate::{Compression, StateOptions, ZkState};
use zkstate_testing::FaultProxy;
use zookeeper_client::Client;

use super::deliver::{self, last_delivery};
use crate::common::{flush_committed_log, progress, Env, RawPaths};
use crate::payload::{bump, records_of_size, Records};
use crate::report::{Measure, Report, Row};
use crate::stats::{format_bytes, format_nanos, format_ratio, Summary};

const SIZE: usize = 500 * 1024;

/// Registrations and the first listener-record reports are done before counting starts.
const SETTLE: Duration = Duration::from_millis(1500);

/// Who receives the changes through the proxy.
#[derive(Clone, Copy, Debug)]
enum Side {
    /// zkstate instances, the payload stored as this compression writes it.
    ZkState(Compression),
    /// Raw persistent watches, each re-reading and decoding the (plain) payload.
    Raw,
}

/// The payload bytes of `records` as `compression` stores them.
fn encode(records: &Records, compression: Compression) -> Result<Vec<u8>> {
    zkstate::encode_payload(&serde_json::to_value(records)?, compression).map_err(|e| anyhow!(e))
}

/// Bytes through the proxy per change, each way.
#[derive(Clone, Copy, Debug)]
struct Traffic {
    down: f64,
    up: f64,
}

/// What the server sends and receives, through `proxy`, per change of the state `name` to
/// `instances` receivers on `sessions` sessions (opened through the proxy). The changes are
/// raw `set_data`s by `writer`, connected to the server directly, each waited for until every
/// receiver has delivered it.
#[allow(clippy::too_many_arguments)]
async fn per_change(
    env: &Env,
    proxy: &FaultProxy,
    writer: &Client,
    scratch: &str,
    name: &str,
    side: Side,
    (instances, sessions): (usize, usize),
    changes: usize,
) -> Result<Traffic> {
    let via = Env {
        servers: proxy.connect_string(),
        plan: env.plan.clone(),
    };
    let mut copy = records_of_size(SIZE);
    let (tx, mut rx) = deliver::channel();
    let mut conns = Vec::new();
    let mut states = Vec::new();
    let mut clients = Vec::new();
    let mut followers = Vec::new();
    let (payload, compression) = match side {
        Side::ZkState(compression) => {
            let options = StateOptions::default().with_compression(compression);
            // Created from a direct session, and stored as `compression` writes it.
            let direct = env.connection().await?;
            let creator =
                ZkState::with_options(&direct, name, copy.clone(), options.clone()).await?;
            let payload = format!("{}/payload", creator.dir());
            writer
                .set_data(&payload, &encode(&copy, compression)?, None)
                .await?;
            creator.close().await;
            direct.close().await;
            for _ in 0..sessions {
                conns.push(via.connection().await?);
            }
            for i in 0..instances {
                let conn = &conns[i % sessions];
                let state =
                    ZkState::with_options(conn, name, copy.clone(), options.clone()).await?;
                deliver::subscribe(&state, i, tx.clone());
                states.push(state);
            }
            (payload, compression)
        }
        Side::Raw => {
            let paths = RawPaths::new(name);
            paths
                .create(writer, &crate::payload::as_written(&copy)?)
                .await?;
            for _ in 0..sessions {
                clients.push(via.raw().await?);
            }
            for i in 0..instances {
                let client = clients[i % sessions].clone();
                followers.push(
                    deliver::follow(client, paths.payload.clone(), i, true, tx.clone()).await?,
                );
            }
            (paths.payload, Compression::None)
        }
    };
    let measured = async {
        tokio::time::sleep(SETTLE).await;
        let (down, up) = (proxy.bytes_to_clients(), proxy.bytes_to_server());
        for i in 0..changes as u64 {
            bump(&mut copy, i * 7 + 1);
            let bytes = encode(&copy, compression)?;
            let version = writer.set_data(&payload, &bytes, None).await?.version;
            last_delivery(&mut rx, version, instances).await?;
            // Direct to the server: not counted.
            flush_committed_log(writer, scratch).await?;
        }
        let changes = changes.max(1) as f64;
        Ok::<_, anyhow::Error>(Traffic {
            down: (proxy.bytes_to_clients() - down) as f64 / changes,
            up: (proxy.bytes_to_server() - up) as f64 / changes,
        })
    }
    .await;
    for state in &states {
        state.close().await;
    }
    for conn in &conns {
        conn.close().await;
    }
    for follower in followers {
        follower.abort();
    }
    drop(clients);
    measured
}

/// `decode_payload::<Records>` of the plain and of the compressed bytes, alternately.
fn decodes(plain: &[u8], zstd: &[u8], iterations: usize) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let warmup = (iterations / 10).max(2);
    let (mut p, mut z) = (Vec::new(), Vec::new());
    for i in 0..warmup + iterations {
        let started = Instant::now();
        let value: Records = zkstate::decode_payload(plain)?;
        let plain_took = started.elapsed();
        drop(black_box(value));
        let started = Instant::now();
        let value: Records = zkstate::decode_payload(zstd)?;
        let zstd_took = started.elapsed();
        drop(black_box(value));
        if i >= warmup {
            p.push(plain_took);
            z.push(zstd_took);
        }
    }
    Ok((p, z))
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    let plan = &env.plan;
    let n = plan.compression_instances;
    let changes = plan.compression_changes;
    let records = records_of_size(SIZE);
    let plain = encode(&records, Compression::None)?;
    let zstd = encode(&records, Compression::ZSTD)?;
    let (plain_len, zstd_len) = (plain.len(), zstd.len());

    let proxy = FaultProxy::start(&env.servers).await?;
    let writer = env.raw().await?;
    let scratch_paths = RawPaths::new("s9-scratch");
    scratch_paths.create(&writer, b"").await?;
    let scratch = format!("{}/scratch", scratch_paths.dir);
    scratch_paths.create_node(&writer, &scratch).await?;
    let (proxy, writer, scratch) = (&proxy, &writer, scratch.as_str());
    let measure = |name: &'static str, side: Side, fleet: (usize, usize)| async move {
        progress(format!(
            "9. bytes per change of a {} state: {name}, {} receivers, sessions: {}",
            format_bytes(plain_len as f64),
            fleet.0,
            fleet.1
        ));
        per_change(env, proxy, writer, scratch, name, side, fleet, changes).await
    };
    let zk_plain = measure("s9-plain", Side::ZkState(Compression::None), (n, n)).await?;
    let raw_plain = measure("s9-raw", Side::Raw, (n, n)).await?;
    let zk_zstd = measure("s9-zstd", Side::ZkState(Compression::ZSTD), (n, n)).await?;
    let zk_one = measure("s9-plain-one", Side::ZkState(Compression::None), (n, 1)).await?;
    let raw_one = measure("s9-raw-one", Side::Raw, (n, 1)).await?;

    progress("9. decode of the plain and the compressed payload");
    let iterations = plan.compression_decodes;
    let (plain_decode, zstd_decode) =
        tokio::task::spawn_blocking(move || decodes(&plain, &zstd, iterations)).await??;

    let per = |t: Traffic| Measure::bytes_per(t.down, "change");
    report.rows.push(Row::new(
        "9a",
        format!("bytes sent per change to {n} instances (plain JSON, {n} sessions)"),
        per(zk_plain),
        format!("{n} raw persistent watches + `get_data` each, {n} sessions"),
        per(raw_plain),
    ));
    report.rows.push(Row::new(
        "9b",
        format!("bytes sent per change to {n} instances (zstd, `Compression::ZSTD`, {n} sessions)"),
        per(zk_zstd),
        "9a: the same instances, plain JSON",
        per(zk_plain),
    ));
    report.rows.push(Row::new(
        "9c",
        format!("bytes sent per change to {n} instances (plain JSON, {n} instances on 1 session)"),
        per(zk_one),
        format!("{n} raw persistent watches + `get_data` each, 1 session"),
        per(raw_one),
    ));
    report.rows.push(Row::new(
        "9d",
        format!(
            "`decode_payload::<Records>` of the zstd frame ({} → {})",
            format_bytes(zstd_len as f64),
            format_bytes(plain_len as f64)
        ),
        Measure::latency(Summary::of_durations(&zstd_decode), "zstd decode"),
        "`decode_payload::<Records>` of the plain JSON",
        Measure::latency(Summary::of_durations(&plain_decode), "plain decode"),
    ));
    let p50 = |v: &[Duration]| Summary::of_durations(v).map(|s| s.p50);
    let decode_extra = match (p50(&zstd_decode), p50(&plain_decode)) {
        (Some(z), Some(p)) if z >= p => format!("adds {}", format_nanos(z - p)),
        (Some(z), Some(p)) => format!("saves {}", format_nanos(p - z)),
        _ => "adds — (not measured)".into(),
    };
    report.notes.push(format!(
        "9: the payload is {} as JSON and {} as a zstd frame (level 3): {} of it. Bytes are counted by a \
         `FaultProxy` in front of the server, through which every receiver connects, while a raw client connected \
         directly makes {changes} changes (one record each), each waited for until all {n} receivers delivered it; \
         ZooKeeper's framing, pings, periodic checks and listener-record reports in that time are counted too. \
         Ratios: zstd / plain {} (9b), 1 session / {n} sessions {} (9c / 9a). Bytes sent up per change: {} plain, \
         {} zstd, {} plain on 1 session, {} raw. Decoding the frame {decode_extra} at p50 (9d).",
        format_bytes(plain_len as f64),
        format_bytes(zstd_len as f64),
        format_ratio(zstd_len as f64 / plain_len as f64),
        format_ratio(zk_zstd.down / zk_plain.down),
        format_ratio(zk_one.down / zk_plain.down),
        format_bytes(zk_plain.up),
        format_bytes(zk_zstd.up),
        format_bytes(zk_one.up),
        format_bytes(raw_plain.up),
    ));
    Ok(())
}
