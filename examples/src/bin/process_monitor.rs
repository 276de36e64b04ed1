//! The process-monitor agent: it shares a list of process globs through a
//! `ZkState<Vec<String>>`, lists the host's processes, prints those that match, and re-evaluates
//! on every change. It closes its state on Ctrl-C and on SIGTERM (what `kill`, systemd and
//! Kubernetes send), so that its listener record and commit marker go at once.
//!
//! ```text
//! process_monitor --zk zookeeper://127.0.0.1:2181/demo --dir agents --name agent-1
//! process_monitor --zk zookeeper://127.0.0.1:2181/demo --metrics            # Prometheus on 127.0.0.1:9464
//! process_monitor --zk zookeeper://127.0.0.1:2181/demo --metrics 127.0.0.1:9100
//! ```

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use globset::{Glob, GlobMatcher};
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};
use tokio::signal::unix::{signal, SignalKind};
use zkstate::{Change, Connection, Settings, StateEvent, ZkState};

/// A process-monitor agent sharing its globs through ZooKeeper.
#[derive(Parser)]
struct Args {
    /// ZooKeeper URL (every form zkstate takes).
    #[arg(
        long,
        env = "ZOOKEEPER_URL",
        default_value = "zookeeper://127.0.0.1:2181"
    )]
    zk: String,
    /// The state directory.
    #[arg(long, default_value = "process-monitor")]
    dir: String,
    /// A name for this agent's output lines.
    #[arg(long, default_value = "agent")]
    name: String,
    /// Serve zkstate's metrics as Prometheus text on this address (loopback by default).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9464")]
    metrics: Option<SocketAddr>,
}

/// Each glob compiled, in order; a glob that does not compile is reported and matches nothing.
fn matchers(name: &str, globs: &[String]) -> Vec<Option<GlobMatcher>> {
    globs
        .iter()
        .map(|glob| match Glob::new(glob) {
            Ok(glob) => Some(glob.compile_matcher()),
            Err(err) => {
                println!("[{name}] ignoring the glob {glob:?}: {err}");
                None
            }
        })
        .collect()
}

/// (pid, name) of every process we can see.
fn processes(system: &mut System) -> Vec<(u32, String)> {
    system.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing());
    let mut found: Vec<(u32, String)> = system
        .processes()
        .iter()
        .map(|(pid, process)| (pid.as_u32(), process.name().to_string_lossy().into_owned()))
        .collect();
    found.sort();
    found
}

fn report(name: &str, system: &mut System, globs: &[String]) {
    let procs = processes(system);
    for (glob, matcher) in globs.iter().zip(matchers(name, globs)) {
        let matches: Vec<String> = procs
            .iter()
            .filter(|(_, comm)| matcher.as_ref().is_some_and(|m| m.is_match(comm)))
            .map(|(pid, comm)| format!("{comm}({pid})"))
            .collect();
        let shown = if matches.is_empty() {
            "-".to_string()
        } else {
            matches
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let more = if matches.len() > 4 {
            format!(" and {} more", matches.len() - 4)
        } else {
            String::new()
        };
        println!("[{name}]   {glob:<12} {shown}{more}");
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::Added { path, value } => format!("+ {path} {value}"),
        Change::Removed { path, value } => format!("- {path} {value}"),
        Change::Modified { path, old, new } => format!("~ {path} {old} -> {new}"),
        other => format!("{other:?}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = args.name;
    if let Some(addr) = args.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .with_context(|| format!("serving metrics on {addr}"))?;
        println!("[{name}] metrics on http://{addr}/metrics");
    }
    // Installed before anything else: a signal at any point from here on closes cleanly.
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;

    let conn = Connection::connect(&args.zk, Settings::default())
        .await
        .context("connecting to ZooKeeper")?;
    let default = vec!["systemd*".to_string(), "rsync*".to_string()];
    let state = ZkState::new(&conn, &args.dir, default)
        .await
        .context("opening the shared state")?;
    let mut changes = state.subscribe();
    let mut system = System::new_with_specifics(RefreshKind::nothing());
    println!(
        "[{name}] watching {} (version {}) as {}",
        state.dir(),
        state.version(),
        state.id()
    );
    report(&name, &mut system, &state.d_read());

    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            event = changes.next() => match event {
                Some(StateEvent::Changed(batch)) => {
                    for change in &batch.changes {
                        println!("[{name}] change -> version {}: {}", batch.version, describe(change));
                    }
                    // The batch carries the new value: the local copy is replaced just after.
                    match serde_json::from_value::<Vec<String>>(batch.value().clone()) {
                        Ok(globs) => report(&name, &mut system, &globs),
                        Err(err) => println!("[{name}] unexpected payload: {err}"),
                    }
                },
                Some(StateEvent::Lagged { version, .. }) => {
                    println!("[{name}] fell behind; now at version {version}");
                    report(&name, &mut system, &state.d_read());
                },
                Some(StateEvent::Error(err)) => println!("[{name}] shared state unusable for now: {err}"),
                Some(_) => {},
                None => break,
            },
        }
    }
    // Removes this agent's listener record and commit marker now, not at session expiry.
    state.close().await;
    conn.close().await;
    println!("[{name}] stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        let globs: Vec<String> = ["systemd*", "firefox*", "s?h", "rsync*"]
            .iter()
            .map(|g| g.to_string())
            .collect();
        let m: Vec<GlobMatcher> = matchers("t", &globs).into_iter().flatten().collect();
        assert!(m[0].is_match("systemd-journal"));
        assert!(m[1].is_match("firefox"));
        assert!(!m[3].is_match("xrsync"));
        assert!(m[2].is_match("ssh"));
    }

    #[test]
    fn a_bad_glob_is_left_out_not_fatal() {
        let globs = vec!["[unclosed".to_string(), "ok*".to_string()];
        let m = matchers("t", &globs);
        assert!(m[0].is_none());
        assert!(m[1].as_ref().is_some_and(|m| m.is_match("okay")));
    }

    #[test]
    fn this_process_is_listed() {
        let mut system = System::new_with_specifics(RefreshKind::nothing());
        let me = std::process::id();
        assert!(processes(&mut system).iter().any(|(pid, _)| *pid == me));
    }
}
