//! Seeing a change arrive: zkstate subscribers and raw persistent-watch followers that report
//! each delivery with the instant it happened.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use zkstate::{StateEvent, ZkState};
use zookeeper_client::{AddWatchMode, Client, EventType};

use crate::payload::Records;

/// One delivery: which instance, which payload version, when.
pub type Delivery = (usize, i32, Instant);

/// How long a delivery may take before the iteration fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn channel() -> (UnboundedSender<Delivery>, UnboundedReceiver<Delivery>) {
    unbounded_channel()
}

/// Reports every change batch that `state` delivers to a subscriber, as it is received.
pub fn subscribe(
    state: &ZkState<Records>,
    instance: usize,
    tx: UnboundedSender<Delivery>,
) -> JoinHandle<()> {
    let mut changes = state.subscribe();
    tokio::spawn(async move {
        while let Some(event) = changes.next().await {
            let version = match event {
                StateEvent::Changed(batch) => batch.version,
                StateEvent::Lagged { version, .. } => version,
                _ => continue,
            };
            if tx.send((instance, version, Instant::now())).is_err() {
                return;
            }
        }
    })
}

/// The raw counterpart of a subscriber: a persistent watch on `path`; on every data change it
/// re-reads the payload (and, with `decode`, decodes it into the records) and reports it.
pub async fn follow(
    client: Client,
    path: String,
    instance: usize,
    decode: bool,
    tx: UnboundedSender<Delivery>,
) -> Result<JoinHandle<()>> {
    let mut watcher = client.watch(&path, AddWatchMode::Persistent).await?;
    Ok(tokio::spawn(async move {
        loop {
            let event = watcher.changed().await;
            match event.event_type {
                EventType::NodeDataChanged => {}
                EventType::Session if event.session_state.is_terminated() => return,
                _ => continue,
            }
            let Ok((data, stat)) = client.get_data(&path).await else {
                continue;
            };
            if decode {
                match serde_json::from_slice::<Records>(&data) {
                    Ok(value) => drop(black_box(value)),
                    Err(_) => continue,
                }
            }
            if tx.send((instance, stat.version, Instant::now())).is_err() {
                return;
            }
        }
    }))
}

/// Waits until `instances` distinct instances have delivered `version` (or a later one);
/// returns the instant of the last of those deliveries.
pub async fn last_delivery(
    rx: &mut UnboundedReceiver<Delivery>,
    version: i32,
    instances: usize,
) -> Result<Instant> {
    let mut seen = vec![false; instances];
    let mut remaining = instances;
    let mut last: Option<Instant> = None;
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    while remaining > 0 {
        let Ok(next) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            bail!("{remaining} of {instances} instances did not deliver version {version} within {DELIVERY_TIMEOUT:?}");
        };
        let Some((instance, delivered, at)) = next else {
            bail!("delivery channel closed");
        };
        if delivered >= version && instance < instances && !seen[instance] {
            seen[instance] = true;
            remaining -= 1;
            last = Some(last.map_or(at, |l| l.max(at)));
        }
    }
    last.ok_or_else(|| anyhow::anyhow!("no delivery"))
}
