//! What every request passes before a route sees it, and what every answer carries.
//!
//! * [`Hosts`]: the Host header must name this server (against DNS rebinding). On a loopback
//!   address: `localhost`, `127.0.0.1`, `[::1]` or the address itself, with the port. Beyond
//!   loopback: an IP address of this host (the one the connection arrived on, any port) or a
//!   name given with `--allow-host`. Anything else: 403.
//! * [`cross_site`]: an API request sent by a page of another site or origin (`Sec-Fetch-Site:
//!   cross-site` or `same-site`, or an `Origin` other than the server's own) gets 403 before it
//!   opens anything. The page itself may still be opened from a link.
//! * [`headers`]: the security headers of every answer (see [`CSP`]), and `Cache-Control:
//!   no-store` on `/api/*`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

use super::error::ApiError;

/// What the requests refused before any route, for `/api/stats`.
#[derive(Default)]
pub struct Counters {
    pub refused_host: AtomicU64,
    pub refused_cross_site: AtomicU64,
}

/// What the gate of every request holds: the Host names answered, and what was refused.
pub struct Gate {
    pub hosts: Hosts,
    pub counters: Counters,
}

/// The Content-Security-Policy of every answer: the page runs only its own scripts and styles
/// (no inline script, handler or style), loads nothing from elsewhere, and no page of any
/// origin may frame it (against clickjacking).
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// The address a connection arrived on: the server's own IP address as the client reached it.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub local: Option<SocketAddr>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Arrival {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Arrival {
            local: stream.io().local_addr().ok(),
        }
    }
}

/// The Host headers the server answers to.
#[derive(Debug)]
pub struct Hosts {
    /// On loopback: the exact `name:port` values answered (without the port too on port 80).
    loopback: Option<Vec<String>>,
    /// The names of `--allow-host`, lowercase, matched with any port.
    allowed: Vec<String>,
    /// The address listened on, when it is one address (not `0.0.0.0` or `[::]`).
    listen: Option<IpAddr>,
}

impl Hosts {
    pub fn new(listen: SocketAddr, allowed: &[String]) -> Hosts {
        let allowed = allowed
            .iter()
            .map(|name| name.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        let ip = listen.ip();
        Hosts {
            loopback: loopback_hosts(listen),
            allowed,
            listen: (!ip.is_unspecified()).then_some(ip.to_canonical()),
        }
    }

    /// Whether `host` (a Host header) names this server, for a connection that arrived on
    /// `local`.
    pub fn accepts(&self, host: &str, local: Option<SocketAddr>) -> bool {
        let host = host.trim();
        if let Some(exact) = &self.loopback {
            if exact.iter().any(|ok| ok.eq_ignore_ascii_case(host)) {
                return true;
            }
        }
        let name = host_part(host);
        if let Ok(ip) = name.parse::<IpAddr>() {
            // Beyond loopback an address of this host is fine with any port (a port forward
            // may change it); a rebinding page always sends its own DNS name, never an IP.
            if self.loopback.is_some() {
                return false;
            }
            let ip = ip.to_canonical();
            return local.is_some_and(|l| l.ip().to_canonical() == ip) || self.listen == Some(ip);
        }
        let name = name.trim_end_matches('.');
        self.allowed.iter().any(|ok| ok.eq_ignore_ascii_case(name))
    }

    /// What the refusal says the server answers to.
    fn describe(&self) -> String {
        let mut names: Vec<String> = match &self.loopback {
            Some(exact) => exact.clone(),
            None => vec!["its own IP addresses".to_string()],
        };
        names.extend(self.allowed.iter().cloned());
        names.join(", ")
    }

    /// An address to suggest in the refusal.
    fn suggestion(&self) -> Option<&str> {
        self.loopback
            .as_ref()
            .and_then(|hosts| hosts.first())
            .map(String::as_str)
    }
}

/// `name` of `name:port`, `[v6]` of `[v6]:port` without the brackets.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The Host headers a server listening on `listen` answers to exactly: on a loopback address,
/// `localhost`, `127.0.0.1`, `[::1]` and the address itself, with the port (without it too on
/// port 80). `None` beyond loopback (see [`Hosts::accepts`]).
fn loopback_hosts(listen: SocketAddr) -> Option<Vec<String>> {
    if !listen.ip().is_loopback() {
        return None;
    }
    let port = listen.port();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "[::1]".to_string(),
    ];
    let own = match listen.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    if !names.contains(&own) {
        names.push(own);
    }
    let mut hosts: Vec<String> = names.iter().map(|name| format!("{name}:{port}")).collect();
    if port == 80 {
        hosts.extend(names);
    }
    Some(hosts)
}

