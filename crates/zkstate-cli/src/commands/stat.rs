//! `zkstate stat DIR [--json]`: what a state is made of, in one round trip: the payload's
//! version, incarnation and modification (`czxid`, `mzxid`, `mtime`), its size as stored and
//! as JSON, its compression, the live instances, who holds the lock (and since when), the commit
//! markers and the kept history. Reads only; a payload that does not decode is still described
//! (its JSON size unknown).

use anyhow::Result;
use serde_json::{json, Value};
use zkstate::layout::{lock_sequence, Layout};
use zkstate::Listener;
use zookeeper_client::{Client, Stat};

use super::{client, print_line, resolve_dir, Global};
use crate::output::{escape, rfc3339_from_millis};

/// Arguments of `zkstate stat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory
    pub dir: String,

    /// Print one JSON object instead of lines
    #[arg(long)]
    pub json: bool,
}

/// Who holds a state's lock.
struct Holder {
    /// The lock node's name.
    node: String,
    /// What the holder wrote in it (a zkstate writer: its instance id).
    id: String,
    /// The lock node's creation, by the server's clock.
    since_ms: i64,
    /// The holder's listener record, when it has one.
    record: Option<Listener>,
}

/// What `stat` found.
struct Found {
    stat: Stat,
    stored: usize,
    json: Option<usize>,
    compressed: bool,
    listeners: Vec<Listener>,
    holder: Option<Holder>,
    contenders: usize,
    markers: usize,
    history: usize,
}

/// Runs `zkstate stat`.
pub async fn run(global: &Global, args: Args) -> Result<()> {
    let timeout = global.timeout;
    global
        .with_connection(|conn| async move {
            let dir = resolve_dir(&conn, &args.dir)?;
            let client = client(&conn, timeout).await?;
            let layout = Layout::new(&dir);
            let listeners = match zkstate::list_listeners(&conn, &dir).await {
                Ok(listeners) => listeners,
                Err(zkstate::Error::Missing { .. }) => Vec::new(),
                Err(err) => return Err(err.into()),
            };
            let read = read(&client, &layout, listeners);
            let found = zkstate::within("reading", &dir, timeout, read).await;
            let found = match found {
                Ok(Some(found)) => found,
                Ok(None) | Err(zkstate::Error::Missing { .. }) => {
                    return Err(super::missing_state(&client, timeout, &dir).await)
                }
                Err(err) => return Err(err.into()),
            };
            if args.json {
                // A `Value` always serialises.
                return print_line(
                    &serde_json::to_string_pretty(&as_json(&dir, &found)).unwrap_or_default(),
                );
            }
            for line in lines(&dir, &found) {
                print_line(&escape(&line))?;
            }
            Ok(())
        })
        .await
}

/// Reads the state (the payload and the listings in one round trip); `None` when it has no
/// payload.
async fn read(
    client: &Client,
    layout: &Layout,
    listeners: Vec<Listener>,
) -> Result<Option<Found>, zookeeper_client::Error> {
    let payload = client.get_data(&layout.payload);
    let locks = client.list_children(&layout.lock);
    let writers = client.list_children(&layout.writers);
    let history = client.list_children(&layout.history);
    let (payload, locks, writers, history) = futures::join!(payload, locks, writers, history);
    let (data, stat) = match payload {
        Ok(found) => found,
        Err(zookeeper_client::Error::NoNode) => return Ok(None),
        Err(err) => return Err(err),
    };
    let count = |listed: Result<Vec<String>, zookeeper_client::Error>| match listed {
        Ok(names) => Ok(names),
        Err(zookeeper_client::Error::NoNode) => Ok(Vec::new()),
        Err(err) => Err(err),
    };
    let locks = count(locks)?;
    let holder = holder(client, layout, &locks, &listeners).await?;
    let compressed = zkstate::is_compressed(&data);
    let json = json_size(&data);
    Ok(Some(Found {
        stored: data.len(),
        json,
        compressed,
        stat,
        contenders: locks.iter().filter(|n| lock_sequence(n).is_some()).count(),
        listeners,
        holder,
        markers: count(writers)?.len(),
        history: count(history)?.len(),
    }))
}

