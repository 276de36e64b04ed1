//! The memory part of scenario 7, measured in a child process (a fresh heap): RSS growth from
//! `/proc/self/statm` while `instances` followers of a 1 KB state are opened: extra instances of
//! one state already open on each connection (they share its local copy and sync task), or
//! distinct states, one instance each.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use arc_swap::ArcSwap;
use zkstate::{StateOptions, ZkState};
use zookeeper_client::{AddWatchMode, Client, EventType};

use crate::common::{Env, Plan, RawPaths};
use crate::payload::{records_of_size, Records};

const DIR: &str = "s7-memory";

/// The directory of the `i`-th distinct state.
fn distinct_dir(i: usize) -> String {
    format!("s7-memory-d{i}")
}

/// Resident set size of this process, bytes.
fn rss() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("statm has no resident field")?
        .parse()
        .context("statm resident field")?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * page.max(1) as u64)
}

/// Runs the child and returns the bytes per instance it reports.
pub async fn measure(env: &Env, kind: &str, instances: usize, connections: usize) -> Result<f64> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let run = tokio::process::Command::new(exe)
        .args([
            "--memory-child",
            kind,
            &env.servers,
            &instances.to_string(),
            &connections.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .context("memory child timed out")??;
    if !output.status.success() {
        bail!("memory child ({kind}) failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .last()
        .context("memory child printed nothing")?;
    let report: serde_json::Value = serde_json::from_str(line).context("memory child output")?;
    report["per_instance"]
        .as_f64()
        .context("per_instance missing")
}

/// `--memory-child <kind> <servers> <instances> <connections>`: prints one JSON line. Kinds:
/// `zkstate` (extra instances of one state), `zkstate-distinct` (distinct states, one instance
/// each), `zkstate-distinct-buffer16` (the same with a change buffer of 16), `raw` (raw
/// followers), `copies` (the two copies of the payload that every distinct state keeps,
/// without ZooKeeper).
pub fn child(args: &[String]) -> ExitCode {
    let [kind, servers, instances, connections] = args else {
        eprintln!("usage: --memory-child <zkstate|zkstate-distinct|zkstate-distinct-buffer16|raw|copies> <servers> <instances> <connections>");
        return ExitCode::from(2);
    };
    let (Ok(instances), Ok(connections)) =
        (instances.parse::<usize>(), connections.parse::<usize>())
    else {
        eprintln!("instances and connections must be numbers");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let env = Env {
        servers: servers.clone(),
        plan: Plan::quick(),
    };
    let kind = kind.clone();
    let result = runtime.block_on(async move {
        match kind.as_str() {
            "zkstate" => {
                let options = StateOptions::default();
                zkstate_growth(&env, Dirs::Shared, instances, connections.max(1), options).await
            }
            "zkstate-distinct" => {
                let options = StateOptions::default();
                zkstate_growth(&env, Dirs::Distinct, instances, connections.max(1), options).await
            }
            "zkstate-distinct-buffer16" => {
                let options = StateOptions::default().with_event_buffer(16);
                zkstate_growth(&env, Dirs::Distinct, instances, connections.max(1), options).await
            }
            "raw" => raw_growth(&env, instances, connections.max(1)).await,
            "copies" => copies_growth(instances).await,
            other => bail!("unknown kind {other}"),
        }
    });
    match result {
        Ok((before, after)) => {
            let per_instance = after.saturating_sub(before) as f64 / instances.max(1) as f64;
            println!(
                "{}",
                serde_json::json!({"before": before, "after": after, "instances": instances, "per_instance": per_instance})
            );
            // Sessions close with the process; nothing to wait for.
            std::process::exit(0)
        }
        Err(err) => {
            eprintln!("memory child: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What a distinct state's local copy holds, alone: the payload decoded `instances` times into
/// what the copy keeps of its JSON (for the merge and the diff: the text of a small payload) and
/// into `T` (for `read()`), each pair kept.
async fn copies_growth(instances: usize) -> Result<(u64, u64)> {
    let bytes = crate::payload::as_written(&records_of_size(1024))?;
    let before = settled_rss().await?;
    let mut keep = Vec::with_capacity(instances);
    for _ in 0..instances {
        let json = zkstate::bench::Held::of(&bytes)?;
        let value: Records = serde_json::from_slice(&bytes)?;
        keep.push((json, value));
    }
    let after = settled_rss().await?;
    drop(std::hint::black_box(keep));
    Ok((before, after))
}

/// Settles, then reads RSS.
async fn settled_rss() -> Result<u64> {
    tokio::time::sleep(Duration::from_millis(700)).await;
    rss()
}

/// Which directories the measured states open.
#[derive(Clone, Copy)]
enum Dirs {
    /// Every instance opens the same state (`DIR`), already open on each connection: extra
    /// instances of one state.
    Shared,
    /// Instance `i` opens `s7-memory-d{i}`; each connection first opens a state of its own, not
    /// counted: distinct states, one instance each.
    Distinct,
}

impl Dirs {
    /// The state opened on connection `c` before the measurement starts.
    fn first(self, c: usize) -> String {
        match self {
            Dirs::Shared => DIR.to_string(),
            Dirs::Distinct => format!("s7-memory-dfirst{c}"),
        }
    }

    /// The state the `i`-th measured instance opens.
    fn of(self, i: usize) -> String {
        match self {
            Dirs::Shared => DIR.to_string(),
            Dirs::Distinct => distinct_dir(i),
        }
    }
}

/// RSS before and after `instances` states are opened, round-robin over the connections. One
/// state per connection is opened first and not counted, so that what is paid once per
/// connection (and for the first state on it) is not counted either.
async fn zkstate_growth(
    env: &Env,
    dirs: Dirs,
    instances: usize,
    connections: usize,
    options: StateOptions,
) -> Result<(u64, u64)> {
    let records = records_of_size(1024);
    let mut conns = Vec::new();
    let mut keep = Vec::new();
    for c in 0..connections {
        let conn = env.connection().await?;
        let dir = dirs.first(c);
        keep.push(ZkState::with_options(&conn, &dir, records.clone(), options.clone()).await?);
        conns.push(conn);
    }
    let before = settled_rss().await?;
    let tasks: Vec<_> = conns
        .iter()
        .enumerate()
        .map(|(c, conn)| {
            let conn = conn.clone();
            let records = records.clone();
            let options = options.clone();
            tokio::spawn(async move {
                let mut states = Vec::new();
                for i in (c..instances).step_by(connections) {
                    let dir = dirs.of(i);
                    states.push(
                        ZkState::with_options(&conn, &dir, records.clone(), options.clone())
                            .await?,
                    );
                }
                Ok::<_, anyhow::Error>(states)
            })
        })
        .collect();
    for task in tasks {
        keep.extend(task.await??);
    }
    // Every sync task has registered its listener record: all are watching.
    let mut expected: std::collections::BTreeMap<String, usize> = Default::default();
    for dir in (0..connections).map(|c| dirs.first(c)) {
        *expected.entry(dir).or_default() += 1;
    }
    for dir in (0..instances).map(|i| dirs.of(i)) {
        *expected.entry(dir).or_default() += 1;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (dir, count) in &expected {
        while zkstate::list_listeners(&conns[0], dir).await?.len() < *count
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let after = settled_rss().await?;
    drop(keep);
    Ok((before, after))
}

/// One raw follower: a persistent watch, the decoded value in an `ArcSwap`, a task that
/// re-reads on every change.
async fn raw_follower(client: &Client, path: &str) -> Result<tokio::task::JoinHandle<()>> {
    let mut watcher = client.watch(path, AddWatchMode::Persistent).await?;
    let (data, _) = client.get_data(path).await?;
    let value = Arc::new(ArcSwap::from_pointee(serde_json::from_slice::<Records>(
        &data,
    )?));
    let client = client.clone();
    let path = path.to_string();
    Ok(tokio::spawn(async move {
        loop {
            let event = watcher.changed().await;
            if event.event_type == EventType::Session && event.session_state.is_terminated() {
                return;
            }
            if event.event_type != EventType::NodeDataChanged {
                continue;
            }
            if let Ok((data, _)) = client.get_data(&path).await {
                if let Ok(records) = serde_json::from_slice::<Records>(&data) {
                    value.store(Arc::new(records));
                }
            }
        }
    }))
}

async fn raw_growth(env: &Env, instances: usize, connections: usize) -> Result<(u64, u64)> {
    let records = records_of_size(1024);
    let paths = RawPaths::new(DIR);
    let mut clients = Vec::new();
    let mut keep = Vec::new();
    for c in 0..connections {
        let client = env.raw().await?;
        if c == 0 {
            paths
                .create(&client, &crate::payload::as_written(&records)?)
                .await?;
        }
        keep.push(raw_follower(&client, &paths.payload).await?);
        clients.push(client);
    }
    let before = settled_rss().await?;
    let tasks: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(c, client)| {
            let client = client.clone();
            let path = paths.payload.clone();
            let count = instances / connections + usize::from(c < instances % connections);
            tokio::spawn(async move {
                let mut followers = Vec::with_capacity(count);
                for _ in 0..count {
                    followers.push(raw_follower(&client, &path).await?);
                }
                Ok::<_, anyhow::Error>(followers)
            })
        })
        .collect();
    for task in tasks {
        keep.extend(task.await??);
    }
    let after = settled_rss().await?;
    Ok((before, after))
}
