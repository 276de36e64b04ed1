//! The zkstate benchmark harness.
//!
//! ```text
//! cargo run --release -p zkstate-bench              # full run: prints the table, rewrites BENCHMARKS.md
//! cargo run --release -p zkstate-bench -- --quick   # a few seconds, prints only (CI)
//! ```
//!
//! It starts its own ZooKeeper (zkstate-testing, the server as shipped: forceSync on; only
//! `maxClientCnxns=0`, for scenario 9's 100 sessions), runs every scenario against it, each
//! against the raw zookeeper-client 0.11 doing the same work in the same run, and, in a full
//! run, zkstate 0.1.23 built from `bench/prototype`.
//!
//! Options: `--quick`; `--no-prototype` (skip scenario 8); `--only 1,5,9` (run these scenarios,
//! write nothing); `--no-write` (do not rewrite BENCHMARKS.md). For a profiler:
//! `--profile-local BYTES ITERATIONS [after-small] [other]` runs scenario 7's local decode + diff alone,
//! no ZooKeeper
//! (`valgrind --tool=callgrind target/release/zkstate-bench --profile-local 921600 5`).

mod common;
mod machine;
mod payload;
mod report;
mod scenarios;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::common::{progress, Env, Plan};
use crate::machine::Machine;
use crate::report::{Report, Row};
use crate::scenarios::prototype::workspace_root;

const USAGE: &str = "usage: zkstate-bench [--quick] [--no-prototype] [--no-write] [--only 1,2,...]";

/// The heading from which BENCHMARKS.md is written by hand and kept across runs.
const READING: &str = "## Reading the numbers";

#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    prototype: bool,
    write: bool,
    only: Option<Vec<u32>>,
    /// The arguments as given, for the report's command line.
    args: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options {
            quick: false,
            prototype: true,
            write: true,
            only: None,
            args: args.to_vec(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--no-prototype" => options.prototype = false,
                "--no-write" => options.write = false,
                "--only" => {
                    let list = it.next().ok_or("--only needs a list of scenario numbers")?;
                    let numbers = list
                        .split(',')
                        .map(|n| {
                            n.trim()
                                .parse::<u32>()
                                .map_err(|_| format!("--only: not a number: {n}"))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    options.only = Some(numbers);
                }
                "-h" | "--help" => return Err(USAGE.to_string()),
                other => return Err(format!("unknown option {other}\n{USAGE}")),
            }
        }
        Ok(options)
    }

    fn runs(&self, scenario: u32) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(&scenario))
    }

    fn command(&self) -> String {
        let mut command = "cargo run --release -p zkstate-bench".to_string();
        if !self.args.is_empty() {
            command.push_str(" -- ");
            command.push_str(&self.args.join(" "));
        }
        command
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--memory-child") {
        return scenarios::memory::child(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("--profile-local") {
        // For a profiler (valgrind --tool=callgrind): scenario 7's local part alone.
        return scenarios::size::profile(&args[1..]);
    }
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move { tokio::spawn(run(options)).await });
    // Background tasks of closed states may still be winding down: do not wait for them.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("zkstate-bench: {err:#}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("zkstate-bench: the run panicked: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one scenario with a time limit; returns why it failed, if it did.
async fn scenario<F>(label: &str, name: &str, limit: Duration, run: F) -> Option<String>
where
    F: std::future::Future<Output = Result<()>>,
{
    let started = Instant::now();
    let failure = match tokio::time::timeout(limit, run).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(format!("failed: {err:#}")),
        Err(_) => Some(format!("did not finish within {limit:?}")),
    };
    match &failure {
        Some(why) => progress(format!("scenario {label} ({name}) {why}")),
        None => progress(format!(
            "scenario {label} ({name}) done in {:.1} s",
            started.elapsed().as_secs_f64()
        )),
    }
    failure
}

async fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    let load = machine::load_average();
    let plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let root = workspace_root();

    // Built before the server starts, so that compiling disturbs no measurement.
    let prototype = if options.quick {
        Err("skipped in --quick mode".to_string())
    } else if !options.prototype {
        Err("skipped (--no-prototype)".to_string())
    } else if !options.runs(8) {
        Err("not selected (--only)".to_string())
    } else {
        scenarios::prototype::build().await
    };
    if let Err(why) = &prototype {
        progress(format!("8. prototype (zkstate 0.1.23): {why}"));
    }

    progress("starting ZooKeeper (zkstate-testing, the server as shipped: forceSync on; maxClientCnxns=0)");
    // ZooKeeper allows 60 connections from one address by default; scenario 9 opens 100 (all
    // from loopback, through one proxy). Nothing else differs from the settings as shipped.
    let server = zkstate_testing::ZkServer::builder()
        .with_config("maxClientCnxns", "0")
        .start()
        .await
        .context("starting ZooKeeper")?;
    let servers = server.connect_string();
    let srvr = zkstate_testing::four_letter_word(&servers, "srvr")
        .await
        .unwrap_or_default();
    let machine = Machine::probe(&srvr, server.pid(), load, &root);
    progress(format!("ZooKeeper {} on {servers}", machine.zookeeper));
    let env = Env { servers, plan };

    let limit = if options.quick {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(900)
    };
    let mut report = Report::default();
    // Each scenario fills its own part; what it found is kept even when it fails half-way, and a
    // failure becomes a row saying so while the run goes on.
    macro_rules! run_scenario {
        ($label:expr, $name:expr, $part:ident, $future:expr) => {{
            let mut $part = Report::default();
            let failure = scenario($label, $name, limit, $future).await;
            merge(&mut report, $part);
            if let Some(why) = failure {
                report.rows.push(Row::missing($label, $name, "—", &why));
                progress(format!("the server's log:\n{}", log_excerpt(&server)));
            }
        }};
    }
    if options.runs(1) {
        run_scenario!("1", "read()", part, scenarios::read::run(&env, &mut part));
    }
    if options.runs(2) {
        run_scenario!(
            "2",
            "c_read()",
            part,
            scenarios::cread::run(&env, &mut part)
        );
    }
    if options.runs(3) || options.runs(4) {
        run_scenario!(
            "3, 4",
            "update(), update_latest()",
            part,
            scenarios::update::run(&env, &mut part)
        );
    }
    if options.runs(5) {
        run_scenario!(
            "5",
            "propagation",
            part,
            scenarios::propagation::run(&env, &mut part)
        );
    }
    if options.runs(6) {
        run_scenario!(
            "6",
            "fan-out",
            part,
            scenarios::fanout::run(&env, &mut part)
        );
    }
    if options.runs(7) {
        run_scenario!(
            "7",
            "size and memory",
            part,
            scenarios::size::run(&env, &mut part)
        );
    }
    if options.runs(8) {
        match prototype {
            Err(why) if options.quick || !options.prototype => {
                report.rows.push(Row::missing(
                    "8",
                    "the prototype, zkstate 0.1.23",
                    "zkstate 0.1.23",
                    &why,
                ));
            }
            prototype => {
                run_scenario!(
                    "8",
                    "prototype",
                    part,
                    scenarios::prototype::run(&env, prototype, &mut part)
                );
            }
        }
    }
    if options.runs(9) {
        run_scenario!(
            "9",
            "compression",
            part,
            scenarios::compression::run(&env, &mut part)
        );
    }
    if options.runs(10) {
        run_scenario!(
            "10",
            "listener-record reports",
            part,
            scenarios::reports::run(&env, &mut part)
        );
    }
    if options.runs(11) {
        run_scenario!(
            "11",
            "history",
            part,
            scenarios::history::run(&env, &mut part)
        );
    }
    drop(server);

    let elapsed = started.elapsed();
    let document = render(&options, &machine, &report, elapsed);
    println!("{document}");
    let writes = !options.quick && options.write && options.only.is_none();
    if writes {
        let path = root.join("BENCHMARKS.md");
        write_benchmarks(&path, &document)?;
        progress(format!("wrote {}", path.display()));
    } else {
        progress("BENCHMARKS.md left as it is (only a full run of every scenario rewrites it)");
    }
    progress(format!("done in {:.1} s", elapsed.as_secs_f64()));
    Ok(())
}

