//! What the report's header says about where and how it ran.

use std::process::Command;

/// The header facts of one run.
#[derive(Debug, Clone)]
pub struct Machine {
    pub date: String,
    pub cores: String,
    pub cpu: String,
    pub memory: String,
    pub zookeeper: String,
    pub rustc: String,
    pub commit: String,
    /// The server JVM's `-X` options, from its command line.
    pub jvm: String,
    /// `/proc/loadavg` when the run started.
    pub load: String,
}

/// The `-X…` options of the process `pid` (the server's JVM).
fn jvm_options(pid: Option<u32>) -> String {
    let Some(cmdline) = pid.and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
    else {
        return "unknown".into();
    };
    let options: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .filter(|a| a.starts_with("-X"))
        .collect();
    if options.is_empty() {
        "defaults".into()
    } else {
        options.join(" ")
    }
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn memory() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kb: f64 = info
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!("{:.0} GiB", kb / (1024.0 * 1024.0)))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The `Zookeeper version:` line of a `srvr` answer.
pub fn zookeeper_version(srvr: &str) -> String {
    srvr.lines()
        .find_map(|l| l.strip_prefix("Zookeeper version:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown (no srvr answer)".into())
}

impl Machine {
    pub fn probe(
        srvr: &str,
        server_pid: Option<u32>,
        load: String,
        root: &std::path::Path,
    ) -> Machine {
        let root = root.to_string_lossy();
        let commit = match command("git", &["-C", &root, "rev-parse", "--short", "HEAD"]) {
            Some(head) => {
                let dirty = command(
                    "git",
                    &["-C", &root, "status", "--porcelain", "--untracked-files=no"],
                )
                .map(|s| !s.is_empty())
                .unwrap_or(false);
                if dirty {
                    format!("{head} + uncommitted changes")
                } else {
                    head
                }
            }
            None => "unknown".into(),
        };
        Machine {
            date: command("date", &["-u"]).unwrap_or_else(|| "unknown".into()),
            cores: command("nproc", &[]).unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "unknown".into())
            }),
            cpu: cpu_model(),
            memory: memory(),
            zookeeper: zookeeper_version(srvr),
            rustc: env!("ZKSTATE_BENCH_RUSTC").to_string(),
            commit,
            jvm: jvm_options(server_pid),
            load,
        }
    }
}
