//! Listener records: one ephemeral node per live instance under `<dir>/listeners`.

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
}

impl Listener {
    pub(crate) fn this_process(id: &str) -> Listener {
        let started_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Listener {
            id: id.to_string(),
            hostname: hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            pid: std::process::id(),
            started_at_ms,
        }
    }

    /// Reads a record; a record that is not ours (written by another tool) keeps its id only.
    pub(crate) fn parse(id: &str, data: &[u8]) -> Listener {
        match serde_json::from_slice::<Listener>(data) {
            Ok(mut listener) => {
                listener.id = id.to_string();
                listener
            }
            Err(_) => Listener {
                id: id.to_string(),
                hostname: String::new(),
                pid: 0,
                started_at_ms: 0,
            },
        }
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
    // Serialising a struct of strings and integers cannot fail.
    let data = serde_json::to_vec(record).unwrap_or_default();
    let options = CreateMode::Ephemeral.with_acls(acls);
    // Each retry follows a node that vanished or was replaced under us; a few suffice.
    for _ in 0..8 {
        match client.create(path, &data, &options).await {
            Ok(_) => return Ok(()),
            Err(zookeeper_client::Error::NodeExists) => match client.check_stat(path).await? {
                Some(stat) if stat.ephemeral_owner == client.session_id().0 => return Ok(()),
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
            Ok((data, _)) => listeners.push(Listener::parse(child, &data)),
            // Gone between the listing and the read: that instance just left.
            Err(zookeeper_client::Error::NoNode) => {}
            Err(err) => return Err(err),
        }
    }
    listeners.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(listeners)
}
