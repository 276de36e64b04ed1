//! Measures zkstate 0.1.23 (the published prototype) exactly like `zkstate-bench` measures the
//! library: paced update latency, and A's update to B's change message, on the server given.
//! Prints one JSON line with the raw samples (nanoseconds) and the faults counted.
//!
//! ```text
//! zkstate-prototype-bench <connect-string> [--updates N] [--propagations N] [--warmup N]
//!                         [--pause-ms MS] [--burst N] [--burst-deadline-s S]
//! ```

#[path = "../../../crates/zkstate-bench/src/payload.rs"]
#[allow(dead_code)]
mod payload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use zkstate::{ZkState, ZkStructError};
use zookeeper::{WatchedEvent, Watcher, ZooKeeper};

use payload::{bump, records_of_size, Records};

/// The same session timeout as zkstate's default `Settings` and the raw client in the harness.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long B may take to deliver a change before the iteration counts as lost.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

struct Quiet;

impl Watcher for Quiet {
    fn handle(&self, _: WatchedEvent) {}
}

struct Args {
    connect: String,
    updates: usize,
    propagations: usize,
    warmup: usize,
    pause: Duration,
    burst: usize,
    burst_deadline: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let connect = args
        .next()
        .ok_or("usage: zkstate-prototype-bench <connect-string> [options]")?;
    let mut parsed = Args {
        connect,
        updates: 500,
        propagations: 500,
        warmup: 50,
        pause: Duration::from_millis(10),
        burst: 100,
        burst_deadline: Duration::from_secs(10),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--updates" => parsed.updates = number as usize,
            "--propagations" => parsed.propagations = number as usize,
            "--warmup" => parsed.warmup = number as usize,
            "--pause-ms" => parsed.pause = Duration::from_millis(number),
            "--burst" => parsed.burst = number as usize,
            "--burst-deadline-s" => parsed.burst_deadline = Duration::from_secs(number),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(parsed)
}

fn connect(servers: &str) -> Result<Arc<ZooKeeper>, String> {
    ZooKeeper::connect(servers, SESSION_TIMEOUT, Quiet)
        .map(Arc::new)
        .map_err(|e| format!("cannot connect to {servers}: {e:?}"))
}

fn open(servers: &str, dir: &str, initial: Records) -> Result<ZkState<Records>, String> {
    ZkState::new(connect(servers)?, dir.to_string(), initial)
        .map_err(|e| format!("ZkState::new({dir}): {e}"))
}

#[derive(Default)]
struct Faults {
    stale_write: u64,
    lock_timeout: u64,
    other: u64,
}

impl Faults {
    fn count(&mut self, err: &ZkStructError) {
        match err {
            ZkStructError::StaleWrite => self.stale_write += 1,
            ZkStructError::LockAcquireTimeout => self.lock_timeout += 1,
            _ => self.other += 1,
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"stale_write": self.stale_write, "lock_timeout": self.lock_timeout, "other": self.other})
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

fn run(args: &Args) -> Result<serde_json::Value, String> {
    let dir = format!("/bench/prototype-{}", std::process::id());
    let initial = records_of_size(1024);
    let payload_bytes = serde_json::to_vec(&initial).map(|v| v.len()).unwrap_or(0);
    let a = open(&args.connect, &dir, initial.clone())?;
    // Nothing reads A's own change channel: drain it now and then so that it does not grow.
    let a_channel = a.get_update_channel();
    let mut iteration = 0u64;

    // Paced update latency, A alone.
    eprintln!("prototype: {} paced updates", args.warmup + args.updates);
    let mut update_ns = Vec::with_capacity(args.updates);
    let mut update_faults = Faults::default();
    for i in 0..args.warmup + args.updates {
        iteration += 1;
        let n = iteration;
        let started = Instant::now();
        let result = a.update(move |v| bump(v, n));
        let took = started.elapsed();
        match result {
            Ok(()) if i >= args.warmup => update_ns.push(nanos(took)),
            Ok(()) => {}
            Err(err) => update_faults.count(&err),
        }
        thread::sleep(args.pause);
        while a_channel.try_recv().is_ok() {}
    }

    // Paced propagation: A's update until B's handler receives the change message.
    eprintln!(
        "prototype: {} paced propagations",
        args.warmup + args.propagations
    );
    let b = open(&args.connect, &dir, initial.clone())?;
    let (tx, rx) = mpsc::channel::<Instant>();
    b.update_handler(move |_change| {
        let _ = tx.send(Instant::now());
    })
    .map_err(|e| format!("update_handler: {e:?}"))?;
    thread::sleep(Duration::from_millis(200));
    while rx.try_recv().is_ok() {}
    let mut propagation_ns = Vec::with_capacity(args.propagations);
    let mut propagation_faults = Faults::default();
    let mut lost = 0u64;
    let mut extra_messages = 0u64;
    for i in 0..args.warmup + args.propagations {
        iteration += 1;
        let n = iteration;
        let started = Instant::now();
        if let Err(err) = a.update(move |v| bump(v, n)) {
            propagation_faults.count(&err);
            thread::sleep(args.pause);
            while rx.try_recv().is_ok() {}
            continue;
        }
        match rx.recv_timeout(DELIVERY_TIMEOUT) {
            Ok(at) if i >= args.warmup => {
                propagation_ns.push(nanos(at.saturating_duration_since(started)))
            }
            Ok(_) => {}
            Err(_) => lost += 1,
        }
        thread::sleep(args.pause);
        // One field changed: exactly one message is due; anything more is a duplicate.
        while rx.try_recv().is_ok() {
            extra_messages += 1;
        }
        while a_channel.try_recv().is_ok() {}
    }

    // A burst of back-to-back updates from two instances on two sessions.
    eprintln!("prototype: burst of 2 x {} updates", args.burst);
    let burst_dir = format!("{dir}-burst");
    let p = open(&args.connect, &burst_dir, initial.clone())?;
    let q = open(&args.connect, &burst_dir, initial)?;
    let deadline = Instant::now() + args.burst_deadline;
    let timed_out = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = [p, q]
        .into_iter()
        .enumerate()
        .map(|(w, state)| {
            let count = args.burst;
            let timed_out = timed_out.clone();
            thread::spawn(move || {
                let mut faults = Faults::default();
                let mut ok = 0u64;
                let channel = state.get_update_channel();
                for i in 0..count {
                    if Instant::now() > deadline {
                        timed_out.store(true, Ordering::Relaxed);
                        break;
                    }
                    let n = (w * count + i) as u64;
                    match state.update(move |v| bump(v, n)) {
                        Ok(()) => ok += 1,
                        Err(err) => faults.count(&err),
                    }
                    while channel.try_recv().is_ok() {}
                }
                (ok, faults)
            })
        })
        .collect();
    let mut burst_ok = 0;
    let mut burst_faults = Faults::default();
    for worker in workers {
        let (ok, faults) = worker
            .join()
            .map_err(|_| "a burst thread panicked".to_string())?;
        burst_ok += ok;
        burst_faults.stale_write += faults.stale_write;
        burst_faults.lock_timeout += faults.lock_timeout;
        burst_faults.other += faults.other;
    }
    let burst_elapsed = started.elapsed();

    Ok(json!({
        "crate": "zkstate 0.1.23",
        "payload_bytes": payload_bytes,
        "pause_ms": args.pause.as_millis() as u64,
        "update_ns": update_ns,
        "update_faults": update_faults.json(),
        "propagation_ns": propagation_ns,
        "propagation_faults": propagation_faults.json(),
        "propagation_lost": lost,
        "propagation_extra_messages": extra_messages,
        "burst": {
            "per_instance": args.burst,
            "ok": burst_ok,
            "faults": burst_faults.json(),
            "elapsed_ns": nanos(burst_elapsed),
            "hit_deadline": timed_out.load(Ordering::Relaxed),
        },
    }))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(report) => println!("{report}"),
        Err(message) => {
            eprintln!("prototype benchmark failed: {message}");
            std::process::exit(1);
        }
    }
    // The prototype's background threads never end: leave without waiting for them.
    std::process::exit(0);
}
