//! Whether every server of a connect string turns a client away at once: its port refuses the
//! connection, or its name does not resolve. Then waiting for a session is pointless, and
//! [`Connection::connect`](super::Connection::connect) says so at once instead of after its
//! whole timeout. A server that does not answer at all (a firewall that drops, a host that is
//! down) leaves the decision to the timeout, as does any server that accepts the connection.

use std::time::Duration;

use tokio::net::{lookup_host, TcpStream};

/// How long one server's name lookup, and each of its addresses' TCP connects, may take.
const STEP: Duration = Duration::from_secs(1);

/// How one server turned us away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The name did not resolve.
    Unresolved,
    /// Every address refused the connection.
    Refused,
}

/// `Some(why, per server)` when every server of `servers` (`host:port,host:port`) refuses or
/// does not resolve; `None` as soon as one accepts a TCP connection or does not answer in
/// time.
pub(crate) async fn all_refuse(servers: &str) -> Option<Vec<(String, Refusal)>> {
    let probes = servers
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|server| async move { (server.to_string(), refusal(server).await) });
    let mut refused = Vec::new();
    for (server, outcome) in futures::future::join_all(probes).await {
        refused.push((server, outcome?));
    }
    (!refused.is_empty()).then_some(refused)
}

/// How `server` turns a client away, or `None` when it may not (it accepted, or did not answer).
async fn refusal(server: &str) -> Option<Refusal> {
    let addresses = match tokio::time::timeout(STEP, lookup_host(server)).await {
        Err(_) => return None,
        Ok(Err(_)) => return Some(Refusal::Unresolved),
        Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
    };
    if addresses.is_empty() {
        return Some(Refusal::Unresolved);
    }
    for address in addresses {
        match tokio::time::timeout(STEP, TcpStream::connect(address)).await {
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            // Accepted, no answer in time, or another error (unreachable network, …): the
            // session attempt decides.
            _ => return None,
        }
    }
    Some(Refusal::Refused)
}

/// `h1:2181: connection refused; nosuch:2181: name not resolved`.
pub(crate) fn describe(refused: &[(String, Refusal)]) -> String {
    refused
        .iter()
        .map(|(server, why)| match why {
            Refusal::Unresolved => format!("{server}: name not resolved"),
            Refusal::Refused => format!("{server}: connection refused"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }

    #[tokio::test]
    async fn a_closed_port_and_an_unknown_name_refuse_at_once() {
        let closed = format!("127.0.0.1:{}", free_port());
        let servers = format!("{closed},nosuchhost.invalid:2181");
        let refused = all_refuse(&servers).await.expect("both refuse");
        assert_eq!(
            describe(&refused),
            format!("{closed}: connection refused; nosuchhost.invalid:2181: name not resolved")
        );
    }

    #[tokio::test]
    async fn one_listening_server_is_enough_to_wait() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("addr").to_string();
        let servers = format!("127.0.0.1:{},{open}", free_port());
        assert_eq!(all_refuse(&servers).await, None);
    }
}
