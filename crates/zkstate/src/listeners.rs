//! Listener records: one ephemeral node per live instance under `<dir>/listeners`, holding what
//! the instance is and what it has applied.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zookeeper_client::{Acls, Client, CreateMode};

/// One live instance of a state, as recorded in `<dir>/listeners/<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Listener {
    /// The instance id ([`ZkState::id`](crate::ZkState::id)).
    pub id: String,
    /// The host it runs on.
    #[serde(default)]
    pub hostname: String,
    /// Its process id.
    #[serde(default)]
    pub pid: u32,
    /// When the instance started, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub started_at_ms: u64,
    /// The payload version this instance has applied, as of its last report (`None` for
    /// instances that do not report, or records written before 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_version: Option<i32>,
    /// The zxid of the write it has applied (orders across deletion and re-creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_mzxid: Option<i64>,
    /// When it reported, in milliseconds since the Unix epoch (its own clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_at_ms: Option<u64>,
    /// The record's node is persistent: no live session holds it, so it is no instance (every
    /// instance's record is ephemeral) but a node another client planted. Rollouts never count
    /// it. Read from the node, never from its data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub planted: bool,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// This machine's host name (empty when it cannot be read), read once per process: records and
/// history entries name it.
pub(crate) fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

impl Listener {
    pub(crate) fn this_process(id: &str) -> Listener {
        Listener {
            id: id.to_string(),
            hostname: host_name().to_string(),
            pid: std::process::id(),
            started_at_ms: now_ms(),
            applied_version: None,
            applied_mzxid: None,
            reported_at_ms: None,
            planted: false,
        }
    }

    /// This record with what has been applied, reported now.
    pub(crate) fn applied(&self, version: i32, mzxid: i64) -> Listener {
        Listener {
            applied_version: Some(version),
            applied_mzxid: Some(mzxid),
            reported_at_ms: Some(now_ms()),
            ..self.clone()
        }
    }

    /// Reads a record; a record that is not ours (written by another tool) keeps its id only.
    pub fn parse(id: &str, data: &[u8]) -> Listener {
        match serde_json::from_slice::<Listener>(data) {
            Ok(mut listener) => {
                listener.id = id.to_string();
                listener.planted = false;
                listener
            }
            Err(_) => Listener {
                id: id.to_string(),
                hostname: String::new(),
                pid: 0,
                started_at_ms: 0,
                applied_version: None,
                applied_mzxid: None,
                reported_at_ms: None,
                planted: false,
            },
        }
    }

    /// Reads the record of a node with this stat: planted when the node is persistent.
    pub(crate) fn of_node(id: &str, data: &[u8], stat: &zookeeper_client::Stat) -> Listener {
        Listener {
            planted: stat.ephemeral_owner == 0,
            ..Listener::parse(id, data)
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Creates this instance's ephemeral record for the current session. A record left by an
/// earlier session of ours is replaced.
pub(crate) async fn register(
    client: &Client,
    path: &str,
    record: &Listener,
    acls: Acls<'_>,
) -> Result<(), zookeeper_client::Error> {
    let data = record.to_bytes();
    let options = CreateMode::Ephemeral.with_acls(acls);
    // Each retry follows a node that vanished or was replaced under us; a few suffice.
    for _ in 0..8 {
        match client.create(path, &data, &options).await {
            Ok(_) => return Ok(()),
            Err(zookeeper_client::Error::NodeExists) => match client.check_stat(path).await? {
                Some(stat) if stat.ephemeral_owner == client.session_id().0 => {
                    return match client.set_data(path, &data, None).await {
                        Ok(_) | Err(zookeeper_client::Error::NoNode) => Ok(()),
                        Err(err) => Err(err),
                    }
                }
                // An earlier session's node, not yet expired on the server: replace it.
                Some(stat) => match client.delete(path, Some(stat.version)).await {
                    Ok(())
                    | Err(zookeeper_client::Error::NoNode | zookeeper_client::Error::BadVersion) => {
                        continue
                    }
                    Err(err) => return Err(err),
                },
                None => continue,
            },
            Err(err) => return Err(err),
        }
    }
    Err(zookeeper_client::Error::NodeExists)
}

/// Lists the records under `dir`, reading them in one pipelined batch.
pub(crate) async fn list(
    client: &Client,
    dir: &str,
) -> Result<Vec<Listener>, zookeeper_client::Error> {
    let children = client.list_children(dir).await?;
    let paths: Vec<String> = children
        .iter()
        .map(|child| format!("{dir}/{child}"))
        .collect();
    // Created before any is awaited, so that they travel together.
    let reads: Vec<_> = paths.iter().map(|path| client.get_data(path)).collect();
    let mut listeners = Vec::with_capacity(children.len());
    for (child, read) in children.iter().zip(reads) {
        match read.await {
            Ok((data, stat)) => listeners.push(Listener::of_node(child, &data, &stat)),
            // Gone between the listing and the read: that instance just left.
            Err(zookeeper_client::Error::NoNode) => {}
            Err(err) => return Err(err),
        }
    }
    listeners.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_the_applied_fields_still_parse() {
        let old = br#"{"id":"x","hostname":"h","pid":7,"started_at_ms":1}"#;
        let listener = Listener::parse("abc", old);
        assert_eq!(listener.id, "abc");
        assert_eq!(listener.pid, 7);
        assert_eq!(listener.applied_version, None);
        let new = Listener::this_process("abc").applied(17, 99);
        let parsed = Listener::parse("abc", &new.to_bytes());
        assert_eq!(parsed.applied_version, Some(17));
        assert_eq!(parsed.applied_mzxid, Some(99));
    }

    #[test]
    fn a_record_of_another_tool_keeps_its_id() {
        let listener = Listener::parse("abc", b"not json");
        assert_eq!(listener.id, "abc");
        assert_eq!(listener.pid, 0);
    }
}
