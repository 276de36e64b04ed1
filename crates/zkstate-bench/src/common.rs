//! What every scenario shares: the plan (iteration counts), connections, timing loops.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use zkstate::{Connection, Settings};
use zookeeper_client::{Acls, Client, CreateMode};

/// The session timeout of every session of the run: zkstate's default `Settings`, the raw
/// client and the prototype all use it.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between iterations of the paced runs (the prototype comparison).
pub const PACE: Duration = Duration::from_millis(10);

/// Iteration counts and durations of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Reads: batches of `read_batch` reads, each batch one sample.
    pub read_batches: usize,
    pub read_batch: usize,
    /// Read throughput: alternating windows of 1 and 2 threads, the median of each kept.
    pub read_window: Duration,
    pub read_windows: usize,
    /// Warm-up iterations before every round-trip measurement.
    pub warmup: usize,
    pub c_read: usize,
    pub update: usize,
    pub update_latest: usize,
    pub propagation: usize,
    /// How long each contended-writers run lasts.
    pub contended_window: Duration,
    /// Fan-out: (instances, iterations).
    pub fanout: Vec<(usize, usize)>,
    /// Size: (payload bytes, local iterations, end-to-end iterations).
    pub sizes: Vec<(usize, usize, usize)>,
    /// Scenario 7: also measure the 900 KB local part in fresh processes (allocator settings).
    pub malloc_experiment: bool,
    /// Scenario 7, memory: extra instances of one state, over this many connections.
    pub memory_instances: usize,
    pub memory_connections: usize,
    /// Scenario 7, memory: distinct states, one instance each (over `memory_connections`).
    pub memory_distinct: usize,
    /// Scenario 7: large changes applied while another thread reads.
    pub busy_read_changes: usize,
    /// Scenario 9: instances (and sessions) a change of the large state is sent to, and how many
    /// changes.
    pub compression_instances: usize,
    pub compression_changes: usize,
    /// Scenario 9: decodes of the large payload, plain and compressed, each.
    pub compression_decodes: usize,
    /// Scenario 10: (instances, connections) of each listener-record report measurement, and
    /// how many changes each.
    pub reports: Vec<(usize, usize)>,
    pub report_changes: usize,
    /// Paced runs of the prototype comparison (0: skipped).
    pub paced: usize,
    pub burst: usize,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            read_batches: 20_000,
            read_batch: 100,
            read_window: Duration::from_millis(300),
            read_windows: 7,
            warmup: 200,
            c_read: 3_000,
            update: 1_000,
            update_latest: 1_000,
            propagation: 2_000,
            contended_window: Duration::from_secs(5),
            fanout: vec![(1, 1_000), (10, 500), (100, 200)],
            sizes: vec![
                (1024, 5_000, 1_000),
                (64 * 1024, 1_000, 300),
                (900 * 1024, 200, 100),
            ],
            malloc_experiment: true,
            memory_instances: 1_000,
            memory_connections: 10,
            memory_distinct: 200,
            busy_read_changes: 20,
            compression_instances: 100,
            compression_changes: 10,
            compression_decodes: 100,
            reports: vec![(1, 1), (10, 10), (100, 10)],
            report_changes: 10,
            paced: 500,
            burst: 100,
        }
    }

    pub fn quick() -> Plan {
        Plan {
            read_batches: 2_000,
            read_batch: 100,
            read_window: Duration::from_millis(100),
            read_windows: 3,
            warmup: 20,
            c_read: 200,
            update: 100,
            update_latest: 100,
            propagation: 200,
            contended_window: Duration::from_millis(500),
            fanout: vec![(1, 30), (10, 30), (100, 10)],
            sizes: vec![(1024, 300, 30), (64 * 1024, 50, 15), (900 * 1024, 5, 5)],
            malloc_experiment: false,
            memory_instances: 100,
            memory_connections: 10,
            memory_distinct: 40,
            busy_read_changes: 5,
            compression_instances: 10,
            compression_changes: 3,
            compression_decodes: 10,
            reports: vec![(1, 1), (10, 10)],
            report_changes: 2,
            paced: 0,
            burst: 0,
        }
    }
}

/// The server under test, and where each side keeps its nodes.
#[derive(Clone, Debug)]
pub struct Env {
    /// `127.0.0.1:PORT`.
    pub servers: String,
    pub plan: Plan,
}

impl Env {
    /// The zkstate URL: states live under `/bench/zk`.
    pub fn url(&self) -> String {
        format!("zookeeper://{}/bench/zk", self.servers)
    }

    /// A new zkstate connection (its own session).
    pub async fn connection(&self) -> Result<Connection> {
        Connection::connect(
            &self.url(),
            Settings::default().with_session_timeout(SESSION_TIMEOUT),
        )
        .await
        .context("zkstate connection")
    }

    /// A new raw zookeeper-client session with the same session timeout.
    pub async fn raw(&self) -> Result<Client> {
        Client::connector()
            .with_session_timeout(SESSION_TIMEOUT)
            .connect(&self.servers)
            .await
            .context("raw zookeeper-client session")
    }
}

