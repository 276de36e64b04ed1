//! Scenario 5: Propagation: a write in instance A until instance B delivers it.

use std::sync::atomic::AtomicI32;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::Mutex as AsyncMutex;
use zkstate::{StateOptions, ZkState};
use zookeeper_client::Client;

use super::deliver::{self, last_delivery, Delivery};
use super::update::raw_locked_write;
use crate::common::{interleaved, progress, Env, Pace, RawPaths};
use crate::payload::{bump, records_of_size, Records};
use crate::report::{Measure, Report, Row};
use crate::stats::Summary;

type Rx = AsyncMutex<tokio::sync::mpsc::UnboundedReceiver<Delivery>>;

/// Changes the writer's copy and sends it with a plain `set_data`; returns the version written.
pub async fn raw_write(client: &Client, path: &str, copy: &Mutex<Records>, i: u64) -> Result<i32> {
    let bytes = {
        let mut value = copy.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        bump(&mut value, i);
        crate::payload::as_written(&*value)?
    };
    Ok(client.set_data(path, &bytes, None).await?.version)
}

async fn delivered(rx: &Rx, version: i32) -> Result<Option<Instant>> {
    Ok(Some(
        last_delivery(&mut *rx.lock().await, version, 1).await?,
    ))
}

/// The pairs of sessions of this scenario and of the paced comparison (scenario 8).
pub struct Pairs {
    pub zk_conns: Vec<zkstate::Connection>,
    pub a: ZkState<Records>,
    pub b: ZkState<Records>,
    pub zk_rx: Rx,
    pub raw_a: Client,
    pub raw_paths: RawPaths,
    pub raw_copy: Mutex<Records>,
    pub raw_version: AtomicI32,
    pub raw_rx: Rx,
    follower: tokio::task::JoinHandle<()>,
}

impl Pairs {
    pub async fn open(env: &Env, name: &str) -> Result<Pairs> {
        Pairs::open_with(env, name, &StateOptions::default()).await
    }

    /// [`open`](Self::open), with these options for both zkstate instances.
    pub async fn open_with(env: &Env, name: &str, options: &StateOptions) -> Result<Pairs> {
        let records = records_of_size(1024);
        let ca = env.connection().await?;
        let cb = env.connection().await?;
        let a = ZkState::with_options(&ca, name, records.clone(), options.clone()).await?;
        let b = ZkState::with_options(&cb, name, records.clone(), options.clone()).await?;
        let (tx, zk_rx) = deliver::channel();
        deliver::subscribe(&b, 0, tx);
        let raw_a = env.raw().await?;
        let raw_b = env.raw().await?;
        let raw_paths = RawPaths::new(name);
        raw_paths
            .create(&raw_a, &crate::payload::as_written(&records)?)
            .await?;
        let version = raw_a.get_data(&raw_paths.payload).await?.1.version;
        let (tx, raw_rx) = deliver::channel();
        let follower =
            deliver::follow(raw_b.clone(), raw_paths.payload.clone(), 0, false, tx).await?;
        Ok(Pairs {
            zk_conns: vec![ca, cb],
            a,
            b,
            zk_rx: AsyncMutex::new(zk_rx),
            raw_a,
            raw_paths,
            raw_copy: Mutex::new(records),
            raw_version: AtomicI32::new(version),
            raw_rx: AsyncMutex::new(raw_rx),
            follower,
        })
    }

    /// `update()` in A until B delivers it.
    pub async fn zk_propagation(&self, i: u64) -> Result<Option<Instant>> {
        let version = self.a.update(|v| bump(v, i)).await?;
        delivered(&self.zk_rx, version).await
    }

    /// Raw `set_data` in A until B has the watch event and has re-read the payload.
    pub async fn raw_propagation(&self, i: u64) -> Result<Option<Instant>> {
        let version = raw_write(&self.raw_a, &self.raw_paths.payload, &self.raw_copy, i).await?;
        // The locked variant writes at the version it knows.
        self.raw_version
            .store(version, std::sync::atomic::Ordering::Release);
        delivered(&self.raw_rx, version).await
    }

