//! Scenario 7: Size: decoding, diffing and delivering a change of a 1 KB, 64 KB and 900 KB payload;
//! `read()` while 900 KB changes are applied (`busy_read`); and the memory an extra instance of a
//! 1 KB state, and a distinct 1 KB state, hold (`memory`).

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;
use zkstate::ZkState;

use super::deliver::{self, last_delivery};
use super::propagation::raw_write;
use super::{busy_read, memory};
use crate::common::{flush_committed_log, interleaved, progress, Env, Pace, RawPaths};
use crate::payload::{as_written, bump, records_of_size, Records};
use crate::report::{Measure, Report, Row, Target};
use crate::stats::{format_bytes, format_nanos, Summary};

/// Distinct changed payloads cycled through, so that no two consecutive decodes see the same bytes.
const VARIANTS: u64 = 16;

fn label(bytes: usize) -> String {
    format!("{} KB", bytes / 1024)
}

/// Who wrote the payloads of the local part.
#[derive(Clone, Copy)]
pub enum Writer {
    /// A zkstate instance: the JSON tree serialised, keys sorted ([`as_written`]). The copy
    /// diffs such text as text.
    Zkstate,
    /// Another program serialising the records directly (fields in declaration order): the copy
    /// parses trees.
    Other,
}

impl Writer {
    fn encode(self, records: &Records) -> serde_json::Result<Vec<u8>> {
        match self {
            Writer::Zkstate => as_written(records),
            Writer::Other => serde_json::to_vec(records),
        }
    }
}

/// The local part: what zkstate does with the bytes of a change (the library's own
/// `decode_and_diff`: as text against the copy's canonical text when `writer` is zkstate, else
/// JSON and `T`, then the diff against the previous JSON), against decoding straight into `T`.
/// As the library does, the new value becomes the current one and the previous one is dropped
/// (untimed): the heap holds one value while the next decodes.
fn local(
    size: usize,
    iterations: usize,
    writer: Writer,
) -> Result<(Vec<Duration>, Vec<Duration>, usize)> {
    let old = records_of_size(size);
    let mut current_json = zkstate::bench::Held::of(&writer.encode(&old)?)?;
    let mut current = old.clone();
    // Each variant changes one more record than the one before: consecutive variants differ
    // (the cycle's wrap-around in several records).
    let mut variants = Vec::new();
    let mut new = old.clone();
    for i in 0..VARIANTS {
        bump(&mut new, i);
        variants.push(writer.encode(&new)?);
    }
    let actual = variants[0].len();
    let warmup = (iterations / 10).max(2);
    let mut zk = Vec::with_capacity(iterations);
    let mut raw = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let bytes = &variants[i % VARIANTS as usize];
        let started = Instant::now();
        let (value, json, changes) =
            zkstate::bench::decode_and_diff::<Records>(&current_json, bytes)?;
        let zk_took = started.elapsed();
        assert!(!changes.is_empty(), "consecutive variants differ");
        // The new value replaces the current one; the previous one is dropped.
        let previous = (
            std::mem::replace(&mut current_json, json),
            std::mem::replace(&mut current, value),
        );
        drop(black_box((previous, changes)));

        let started = Instant::now();
        let value: Records = serde_json::from_slice(bytes)?;
        let raw_took = started.elapsed();
        drop(black_box(value));
        if i >= warmup {
            zk.push(zk_took);
            raw.push(raw_took);
        }
    }
    drop(black_box(current));
    Ok((zk, raw, actual))
}

