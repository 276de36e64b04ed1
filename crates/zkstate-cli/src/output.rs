//! What the commands print: change lines (human and JSON forms), times, the listeners table,
//! and [`escape`], which every human form applies to the strings that come from ZooKeeper.
//! Pure functions, so that the formats scripts depend on are tested without a server.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Value};
use zkstate::history::{HistoryEntry, HistoryItem};
use zkstate::{Change, KeyPath, Listener};

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Whether `c` would change what a terminal shows rather than show itself: a control character
/// (C0, DEL, C1: cursor moves, erasures, ANSI escapes), a line or paragraph separator, or a
/// bidirectional control (embeddings, overrides, isolates and the marks, which reorder text).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
        )
}

/// `text` with every character that could make a terminal show something else (see
/// [`is_unsafe`]) written as `\u{1b}`, so that a remote string (a host name in a listener
/// record, a node name, a payload value) prints as what it is. Borrowed when nothing needs
/// escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Compact JSON for a value. Serialising a `Value` cannot fail (its map keys are strings).
fn compact(value: &Value) -> String {
    value.to_string()
}

/// One change in the human form: `+ [2] "firefox*"`, `~ .name "a" -> "b"`, `- .x 1`; values
/// as compact JSON, [`escape`]d (JSON leaves DEL, C1 controls and bidi controls raw). With
/// `colour`, the line is green, yellow or red (ANSI escapes).
pub fn human_line(change: &Change, colour: bool) -> String {
    let (colour_code, line) = match change {
        Change::Added { path, value } => (GREEN, format!("+ {path} {}", compact(value))),
        Change::Removed { path, value } => (RED, format!("- {path} {}", compact(value))),
        Change::Modified { path, old, new } => (
            YELLOW,
            format!("~ {path} {} -> {}", compact(old), compact(new)),
        ),
        // `Change` is non-exhaustive: a kind added later still prints, in its serde form.
        other => (
            YELLOW,
            format!(
                "? {} {}",
                other.path(),
                serde_json::to_string(other).unwrap_or_default()
            ),
        ),
    };
    let line = escape(&line).into_owned();
    if colour {
        format!("{colour_code}{line}{RESET}")
    } else {
        line
    }
}

/// One line of `watch --json`, fields in this order.
#[derive(Serialize)]
struct JsonLine<'a> {
    version: i32,
    op: &'a str,
    path: &'a KeyPath,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<&'a Value>,
}

/// One change in the JSON form: `{"version":N,"op":"added","path":["a",0],"value":...}`;
/// `"old"` and `"new"` instead of `"value"` for `"modified"`. The path is an array of keys
/// (strings) and indexes (numbers).
pub fn json_line(version: i32, change: &Change) -> String {
    let mut line = JsonLine {
        version,
        op: "modified",
        path: change.path(),
        value: None,
        old: None,
        new: None,
    };
    match change {
        Change::Added { value, .. } => {
            line.op = "added";
            line.value = Some(value);
        }
        Change::Removed { value, .. } => {
            line.op = "removed";
            line.value = Some(value);
        }
        Change::Modified { old, new, .. } => {
            line.old = Some(old);
            line.new = Some(new);
        }
        // A kind added later: its own serde form is the most faithful line.
        other => return serde_json::to_string(other).unwrap_or_default(),
    }
    // A struct of strings, integers and `Value`s always serialises.
    serde_json::to_string(&line).unwrap_or_default()
}

/// Whether changes printed on stdout are coloured: a terminal, and `NO_COLOR` unset.
pub fn colour_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds:
/// `2024-03-01T12:00:00.000Z`.
pub fn rfc3339_from_millis(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01): Howard Hinnant's
/// `civil_from_days`, exact for every `i64` day this program will meet.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `version 17: 498/500 instances applied; waiting for host-a pid 1234 (on 16), host-b pid 99
/// (on 16)`: what `zkstate rollout` prints. At most `shown` laggards are named; the others are
/// counted. An instance that does not report is `(on ?)`. Host names and ids are [`escape`]d.
pub fn rollout_line(rollout: &zkstate::Rollout, shown: usize) -> String {
    let mut line = format!(
        "version {}: {}/{} instances applied",
        rollout.target, rollout.applied, rollout.total
    );
    if rollout.version < rollout.target {
        line.push_str(&format!(" (zookeeper holds version {})", rollout.version));
    }
    if rollout.pending.is_empty() {
        return line;
    }
    let names: Vec<String> = rollout.pending.iter().take(shown).map(laggard).collect();
    line.push_str("; waiting for ");
    line.push_str(&names.join(", "));
    if rollout.pending.len() > shown {
        line.push_str(&format!(" and {} more", rollout.pending.len() - shown));
    }
    line
}

