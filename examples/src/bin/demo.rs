//! The whole seed story on one terminal: a private ZooKeeper, two process-monitor agents, an
//! external actor (the `zkstate` CLI) that adds "firefox*", both agents reacting, `zkstate watch`
//! printing the diff, `zkstate rollout` confirming that every live instance applied it,
//! `zkstate history` showing who made the change and why, then everything stopped cleanly.
//!
//! Run it with `bash scripts/demo.sh` (which builds the binaries it starts).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;
use zkstate_testing::ZkServer;

const DIR: &str = "process-monitor";
const WAIT: Duration = Duration::from_secs(60);

/// A binary built next to this one.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the demo binary")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} is not built; run the demo with `bash scripts/demo.sh`",
            path.display()
        );
    }
    Ok(path)
}

/// Starts `program`, echoing its stdout (and stderr) lines with `prefix` and publishing them.
fn spawn(
    program: &Path,
    args: &[&str],
    prefix: &'static str,
    lines: &broadcast::Sender<String>,
) -> anyhow::Result<Child> {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let lines_tx = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if prefix.is_empty() {
                    println!("{line}");
                } else {
                    println!("{prefix}{line}");
                }
                let _ = lines_tx.send(line);
            }
        });
    }
    Ok(child)
}

/// Waits until a line satisfying `want` has been printed.
async fn wait_for(
    lines: &mut broadcast::Receiver<String>,
    what: &str,
    mut want: impl FnMut(&str) -> bool,
) -> anyhow::Result<()> {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match lines.recv().await {
                Ok(line) if want(&line) => return true,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    })
    .await;
    match found {
        Ok(true) => Ok(()),
        _ => bail!("the demo did not see {what} within {WAIT:?}"),
    }
}

async fn run_cli(cli: &Path, url: &str, args: &[&str]) -> anyhow::Result<()> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(['[', '{', ' ']) {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect();
    println!("\n[actor] $ zkstate --zk {url} {}", shown.join(" "));
    let status = Command::new(cli)
        .arg("--zk")
        .arg(url)
        .args(args)
        .status()
        .await
        .context("running zkstate")?;
    if !status.success() {
        bail!("zkstate {} failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Asks a child to stop as Ctrl-C would, then waits for it.
async fn interrupt(mut child: Child, name: &str) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        eprintln!("{name} did not stop on SIGINT; killing it");
        let _ = child.kill().await;
    }
}

fn step(text: &str) {
    println!("\n=== {text}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = sibling("zkstate")?;
    let agent = sibling("process_monitor")?;
    let (lines, _) = broadcast::channel::<String>(1024);
    let mut seen = lines.subscribe();

    step(
        "1. A private ZooKeeper server on a free loopback port (any server on 2181 is left alone)",
    );
    let server = ZkServer::start().await.context("starting ZooKeeper")?;
    let url = format!("zookeeper://{}/demo", server.connect_string());
    let srvr = zkstate_testing::four_letter_word(&server.connect_string(), "srvr")
        .await
        .unwrap_or_default();
    let version = srvr
        .lines()
        .next()
        .unwrap_or("Zookeeper")
        .trim()
        .to_string();
    println!("{version}, serving at {}", server.connect_string());

    step("2. Two agents share their process globs through zkstate");
    let agent_1 = spawn(
        &agent,
        &["--zk", &url, "--dir", DIR, "--name", "agent-1"],
        "",
        &lines,
    )?;
    wait_for(&mut seen, "agent-1 ready", |l| {
        l.starts_with("[agent-1] watching")
    })
    .await?;
    let agent_2 = spawn(
        &agent,
        &["--zk", &url, "--dir", DIR, "--name", "agent-2"],
        "",
        &lines,
    )?;
    wait_for(&mut seen, "agent-2 ready", |l| {
        l.starts_with("[agent-2] watching")
    })
    .await?;

    step("3. An operator watches the state with `zkstate watch`");
    let watch = spawn(&cli, &["--zk", &url, "watch", DIR], "[watch] ", &lines)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    run_cli(&cli, &url, &["listeners", DIR]).await?;

    step("4. A process named firefox-demo starts on this host (a copy of `sleep`)");
    let scratch = std::env::temp_dir().join(format!("zkstate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).context("creating a scratch dir")?;
    let fake = scratch.join("firefox-demo");
    std::fs::copy("/bin/sleep", &fake).context("copying /bin/sleep")?;
    let mut firefox = Command::new(&fake)
        .arg("300")
        .kill_on_drop(true)
        .spawn()
        .context("starting firefox-demo")?;
    println!("started firefox-demo (pid {})", firefox.id().unwrap_or(0));

    step("5. The external actor adds \"firefox*\" with the CLI, under the state's lock");
    run_cli(
        &cli,
        &url,
        &[
            "patch",
            DIR,
            "--json-patch",
            r#"[{"op":"add","path":"/-","value":"firefox*"}]"#,
            "--message",
            "watch firefox too",
        ],
    )
    .await?;
    // Lines of the three arrive in any order.
    let mut reacted = [false; 3];
    wait_for(&mut seen, "both agents and the watch reacting", |l| {
        reacted[0] |= l.starts_with("[agent-1]") && l.contains("firefox-demo(");
        reacted[1] |= l.starts_with("[agent-2]") && l.contains("firefox-demo(");
        reacted[2] |= l.starts_with("+ [2] \"firefox*\"");
        reacted.iter().all(|&r| r)
    })
    .await?;
    run_cli(&cli, &url, &["get", DIR, "--stat"]).await?;

    step("6. The operator asks whether the change reached every live instance (the two agents and the watch)");
    run_cli(&cli, &url, &["listeners", DIR]).await?;
    run_cli(&cli, &url, &["--timeout", "30", "rollout", "--wait", DIR]).await?;

    step("7. The operator reads the state's history: who changed what, and why");
    run_cli(&cli, &url, &["history", DIR]).await?;

    step("8. Stopping everything");
    interrupt(watch, "zkstate watch").await;
    interrupt(agent_1, "agent-1").await;
    interrupt(agent_2, "agent-2").await;
    let _ = firefox.kill().await;
    let _ = std::fs::remove_dir_all(&scratch);
    drop(server);
    println!("\nDone: both agents received the change as one Added at [2] and reported applying it; the private ZooKeeper is gone.");
    Ok(())
}