/// Where the local time goes when the copy parses trees (another program's bytes): p50 of each
/// stage, separately.
fn breakdown(size: usize, iterations: usize) -> Result<String> {
    let old = records_of_size(size);
    let old_json = serde_json::to_value(&old)?;
    let mut new = old;
    bump(&mut new, 3);
    let bytes = serde_json::to_vec(&new)?;
    let (mut parse, mut typed, mut diff, mut drops) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iterations.max(3) {
        let t0 = Instant::now();
        let json: Value = serde_json::from_slice(&bytes)?;
        let t1 = Instant::now();
        let value = Records::deserialize(&json)?;
        let t2 = Instant::now();
        let changes = zkstate::diff::diff(&old_json, &json);
        let t3 = Instant::now();
        drop(black_box((json, value, changes)));
        let t4 = Instant::now();
        parse.push(t1 - t0);
        typed.push(t2 - t1);
        diff.push(t3 - t2);
        drops.push(t4 - t3);
    }
    let p50 = |v: &[Duration]| {
        Summary::of_durations(v)
            .map(|s| format_nanos(s.p50))
            .unwrap_or_default()
    };
    Ok(format!(
        "bytes → `Value` {}, `Value` → records {}, diff {}, dropping both {}",
        p50(&parse),
        p50(&typed),
        p50(&diff),
        p50(&drops)
    ))
}

/// Payloads from this size on are followed by small writes, see [`flush_committed_log`].
const LARGE: usize = 512 * 1024;

