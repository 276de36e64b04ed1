//! The benchmark payload: a JSON list of records, one record changed per write.
//!
//! Shared verbatim with the prototype's benchmark (`bench/prototype`, through `#[path]`), so that
//! both sides write exactly the same bytes. Depends on serde and serde_json only.

use serde::{Deserialize, Serialize};

/// One record of the shared list: about 140 bytes of JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the list.
    pub id: u32,
    /// A service name.
    pub name: String,
    /// Where it runs.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Whether it is monitored.
    pub enabled: bool,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// The field every benchmark write changes.
    pub counter: u64,
}

/// The shared state of every scenario.
pub type Records = Vec<Record>;

fn record(id: u32) -> Record {
    Record {
        id,
        name: format!("service-{id:05}"),
        host: format!("host-{:03}.rack-{}.example.internal", id % 997, id % 13),
        port: 8000 + (id % 1000) as u16,
        enabled: !id.is_multiple_of(7),
        tags: vec![
            format!("role:{}", ["web", "db", "cache", "queue"][id as usize % 4]),
            format!("zone:{}", id % 3),
        ],
        counter: 0,
    }
}

/// The largest list of records whose JSON fits in `bytes` (at least one record).
pub fn records_of_size(bytes: usize) -> Records {
    let mut records = vec![record(0)];
    let mut size = json_len(&records);
    loop {
        let next = record(records.len() as u32);
        // One record plus its separating comma.
        let grown = size + json_len(&next) + 1;
        if grown > bytes {
            return records;
        }
        records.push(next);
        size = grown;
    }
}

fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0)
}

/// Changes exactly one record (the one picked by `iteration`): its counter goes up by one.
pub fn bump(records: &mut Records, iteration: u64) {
    if records.is_empty() {
        return;
    }
    let i = (iteration % records.len() as u64) as usize;
    records[i].counter += 1;
}

/// The bytes a zkstate instance writes for `value`: its JSON tree serialised, keys in sorted order
/// (serde_json's map), no whitespace. Serialised directly, a serde struct has its fields in
/// declaration order instead, as another program's write would.
pub fn as_written<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::to_value(value)?)
}
