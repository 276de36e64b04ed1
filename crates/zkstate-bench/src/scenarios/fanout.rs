//! Scenario 6: Fan-out: one write until the last of N instances, spread over up to 10 sessions, has it.

use std::sync::Mutex;

use anyhow::Result;
use zkstate::ZkState;

use super::deliver::{self, last_delivery};
use super::propagation::raw_write;
use crate::common::{interleaved, progress, Env, Pace, RawPaths};
use crate::payload::records_of_size;
use crate::report::{Measure, Report, Row};
use crate::stats::Summary;

const MAX_SESSIONS: usize = 10;

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    for &(instances, iterations) in &env.plan.fanout {
        let sessions = instances.min(MAX_SESSIONS);
        progress(format!(
            "6. fan-out to {instances} instances over {sessions} sessions"
        ));
        let name = format!("s6-fanout-{instances}");
        let records = records_of_size(1024);
        let bytes = serde_json::to_vec(&records)?;

        // zkstate: N instances round-robin over the sessions, each with a subscriber.
        let mut conns = Vec::new();
        for _ in 0..sessions {
            conns.push(env.connection().await?);
        }
        let (zk_tx, zk_rx) = deliver::channel();
        let mut states = Vec::new();
        for i in 0..instances {
            let state = ZkState::new(&conns[i % sessions], &name, records.clone()).await?;
            deliver::subscribe(&state, i, zk_tx.clone());
            states.push(state);
        }
        // raw: N persistent watches round-robin over the sessions, each re-reading and decoding.
        let mut raws = Vec::new();
        for _ in 0..sessions {
            raws.push(env.raw().await?);
        }
        let paths = RawPaths::new(&name);
        paths.create(&raws[0], &bytes).await?;
        let (raw_tx, raw_rx) = deliver::channel();
        let mut followers = Vec::new();
        for i in 0..instances {
            followers.push(
                deliver::follow(
                    raws[i % sessions].clone(),
                    paths.payload.clone(),
                    i,
                    true,
                    raw_tx.clone(),
                )
                .await?,
            );
        }

        // One writer session (raw set_data) for both sides, so that only the delivery differs.
        let writer = env.raw().await?;
        let zk_payload = format!("{}/payload", states[0].dir());
        let zk_copy = Mutex::new(records.clone());
        let raw_copy = Mutex::new(records);
        let zk_rx = tokio::sync::Mutex::new(zk_rx);
        let raw_rx = tokio::sync::Mutex::new(raw_rx);
        let (writer, zk_payload, zk_copy, raw_copy, zk_rx, raw_rx, raw_payload) = (
            &writer,
            &zk_payload,
            &zk_copy,
            &raw_copy,
            &zk_rx,
            &raw_rx,
            &paths.payload,
        );
        let (zk, base) = interleaved(
            iterations,
            (env.plan.warmup / 10).max(5),
            Pace::Burst,
            |i| async move {
                let version = raw_write(writer, zk_payload, zk_copy, i).await?;
                Ok(Some(
                    last_delivery(&mut *zk_rx.lock().await, version, instances).await?,
                ))
            },
            |i| async move {
                let version = raw_write(writer, raw_payload, raw_copy, i).await?;
                Ok(Some(
                    last_delivery(&mut *raw_rx.lock().await, version, instances).await?,
                ))
            },
        )
        .await?;
        report.rows.push(Row::new(
            &format!("6 (N={instances})"),
            format!(
                "a write → last of {instances} zkstate instances ({sessions} sessions) delivers it"
            ),
            Measure::latency(Summary::of_durations(&zk), "fan-out"),
            format!(
                "same write → last of {instances} raw persistent watches has re-read + decoded it"
            ),
            Measure::latency(Summary::of_durations(&base), "raw fan-out"),
        ));
        for state in &states {
            state.close().await;
        }
        for conn in &conns {
            conn.close().await;
        }
        for follower in followers {
            follower.abort();
        }
    }
    report.notes.push(
        "6: the write is the same raw `set_data` from a separate session on both sides, so that only the delivery \
         differs; the p50 and p99 are those of the last delivery of each write."
            .into(),
    );
    Ok(())
}
