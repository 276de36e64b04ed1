//! ZooKeeper URLs and paths.
//!
//! A [`ZkUrl`] says which servers to connect to and which path to work under. Every part may be
//! missing: what a URL lacks is filled in from the settings (see
//! [`Target::resolve`](super::settings::Target::resolve)). The accepted forms are:
//!
//! | Input                                | Servers           | Path                       |
//! |--------------------------------------|-------------------|----------------------------|
//! | `zookeeper://h1:2181,h2/etc/configs` | `h1:2181,h2:2181` | `Absolute("/etc/configs")` |
//! | `zookeeper://h1`                     | `h1:2181`         | `Unspecified`              |
//! | `zookeeper://h1/`                    | `h1:2181`         | `Absolute("/")`            |
//! | `zookeeper:///etc/configs`           | none              | `Absolute("/etc/configs")` |
//! | `zookeeper:/etc/configs`             | none              | `Absolute("/etc/configs")` |
//! | `zookeeper://`                       | none              | `Unspecified`              |
//! | `zookeeper:./etc/configs`            | none              | `Relative("etc/configs")`  |
//! | `h1:2181,h2:2181/chroot`             | `h1:2181,h2:2181` | `Absolute("/chroot")`      |
//! | `h1,h2`, `127.0.0.1:2181`            | port 2181 added   | `Unspecified`              |
//! | `[::1]:2181`, `zookeeper://[::1]/x`  | `[::1]:2181`      | as above                   |
//!
//! `zookeeper+tls://` in place of `zookeeper://` (also `zookeeper+tls:./rel` and
//! `zookeeper+tls:/abs`) asks for TLS ([`ZkUrl::tls`]): the ports are then the servers' secure
//! client ports, and the settings must name a CA (see [`super::tls`]).
//!
//! A relative path must be written `zookeeper:./rel`. `zookeeper:etc/x` is rejected
//! ([`PathProblem::NeedsDotSlash`]) rather than read as relative, because `zookeeper:2181` is
//! the connect string of a host called `zookeeper` (the usual name of the service in container
//! setups): after `zookeeper:`, what starts with a digit is a port.
//!
//! Paths follow ZooKeeper's rules: absolute, no empty, `.` or `..` component, no trailing slash
//! except for the root, none of the characters ZooKeeper forbids. No percent-decoding is done,
//! and query strings and fragments (`?`, `#`) are rejected rather than silently dropped.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

pub use crate::error::{PathProblem, UrlError};

/// The port ZooKeeper listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 2181;

const SCHEME: &str = "zookeeper";
/// The scheme of URLs that ask for TLS.
const TLS_SCHEME: &str = "zookeeper+tls";

/// One server of a connect string: a host and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    host: Host,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Host {
    Name(String),
    Ipv6(Ipv6Addr),
}

impl ServerAddr {
    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub fn host(&self) -> String {
        match &self.host {
            Host::Name(name) => name.clone(),
            Host::Ipv6(addr) => addr.to_string(),
        }
    }

    /// The port (2181 when none was written).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for ServerAddr {
    /// `host:port`, with IPv6 addresses bracketed (`[::1]:2181`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Name(name) => write!(f, "{name}:{}", self.port),
            Host::Ipv6(addr) => write!(f, "[{addr}]:{}", self.port),
        }
    }
}

/// Where a URL points under the servers' root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ZkPath {
    /// No path given: the base path from the settings applies.
    Unspecified,
    /// An absolute, validated path (`/` included).
    Absolute(String),
    /// A validated path relative to the base path from the settings, without the leading `./`.
    Relative(String),
}

/// A parsed ZooKeeper URL or connect string; see the [module documentation](self) for the forms.
///
/// `Display` writes the canonical URL form, which parses back to an equal value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZkUrl {
    /// Never `Some` of an empty list: the parser reports an empty host instead.
    servers: Option<Vec<ServerAddr>>,
    path: ZkPath,
    /// Written `zookeeper+tls:`.
    tls: bool,
}