/// The Host header of a request (or its URI's authority).
fn host_of(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

/// Why an API request comes from a page of another site or origin, if it does. `host` is the
/// request's (already accepted) Host: the server's own origin is `http://{host}`.
pub fn cross_site(headers: &HeaderMap, host: &str) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = String::from_utf8_lossy(site.as_bytes()).to_ascii_lowercase();
        if site == "cross-site" || site == "same-site" {
            return Some(format!(
                "sent by a page of another origin (Sec-Fetch-Site: {site})"
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if !origin.eq_ignore_ascii_case(&format!("http://{}", host.trim())) {
            return Some(format!(
                "sent by a page of origin {origin:?}, not this server's"
            ));
        }
    }
    None
}

/// Refuses (403) a request whose Host does not name this server, and an API request from a
/// page of another site or origin; counts both.
pub async fn guard(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let hosts = &gate.hosts;
    let host = host_of(&request);
    let local = request
        .extensions()
        .get::<ConnectInfo<Arrival>>()
        .and_then(|info| info.0.local);
    let Some(host) = host.filter(|h| hosts.accepts(h, local)) else {
        gate.counters.refused_host.fetch_add(1, Ordering::Relaxed);
        let shown = host_of(&request).map_or("(none)".to_string(), |h| format!("{h:?}"));
        let hint = match hosts.suggestion() {
            Some(own) => format!("open http://{own}/"),
            None => "give its name with --allow-host".to_string(),
        };
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "host {shown} refused: zkstate serve answers only to {} (against DNS rebinding); {hint}",
                hosts.describe()
            ),
        )
        .into_response();
    };
    if request.uri().path().starts_with("/api/") {
        if let Some(why) = cross_site(request.headers(), &host) {
            gate.counters
                .refused_cross_site
                .fetch_add(1, Ordering::Relaxed);
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!("cross-site request refused: {why}; the API answers only this server's own page"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Adds the security headers to every answer, and `Cache-Control: no-store` to the API's.
pub async fn headers(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn on_loopback_only_its_own_names_with_the_port_are_answered() {
        let hosts = Hosts::new(addr("127.0.0.1:7780"), &[]);
        for ok in [
            "127.0.0.1:7780",
            "localhost:7780",
            "LOCALHOST:7780",
            "[::1]:7780",
        ] {
            assert!(hosts.accepts(ok, None), "{ok}");
        }
        for bad in [
            "evil.example:7780",
            "localhost",
            "localhost:7781",
            "127.0.0.1",
            "10.0.0.1:7780",
        ] {
            assert!(!hosts.accepts(bad, None), "{bad}");
        }
    }

    #[test]
    fn beyond_loopback_the_arrival_address_and_allowed_names_are_answered() {
        let hosts = Hosts::new(addr("0.0.0.0:7780"), &["zk.example.com".to_string()]);
        let arrival = Some(addr("192.168.1.5:7780"));
        for ok in [
            "192.168.1.5:7780",
            "192.168.1.5",
            "zk.example.com",
            "ZK.example.com:443",
            "zk.example.com.:7780",
        ] {
            assert!(hosts.accepts(ok, arrival), "{ok}");
        }
        for bad in [
            "192.168.1.6:7780",
            "evil.example:7780",
            "localhost:7780",
            "zk.example.com.evil.example",
            "",
        ] {
            assert!(!hosts.accepts(bad, arrival), "{bad}");
        }
        // An IPv4 client of a dual-stack socket arrives on a mapped address.
        let mapped = Some(addr("[::ffff:192.168.1.5]:7780"));
        assert!(hosts.accepts("192.168.1.5:7780", mapped));
        let v6 = Some(addr("[fd00::5]:7780"));
        assert!(hosts.accepts("[fd00::5]:7780", v6));
        assert!(!hosts.accepts("[fd00::6]:7780", v6));
    }

    #[test]
    fn an_api_request_of_another_site_or_origin_is_cross_site() {
        let mut headers = HeaderMap::new();
        assert_eq!(cross_site(&headers, "127.0.0.1:7780"), None);
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:7780"),
        );
        assert_eq!(cross_site(&headers, "127.0.0.1:7780"), None);
        for site in ["cross-site", "same-site", "Cross-Site"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                "sec-fetch-site",
                HeaderValue::from_str(site).expect("value"),
            );
            assert!(cross_site(&headers, "127.0.0.1:7780").is_some(), "{site}");
        }
        for origin in ["http://127.0.0.1:7781", "null", "https://127.0.0.1:7780"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).expect("value"),
            );
            assert!(cross_site(&headers, "127.0.0.1:7780").is_some(), "{origin}");
        }
    }
}