/// End to end: a raw `set_data` of the changed payload until B delivers it.
async fn end_to_end(
    env: &Env,
    size: usize,
    iterations: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let name = format!("s7-size-{}", size / 1024);
    let records = records_of_size(size);
    let conn = env.connection().await?;
    let b = ZkState::new(&conn, &name, records.clone()).await?;
    let (tx, zk_rx) = deliver::channel();
    deliver::subscribe(&b, 0, tx);
    let raw_b = env.raw().await?;
    let paths = RawPaths::new(&name);
    paths.create(&raw_b, &as_written(&records)?).await?;
    let (tx, raw_rx) = deliver::channel();
    let follower = deliver::follow(raw_b.clone(), paths.payload.clone(), 0, true, tx).await?;

    let writer = env.raw().await?;
    let scratch = format!("{}/scratch", paths.dir);
    paths.create_node(&writer, &scratch).await?;
    let flush = size >= LARGE;
    let zk_payload = format!("{}/payload", b.dir());
    let zk_copy = Mutex::new(records.clone());
    let raw_copy = Mutex::new(records);
    let zk_rx = tokio::sync::Mutex::new(zk_rx);
    let raw_rx = tokio::sync::Mutex::new(raw_rx);
    let (writer, zk_payload, zk_copy, raw_copy, zk_rx, raw_rx, raw_payload, scratch) = (
        &writer,
        &zk_payload,
        &zk_copy,
        &raw_copy,
        &zk_rx,
        &raw_rx,
        &paths.payload,
        &scratch,
    );
    let result = interleaved(
        iterations,
        (iterations / 10).max(3),
        Pace::Burst,
        |i| async move {
            let version = raw_write(writer, zk_payload, zk_copy, i).await?;
            let delivered = last_delivery(&mut *zk_rx.lock().await, version, 1).await?;
            if flush {
                flush_committed_log(writer, scratch).await?;
            }
            Ok(Some(delivered))
        },
        |i| async move {
            let version = raw_write(writer, raw_payload, raw_copy, i).await?;
            let delivered = last_delivery(&mut *raw_rx.lock().await, version, 1).await?;
            if flush {
                flush_committed_log(writer, scratch).await?;
            }
            Ok(Some(delivered))
        },
    )
    .await;
    follower.abort();
    b.close().await;
    conn.close().await;
    result
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    // The local parts first, every size, before any large write: the server's JVM collecting
    // the garbage of large transactions takes a core, and a 2-core machine has no other.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for &(size, local_iterations, _) in &env.plan.sizes {
        progress(format!("7. size {}: local decode + diff", label(size)));
        let (zk, raw, actual) =
            tokio::task::spawn_blocking(move || local(size, local_iterations, Writer::Zkstate))
                .await??;
        let parts =
            tokio::task::spawn_blocking(move || breakdown(size, local_iterations / 4)).await??;
        report.notes.push(format!(
            "7 ({}), where the local time goes when the copy parses trees (p50 of each stage): {parts}.",
            label(size)
        ));
        let mut row = Row::new(
            &format!("7 ({})", label(size)),
            format!(
                "decode + diff of a change written by zkstate, local ({} payload, 1 record changed)",
                format_bytes(actual as f64)
            ),
            Measure::latency(Summary::of_durations(&zk), "decode+diff"),
            "`serde_json::from_slice` into the records",
            Measure::latency(Summary::of_durations(&raw), "decode"),
        );
        if size >= 900 * 1024 {
            let met = row.zk.summary().map(|s| s.p50 <= 5e6);
            row = row.with_target(Target::new(
                "900 KB decode + diff p50 ≤ 5 ms (long-running process)",
                met,
            ));
        }
        report.rows.push(row);
        if size >= 900 * 1024 {
            // The same change as another program writes it: the copy parses both trees.
            let (zk, raw, actual) =
                tokio::task::spawn_blocking(move || local(size, local_iterations, Writer::Other))
                    .await??;
            report.rows.push(Row::new(
                &format!("7 ({}, other writer)", label(size)),
                format!(
                    "decode (bytes → JSON → records) + diff of the change as another program writes it \
                     (fields in declaration order: not diffed as text), local ({} payload)",
                    format_bytes(actual as f64)
                ),
                Measure::latency(Summary::of_durations(&zk), "decode+diff other"),
                "`serde_json::from_slice` into the records",
                Measure::latency(Summary::of_durations(&raw), "decode other"),
            ));
        }
    }
    if env.plan.malloc_experiment {
        // The same 900 KB work in fresh processes: with glibc's default settings after smaller
        // payloads (as above), on a fresh heap, and with the heap's top kept (no trimming).
        let size = 900 * 1024;
        let iterations = 60;
        let fresh = profile_child(size, iterations, false, &[]).await;
        let after = profile_child(size, iterations, true, &[]).await;
        let padded =
            profile_child(size, iterations, true, &[("MALLOC_TOP_PAD_", "268435456")]).await;
        let show = |r: &Result<f64>| match r {
            Ok(ns) => format_nanos(*ns),
            Err(err) => format!("(failed: {err:#})"),
        };
        report.notes.push(format!(
            "7 (900 KB), the allocator's share: decode + diff p50 in a new process is {} on a fresh heap, {} after \
             the 1 KB and 64 KB runs on the same thread (as in the table), and {} after them with \
             `MALLOC_TOP_PAD_=268435456` (glibc keeps the heap's top instead of trimming it after each change and \
             faulting the pages back in).",
            show(&fresh),
            show(&after),
            show(&padded)
        ));
    }
    for &(size, _, e2e_iterations) in &env.plan.sizes {
        progress(format!("7. size {}: end to end", label(size)));
        let (zk, raw) = end_to_end(env, size, e2e_iterations).await?;
        report.rows.push(Row::new(
            &format!("7 ({})", label(size)),
            "raw `set_data` → change event delivered in B",
            Measure::latency(Summary::of_durations(&zk), "size e2e"),
            "same write → raw watch event + re-read + decode",
            Measure::latency(Summary::of_durations(&raw), "raw size e2e"),
        ));
    }

    busy_read::run(env, report).await?;

    let instances = env.plan.memory_instances;
    let connections = env.plan.memory_connections;
    progress(format!(
        "7. memory: {instances} extra instances of a 1 KB state over {connections} connections"
    ));
    let zk = memory::measure(env, "zkstate", instances, connections).await;
    let raw = memory::measure(env, "raw", instances, connections).await;
    let measure = |r: &Result<f64>| match r {
        Ok(bytes) => Measure::Bytes(*bytes),
        Err(err) => Measure::Missing(format!("{err:#}")),
    };
    let met = zk.as_ref().ok().map(|b| *b < 4096.0);
    report.rows.push(
        Row::new(
            "7 (memory)",
            format!(
                "RSS growth per extra instance of a 1 KB state already open on its connection (same dir; \
                 {instances} instances, {connections} connections)"
            ),
            measure(&zk),
            "per raw follower: persistent watch + task + decoded value in an `ArcSwap`",
            measure(&raw),
        )
        .with_target(Target::new("≤ 4 KiB per extra instance", met)),
    );

    let distinct = env.plan.memory_distinct;
    progress(format!(
        "7. memory: {distinct} distinct 1 KB states over {connections} connections"
    ));
    let zk_distinct = memory::measure(env, "zkstate-distinct", distinct, connections).await;
    let met = zk_distinct.as_ref().ok().map(|b| *b < 12.0 * 1024.0);
    let per = |r: &Result<f64>, what: &str| match r {
        Ok(bytes) => Measure::bytes_per(*bytes, what),
        Err(err) => Measure::Missing(format!("{err:#}")),
    };
    report.rows.push(
        Row::new(
            "7 (memory)",
            format!(
                "RSS growth per distinct 1 KB state, one instance each ({distinct} states, {connections} connections)"
            ),
            per(&zk_distinct, "state"),
            format!("per raw follower, as above ({instances} followers of one node)"),
            per(&raw, "follower"),
        )
        .with_target(Target::new("≤ 12 KiB per distinct state", met)),
    );
    // A diagnostic: the change buffer's slots are allocated up front, once per distinct state.
    let small = memory::measure(env, "zkstate-distinct-buffer16", distinct, connections).await;
    let copies = memory::measure(env, "copies", distinct, connections).await;
    report.notes.push(format!(
        "7 (memory): instances of one state on one connection share its local copy, sync task and change buffer, \
         so an extra instance costs its own id, listener record and handle; a distinct state pays for all of \
         them. The same {distinct} distinct states opened with `StateOptions::with_event_buffer(16)` instead of the \
         default (64) hold {} each; `size_of::<StateEvent>()` is {} bytes. Of a distinct state, the two \
         copies of the payload that its local copy keeps (its JSON, for the three-way merge of updates and the \
         diff of changes: the text of a payload under 4 KiB, parsed again when needed, and the records, for \
         `read()`) take {} (the payload decoded {distinct} times into both and kept, without ZooKeeper). Each figure is the growth of a fresh \
         child process's RSS, after one state per connection was opened and not counted.",
        match &small {
            Ok(bytes) => format_bytes(*bytes),
            Err(err) => format!("(not measured: {err:#})"),
        },
        std::mem::size_of::<zkstate::StateEvent>(),
        match &copies {
            Ok(bytes) => format_bytes(*bytes),
            Err(err) => format!("(not measured: {err:#})"),
        },
    ));
    Ok(())
}