/// The errors in the server's recent log, or its last lines when there are none.
fn log_excerpt(server: &zkstate_testing::ZkServer) -> String {
    let tail = server.log_tail(400);
    let errors: Vec<&str> = tail
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("Exception") || l.contains("OutOfMemory"))
        .collect();
    if errors.is_empty() {
        tail.lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        errors
            .iter()
            .rev()
            .take(15)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn merge(report: &mut Report, part: Report) {
    report.rows.extend(part.rows);
    report.notes.extend(part.notes);
}

fn render(options: &Options, machine: &Machine, report: &Report, elapsed: Duration) -> String {
    let mode = if options.quick {
        "a quick run: few iterations, no prototype"
    } else {
        "a full run"
    };
    format!(
        "# zkstate benchmarks\n\
         \n\
         Generated by `zkstate-bench` ({mode}). A full run rewrites everything above the section \
         \"Reading the numbers\", which is written by hand and kept.\n\
         \n\
         - Command: `{command}` (took {secs:.0} s). A full run, `cargo run --release -p zkstate-bench`, rewrites \
         this file; `cargo run --release -p zkstate-bench -- --quick` runs every scenario but the prototype with few \
         iterations in a few seconds and only prints (CI runs it).\n\
         - Date: {date}\n\
         - Machine: {cores} cores, {cpu}, {memory} RAM; load average when the run started: {load}\n\
         - ZooKeeper: {zookeeper}, standalone, started by zkstate-testing with ZooKeeper's settings as shipped \
         (forceSync on, transaction log on the local disk) but `maxClientCnxns=0` (scenario 9 opens 100 sessions), \
         loopback; JVM options from zkstate-testing: `{jvm}`\n\
         - rustc: {rustc}; commit {commit}\n\
         - Baselines: zookeeper-client 0.11 (the raw floor) on the same server, same session timeout (10 s), same \
         1 KB JSON payload (a list of records, one record changed per write), in alternating rounds with zkstate; \
         zkstate 0.1.23 from crates.io built from `bench/prototype`.\n\
         - Latencies are per operation; \"ratio\" is zkstate / baseline (below 1: zkstate is faster). Paced runs \
         pause {pace} ms after each iteration, every other run is back to back: compare paced with paced.\n\
         \n\
         ## Results\n\
         \n\
         {table}\n\
         ## Targets\n\
         \n\
         {targets}\n\
         ## Counts and remarks\n\
         \n\
         {notes}",
        command = options.command(),
        secs = elapsed.as_secs_f64(),
        date = machine.date,
        cores = machine.cores,
        cpu = machine.cpu,
        memory = machine.memory,
        load = machine.load,
        jvm = machine.jvm,
        zookeeper = machine.zookeeper,
        rustc = machine.rustc,
        commit = machine.commit,
        pace = common::PACE.as_millis(),
        table = report.table(),
        targets = report.targets(),
        notes = report.notes(),
    )
}

/// Replaces everything before the hand-written section of BENCHMARKS.md.
fn write_benchmarks(path: &PathBuf, document: &str) -> Result<()> {
    // The heading on a line of its own (the header mentions the section's name too).
    let heading = format!("\n{READING}\n");
    let kept = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| old.find(&heading).map(|at| old[at + 1..].to_string()))
        .unwrap_or_else(|| {
            format!("{READING}\n\n_Not written yet: say here what this run shows, and why where a target is missed._\n")
        });
    std::fs::write(path, format!("{document}\n{kept}"))
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_run_keeps_the_hand_written_section_once() {
        let path =
            std::env::temp_dir().join(format!("zkstate-bench-test-{}.md", std::process::id()));
        let old = format!(
            "# old\nA full run rewrites everything above the section \"Reading the numbers\".\n\n| old table |\n\n\
             {READING}\n\nWhat I saw.\n"
        );
        std::fs::write(&path, old).unwrap();
        write_benchmarks(&path, "# new\n\n| new table |\n").unwrap();
        write_benchmarks(&path, "# newer\n\n| newer table |\n").unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            written,
            format!("# newer\n\n| newer table |\n\n{READING}\n\nWhat I saw.\n")
        );
    }

    #[test]
    fn a_first_run_writes_a_placeholder() {
        let path =
            std::env::temp_dir().join(format!("zkstate-bench-first-{}.md", std::process::id()));
        let _ = std::fs::remove_file(&path);
        write_benchmarks(&path, "# new\n").unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(written.starts_with("# new\n\n## Reading the numbers\n"));
    }
}