/// The size of a payload's JSON text (the bytes, or the frame's JSON as zkstate writes it);
/// `None` when it does not decode.
fn json_size(data: &[u8]) -> Option<usize> {
    if !zkstate::is_compressed(data) {
        return zkstate::decode_payload::<serde::de::IgnoredAny>(data)
            .ok()
            .map(|_| data.len());
    }
    let value: Value = zkstate::decode_payload(data).ok()?;
    serde_json::to_vec(&value).ok().map(|text| text.len())
}

/// The lowest lock node's holder, when the lock is held.
async fn holder(
    client: &Client,
    layout: &Layout,
    locks: &[String],
    listeners: &[Listener],
) -> Result<Option<Holder>, zookeeper_client::Error> {
    let Some(node) = locks
        .iter()
        .filter_map(|name| lock_sequence(name).map(|s| (s, name)))
        .min()
        .map(|(_, name)| name.clone())
    else {
        return Ok(None);
    };
    let (data, stat) = match client.get_data(&format!("{}/{node}", layout.lock)).await {
        Ok(found) => found,
        // Released meanwhile.
        Err(zookeeper_client::Error::NoNode) => return Ok(None),
        Err(err) => return Err(err),
    };
    let id: String = String::from_utf8_lossy(&data).chars().take(200).collect();
    let record = listeners.iter().find(|l| l.id == id).cloned();
    Ok(Some(Holder {
        node,
        id,
        since_ms: stat.ctime,
        record,
    }))
}

fn holder_text(holder: &Option<Holder>, contenders: usize) -> String {
    let Some(holder) = holder else {
        return "free".to_string();
    };
    let who = match &holder.record {
        Some(record) => format!("{} ({} pid {})", holder.id, record.hostname, record.pid),
        None => format!("{} (no listener record)", holder.id),
    };
    let waiting = contenders.saturating_sub(1);
    format!(
        "held by {who} since {}, {waiting} waiting",
        rfc3339_from_millis(holder.since_ms)
    )
}

/// The human form, one line per fact.
fn lines(dir: &str, found: &Found) -> Vec<String> {
    let json = found
        .json
        .map_or("JSON size unknown (does not decode)".to_string(), |n| {
            format!("{n} bytes as JSON")
        });
    vec![
        format!("state      {dir}"),
        format!("version    {}", found.stat.version),
        format!("czxid      0x{:x}", found.stat.czxid),
        format!("mzxid      0x{:x}", found.stat.mzxid),
        format!("modified   {}", rfc3339_from_millis(found.stat.mtime)),
        format!(
            "payload    {} bytes stored ({}), {json}",
            found.stored,
            if found.compressed {
                "zstd"
            } else {
                "plain JSON"
            }
        ),
        format!("instances  {} live", found.listeners.len()),
        format!(
            "lock       {}",
            holder_text(&found.holder, found.contenders)
        ),
        format!("markers    {}", found.markers),
        format!("history    {} entries", found.history),
    ]
}

/// The `--json` form.
fn as_json(dir: &str, found: &Found) -> Value {
    let holder = found.holder.as_ref().map(|h| {
        json!({
            "node": h.node, "id": h.id, "since": rfc3339_from_millis(h.since_ms),
            "since_ms": h.since_ms,
            "host": h.record.as_ref().map(|r| r.hostname.clone()),
            "pid": h.record.as_ref().map(|r| r.pid),
        })
    });
    json!({
        "dir": dir,
        "version": found.stat.version,
        "czxid": found.stat.czxid,
        "mzxid": found.stat.mzxid,
        "mtime": rfc3339_from_millis(found.stat.mtime),
        "mtime_ms": found.stat.mtime,
        "stored_bytes": found.stored,
        "json_bytes": found.json,
        "compression": if found.compressed { "zstd" } else { "none" },
        "instances": found.listeners.len(),
        "lock": {"holder": holder, "contenders": found.contenders},
        "markers": found.markers,
        "history": found.history,
    })
}