impl ZkUrl {
    /// Parses any of the accepted forms.
    ///
    /// # Errors
    /// A [`UrlError`] naming the bad part.
    pub fn parse(input: &str) -> Result<ZkUrl, UrlError> {
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        if input.contains(['?', '#']) {
            return Err(UrlError::QueryOrFragment {
                input: input.to_string(),
            });
        }
        // What comes before a `://` that follows a path or a port (`h1/a://b`) is no scheme.
        if let Some((scheme, rest)) = input.split_once("://").filter(|(s, _)| is_scheme(s)) {
            let tls = scheme_is_tls(scheme)?;
            let url = parse_authority_and_path(rest, true)?;
            return Ok(ZkUrl { tls, ..url });
        }
        let path_only = |path, tls| ZkUrl {
            servers: None,
            path,
            tls,
        };
        if let Some(rest) = strip_prefix_ignore_case(input, "zookeeper+tls:") {
            return Ok(path_only(tls_scheme_path(rest)?, true));
        }
        if let Some(rest) = strip_prefix_ignore_case(input, "zookeeper:") {
            if let Some(path) = scheme_path(rest)? {
                return Ok(path_only(path, false));
            }
        }
        // Without `://` there is no scheme: `mailto:x` is host `mailto` with a bad port, just as
        // `h1:abc` is, since the two cannot be told apart.
        parse_authority_and_path(input, false)
    }

    /// The normalised connect string (`h1:2181,[::1]:2182`, default port added, no chroot), or
    /// `None` when the URL names no servers.
    pub fn servers(&self) -> Option<String> {
        self.servers.as_deref().map(join_servers)
    }

    /// The servers as parsed, or `None` when the URL names no servers.
    pub fn server_addrs(&self) -> Option<&[ServerAddr]> {
        self.servers.as_deref()
    }

    /// The path part.
    pub fn path(&self) -> &ZkPath {
        &self.path
    }

    /// Whether the URL asks for TLS (`zookeeper+tls://`). TLS is also on whenever the settings
    /// name a CA, whatever the URL (see [`super::tls`]).
    pub fn tls(&self) -> bool {
        self.tls
    }
}

impl FromStr for ZkUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<ZkUrl, UrlError> {
        ZkUrl::parse(s)
    }
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { TLS_SCHEME } else { SCHEME };
        match &self.path {
            // The parser never yields servers together with a relative path: only the
            // `zookeeper:./` form makes one, and it has no authority.
            ZkPath::Relative(rel) => write!(f, "{scheme}:./{rel}"),
            path => {
                write!(f, "{scheme}://")?;
                if let Some(servers) = &self.servers {
                    f.write_str(&join_servers(servers))?;
                }
                if let ZkPath::Absolute(p) = path {
                    f.write_str(p)?;
                }
                Ok(())
            }
        }
    }
}

/// Joins a relative path to an absolute base: `("/", "a/b")` → `"/a/b"`, `("/x", "a")` →
/// `"/x/a"`. An empty `rel` yields `base` itself.
///
/// # Errors
/// [`UrlError::BadPath`] when `base` is not a valid absolute path or `rel` not a valid relative
/// one.
pub fn join_path(base: &str, rel: &str) -> Result<String, UrlError> {
    validate_path(base)?;
    if rel.is_empty() {
        return Ok(base.to_string());
    }
    check_relative(rel)?;
    let mut joined = String::with_capacity(base.len() + 1 + rel.len());
    joined.push_str(base);
    if base != "/" {
        joined.push('/');
    }
    joined.push_str(rel);
    Ok(joined)
}

/// Checks that `path` is a valid absolute ZooKeeper path.
///
/// # Errors
/// [`UrlError::BadPath`] saying which rule is broken.
pub fn validate_path(path: &str) -> Result<(), UrlError> {
    if path.is_empty() {
        return Err(bad_path(path, PathProblem::Empty));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(bad_path(path, PathProblem::NotAbsolute));
    };
    if rest.is_empty() {
        return Ok(());
    }
    check_components(path, rest)
}