/// Where the raw side of `scenario` keeps its payload and lock: `/bench/raw/<scenario>`.
#[derive(Clone, Debug)]
pub struct RawPaths {
    pub dir: String,
    pub payload: String,
    pub lock: String,
}

impl RawPaths {
    pub fn new(scenario: &str) -> RawPaths {
        let dir = format!("/bench/raw/{scenario}");
        RawPaths {
            payload: format!("{dir}/payload"),
            lock: format!("{dir}/lock"),
            dir,
        }
    }

    /// Creates a small node `path` (for scratch writes) if it is absent.
    pub async fn create_node(&self, client: &Client, path: &str) -> Result<()> {
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        match client.create(path, b"", &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
            Err(err) => Err(err).context(format!("create {path}")),
        }
    }

    /// Creates the directory, the lock directory and the payload (replacing its data).
    pub async fn create(&self, client: &Client, data: &[u8]) -> Result<()> {
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        for dir in [&self.dir, &self.lock] {
            match client.mkdir(dir, &options).await {
                Ok(()) | Err(zookeeper_client::Error::NodeExists) => {}
                Err(err) => return Err(err).context(format!("mkdir {dir}")),
            }
        }
        match client.create(&self.payload, data, &options).await {
            Ok(_) => Ok(()),
            Err(zookeeper_client::Error::NodeExists) => {
                client
                    .set_data(&self.payload, data, None)
                    .await
                    .context("reset raw payload")?;
                Ok(())
            }
            Err(err) => Err(err).context(format!("create {}", self.payload)),
        }
    }
}

/// Back-to-back iterations, or a pause after each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    Burst,
    Paced(Duration),
}

/// Runs `op` `warmup + n` times and returns the last `n` latencies. `op(i)` gets the iteration
/// number and may return the instant its work ended (an event seen elsewhere); otherwise the
/// latency ends when it returns.
pub async fn measure<F, Fut>(
    n: usize,
    warmup: usize,
    pace: Pace,
    mut op: F,
) -> Result<Vec<Duration>>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Option<Instant>>>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let started = Instant::now();
        let ended = op(i as u64).await?;
        let took = ended
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(started);
        if i >= warmup {
            samples.push(took);
        }
        if let Pace::Paced(pause) = pace {
            tokio::time::sleep(pause).await;
        }
    }
    Ok(samples)
}

/// Measures `a` and `b` in alternating rounds (so that drift of the machine or the server hits
/// both alike): warm-up of each, then rounds of at most 50 iterations of each (at least 10
/// rounds), the one going first alternating.
pub async fn interleaved<A, FA, B, FB>(
    n: usize,
    warmup: usize,
    pace: Pace,
    mut a: A,
    mut b: B,
) -> Result<(Vec<Duration>, Vec<Duration>)>
where
    A: FnMut(u64) -> FA,
    FA: Future<Output = Result<Option<Instant>>>,
    B: FnMut(u64) -> FB,
    FB: Future<Output = Result<Option<Instant>>>,
{
    // Short blocks, so that a spell of noise on this shared 2-core machine (another process, the
    // server's garbage collector) falls on both sides alike.
    const BLOCK: usize = 50;
    let rounds = n.div_ceil(BLOCK).max(10);
    let per_round = n.div_ceil(rounds).max(1);
    let mut counter = 0u64;
    let mut next = || {
        counter += 1;
        counter
    };
    measure(0, warmup, pace, |_| a(next())).await?;
    measure(0, warmup, pace, |_| b(next())).await?;
    let (mut sa, mut sb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for round in 0..rounds {
        let take = per_round.min(n - sa.len());
        if take == 0 {
            break;
        }
        if round % 2 == 0 {
            sa.extend(measure(take, 0, pace, |_| a(next())).await?);
            sb.extend(measure(take, 0, pace, |_| b(next())).await?);
        } else {
            sb.extend(measure(take, 0, pace, |_| b(next())).await?);
            sa.extend(measure(take, 0, pace, |_| a(next())).await?);
        }
    }
    Ok((sa, sb))
}

/// Progress, on stderr.
pub fn progress(message: impl AsRef<str>) {
    eprintln!("[zkstate-bench] {}", message.as_ref());
}

/// ZooKeeper keeps its last 500 transactions in memory (`commitLogCount`), each several times
/// over: 500 writes of 900 KB do not fit the test server's heap (zkstate-testing runs it with
/// `-Xmx256m`) and it dies of `OutOfMemoryError`. After each large write (untimed, like a pause),
/// a dozen tiny pipelined writes push older transactions out, so that at most ~40 large ones
/// are held at any time.
pub async fn flush_committed_log(writer: &Client, path: &str) -> Result<()> {
    let writes = (0..12).map(|_| writer.set_data(path, b"x", None));
    futures::future::try_join_all(writes).await?;
    Ok(())
}
