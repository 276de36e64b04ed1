//! Reading a state's history (see [`crate::history`]): the kept versions, newest first, and the
//! value of one of them. Thin I/O over `history::chain`.

use std::time::Duration;

use serde_json::Value;
use zookeeper_client::{Client, Stat};

use super::core::connected;
use crate::connection::Connection;
use crate::error::{within, Error};
use crate::history::chain::{self, Unreachable};
use crate::history::entry::{EntryName, Stored};
use crate::history::{HistoryEntry, HistoryItem, MAX_READ};
use crate::layout::Layout;
use crate::options::Limits;
use crate::store::codec;

/// Entries read in one round trip.
const READ_BATCH: usize = 100;
/// The most JSON one entry may decompress to.
const MAX_ENTRY_TEXT: usize = 16 * 1024 * 1024;
/// The most JSON the entries of one read may hold in all.
const MAX_READ_TEXT: usize = 64 * 1024 * 1024;

/// The newest `limit` (at most [`MAX_READ`]) kept versions of the state at `dir` (resolved as
/// [`Connection::resolve_dir`]), newest first, with the gaps between them; empty for a state
/// with no history yet. No open state needed. What it reads is bounded whoever wrote the
/// entries: at most [`MAX_READ`] entries and 64 MiB of their JSON (older entries past it are
/// left out).
///
/// # Errors
/// [`Error::InvalidDir`], [`Error::Missing`] naming the payload when there is none,
/// [`Error::Timeout`], [`Error::PermissionDenied`], [`Error::ZooKeeper`].
pub async fn read_history(
    conn: &Connection,
    dir: &str,
    limit: usize,
) -> Result<Vec<HistoryItem>, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    history_of(conn, &layout, conn.settings().connect_timeout(), limit).await
}

/// The value of version `version` of the state at `dir`, as the JSON it was: the payload when it
/// is that version, else the payload with the newer entries' undo patches applied.
///
/// # Errors
/// [`Error::NotKept`] when the history does not lead back to `version` (never kept, trimmed, or
/// written before another tool's write: the reason says which); as [`read_history`] otherwise,
/// and [`Error::Decode`] when the payload does not decode.
pub async fn value_at(conn: &Connection, dir: &str, version: i32) -> Result<Value, Error> {
    let layout = Layout::new(&conn.resolve_dir(dir)?);
    value_of(conn, &layout, conn.settings().connect_timeout(), version).await
}