    /// Raw lock cycle in A until B has the watch event and has re-read the payload.
    pub async fn raw_locked_propagation(&self, i: u64) -> Result<Option<Instant>> {
        raw_locked_write(
            &self.raw_a,
            &self.raw_paths,
            &self.raw_copy,
            &self.raw_version,
            i,
            true,
        )
        .await?;
        let version = self.raw_version.load(std::sync::atomic::Ordering::Acquire);
        delivered(&self.raw_rx, version).await
    }

    pub async fn close(self) {
        self.follower.abort();
        self.a.close().await;
        self.b.close().await;
        for conn in &self.zk_conns {
            conn.close().await;
        }
    }
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    let plan = &env.plan;
    progress("5. propagation: A's write until B delivers it");
    let pairs = Pairs::open(env, "s5-propagation").await?;
    let (zk, base) = interleaved(
        plan.propagation,
        plan.warmup,
        Pace::Burst,
        |i| pairs.zk_propagation(i),
        |i| pairs.raw_propagation(i),
    )
    .await?;
    report.rows.push(
        Row::new(
            "5a",
            "`update()` in A → change event delivered in B",
            Measure::latency(Summary::of_durations(&zk), "propagation"),
            "raw `set_data` in A → B's persistent-watch event + re-read",
            Measure::latency(Summary::of_durations(&base), "raw propagation"),
        )
        .target_p50_ratio("p50 ≤ 2.2× raw (unlocked)", 2.2)
        .target_p99_ratio("p99 ≤ 1.3× raw", 1.3),
    );

    let (zk_locked, base_locked) = interleaved(
        plan.propagation / 2,
        plan.warmup,
        Pace::Burst,
        |i| pairs.zk_propagation(i),
        |i| pairs.raw_locked_propagation(i),
    )
    .await?;
    report.rows.push(
        Row::new(
            "5b",
            "`update()` in A → change event delivered in B",
            Measure::latency(Summary::of_durations(&zk_locked), "propagation"),
            "raw lock + fenced `set_data` + release in A → B's event + re-read",
            Measure::latency(
                Summary::of_durations(&base_locked),
                "raw locked propagation",
            ),
        )
        .target_p50_ratio("p50 ≤ 0.95× raw (locked)", 0.95)
        .target_p99_ratio("p99 ≤ 1.3× raw", 1.3),
    );

    // 5c: the delivery path alone. The write is a raw set_data on both sides, so the only
    // difference is what B does with the event: zkstate re-reads, decodes, diffs and emits.
    // A stops following (its re-reads would load the server on this side only).
    pairs.a.close().await;
    let b_payload = format!("{}/payload", pairs.a.dir());
    let writer = env.raw().await?;
    let current: Records = serde_json::from_slice(&writer.get_data(&b_payload).await?.0)?;
    let copy = Mutex::new(current);
    let (writer, copy, b_payload, zk_rx, pairs_ref) =
        (&writer, &copy, &b_payload, &pairs.zk_rx, &pairs);
    let (zk_external, base_external) = interleaved(
        plan.propagation,
        plan.warmup,
        Pace::Burst,
        |i| async move {
            let version = raw_write(writer, b_payload, copy, i).await?;
            delivered(zk_rx, version).await
        },
        |i| pairs_ref.raw_propagation(i),
    )
    .await?;
    report.rows.push(Row::new(
        "5c",
        "raw `set_data` by a third session → change event delivered in B",
        Measure::latency(Summary::of_durations(&zk_external), "external propagation"),
        "raw `set_data` in A → B's persistent-watch event + re-read",
        Measure::latency(Summary::of_durations(&base_external), "raw propagation"),
    ));
    pairs.close().await;
    Ok(())
}
