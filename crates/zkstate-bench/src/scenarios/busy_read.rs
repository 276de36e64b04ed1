//! Scenario 7: `read()` from another thread while 900 KB changes are applied (fetched, decoded,
//! diffed and swapped in by the sync task), against the same reads while no change is going on.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use zkstate::ZkState;

use super::deliver::{self, last_delivery};
use crate::common::{flush_committed_log, progress, Env, RawPaths};
use crate::payload::{bump, records_of_size, Records};
use crate::report::{Measure, Report, Row, Target};
use crate::stats::{format_nanos, Summary};

const SIZE: usize = 900 * 1024;
const NAME: &str = "s7-busy-read";

/// Reads per sample: the clock costs more than a read (as in scenario 1).
const BATCH: usize = 100;

/// What the reader records into, in the low bits of the shared phase word; the high bits number
/// the window, so that a batch that straddles two windows is told apart and dropped.
const IDLE: u64 = 0;
const APPLYING: u64 = 1;
const QUIET: u64 = 2;

fn phase(window: u64, kind: u64) -> u64 {
    (window << 2) | kind
}

/// What the reader thread found: per-read nanoseconds of the batches that fell entirely inside
/// an apply window and inside a quiet window, and how many reads failed.
#[derive(Default)]
struct Samples {
    applying: Vec<f64>,
    quiet: Vec<f64>,
    errors: u64,
}

/// Reads in batches until `stop`, timing each batch; keeps a batch only if the phase was the
/// same when it started and when it ended.
fn reader(state: ZkState<Records>, window: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> Samples {
    let mut samples = Samples::default();
    while !stop.load(Ordering::Relaxed) {
        let at_start = window.load(Ordering::Acquire);
        let mut errors = 0;
        let started = Instant::now();
        for _ in 0..BATCH {
            // The same work as scenario 1: take the read, touch two fields, let it go.
            match state.read() {
                Ok(guard) => {
                    black_box(guard.len() + guard[0].port as usize);
                }
                Err(_) => errors += 1,
            }
        }
        let per_read = started.elapsed().as_nanos() as f64 / BATCH as f64;
        samples.errors += errors;
        if window.load(Ordering::Acquire) != at_start {
            continue;
        }
        match at_start & 3 {
            APPLYING => samples.applying.push(per_read),
            QUIET => samples.quiet.push(per_read),
            _ => {}
        }
    }
    samples
}

/// Stops the reader when dropped: also when the scenario's time limit drops this future.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub async fn run(env: &Env, report: &mut Report) -> Result<()> {
    let changes = env.plan.busy_read_changes;
    progress(format!(
        "7. read() from another thread while {changes} changes of 900 KB are applied"
    ));
    let mut copy = records_of_size(SIZE);
    let conn = env.connection().await?;
    let state = ZkState::new(&conn, NAME, copy.clone()).await?;
    let (tx, mut rx) = deliver::channel();
    let subscriber = deliver::subscribe(&state, 0, tx);
    let writer = env.raw().await?;
    let payload = format!("{}/payload", state.dir());
    // The small writes that push large transactions out of the server's memory go elsewhere.
    let paths = RawPaths::new(NAME);
    paths.create(&writer, b"").await?;
    let scratch = format!("{}/scratch", paths.dir);
    paths.create_node(&writer, &scratch).await?;

    let window = Arc::new(AtomicU64::new(IDLE));
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    let thread = {
        let (state, window, stop) = (state.clone(), window.clone(), stop.clone());
        std::thread::Builder::new()
            .name("busy-reader".into())
            .spawn(move || reader(state, window, stop))?
    };

    let measured = async {
        let mut applying = Vec::with_capacity(changes);
        // One change first, not recorded: the first large apply warms the allocator up.
        for i in 0..=changes as u64 {
            bump(&mut copy, i * 7 + 1);
            // Encoded before the window opens (so not with `raw_write`): the writer is another
            // machine's business.
            let bytes = crate::payload::as_written(&copy)?;
            let number = 2 * i + 1;
            if i > 0 {
                window.store(phase(number, APPLYING), Ordering::Release);
            }
            let started = Instant::now();
            let version = writer.set_data(&payload, &bytes, None).await?.version;
            last_delivery(&mut rx, version, 1).await?;
            let took = started.elapsed();
            window.store(IDLE, Ordering::Release);
            flush_committed_log(&writer, &scratch).await?;
            if i == 0 {
                continue;
            }
            applying.push(took);
            // A quiet window as long as the apply window, once the change's after-effects
            // (the flush, the server's garbage collection) had time to pass.
            tokio::time::sleep(Duration::from_millis(200)).await;
            window.store(phase(number + 1, QUIET), Ordering::Release);
            tokio::time::sleep(took).await;
            window.store(IDLE, Ordering::Release);
        }
        Ok::<_, anyhow::Error>(applying)
    }
    .await;
    drop(stopper);
    let samples = tokio::task::spawn_blocking(move || thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    subscriber.abort();
    state.close().await;
    conn.close().await;
    let applying = measured?;

    let (mut during, mut quiet) = (samples.applying, samples.quiet);
    let during_n = during.len();
    let during = Summary::of(&mut during);
    let quiet = Summary::of(&mut quiet);
    let met = during.map(|s| s.p99 <= 100.0);
    report.rows.push(
        Row::new(
            "7 (busy read)",
            "`read()` from another thread while 900 KB changes are applied (per read, batches of 100)",
            Measure::latency(during, "reads during applies"),
            "the same reads while no change is going on (quiet windows of the same length)",
            Measure::latency(quiet, "reads in quiet windows"),
        )
        .with_target(Target::new("p99 ≤ 100 ns", met)),
    );
    let window = Summary::of_durations(&applying)
        .map(|s| format!("p50 {}, max {}", format_nanos(s.p50), format_nanos(s.max)))
        .unwrap_or_else(|| "none".into());
    report.notes.push(format!(
        "7 (busy read): one thread reads in batches of {BATCH} while the main task makes {changes} raw \
         `set_data`s of a changed 900 KB payload (encoded before the window opens), each followed by the small \
         writes that keep the server's heap safe; a batch counts when it fell entirely within an apply window \
         (from the write until the change batch was delivered; {window}) — {during_n} batches — or within a quiet \
         window of the same length after it. A batch during which the reading thread was descheduled (2 cores, \
         the server and the decode share them) counts with it.{}",
        if samples.errors > 0 {
            format!(" WARNING: {} reads failed.", samples.errors)
        } else {
            String::new()
        }
    ));
    Ok(())
}