/// `--profile-local BYTES ITERATIONS [after-small] [other]`: the local part of scenario 7 alone, for a
/// profiler, or for a fresh heap; `after-small` first runs the 1 KB and 64 KB sizes on the same
/// thread, as the harness does; `other` measures another program's bytes (trees parsed) instead
/// of zkstate's. Prints one JSON line.
pub fn profile(args: &[String]) -> std::process::ExitCode {
    let (Some(Ok(size)), Some(Ok(iterations))) = (
        args.first().map(|a| a.parse::<usize>()),
        args.get(1).map(|a| a.parse::<usize>()),
    ) else {
        eprintln!("usage: --profile-local BYTES ITERATIONS [after-small] [other]");
        return std::process::ExitCode::from(2);
    };
    let flag = |name: &str| args.iter().skip(2).any(|arg| arg == name);
    if flag("after-small") {
        let _ = local(1024, 5_000, Writer::Zkstate);
        let _ = local(64 * 1024, 1_000, Writer::Zkstate);
    }
    let writer = if flag("other") {
        Writer::Other
    } else {
        Writer::Zkstate
    };
    match local(size, iterations, writer) {
        Ok((zk, raw, actual)) => {
            let p50 = |v: &[Duration]| Summary::of_durations(v).map(|s| s.p50).unwrap_or(0.0);
            println!(
                "{}",
                serde_json::json!({"bytes": actual, "zk_p50_ns": p50(&zk), "raw_p50_ns": p50(&raw)})
            );
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `--profile-local` in a child process (a fresh heap) and returns its zkstate p50.
async fn profile_child(
    size: usize,
    iterations: usize,
    after_small: bool,
    env: &[(&str, &str)],
) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(exe);
    command.args([
        "--profile-local",
        &size.to_string(),
        &iterations.to_string(),
    ]);
    if after_small {
        command.arg("after-small");
    }
    command
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output()).await??;
    let text = String::from_utf8_lossy(&output.stdout);
    let line: Value = serde_json::from_str(text.lines().last().unwrap_or_default())?;
    line["zk_p50_ns"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no zk_p50_ns"))
}