pub(crate) async fn history_of(
    conn: &Connection,
    layout: &Layout,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<HistoryItem>, Error> {
    let client = connected(conn, layout, timeout).await?;
    let (stat, _) = payload(&client, layout, timeout, false).await?;
    let entries = entries(&client, layout, timeout, &stat, limit.min(MAX_READ), None).await?;
    Ok(items(stat.version, &entries))
}

pub(crate) async fn value_of(
    conn: &Connection,
    layout: &Layout,
    timeout: Duration,
    version: i32,
) -> Result<Value, Error> {
    let client = connected(conn, layout, timeout).await?;
    let (stat, data) = payload(&client, layout, timeout, true).await?;
    let current: Value = codec::decode(&data.unwrap_or_default(), Limits::default())
        .map_err(|reason| Error::Decode {
            path: layout.payload.clone(),
            version: stat.version,
            reason,
        })?
        .0;
    let entries = entries(&client, layout, timeout, &stat, MAX_READ, Some(version)).await?;
    let newest_first: Vec<&Stored> = entries.iter().map(|(stored, _, _)| stored).collect();
    chain::reproduce(current, stat.version, &newest_first, version).map_err(|why| Error::NotKept {
        dir: layout.dir.clone(),
        version,
        reason: reason(why),
    })
}

/// What [`Error::NotKept`] says.
fn reason(why: Unreachable) -> String {
    match why {
        Unreachable::NotKept => "not in the history".to_string(),
        Unreachable::Broken { at } => format!(
            "version {at} was written by another tool, or its change was too large to keep, \
             so what came before it is lost"
        ),
        Unreachable::Corrupt { at } => {
            format!("the history entry of version {at} does not apply (changed outside zkstate)")
        }
    }
}

/// The payload's stat, and its bytes when asked.
async fn payload(
    client: &Client,
    layout: &Layout,
    timeout: Duration,
    with_data: bool,
) -> Result<(Stat, Option<Vec<u8>>), Error> {
    let path = &layout.payload;
    let found = if with_data {
        match within("reading", path, timeout, client.get_data(path)).await {
            Ok((data, stat)) => Some((stat, Some(data))),
            Err(Error::Missing { .. }) => None,
            Err(err) => return Err(err),
        }
    } else {
        within("reading", path, timeout, client.check_stat(path))
            .await?
            .map(|stat| (stat, None))
    };
    found.ok_or_else(|| Error::Missing { path: path.clone() })
}

/// The entries of this incarnation of the payload at or below its version, newest first (at
/// most `limit`; with `down_to`, none below that version), each with its node's stat and size.
/// An entry trimmed while it is read ends the list there (the older ones went first); one that
/// does not decode is left out.
async fn entries(
    client: &Client,
    layout: &Layout,
    timeout: Duration,
    stat: &Stat,
    limit: usize,
    down_to: Option<i32>,
) -> Result<Vec<(Stored, Stat, usize)>, Error> {
    let listing = client.list_children(&layout.history);
    let listed = match within("listing", &layout.history, timeout, listing).await {
        Ok(listed) => listed,
        Err(Error::Missing { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut names: Vec<(EntryName, String)> = listed
        .into_iter()
        .filter_map(|name| EntryName::parse(&name).map(|entry| (entry, name)))
        .filter(|(entry, _)| entry.czxid == stat.czxid && entry.version <= stat.version)
        .filter(|(entry, _)| down_to.is_none_or(|v| entry.version >= v))
        .collect();
    names.sort_unstable_by_key(|(entry, _)| std::cmp::Reverse(*entry));
    names.truncate(limit);
    let mut out = Vec::with_capacity(names.len());
    let mut text_bytes = 0;
    for batch in names.chunks(READ_BATCH) {
        // Requests on one session are served in order: a batch is one round trip.
        let reads: Vec<_> = batch
            .iter()
            .map(|(_, name)| client.get_data(&layout.history_entry(name)))
            .collect();
        let all =
            async { Ok::<_, zookeeper_client::Error>(futures::future::join_all(reads).await) };
        let read = within("reading", &layout.history, timeout, all).await?;
        for ((entry, _), result) in batch.iter().zip(read) {
            let (data, stat) = match result {
                Ok(found) => found,
                Err(zookeeper_client::Error::NoNode) => return Ok(out),
                Err(source) => {
                    return Err(Error::from_zookeeper("reading", &layout.history, source))
                }
            };
            // What the entries may cost, whoever wrote them: each is at most `MAX_ENTRY_TEXT`
            // of JSON, all of them `MAX_READ_TEXT`; the older ones past it are not read.
            let Ok(text) = codec::unframe(&data, MAX_ENTRY_TEXT) else {
                continue;
            };
            text_bytes += text.len();
            if text_bytes > MAX_READ_TEXT {
                return Ok(out);
            }
            let limits = Limits {
                max_decompressed: MAX_ENTRY_TEXT,
                ..Limits::default()
            };
            // The text is plain JSON now: decoding it does not decompress again.
            if let Ok((stored, ..)) = codec::decode::<Stored>(&text, limits) {
                if stored.version == entry.version {
                    out.push((stored, stat, data.len()));
                }
            }
        }
    }
    Ok(out)
}

/// The items of a history, newest first: each entry, and a gap before an outside version
/// where versions are missing below it.
fn items(payload_version: i32, entries: &[(Stored, Stat, usize)]) -> Vec<HistoryItem> {
    let newest_first: Vec<&Stored> = entries.iter().map(|(stored, _, _)| stored).collect();
    let reproducible = chain::reproducible(payload_version, &newest_first);
    let mut items = Vec::with_capacity(entries.len());
    let mut newer: Option<&Stored> = None;
    for ((stored, stat, bytes), reproducible) in entries.iter().zip(reproducible) {
        if let Some(newer) = newer.filter(|n| n.outside && stored.version + 1 < n.version) {
            items.push(HistoryItem::Gap {
                from: stored.version + 1,
                to: newer.version - 1,
            });
        }
        items.push(HistoryItem::Version(HistoryEntry {
            version: stored.version,
            time_ms: stored.time_ms.unwrap_or(stat.ctime),
            author: stored.author.clone().unwrap_or_default(),
            message: stored.message.clone(),
            rollback_of: stored.rollback_of,
            outside: stored.outside,
            changes: stored.changes.clone(),
            reproducible,
            bytes: *bytes,
        }));
        newer = Some(stored);
    }
    items
}
