//! Scenario 8: The prototype: zkstate 0.1.23 from crates.io, built as its own binary
//! (`bench/prototype`), on the same server in the same run; against this zkstate and the raw
//! floor, all paced alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use zkstate::ZkState;

use super::propagation::Pairs;
use super::update::update_vs_raw_lock;
use crate::common::{interleaved, progress, Env, Pace, RawPaths, PACE};
use crate::payload::{bump, records_of_size};
use crate::report::{Measure, Report, Row, Target};
use crate::stats::{format_rate, Summary};

/// The workspace root (this crate is `crates/zkstate-bench`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Builds the prototype's benchmark: `cargo build --release --manifest-path
/// bench/prototype/Cargo.toml --target-dir target/prototype`. Returns the binary, or why not.
pub async fn build() -> Result<PathBuf, String> {
    let root = workspace_root();
    let manifest = root.join("bench/prototype/Cargo.toml");
    let target = root.join("target/prototype");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    progress("8. building the prototype's benchmark (zkstate 0.1.23) in target/prototype");
    let output = tokio::process::Command::new(cargo)
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| l.contains("error"))
            .or_else(|| stderr.lines().last())
            .unwrap_or("no output")
            .trim()
            .to_string();
        return Err(format!("build failed: {last}"));
    }
    Ok(target.join("release/zkstate-prototype-bench"))
}