/// A laggard as `rollout_line` names it: `host-a pid 1234 (on 16)`, the id when the record has
/// no host name, [`escape`]d.
fn laggard(listener: &Listener) -> String {
    let host = if listener.hostname.is_empty() {
        listener.id.as_str()
    } else {
        listener.hostname.as_str()
    };
    let on = listener
        .applied_version
        .map_or("?".to_string(), |v| v.to_string());
    format!("{} pid {} (on {on})", escape(host), listener.pid)
}

/// A listener record as `listeners --json` prints it.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListenerRow {
    /// The instance id.
    pub id: String,
    /// Its host.
    pub hostname: String,
    /// Its process id.
    pub pid: u32,
    /// When it started, RFC 3339 UTC; empty when the record does not say.
    pub started_at: String,
    /// When it started, milliseconds since the Unix epoch (0 when unknown).
    pub started_at_ms: u64,
    /// The payload version it has applied, as of its last report (`null`: it does not report).
    pub applied_version: Option<i32>,
    /// The zxid of the write it has applied.
    pub applied_mzxid: Option<i64>,
    /// When it reported, milliseconds since the Unix epoch, its own clock.
    pub reported_at_ms: Option<u64>,
    /// The record's node is persistent: no session holds it, another client planted it; no
    /// rollout counts it. Present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub planted: bool,
}

impl From<&Listener> for ListenerRow {
    fn from(listener: &Listener) -> ListenerRow {
        let started_at = if listener.started_at_ms == 0 {
            String::new()
        } else {
            rfc3339_from_millis(i64::try_from(listener.started_at_ms).unwrap_or(i64::MAX))
        };
        ListenerRow {
            id: listener.id.clone(),
            hostname: listener.hostname.clone(),
            pid: listener.pid,
            started_at,
            started_at_ms: listener.started_at_ms,
            applied_version: listener.applied_version,
            applied_mzxid: listener.applied_mzxid,
            reported_at_ms: listener.reported_at_ms,
            planted: listener.planted,
        }
    }
}

