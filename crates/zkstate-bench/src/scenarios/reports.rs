//! Scenario 10: Listener-record reports: every instance rewrites its listener record with the
//! version it applied, at most once per `report_interval` (default 1 s). The server writes each
//! change adds for 1, 10 and 100 instances, and what the reports do to 5a and 6.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use zkstate::StateOptions;
use zookeeper_client::Client;

use super::fanout::{Fleet, MAX_SESSIONS};
use super::propagation::Pairs;
use crate::common::{interleaved, progress, Env, Pace};
use crate::report::{Measure, Report, Row};
use crate::stats::Summary;

/// Changes are this far apart, more than the default report interval, so that each change gets
/// its own report.
const SPACING: Duration = Duration::from_millis(1200);

/// How long the last reports (and, before the first change, the registrations and first
/// reports) are given.
const SETTLE: Duration = Duration::from_millis(1500);

/// The server's last zxid, from the `Zxid: 0x…` line of `srvr`.
async fn last_zxid(servers: &str) -> Result<i64> {
    let srvr = zkstate_testing::four_letter_word(servers, "srvr").await?;
    let hex = srvr
        .lines()
        .find_map(|line| line.strip_prefix("Zxid: 0x"))
        .with_context(|| format!("no Zxid line in srvr: {srvr}"))?;
    i64::from_str_radix(hex.trim(), 16).with_context(|| format!("srvr Zxid {hex:?}"))
}

/// The sum of the data versions of the listener records under `listeners`: how many times they
/// were rewritten.
async fn record_versions(client: &Client, listeners: &str) -> Result<i64> {
    let mut sum = 0;
    for child in client.list_children(listeners).await? {
        if let Some(stat) = client.check_stat(&format!("{listeners}/{child}")).await? {
            sum += i64::from(stat.version);
        }
    }
    Ok(sum)
}

/// What `changes` changes cost the server: its transactions beyond the changes themselves, and
/// the listener-record rewrites among them (by the records' versions), both per change.
struct Writes {
    extra: f64,
    records: f64,
}

async fn writes_per_change(
    env: &Env,
    name: &str,
    (instances, connections): (usize, usize),
    changes: usize,
    options: &StateOptions,
) -> Result<Writes> {
    let fleet = Fleet::open(env, name, instances, connections, options).await?;
    let writer = env.raw().await?;
    let listeners = format!("{}/{}", fleet.dir(), zkstate::layout::LISTENERS);
    let measured = async {
        tokio::time::sleep(SETTLE).await;
        let versions = record_versions(&writer, &listeners).await?;
        let before = last_zxid(&env.servers).await?;
        for i in 0..changes as u64 {
            let started = Instant::now();
            fleet.change(&writer, i).await?;
            tokio::time::sleep_until((started + SPACING).into()).await;
        }
        tokio::time::sleep(SETTLE).await;
        let after = last_zxid(&env.servers).await?;
        let versions = record_versions(&writer, &listeners).await? - versions;
        let changes = changes.max(1) as f64;
        Ok(Writes {
            extra: ((after - before) as f64 - changes) / changes,
            records: versions as f64 / changes,
        })
    }
    .await;
    fleet.close().await;
    measured
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    let plan = &env.plan;
    let on = StateOptions::default();
    let off = StateOptions::default().with_report_interval(None);
    let changes = plan.report_changes;
    let mut counted = Vec::new();
    for &(instances, connections) in &plan.reports {
        progress(format!(
            "10. server writes per change: {instances} instances on {connections} connections, reports on and off"
        ));
        let fleet = (instances, connections);
        let with =
            writes_per_change(env, &format!("s10-on-{instances}"), fleet, changes, &on).await?;
        let without =
            writes_per_change(env, &format!("s10-off-{instances}"), fleet, changes, &off).await?;
        report.rows.push(Row::new(
            &format!("10 (N={instances})"),
            format!(
                "server writes per change from listener-record reports ({instances} instances, {connections} \
                 connections; default interval 1 s)"
            ),
            Measure::count_per(with.extra, "writes", "change"),
            "the same with reports off (`with_report_interval(None)`)",
            Measure::count_per(without.extra, "writes", "change"),
        ));
        counted.push(format!(
            "N={instances}: {:.1} with reports, {:.1} without",
            with.records, without.records
        ));
    }
    report.notes.push(format!(
        "10: {changes} raw `set_data`s of the 1 KB state {:.1} s apart (so that each change gets its own report), each \
         waited for until every instance delivered it, then {:.1} s for the last reports; extra writes per change = \
         (Δ of the server's last zxid from `srvr` − changes) / changes. Expected: one per instance. Listener-record \
         rewrites per change counted by the records' data versions: {}.",
        SPACING.as_secs_f64(),
        SETTLE.as_secs_f64(),
        counted.join("; ")
    ));

    progress("10. 5a with reports on and off");
    let with = Pairs::open_with(env, "s10-5a-on", &on).await?;
    let without = Pairs::open_with(env, "s10-5a-off", &off).await?;
    let measured = interleaved(
        plan.propagation,
        plan.warmup,
        Pace::Burst,
        |i| with.zk_propagation(i),
        |i| without.zk_propagation(i),
    )
    .await;
    with.close().await;
    without.close().await;
    let (zk_on, zk_off) = measured?;
    report.rows.push(Row::new(
        "10 (5a)",
        "5a with listener-record reports (the default): `update()` in A → change event delivered in B",
        Measure::latency(Summary::of_durations(&zk_on), "5a with reports"),
        "5a without reports (`with_report_interval(None)`)",
        Measure::latency(Summary::of_durations(&zk_off), "5a without reports"),
    ));

    let (instances, iterations) = plan
        .fanout
        .iter()
        .copied()
        .max_by_key(|&(instances, _)| instances)
        .unwrap_or((100, 200));
    let sessions = instances.min(MAX_SESSIONS);
    progress(format!("10. 6 (N={instances}) with reports on and off"));
    let with = Fleet::open(env, "s10-fanout-on", instances, sessions, &on).await?;
    let without = Fleet::open(env, "s10-fanout-off", instances, sessions, &off).await?;
    let writer = env.raw().await?;
    let writer = &writer;
    let measured = interleaved(
        iterations,
        (plan.warmup / 10).max(5),
        Pace::Burst,
        |i| with.change(writer, i),
        |i| without.change(writer, i),
    )
    .await;
    with.close().await;
    without.close().await;
    let (zk_on, zk_off) = measured?;
    report.rows.push(Row::new(
        &format!("10 (6, N={instances})"),
        format!(
            "6 with listener-record reports (the default): a write → last of {instances} instances ({sessions} \
             sessions) delivers it"
        ),
        Measure::latency(Summary::of_durations(&zk_on), "6 with reports"),
        "6 without reports (`with_report_interval(None)`)",
        Measure::latency(Summary::of_durations(&zk_off), "6 without reports"),
    ));
    report.notes.push(
        "10 (5a), 10 (6): the same measurement as 5a and 6 on two sets of states in the same run, one with the \
         default reports and one with them off, in alternating rounds; ratio = with / without."
            .into(),
    );
    Ok(())
}