fn nanos_array(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Runs the prototype's benchmark against the server; returns its JSON report.
async fn run_prototype(binary: &Path, env: &Env) -> Result<Value> {
    let plan = &env.plan;
    progress("8. running zkstate 0.1.23 (paced update, paced propagation, burst)");
    let run = tokio::process::Command::new(binary)
        .arg(&env.servers)
        .args(["--updates", &plan.paced.to_string()])
        .args(["--propagations", &plan.paced.to_string()])
        .args(["--warmup", &(plan.paced / 10).to_string()])
        .args(["--pause-ms", &PACE.as_millis().to_string()])
        .args(["--burst", &plan.burst.to_string()])
        .args(["--burst-deadline-s", "10"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .context("the prototype's benchmark timed out")??;
    if !output.status.success() {
        bail!("the prototype's benchmark failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .last()
        .context("the prototype's benchmark printed nothing")?;
    serde_json::from_str(line).context("the prototype's benchmark output")
}

/// This zkstate in the prototype's burst: two instances on two sessions, `count` back-to-back
/// `update()`s each, at the same time. Returns (ok, StaleWrite, other errors, elapsed).
async fn zk_burst(env: &Env, count: usize) -> Result<(u64, u64, u64, Duration)> {
    let records = records_of_size(1024);
    let mut conns = Vec::new();
    let mut states = Vec::new();
    for _ in 0..2 {
        let conn = env.connection().await?;
        states.push(ZkState::new(&conn, "s8-burst", records.clone()).await?);
        conns.push(conn);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let started = Instant::now();
    let tasks: Vec<_> = states
        .iter()
        .cloned()
        .enumerate()
        .map(|(w, state)| {
            tokio::spawn(async move {
                let (mut ok, mut stale, mut other) = (0, 0, 0);
                for i in 0..count {
                    if Instant::now() > deadline {
                        break;
                    }
                    match state.update(|v| bump(v, (w * count + i) as u64)).await {
                        Ok(_) => ok += 1,
                        Err(zkstate::Error::StaleWrite { .. }) => stale += 1,
                        Err(_) => other += 1,
                    }
                }
                (ok, stale, other)
            })
        })
        .collect();
    let (mut ok, mut stale, mut other) = (0, 0, 0);
    for task in tasks {
        let (a, b, c) = task.await?;
        ok += a;
        stale += b;
        other += c;
    }
    let elapsed = started.elapsed();
    for state in &states {
        state.close().await;
    }
    for conn in &conns {
        conn.close().await;
    }
    Ok((ok, stale, other, elapsed))
}

pub async fn run(env: &Env, binary: Result<PathBuf, String>, report: &mut Report) -> Result<()> {
    let plan = &env.plan;
    let pace = Pace::Paced(PACE);
    let warmup = plan.paced / 10;
    let proto = match binary {
        Ok(binary) => run_prototype(&binary, env)
            .await
            .map_err(|e| format!("{e:#}")),
        Err(why) => Err(why),
    };
    let proto_measure = |key: &str| match &proto {
        Ok(json) => Measure::latency(Summary::of(&mut nanos_array(&json[key])), key),
        Err(why) => Measure::Missing(why.clone()),
    };

    // The same paced work with this zkstate and with the raw client, in the same run.
    progress(format!(
        "8. paced update and propagation ({} ms pause), zkstate and raw",
        PACE.as_millis()
    ));
    let records = records_of_size(1024);
    let conn = env.connection().await?;
    let state = ZkState::new(&conn, "s8-paced", records.clone()).await?;
    let raw = env.raw().await?;
    let paths = RawPaths::new("s8-paced");
    paths.create(&raw, &serde_json::to_vec(&records)?).await?;
    let copy = Mutex::new(records.clone());
    let version = AtomicI32::new(raw.get_data(&paths.payload).await?.1.version);
    let (zk_update, raw_update) = update_vs_raw_lock(
        &state,
        (&raw, &paths, &copy, &version),
        plan.paced,
        warmup,
        pace,
    )
    .await?;
    state.close().await;
    conn.close().await;
    drop(raw);
    let pairs = Pairs::open(env, "s8-paced-propagation").await?;
    let (zk_prop, raw_prop) = interleaved(
        plan.paced,
        warmup,
        pace,
        |i| pairs.zk_propagation(i),
        |i| pairs.raw_propagation(i),
    )
    .await?;
    pairs.close().await;
    let (ok, stale, other, elapsed) = zk_burst(env, plan.burst).await?;

    let zk_update = Measure::latency(Summary::of_durations(&zk_update), "paced update");
    let zk_prop = Measure::latency(Summary::of_durations(&zk_prop), "paced propagation");
    let pause = PACE.as_millis();
    let speedup = |zk: &Measure, old: &Measure| match (zk, old) {
        (Measure::Latency(a), Measure::Latency(b)) => Some(b.p50 / a.p50),
        _ => None,
    };
    let proto_update = proto_measure("update_ns");
    let update_speedup = speedup(&zk_update, &proto_update);
    report.rows.push(
        Row::new(
            "8a",
            format!("`update()`, paced ({pause} ms pause)"),
            zk_update.clone(),
            "zkstate 0.1.23 `update()`, paced",
            proto_update,
        )
        .with_target(Target::new(
            match update_speedup {
                Some(s) => format!("≥ 10× faster than 0.1.23 (p50; is {s:.1}×)"),
                None => "≥ 10× faster than 0.1.23 (p50)".to_string(),
            },
            update_speedup.map(|s| s >= 10.0),
        )),
    );
    report.rows.push(Row::new(
        "8b",
        format!("`update()`, paced ({pause} ms pause)"),
        zk_update,
        "raw lock + fenced `set_data` + release, paced",
        Measure::latency(Summary::of_durations(&raw_update), "paced lock cycle"),
    ));
    report.rows.push(Row::new(
        "8c",
        "`update()` in A → change event in B, paced",
        zk_prop.clone(),
        "zkstate 0.1.23: `update()` in A → change message in B's handler, paced",
        proto_measure("propagation_ns"),
    ));
    report.rows.push(Row::new(
        "8d",
        "`update()` in A → change event in B, paced",
        zk_prop,
        "raw `set_data` in A → B's event + re-read, paced",
        Measure::latency(Summary::of_durations(&raw_prop), "paced raw propagation"),
    ));
    let zk_rate = ok as f64 / elapsed.as_secs_f64();
    let proto_rate = proto.as_ref().ok().and_then(|json| {
        let burst = &json["burst"];
        Some(burst["ok"].as_f64()? / (burst["elapsed_ns"].as_f64()? / 1e9))
    });
    report.rows.push(
        Row::new(
            "8e",
            format!(
                "burst: 2 instances × {} back-to-back `update()`s, successful updates/s",
                plan.burst
            ),
            Measure::Blank,
            "zkstate 0.1.23, same burst",
            match &proto {
                Ok(_) => Measure::Blank,
                Err(why) => Measure::Missing(why.clone()),
            },
        )
        .with_rates(Some(zk_rate), proto_rate),
    );

    report.notes.push(format!(
        "8e, this zkstate: {ok} updates applied, {stale} StaleWrite, {other} other errors in {:.2} s ({}).",
        elapsed.as_secs_f64(),
        format_rate(zk_rate)
    ));
    match &proto {
        Ok(json) => {
            let f = |path: &[&str]| {
                let mut v = json;
                for key in path {
                    v = &v[*key];
                }
                v.as_u64().unwrap_or(0)
            };
            report.notes.push(format!(
                "8, zkstate 0.1.23: paced updates failed: {} StaleWrite, {} lock timeouts, {} other; propagation: {} \
                 change messages lost (none within 2 s), {} extra (duplicate) messages in B. Burst: {} of {} updates \
                 applied, {} StaleWrite, {} LockAcquireTimeout, {} other errors in {:.2} s{}.",
                f(&["update_faults", "stale_write"]),
                f(&["update_faults", "lock_timeout"]),
                f(&["update_faults", "other"]) + f(&["propagation_faults", "other"]),
                f(&["propagation_lost"]),
                f(&["propagation_extra_messages"]),
                f(&["burst", "ok"]),
                2 * f(&["burst", "per_instance"]),
                f(&["burst", "faults", "stale_write"]),
                f(&["burst", "faults", "lock_timeout"]),
                f(&["burst", "faults", "other"]),
                f(&["burst", "elapsed_ns"]) as f64 / 1e9,
                if json["burst"]["hit_deadline"].as_bool() == Some(true) {
                    " (stopped at the 10 s deadline)"
                } else {
                    ""
                },
            ));
        }
        Err(why) => report
            .notes
            .push(format!("8, zkstate 0.1.23: not measured: {why}")),
    }
    Ok(())
}