/// The listeners as a table with a header, columns aligned, one line each (no trailing newline
/// on the last). Unknown fields (a record written by another tool) show as `-`. Ids and host
/// names are [`escape`]d, so a record cannot move the cursor or reorder the table.
pub fn listeners_table(rows: &[ListenerRow]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            let or_dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    escape(s).into_owned()
                }
            };
            let id = escape(&row.id);
            [
                if row.planted {
                    format!("{id} (planted: no session holds it)")
                } else {
                    id.into_owned()
                },
                or_dash(&row.hostname),
                if row.pid == 0 {
                    "-".to_string()
                } else {
                    row.pid.to_string()
                },
                or_dash(&row.started_at),
                row.applied_version
                    .map_or_else(|| "-".to_string(), |v| v.to_string()),
            ]
        })
        .collect();
    let header = ["ID", "HOST", "PID", "STARTED", "APPLIED"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&cells)
        .map(|row| {
            let line = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ");
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A history item as `zkstate history --json` prints it and `zkstate serve` answers it:
/// [`history_entry_json`], or `{"gap": true, "from", "to"}`. An item of
/// a kind this version does not know is left out.
pub fn history_item_json(item: &HistoryItem) -> Option<Value> {
    match item {
        HistoryItem::Version(entry) => Some(history_entry_json(entry)),
        HistoryItem::Gap { from, to } => Some(json!({ "gap": true, "from": from, "to": to })),
        _ => None,
    }
}

/// `{"version", "time" (RFC 3339, UTC), "time_ms", "author": {"id", "host", "pid", "program",
/// "program_version", "tool", "identity"}, "message", "rollback_of", "outside", "changes":
/// {"added", "modified", "removed", "paths"} or null, "reproducible", "bytes"}`; what is not
/// known is null.
fn history_entry_json(entry: &HistoryEntry) -> Value {
    // Field by field: the form stays what it documents whatever the library adds.
    let a = &entry.author;
    json!({
        "version": entry.version,
        "time": rfc3339_from_millis(entry.time_ms),
        "time_ms": entry.time_ms,
        "author": {
            "id": a.id, "host": a.host, "pid": a.pid, "program": a.program,
            "program_version": a.program_version, "tool": a.tool, "identity": a.identity,
        },
        "message": entry.message,
        "rollback_of": entry.rollback_of,
        "outside": entry.outside,
        "changes": entry.changes.as_ref().map(|c| json!({
            "added": c.added, "modified": c.modified, "removed": c.removed, "paths": c.paths,
        })),
        "reproducible": entry.reproducible,
        "bytes": entry.bytes,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zkstate::PathSegment;

    use super::*;

    fn path(segments: Vec<PathSegment>) -> KeyPath {
        KeyPath::from(segments)
    }

    fn added() -> Change {
        Change::Added {
            path: path(vec![PathSegment::Index(2)]),
            value: json!("firefox*"),
        }
    }

    fn modified() -> Change {
        Change::Modified {
            path: path(vec!["name".into()]),
            old: json!("a"),
            new: json!("b"),
        }
    }

    fn removed() -> Change {
        Change::Removed {
            path: path(vec!["x".into()]),
            value: json!(1),
        }
    }

    #[test]
    fn human_lines_match_the_contract() {
        assert_eq!(human_line(&added(), false), r#"+ [2] "firefox*""#);
        assert_eq!(human_line(&modified(), false), r#"~ .name "a" -> "b""#);
        assert_eq!(human_line(&removed(), false), "- .x 1");
    }

    #[test]
    fn human_values_are_compact_json() {
        let change = Change::Added {
            path: path(vec!["hosts".into(), PathSegment::Index(0), "a b".into()]),
            value: json!({"b": [1, 2], "a": null}),
        };
        assert_eq!(
            human_line(&change, false),
            r#"+ .hosts[0]["a b"] {"a":null,"b":[1,2]}"#
        );
        let root = Change::Modified {
            path: KeyPath::root(),
            old: json!(1),
            new: json!([1]),
        };
        assert_eq!(human_line(&root, false), "~ . 1 -> [1]");
    }

    #[test]
    fn human_colours_by_kind() {
        assert_eq!(
            human_line(&added(), true),
            "\x1b[32m+ [2] \"firefox*\"\x1b[0m"
        );
        assert_eq!(
            human_line(&modified(), true),
            "\x1b[33m~ .name \"a\" -> \"b\"\x1b[0m"
        );
        assert_eq!(human_line(&removed(), true), "\x1b[31m- .x 1\x1b[0m");
    }

    #[test]
    fn json_lines_match_the_contract() {
        assert_eq!(
            json_line(3, &added()),
            r#"{"version":3,"op":"added","path":[2],"value":"firefox*"}"#
        );
        assert_eq!(
            json_line(4, &modified()),
            r#"{"version":4,"op":"modified","path":["name"],"old":"a","new":"b"}"#
        );
        assert_eq!(
            json_line(5, &removed()),
            r#"{"version":5,"op":"removed","path":["x"],"value":1}"#
        );
        let deep = Change::Added {
            path: path(vec!["a".into(), PathSegment::Index(0), "b".into()]),
            value: json!(null),
        };
        assert_eq!(
            json_line(1, &deep),
            r#"{"version":1,"op":"added","path":["a",0,"b"],"value":null}"#
        );
    }

    #[test]
    fn json_lines_keep_null_values() {
        let change = Change::Modified {
            path: KeyPath::root(),
            old: json!(null),
            new: json!(false),
        };
        assert_eq!(
            json_line(2, &change),
            r#"{"version":2,"op":"modified","path":[],"old":null,"new":false}"#
        );
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_from_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_from_millis(1_709_294_400_123),
            "2024-03-01T12:00:00.123Z"
        );
        assert_eq!(
            rfc3339_from_millis(4_102_444_799_999),
            "2099-12-31T23:59:59.999Z"
        );
        assert_eq!(rfc3339_from_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc3339_days_round_trip() {
        // Every day over 800 years: dates strictly increase and months/days stay in range.
        let mut last = (1599, 12, 31);
        for days in -135_140..157_000 {
            let date = civil_from_days(days);
            assert!(date > last, "{days}: {date:?} after {last:?}");
            assert!((1..=12).contains(&date.1) && (1..=31).contains(&date.2));
            last = date;
        }
    }

    #[test]
    fn listeners_table_aligns_columns() {
        let rows = vec![
            ListenerRow {
                id: "abc".into(),
                hostname: "host-1".into(),
                pid: 42,
                started_at: "2024-03-01T12:00:00.123Z".into(),
                started_at_ms: 1_709_294_400_123,
                applied_version: Some(17),
                applied_mzxid: Some(99),
                reported_at_ms: Some(1_709_294_401_000),
                planted: false,
            },
            ListenerRow {
                id: "a-much-longer-id".into(),
                hostname: String::new(),
                pid: 0,
                started_at: String::new(),
                started_at_ms: 0,
                applied_version: None,
                applied_mzxid: None,
                reported_at_ms: None,
                planted: false,
            },
        ];
        let table = listeners_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            vec![
                "ID                HOST    PID  STARTED                   APPLIED",
                "abc               host-1  42   2024-03-01T12:00:00.123Z  17",
                "a-much-longer-id  -       -    -                         -",
            ]
        );
        assert_eq!(listeners_table(&[]), "ID  HOST  PID  STARTED  APPLIED");
    }

    #[test]
    fn listener_rows_from_records() {
        let record: Listener = match serde_json::from_value(json!({
            "id": "x", "hostname": "h", "pid": 7, "started_at_ms": 1_709_294_400_123u64
        })) {
            Ok(record) => record,
            Err(err) => panic!("{err}"),
        };
        let row = ListenerRow::from(&record);
        assert_eq!(row.started_at, "2024-03-01T12:00:00.123Z");
        assert_eq!(
            serde_json::to_value(&row).ok(),
            Some(json!({
                "id": "x", "hostname": "h", "pid": 7,
                "started_at": "2024-03-01T12:00:00.123Z", "started_at_ms": 1_709_294_400_123u64,
                "applied_version": null, "applied_mzxid": null, "reported_at_ms": null
            }))
        );
    }

    /// What a hostile listener record may put in a host name: erase the line, return to its
    /// start, and reverse what follows.
    const HOSTILE: &str = "evil\x1b[2K\rok\u{202e}desrever";

    fn has_raw_control(text: &str) -> bool {
        text.chars().any(is_unsafe)
    }

    #[test]
    fn escape_writes_every_unsafe_character_as_a_code() {
        assert!(matches!(escape("host-1.example"), Cow::Borrowed(_)));
        assert_eq!(escape(HOSTILE), "evil\\u{1b}[2K\\u{d}ok\\u{202e}desrever");
        assert_eq!(escape("a\tb\nc\x7f\u{9b}"), "a\\u{9}b\\u{a}c\\u{7f}\\u{9b}");
        assert_eq!(
            escape("\u{2028}\u{2029}\u{202a}\u{2066}\u{2069}\u{200f}\u{61c}"),
            "\\u{2028}\\u{2029}\\u{202a}\\u{2066}\\u{2069}\\u{200f}\\u{61c}"
        );
        // Printable text outside ASCII stays as it is.
        assert_eq!(escape("höst-ü 東京"), "höst-ü 東京");
    }

    #[test]
    fn tables_and_rollout_lines_escape_remote_strings() {
        let row = ListenerRow {
            id: format!("id{HOSTILE}"),
            hostname: HOSTILE.into(),
            pid: 7,
            started_at: String::new(),
            started_at_ms: 0,
            applied_version: Some(1),
            applied_mzxid: None,
            reported_at_ms: None,
            planted: false,
        };
        let table = listeners_table(&[row]);
        let lines: Vec<&str> = table.split('\n').collect();
        assert_eq!(lines.len(), 2, "{table:?}");
        assert!(lines.iter().all(|l| !has_raw_control(l)), "{table:?}");
        assert!(
            table.contains("evil\\u{1b}[2K\\u{d}ok\\u{202e}desrever"),
            "{table}"
        );

        for (record, shown) in [
            (
                json!({"id": "x", "hostname": HOSTILE, "pid": 7, "applied_version": 0}),
                "evil\\u{1b}[2K\\u{d}ok\\u{202e}desrever pid 7 (on 0)",
            ),
            (
                json!({"id": HOSTILE, "pid": 8}),
                "evil\\u{1b}[2K\\u{d}ok\\u{202e}desrever pid 8 (on ?)",
            ),
        ] {
            let record = Listener::parse(HOSTILE, record.to_string().as_bytes());
            assert_eq!(laggard(&record), shown);
        }
    }

    #[test]
    fn human_lines_escape_what_json_leaves_raw() {
        let change = Change::Added {
            path: path(vec!["k\u{202e}".into()]),
            value: json!("a\u{9b}2Jb\u{2028}"),
        };
        let line = human_line(&change, false);
        assert!(!has_raw_control(&line), "{line:?}");
        assert_eq!(line, r#"+ ["k\u{202e}"] "a\u{9b}2Jb\u{2028}""#);
    }
}