/// Parses a comma-separated server list (no scheme, no path) into addresses.
///
/// Whitespace around each entry is ignored, as in kazoo, so `h1, h2` is accepted.
///
/// # Errors
/// [`UrlError::EmptyHost`], [`UrlError::BadPort`], [`UrlError::BadIpv6`] or
/// [`UrlError::BadHost`] naming the entry.
pub fn parse_servers(list: &str) -> Result<Vec<ServerAddr>, UrlError> {
    list.split(',')
        .enumerate()
        .map(|(i, entry)| parse_server(list, i + 1, entry.trim()))
        .collect()
}

/// Formats addresses as a connect string.
pub(crate) fn join_servers(servers: &[ServerAddr]) -> String {
    let mut out = String::new();
    for (i, server) in servers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&server.to_string());
    }
    out
}

fn parse_authority_and_path(text: &str, is_url: bool) -> Result<ZkUrl, UrlError> {
    let (authority, path) = match text.find('/') {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (text, None),
    };
    let servers = if authority.is_empty() && is_url {
        None
    } else {
        // A bare `/chroot` is reported as an empty host: a connect string needs servers.
        Some(parse_servers(authority)?)
    };
    let path = match path {
        None => ZkPath::Unspecified,
        Some(p) => {
            validate_path(p)?;
            ZkPath::Absolute(p.to_string())
        }
    };
    Ok(ZkUrl {
        servers,
        path,
        tls: false,
    })
}

/// Whether a URL's scheme (`scheme://`) asks for TLS.
fn scheme_is_tls(scheme: &str) -> Result<bool, UrlError> {
    if scheme.eq_ignore_ascii_case(SCHEME) {
        Ok(false)
    } else if scheme.eq_ignore_ascii_case(TLS_SCHEME) {
        Ok(true)
    } else {
        Err(UrlError::UnknownScheme {
            scheme: scheme.to_string(),
        })
    }
}

/// The path after `zookeeper+tls:`. Only the path forms: `zookeeper+tls` cannot be a host name
/// (it has a '+'). The first row that matches applies; paths are validated.
///
/// | After `zookeeper+tls:` | Path                   |
/// |------------------------|------------------------|
/// | `./rel`                | `Relative("rel")`      |
/// | `/abs`                 | `Absolute("/abs")`     |
/// | nothing, `.`           | error: `Empty`         |
/// | anything else          | error: `NeedsDotSlash` |
fn tls_scheme_path(rest: &str) -> Result<ZkPath, UrlError> {
    match rest.strip_prefix("./") {
        Some(rel) => {
            check_relative(rel)?;
            Ok(ZkPath::Relative(rel.to_string()))
        }
        None if rest.starts_with('/') => {
            validate_path(rest)?;
            Ok(ZkPath::Absolute(rest.to_string()))
        }
        None if rest.is_empty() || rest == "." => Err(bad_path(rest, PathProblem::Empty)),
        None => Err(bad_path(rest, PathProblem::NeedsDotSlash)),
    }
}

/// The path after `zookeeper:`, or `None` when `zookeeper` is a host name, as in
/// `zookeeper:2181`. The first row that matches applies; paths are validated.
///
/// | After `zookeeper:`         | Path                                  |
/// |----------------------------|---------------------------------------|
/// | `./rel`                    | `Relative("rel")`                     |
/// | `.`                        | error: `Empty`                        |
/// | `/abs`                     | `Absolute("/abs")`                    |
/// | a letter or `.` first      | error: `NeedsDotSlash`                |
/// | anything else (`2181`)     | `None`: a host `zookeeper` and a port |
///
/// A port starts with a digit; a letter or dot means a relative path without `./`, which is
/// more helpfully reported as such than as a bad port of host `zookeeper`.
fn scheme_path(rest: &str) -> Result<Option<ZkPath>, UrlError> {
    if let Some(rel) = rest.strip_prefix("./") {
        check_relative(rel)?;
        return Ok(Some(ZkPath::Relative(rel.to_string())));
    }
    if rest == "." {
        return Err(bad_path(rest, PathProblem::Empty));
    }
    if rest.starts_with('/') {
        validate_path(rest)?;
        return Ok(Some(ZkPath::Absolute(rest.to_string())));
    }
    if rest.starts_with(|c: char| c.is_alphabetic() || c == '.') {
        return Err(bad_path(rest, PathProblem::NeedsDotSlash));
    }
    Ok(None)
}

