//! A TCP proxy that injects network faults between a client and a server.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::error::{Result, TestingError};

/// What a [`FaultProxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyMode {
    /// Traffic flows both ways.
    Pass,
    /// Bytes are held in both directions; connections stay open; new connections are accepted
    /// and held too. The client sees silence, as in a network partition.
    Blackhole,
    /// Every connection is closed with a reset, new ones as soon as they are accepted: the
    /// client sees the server as down.
    Refuse,
}

#[derive(Debug, Clone, Copy)]
struct Control {
    mode: ProxyMode,
    latency: Duration,
    /// Incremented by [`FaultProxy::reset`]: connections older than the current value close.
    resets: u64,
}

/// A TCP proxy on a free port of 127.0.0.1 in front of one upstream server, to cut, freeze,
/// slow down or reset a client's connections: point the client at
/// [`connect_string`](Self::connect_string) instead of the server. It also counts the bytes it
/// forwards each way ([`bytes_to_clients`](Self::bytes_to_clients),
/// [`bytes_to_server`](Self::bytes_to_server)), to measure what a client costs on the wire.
///
/// Each accepted connection opens its own upstream connection. The proxy's tasks run on the
/// tokio runtime that called [`start`](Self::start) (so the proxy works as long as that
/// runtime does); dropping the proxy aborts them all and closes every socket.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    control: watch::Sender<Control>,
    connections: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    traffic: Arc<Traffic>,
    /// The accept loop. It owns a `JoinSet` of the connection tasks, so aborting it (on drop)
    /// drops that set, which aborts them all.
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`"host:port"`, for example a [`crate::ZkServer`]'s
    /// connect string) in [`ProxyMode::Pass`] with no latency. Must be called from within a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`TestingError::Io`] if `upstream` does not resolve or no port can be bound.
    pub async fn start(upstream: &str) -> Result<FaultProxy> {
        let resolved = tokio::net::lookup_host(upstream)
            .await
            .map_err(|e| {
                TestingError::io(format!("cannot resolve proxy upstream {upstream:?}"), e)
            })?
            .count();
        if resolved == 0 {
            return Err(TestingError::InvalidArgument(format!(
                "proxy upstream {upstream:?} resolves to nothing"
            )));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| TestingError::io("cannot bind the proxy on 127.0.0.1", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| TestingError::io("cannot read the proxy's port", e))?
            .port();
        let (control, receiver) = watch::channel(Control {
            mode: ProxyMode::Pass,
            latency: Duration::ZERO,
            resets: 0,
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let traffic = Arc::new(Traffic::default());
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::from(upstream),
            receiver,
            connections.clone(),
            accepted.clone(),
            traffic.clone(),
        ));
        tracing::debug!(port, upstream, "fault proxy started");
        Ok(FaultProxy {
            port,
            control,
            connections,
            accepted,
            traffic,
            accept,
        })
    }

    /// The proxy's connect string: `"127.0.0.1:PORT"`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forwards traffic both ways (the initial mode). Held bytes and held connections resume.
    pub fn pass(&self) {
        self.set_mode(ProxyMode::Pass);
    }

    /// Holds traffic: stops reading and forwarding in both directions on existing connections,
    /// keeping their sockets open; accepts new connections but holds them too (they reach the
    /// upstream only after [`pass`](Self::pass)). The client sees silence, like a partition.
    pub fn blackhole(&self) {
        self.set_mode(ProxyMode::Blackhole);
    }

    /// Closes every current connection with a reset (`SO_LINGER` 0), and every new one as
    /// soon as it is accepted, until the mode changes.
    pub fn refuse(&self) {
        self.set_mode(ProxyMode::Refuse);
    }

    /// Closes (with a reset) every current connection once, then keeps the current mode.
    pub fn reset(&self) {
        tracing::debug!(port = self.port, "fault proxy resets its connections");
        self.control.send_modify(|c| c.resets += 1);
    }

    /// Delays every chunk of bytes by `latency`, in both directions, keeping their order.
    /// `Duration::ZERO` removes the delay.
    pub fn set_latency(&self, latency: Duration) {
        tracing::debug!(port = self.port, ?latency, "fault proxy latency");
        self.control.send_modify(|c| c.latency = latency);
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        self.control.borrow().mode
    }

    /// How many client connections are open through the proxy right now (held ones included).
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many client connections the proxy has accepted since it started, refused ones
    /// included: proof that a client tried to connect.
    pub fn accepted_count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How many bytes the proxy has forwarded from the upstream server to its clients since it
    /// started, over every connection (ZooKeeper's framing included). Each chunk counts as it is
    /// handed to the client's socket: bytes held by a blackhole or a latency count once
    /// released, and a client that has received bytes finds them counted.
    /// Take the difference of two readings to measure what some work costs on the wire.
    pub fn bytes_to_clients(&self) -> u64 {
        self.traffic.to_clients.load(Ordering::SeqCst)
    }

    /// How many bytes the proxy has forwarded from its clients to the upstream server since it
    /// started, counted as [`bytes_to_clients`](Self::bytes_to_clients) is.
    pub fn bytes_to_server(&self) -> u64 {
        self.traffic.to_server.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: ProxyMode) {
        tracing::debug!(port = self.port, ?mode, "fault proxy mode");
        self.control.send_modify(|c| c.mode = mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The bytes forwarded each way, over every connection.
#[derive(Debug, Default)]
struct Traffic {
    to_clients: AtomicU64,
    to_server: AtomicU64,
}

async fn accept_loop(
    listener: TcpListener,
    upstream: Arc<str>,
    control: watch::Receiver<Control>,
    connections: Arc<AtomicUsize>,
    accepted_total: Arc<AtomicUsize>,
    traffic: Arc<Traffic>,
) {
    let mut tasks = JoinSet::new();
    loop {
        let accepted = listener.accept().await;
        while tasks.try_join_next().is_some() {}
        let client = match accepted {
            Ok((client, _)) => client,
            Err(err) => {
                // For example EMFILE: wait a little instead of spinning.
                tracing::debug!(%err, "fault proxy cannot accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        accepted_total.fetch_add(1, Ordering::SeqCst);
        let resets = control.borrow().resets;
        let counted = Counted::new(connections.clone());
        tasks.spawn(serve_connection(
            client,
            upstream.clone(),
            control.clone(),
            resets,
            counted,
            traffic.clone(),
        ));
    }
}

/// Counts an open client connection while it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: Arc<AtomicUsize>) -> Counted {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Makes the next close of `stream` send a reset (RST) instead of a FIN.
fn set_reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd belongs to `stream`, which is alive; `linger` is a valid `struct linger`
    // and the length passed is its size. A zero linger time cannot block the closing thread.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(err = %io::Error::last_os_error(), "cannot set SO_LINGER 0");
    }
}

/// Resolves when the connection must be closed: the mode became `Refuse` or a reset was
/// requested after the connection was accepted (or the proxy is gone).
async fn closed(mut control: watch::Receiver<Control>, resets: u64) {
    loop {
        let current = *control.borrow_and_update();
        if current.mode == ProxyMode::Refuse || current.resets != resets {
            return;
        }
        if control.changed().await.is_err() {
            return;
        }
    }
}

/// Resolves once the mode is `Pass`.
async fn passing(control: &mut watch::Receiver<Control>) -> io::Result<()> {
    loop {
        if control.borrow_and_update().mode == ProxyMode::Pass {
            return Ok(());
        }
        control
            .changed()
            .await
            .map_err(|_| io::Error::other("fault proxy dropped"))?;
    }
}

async fn serve_connection(
    client: TcpStream,
    upstream: Arc<str>,
    control: watch::Receiver<Control>,
    resets: u64,
    _counted: Counted,
    traffic: Arc<Traffic>,
) {
    // A connection accepted while not passing is held (blackhole) or reset (refuse).
    let held = async {
        let mut control = control.clone();
        passing(&mut control).await
    };
    let passes = tokio::select! {
        biased;
        () = closed(control.clone(), resets) => false,
        passing = held => passing.is_ok(),
    };
    if !passes {
        set_reset_on_close(&client);
        return;
    }
    let server = tokio::select! {
        biased;
        () = closed(control.clone(), resets) => None,
        connected = TcpStream::connect(&*upstream) => match connected {
            Ok(server) => Some(server),
            Err(err) => {
                tracing::debug!(%err, %upstream, "fault proxy cannot reach its upstream");
                None
            }
        },
    };
    let Some(server) = server else {
        set_reset_on_close(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let finished = tokio::select! {
        biased;
        () = closed(control.clone(), resets) => false,
        pumped = async {
            tokio::try_join!(
                pump(&mut client_read, &mut server_write, control.clone(), &traffic.to_server),
                pump(&mut server_read, &mut client_write, control.clone(), &traffic.to_clients),
            )
        } => pumped.is_ok(),
    };
    if !finished {
        // Refused, reset, or one side failed: reset both sides.
        set_reset_on_close(client_read.as_ref());
        set_reset_on_close(server_read.as_ref());
    }
}

/// Copies bytes from `from` to `to` while the proxy passes, each chunk delayed by the latency
/// in force when it was read, and adds what it wrote to `forwarded`. On EOF, forwards the EOF
/// (shutdown of the write side).
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    control: watch::Receiver<Control>,
    forwarded: &AtomicU64,
) -> io::Result<()> {
    let (queue, mut queued) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async {
        let mut control = control.clone();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            passing(&mut control).await?;
            let n = tokio::select! {
                biased;
                changed = control.changed() => {
                    changed.map_err(|_| io::Error::other("fault proxy dropped"))?;
                    // The mode or the latency changed: check the mode again before reading.
                    continue;
                }
                n = from.read(&mut buf) => n?,
            };
            if n == 0 {
                break;
            }
            let due = Instant::now() + control.borrow().latency;
            if queue.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        drop(queue);
        Ok::<_, io::Error>(())
    };
    let write = async {
        let mut control = control.clone();
        while let Some((due, chunk)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            passing(&mut control).await?;
            // Counted before the write, so that a reader that has the bytes sees them counted.
            forwarded.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            to.write_all(&chunk).await?;
        }
        // The peer may already be gone; the EOF is best effort.
        let _ = to.shutdown().await;
        Ok::<_, io::Error>(())
    };
    tokio::try_join!(read, write).map(|_| ())
}
