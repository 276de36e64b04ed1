//! Scenario 6: Fan-out: one write until the last of N instances, spread over up to 10 sessions, has it.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;
use zkstate::{Connection, StateOptions, ZkState};
use zookeeper_client::Client;

use super::deliver::{self, last_delivery, Delivery};
use super::propagation::raw_write;
use crate::common::{interleaved, progress, Env, Pace, RawPaths};
use crate::payload::{records_of_size, Records};
use crate::report::{Measure, Report, Row};
use crate::stats::Summary;

pub const MAX_SESSIONS: usize = 10;

/// N zkstate instances of a 1 KB state, round-robin over their sessions, each with a subscriber.
pub struct Fleet {
    conns: Vec<Connection>,
    states: Vec<ZkState<Records>>,
    instances: usize,
    payload: String,
    copy: Mutex<Records>,
    rx: AsyncMutex<UnboundedReceiver<Delivery>>,
}

impl Fleet {
    pub async fn open(
        env: &Env,
        name: &str,
        instances: usize,
        sessions: usize,
        options: &StateOptions,
    ) -> Result<Fleet> {
        let records = records_of_size(1024);
        let mut conns = Vec::new();
        for _ in 0..sessions.max(1) {
            conns.push(env.connection().await?);
        }
        let (tx, rx) = deliver::channel();
        let mut states = Vec::new();
        for i in 0..instances {
            let conn = &conns[i % conns.len()];
            let state = ZkState::with_options(conn, name, records.clone(), options.clone()).await?;
            deliver::subscribe(&state, i, tx.clone());
            states.push(state);
        }
        let payload = format!("{}/payload", states[0].dir());
        Ok(Fleet {
            conns,
            states,
            instances,
            payload,
            copy: Mutex::new(records),
            rx: AsyncMutex::new(rx),
        })
    }

    /// The state's directory (absolute).
    pub fn dir(&self) -> &str {
        self.states[0].dir()
    }

    /// A raw `set_data` by `writer` (a session of its own) until the last instance delivers it.
    pub async fn change(&self, writer: &Client, i: u64) -> Result<Option<Instant>> {
        let version = raw_write(writer, &self.payload, &self.copy, i).await?;
        Ok(Some(
            last_delivery(&mut *self.rx.lock().await, version, self.instances).await?,
        ))
    }

    pub async fn close(self) {
        for state in &self.states {
            state.close().await;
        }
        for conn in &self.conns {
            conn.close().await;
        }
    }
}

/// The raw counterpart: N persistent watches round-robin over their sessions, each re-reading
/// and decoding the payload.
struct RawFleet {
    _clients: Vec<Client>,
    followers: Vec<JoinHandle<()>>,
    instances: usize,
    paths: RawPaths,
    copy: Mutex<Records>,
    rx: AsyncMutex<UnboundedReceiver<Delivery>>,
}

impl RawFleet {
    async fn open(env: &Env, name: &str, instances: usize, sessions: usize) -> Result<RawFleet> {
        let records = records_of_size(1024);
        let mut clients = Vec::new();
        for _ in 0..sessions.max(1) {
            clients.push(env.raw().await?);
        }
        let paths = RawPaths::new(name);
        paths
            .create(&clients[0], &crate::payload::as_written(&records)?)
            .await?;
        let (tx, rx) = deliver::channel();
        let mut followers = Vec::new();
        for i in 0..instances {
            let client = clients[i % clients.len()].clone();
            followers
                .push(deliver::follow(client, paths.payload.clone(), i, true, tx.clone()).await?);
        }
        Ok(RawFleet {
            _clients: clients,
            followers,
            instances,
            paths,
            copy: Mutex::new(records),
            rx: AsyncMutex::new(rx),
        })
    }

    async fn change(&self, writer: &Client, i: u64) -> Result<Option<Instant>> {
        let version = raw_write(writer, &self.paths.payload, &self.copy, i).await?;
        Ok(Some(
            last_delivery(&mut *self.rx.lock().await, version, self.instances).await?,
        ))
    }

    fn close(self) {
        for follower in self.followers {
            follower.abort();
        }
    }
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    for &(instances, iterations) in &env.plan.fanout {
        let sessions = instances.min(MAX_SESSIONS);
        progress(format!(
            "6. fan-out to {instances} instances over {sessions} sessions"
        ));
        let name = format!("s6-fanout-{instances}");
        let fleet = Fleet::open(env, &name, instances, sessions, &StateOptions::default()).await?;
        let raw = RawFleet::open(env, &name, instances, sessions).await?;
        // One writer session (raw set_data) for both sides, so that only the delivery differs.
        let writer = env.raw().await?;
        let (fleet_ref, raw_ref, writer_ref) = (&fleet, &raw, &writer);
        let (zk, base) = interleaved(
            iterations,
            (env.plan.warmup / 10).max(5),
            Pace::Burst,
            |i| fleet_ref.change(writer_ref, i),
            |i| raw_ref.change(writer_ref, i),
        )
        .await?;
        let row = Row::new(
            &format!("6 (N={instances})"),
            format!(
                "a write → last of {instances} zkstate instances ({sessions} sessions) delivers it"
            ),
            Measure::latency(Summary::of_durations(&zk), "fan-out"),
            format!(
                "same write → last of {instances} raw persistent watches has re-read + decoded it"
            ),
            Measure::latency(Summary::of_durations(&base), "raw fan-out"),
        );
        let row = if instances >= 100 {
            row.target_p50_ratio("p50 ≤ 1.05× raw", 1.05)
        } else {
            row
        };
        report.rows.push(row);
        fleet.close().await;
        raw.close();
    }
    report.notes.push(
        "6: the write is the same raw `set_data` from a separate session on both sides, so that only the delivery \
         differs; the p50 and p99 are those of the last delivery of each write."
            .into(),
    );
    Ok(())
}
