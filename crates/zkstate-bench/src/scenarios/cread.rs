//! Scenario 2: `c_read()`: the consistent read, against a raw pipelined `sync` + `exists`.

use std::hint::black_box;

use anyhow::Result;

use crate::common::{interleaved, progress, Env, Pace, RawPaths};
use crate::payload::records_of_size;
use crate::report::{Measure, Report, Row};
use crate::stats::Summary;

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    progress("2. c_read() against a raw pipelined sync + exists");
    let records = records_of_size(1024);
    let conn = env.connection().await?;
    let state = zkstate::ZkState::new(&conn, "s2-cread", records.clone()).await?;
    let raw = env.raw().await?;
    let paths = RawPaths::new("s2-cread");
    paths
        .create(&raw, &crate::payload::as_written(&records)?)
        .await?;

    let (zk, base) = interleaved(
        env.plan.c_read,
        env.plan.warmup,
        Pace::Burst,
        |_| {
            let state = &state;
            async move {
                let value = state.c_read().await?;
                black_box(value.len());
                Ok(None)
            }
        },
        |_| {
            let (raw, path) = (&raw, &paths.payload);
            async move {
                // Both requests sent before either is awaited: one round trip.
                let sync = raw.sync(path);
                let stat = raw.check_stat(path);
                let (synced, stat) = futures::join!(sync, stat);
                synced?;
                black_box(stat?);
                Ok(None)
            }
        },
    )
    .await?;
    state.close().await;
    conn.close().await;

    report.rows.push(
        Row::new(
            "2",
            "`c_read()` (value unchanged)",
            Measure::latency(Summary::of_durations(&zk), "c_read"),
            "raw `sync` + `exists`, pipelined",
            Measure::latency(Summary::of_durations(&base), "sync+exists"),
        )
        .target_p50_ratio("p50 ≤ 1.3× raw", 1.3),
    );
    Ok(())
}