fn parse_server(list: &str, position: usize, entry: &str) -> Result<ServerAddr, UrlError> {
    if let Some(inner) = entry.strip_prefix('[') {
        return parse_bracketed(entry, inner);
    }
    if entry.contains(']') {
        return Err(UrlError::BadIpv6 {
            entry: entry.to_string(),
            reason: "missing '['",
        });
    }
    let (host, port) = split_host_port(entry)?;
    if host.is_empty() {
        return Err(UrlError::EmptyHost {
            servers: list.to_string(),
            position,
        });
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(UrlError::BadHost {
            host: escape_controls(host),
        });
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => parse_port(host, port)?,
    };
    Ok(ServerAddr {
        host: Host::Name(host.to_string()),
        port,
    })
}

/// A bracketed IPv6 server, `[addr]` or `[addr]:port`; `inner` is `entry` after its `[`.
fn parse_bracketed(entry: &str, inner: &str) -> Result<ServerAddr, UrlError> {
    let bad = |reason| UrlError::BadIpv6 {
        entry: entry.to_string(),
        reason,
    };
    let (addr, after) = inner.split_once(']').ok_or_else(|| bad("missing ']'"))?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| bad("not a valid ipv6 address"))?;
    let port = match after {
        "" => DEFAULT_PORT,
        _ => match after.strip_prefix(':') {
            Some(port) => parse_port(&format!("[{addr}]"), port)?,
            None => return Err(bad("expected ':port' after ']'")),
        },
    };
    Ok(ServerAddr {
        host: Host::Ipv6(addr),
        port,
    })
}

/// Splits an unbracketed server at its first colon: the host, and the port if one is written.
fn split_host_port(entry: &str) -> Result<(&str, Option<&str>), UrlError> {
    match entry.split_once(':') {
        // Several colons and nothing but hex digits: an IPv6 address someone forgot to bracket.
        Some((_, port))
            if port.contains(':')
                && entry
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.')) =>
        {
            Err(UrlError::BadIpv6 {
                entry: entry.to_string(),
                reason: "ipv6 addresses must be written in brackets, as [::1]:2181",
            })
        }
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((entry, None)),
    }
}

fn parse_port(host: &str, port: &str) -> Result<u16, UrlError> {
    let bad = || UrlError::BadPort {
        host: host.to_string(),
        port: port.to_string(),
    };
    // `u16::from_str` accepts a leading '+', which is no port anyone means.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

/// Validates a relative path (no leading `/`, same component rules as absolute paths).
fn check_relative(rel: &str) -> Result<(), UrlError> {
    if rel.is_empty() {
        return Err(bad_path(rel, PathProblem::Empty));
    }
    if rel.starts_with('/') {
        return Err(bad_path(rel, PathProblem::NotRelative));
    }
    check_components(rel, rel)
}

/// Checks the components of `rest` (a path without its leading `/`); errors quote `whole`.
fn check_components(whole: &str, rest: &str) -> Result<(), UrlError> {
    if let Some(c) = whole.chars().find(|&c| is_forbidden(c)) {
        return Err(bad_path(whole, PathProblem::ForbiddenCharacter(c)));
    }
    if rest.ends_with('/') {
        // `a//` would also be an empty component, but the trailing slash is the likelier mistake.
        return Err(bad_path(whole, PathProblem::TrailingSlash));
    }
    for component in rest.split('/') {
        match component {
            "" => return Err(bad_path(whole, PathProblem::EmptyComponent)),
            "." | ".." => return Err(bad_path(whole, PathProblem::DotComponent)),
            _ => {}
        }
    }
    Ok(())
}

/// The characters ZooKeeper's `PathUtils.validatePath` rejects. Surrogates (U+D800–U+DFFF)
/// cannot occur in a Rust `char`, so of that range only the private use area remains.
fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{E000}'..='\u{F8FF}' | '\u{FFF0}'..='\u{FFFF}')
}

fn bad_path(path: &str, problem: PathProblem) -> UrlError {
    UrlError::BadPath {
        path: escape_controls(path),
        problem,
    }
}

/// Control characters would garble a log line; escape them as `Debug` does, minus the quotes.
fn escape_controls(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests;
