//! The seed's agent: it shares a list of process globs through a `ZkState<Vec<String>>`, lists
//! the host's processes from /proc, prints those that match, and re-evaluates on every change.
//!
//! ```text
//! process_monitor --zk zookeeper://127.0.0.1:2181/demo --dir agents --name agent-1
//! ```

use std::path::Path;

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
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
}

/// `*` matches any run, `?` any one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// (pid, name) of every process we can see.
fn processes() -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(comm) =
            std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("comm"))
        {
            found.push((pid, comm.trim().to_string()));
        }
    }
    found.sort();
    found
}

fn report(name: &str, globs: &[String]) {
    let procs = processes();
    for glob in globs {
        let matches: Vec<String> = procs
            .iter()
            .filter(|(_, comm)| glob_match(glob, comm))
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
    let conn = Connection::connect(&args.zk, Settings::default())
        .await
        .context("connecting to ZooKeeper")?;
    let default = vec!["systemd*".to_string(), "rsync*".to_string()];
    let state = ZkState::new(&conn, &args.dir, default)
        .await
        .context("opening the shared state")?;
    let mut changes = state.subscribe();
    println!(
        "[{name}] watching {} (version {}) as {}",
        state.dir(),
        state.version(),
        state.id()
    );
    report(&name, &state.d_read());

    let mut stop = Box::pin(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = changes.next() => match event {
                Some(StateEvent::Changed(batch)) => {
                    for change in &batch.changes {
                        println!("[{name}] change -> version {}: {}", batch.version, describe(change));
                    }
                    // The batch carries the new value: the local copy is replaced just after.
                    match serde_json::from_value::<Vec<String>>(serde_json::Value::clone(&batch.value)) {
                        Ok(globs) => report(&name, &globs),
                        Err(err) => println!("[{name}] unexpected payload: {err}"),
                    }
                },
                Some(StateEvent::Lagged { version, .. }) => {
                    println!("[{name}] fell behind; now at version {version}");
                    report(&name, &state.d_read());
                },
                Some(StateEvent::Error(err)) => println!("[{name}] shared state unusable for now: {err}"),
                Some(_) => {},
                None => break,
            },
        }
    }
    state.close().await;
    conn.close().await;
    println!("[{name}] stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("systemd*", "systemd-journal"));
        assert!(glob_match("firefox*", "firefox"));
        assert!(!glob_match("rsync*", "xrsync"));
        assert!(glob_match("s?h", "ssh"));
        assert!(glob_match("*", ""));
    }
}
