//! Scenario 11: what the history costs a write. `update()` of a 1 KB state with its history
//! (the default) against the same update of a state without (`with_history(0, 0)`), in
//! alternating rounds; and, for the 1 KB, 64 KB and 900 KB payloads with one record changed per
//! write, the size of a history entry and how much the write's requests grow (the bytes the
//! writer sends, through a byte-counting proxy, with and without history).

use anyhow::{Context, Result};
use zkstate::history::HistoryItem;
use zkstate::{Connection, Settings, StateOptions, ZkState};
use zkstate_testing::FaultProxy;

use crate::common::{interleaved, progress, Env, Pace};
use crate::payload::{bump, records_of_size, Records};
use crate::report::{Measure, Report, Row, Target};
use crate::stats::Summary;

/// The writes measured per payload size for the entry and request sizes.
const SIZE_WRITES: usize = 20;

fn without_history() -> StateOptions {
    StateOptions::default().with_history(0, 0)
}

/// Bytes the writer sends per `update()` of `state` (through `proxy`), over `writes` writes.
async fn sent_per_update(
    proxy: &FaultProxy,
    state: &ZkState<Records>,
    writes: usize,
    offset: u64,
) -> Result<f64> {
    let before = proxy.bytes_to_server();
    for i in 0..writes as u64 {
        state.update(|v| bump(v, offset + i)).await?;
    }
    Ok((proxy.bytes_to_server() - before) as f64 / writes.max(1) as f64)
}

/// The mean size of the newest `n` entries of `state`'s history.
async fn entry_bytes(state: &ZkState<Records>, n: usize) -> Result<f64> {
    let items = state.history(n).await?;
    let sizes: Vec<usize> = items
        .iter()
        .filter_map(|item| match item {
            HistoryItem::Version(entry) => Some(entry.bytes),
            _ => None,
        })
        .collect();
    anyhow::ensure!(!sizes.is_empty(), "no history entries");
    Ok(sizes.iter().sum::<usize>() as f64 / sizes.len() as f64)
}

/// Entry size and request growth for a payload of `size` bytes.
async fn sizes(
    proxy: &FaultProxy,
    conn: &Connection,
    size: usize,
    report: &mut Report,
) -> Result<()> {
    let label = match size {
        s if s >= 900 * 1024 => "900 KB",
        s if s >= 64 * 1024 => "64 KB",
        _ => "1 KB",
    };
    progress(format!("11. history entry and request size, {label}"));
    let records = records_of_size(size);
    let name = |side: &str| format!("s11-{}-{side}", size / 1024);
    let with = ZkState::new(conn, &name("with"), records.clone()).await?;
    let without = ZkState::with_options(conn, &name("without"), records, without_history()).await?;
    // One write each first: the lock directory, the marker and the history directory exist.
    with.update(|v| bump(v, 0)).await?;
    without.update(|v| bump(v, 0)).await?;
    let sent_with = sent_per_update(proxy, &with, SIZE_WRITES, 1).await?;
    let sent_without = sent_per_update(proxy, &without, SIZE_WRITES, 1).await?;
    let entry = entry_bytes(&with, SIZE_WRITES).await?;
    let growth = sent_with - sent_without;
    let big = size >= 900 * 1024;
    report.rows.push(
        Row::new(
            &format!("11 ({label})"),
            format!("history entry of a write that changes one record ({label} payload)"),
            Measure::bytes_per(entry, "write"),
            "the write's requests: growth with history (bytes sent by the writer, with − without)",
            Measure::bytes_per(growth, "write"),
        )
        .with_target(Target::new(
            "900 KB: entry ≤ 4 KB, request growth ≤ 8 KB",
            big.then_some(entry <= 4096.0 && growth <= 8192.0),
        )),
    );
    with.close().await;
    without.close().await;
    Ok(())
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    let plan = &env.plan;
    progress("11. update() with history against update() without");
    let conn = env.connection().await?;
    let records = records_of_size(1024);
    let with = ZkState::new(&conn, "s11-update-with", records.clone()).await?;
    let without =
        ZkState::with_options(&conn, "s11-update-without", records, without_history()).await?;
    let (zk, base) = interleaved(
        plan.update,
        plan.warmup,
        Pace::Burst,
        |i| {
            let with = &with;
            async move {
                with.update(|v| bump(v, i)).await?;
                Ok(None)
            }
        },
        |i| {
            let without = &without;
            async move {
                without.update(|v| bump(v, i)).await?;
                Ok(None)
            }
        },
    )
    .await?;
    report.rows.push(
        Row::new(
            "11a",
            "`update()` with history (the default: an entry per write, trimmed at 100)",
            Measure::latency(Summary::of_durations(&zk), "update with history"),
            "`update()` without history (`with_history(0, 0)`)",
            Measure::latency(Summary::of_durations(&base), "update without history"),
        )
        .target_p50_ratio("p50 ≤ 1.10×", 1.10),
    );
    with.close().await;
    without.close().await;
    conn.close().await;

    let proxy = FaultProxy::start(&env.servers).await?;
    let url = format!("zookeeper://{}/bench/zk", proxy.connect_string());
    let conn = Connection::connect(&url, Settings::default())
        .await
        .context("connecting through the proxy")?;
    for (size, _, _) in plan.sizes.clone() {
        sizes(&proxy, &conn, size, report).await?;
    }
    conn.close().await;
    report.notes.push(format!(
        "11a: two 1 KB states on one connection, one with the default history and one with          `with_history(0, 0)`, updated in alternating rounds; ratio = with / without. 11 (sizes):          {SIZE_WRITES} `update()`s of each state through a byte-counting proxy; the entry is the          mean size of their history nodes, the growth the difference of the bytes the writer sent          per write (the history's listing in the lock round trip, the entry's create and the          trimmed entries' deletes in the commit)."
    ));
    Ok(())
}
