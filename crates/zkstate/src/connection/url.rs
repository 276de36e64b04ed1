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

/// The port ZooKeeper listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 2181;

const SCHEME: &str = "zookeeper";
/// The scheme of URLs that ask for TLS.
const TLS_SCHEME: &str = "zookeeper+tls";

/// Why a path was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathProblem {
    /// The path is empty.
    Empty,
    /// An absolute path was required and this one does not start with `/`.
    NotAbsolute,
    /// A relative path was required and this one starts with `/`.
    NotRelative,
    /// Two consecutive slashes.
    EmptyComponent,
    /// A `.` or `..` component (ZooKeeper has no such thing).
    DotComponent,
    /// `zookeeper:` followed by a path that starts with neither `./` nor `/`.
    NeedsDotSlash,
    /// A slash at the end of a path other than the root.
    TrailingSlash,
    /// A character ZooKeeper does not allow in paths (control characters, NUL, U+007F–U+009F,
    /// U+E000–U+F8FF, U+FFF0–U+FFFF).
    ForbiddenCharacter(char),
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::Empty => f.write_str("it is empty"),
            PathProblem::NotAbsolute => f.write_str("it does not start with '/'"),
            PathProblem::NotRelative => f.write_str("it starts with '/' but must be relative"),
            PathProblem::EmptyComponent => f.write_str("it has an empty component ('//')"),
            PathProblem::DotComponent => f.write_str("it has a '.' or '..' component"),
            PathProblem::NeedsDotSlash => {
                f.write_str("a relative path is written `zookeeper:./path`, an absolute one `zookeeper:///path`")
            }
            PathProblem::TrailingSlash => f.write_str("it ends with '/'"),
            PathProblem::ForbiddenCharacter(c) => {
                write!(f, "it contains the forbidden character U+{:04X}", u32::from(*c))
            }
        }
    }
}

/// Errors from parsing a ZooKeeper URL, connect string or path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The input is empty.
    #[error("empty zookeeper url")]
    Empty,
    /// The URL has a scheme other than `zookeeper` and `zookeeper+tls`.
    #[error("unknown url scheme `{scheme}` (expected `zookeeper://` or `zookeeper+tls://`)")]
    UnknownScheme {
        /// The scheme found.
        scheme: String,
    },
    /// A server entry has no host (`zookeeper://:2181`, `h1,,h2`, a trailing comma).
    #[error("empty host at position {position} of server list `{servers}`")]
    EmptyHost {
        /// The whole server list.
        servers: String,
        /// The 1-based position of the empty entry.
        position: usize,
    },
    /// A port is not a number from 1 to 65535.
    #[error("bad port `{port}` for host `{host}` (expected 1 to 65535)")]
    BadPort {
        /// The host the port belongs to.
        host: String,
        /// The port as written.
        port: String,
    },
    /// An IPv6 address is not bracketed, not closed, not valid, or followed by something
    /// other than `:port`.
    #[error("bad ipv6 address `{entry}`: {reason}")]
    BadIpv6 {
        /// The server entry as written.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A host name has a character other than ASCII letters, digits, `-`, `.` and `_`.
    #[error("bad host `{host}`: only letters, digits, '-', '.' and '_' are allowed")]
    BadHost {
        /// The host as written, with control characters escaped as `Debug` does.
        host: String,
    },
    /// A path breaks ZooKeeper's path rules.
    #[error("bad zookeeper path `{path}`: {problem}")]
    BadPath {
        /// The path as written, with control characters escaped as `Debug` does.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The URL has a query string or a fragment, which zookeeper URLs do not have.
    #[error("zookeeper url `{input}` has a query string or fragment ('?' or '#')")]
    QueryOrFragment {
        /// The whole input.
        input: String,
    },
}

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
            let tls = if scheme.eq_ignore_ascii_case(SCHEME) {
                false
            } else if scheme.eq_ignore_ascii_case(TLS_SCHEME) {
                true
            } else {
                return Err(UrlError::UnknownScheme {
                    scheme: scheme.to_string(),
                });
            };
            let url = parse_authority_and_path(rest, true)?;
            return Ok(ZkUrl { tls, ..url });
        }
        if let Some(rest) = strip_prefix_ignore_case(input, "zookeeper+tls:") {
            // Only the path forms: `zookeeper+tls` cannot be a host name (it has a '+').
            let path = match rest.strip_prefix("./") {
                Some(rel) => {
                    check_relative(rel)?;
                    ZkPath::Relative(rel.to_string())
                }
                None if rest.starts_with('/') => {
                    validate_path(rest)?;
                    ZkPath::Absolute(rest.to_string())
                }
                None if rest.is_empty() || rest == "." => {
                    return Err(bad_path(rest, PathProblem::Empty))
                }
                None => return Err(bad_path(rest, PathProblem::NeedsDotSlash)),
            };
            return Ok(ZkUrl {
                servers: None,
                path,
                tls: true,
            });
        }
        if let Some(rest) = strip_prefix_ignore_case(input, "zookeeper:") {
            if let Some(rel) = rest.strip_prefix("./") {
                check_relative(rel)?;
                return Ok(ZkUrl {
                    servers: None,
                    path: ZkPath::Relative(rel.to_string()),
                    tls: false,
                });
            }
            if rest == "." {
                return Err(bad_path(rest, PathProblem::Empty));
            }
            if rest.starts_with('/') {
                validate_path(rest)?;
                return Ok(ZkUrl {
                    servers: None,
                    path: ZkPath::Absolute(rest.to_string()),
                    tls: false,
                });
            }
            // A port starts with a digit; a letter or dot means a relative path without `./`,
            // which is more helpfully reported as such than as a bad port of host `zookeeper`.
            if rest.starts_with(|c: char| c.is_alphabetic() || c == '.') {
                return Err(bad_path(rest, PathProblem::NeedsDotSlash));
            }
            // Otherwise `zookeeper` is a host name, as in `zookeeper:2181`.
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

fn parse_server(list: &str, position: usize, entry: &str) -> Result<ServerAddr, UrlError> {
    if let Some(inner) = entry.strip_prefix('[') {
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
        return Ok(ServerAddr {
            host: Host::Ipv6(addr),
            port,
        });
    }
    if entry.contains(']') {
        return Err(UrlError::BadIpv6 {
            entry: entry.to_string(),
            reason: "missing '['",
        });
    }
    let (host, port) = match entry.split_once(':') {
        // Several colons and nothing but hex digits: an IPv6 address someone forgot to bracket.
        Some((_, port))
            if port.contains(':')
                && entry
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.')) =>
        {
            return Err(UrlError::BadIpv6 {
                entry: entry.to_string(),
                reason: "ipv6 addresses must be written in brackets, as [::1]:2181",
            });
        }
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    };
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn url(s: &str) -> ZkUrl {
        match ZkUrl::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn err(s: &str) -> UrlError {
        match ZkUrl::parse(s) {
            Ok(u) => panic!("{s} parsed as {u:?}"),
            Err(e) => e,
        }
    }

    fn abs(p: &str) -> ZkPath {
        ZkPath::Absolute(p.to_string())
    }

    #[test]
    fn full_url() {
        let u = url("zookeeper://h1:2181,h2:2181,h3:2181/etc/configs/file1");
        assert_eq!(u.servers().as_deref(), Some("h1:2181,h2:2181,h3:2181"));
        assert_eq!(u.path(), &abs("/etc/configs/file1"));
    }

    #[test]
    fn url_default_port_and_paths() {
        let u = url("zookeeper://h1");
        assert_eq!(u.servers().as_deref(), Some("h1:2181"));
        assert_eq!(u.path(), &ZkPath::Unspecified);
        assert_eq!(url("zookeeper://h1/").path(), &abs("/"));
        assert_eq!(
            url("zookeeper://h1,h2:2182").servers().as_deref(),
            Some("h1:2181,h2:2182")
        );
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(url("ZooKeeper://h1/x"), url("zookeeper://h1/x"));
        assert_eq!(url("ZOOKEEPER:./x"), url("zookeeper:./x"));
    }

    #[test]
    fn url_without_servers() {
        let u = url("zookeeper:///etc/configs/file1");
        assert_eq!(u.servers(), None);
        assert_eq!(u.path(), &abs("/etc/configs/file1"));
        assert_eq!(url("zookeeper:/etc/configs/file1"), u);
        let empty = url("zookeeper://");
        assert_eq!(empty.servers(), None);
        assert_eq!(empty.path(), &ZkPath::Unspecified);
        assert_eq!(url("zookeeper:///").path(), &abs("/"));
    }

    #[test]
    fn relative_url() {
        let u = url("zookeeper:./etc/configs/file1");
        assert_eq!(u.servers(), None);
        assert_eq!(u.path(), &ZkPath::Relative("etc/configs/file1".into()));
        assert_eq!(u.to_string(), "zookeeper:./etc/configs/file1");
    }

    #[test]
    fn zookeeper_colon_port_is_a_host() {
        let u = url("zookeeper:2181");
        assert_eq!(u.servers().as_deref(), Some("zookeeper:2181"));
        let u = url("zookeeper:2182,zk2/chroot");
        assert_eq!(u.servers().as_deref(), Some("zookeeper:2182,zk2:2181"));
        assert_eq!(u.path(), &abs("/chroot"));
        // Not a relative URL: documented as ambiguous.
        assert_eq!(
            err("zookeeper:etc/x"),
            UrlError::BadPath {
                path: "etc/x".into(),
                problem: PathProblem::NeedsDotSlash
            }
        );
        assert!(matches!(
            err("zookeeper:.x"),
            UrlError::BadPath {
                problem: PathProblem::NeedsDotSlash,
                ..
            }
        ));
        assert!(matches!(err("zookeeper:"), UrlError::BadPort { .. }));
    }

    #[test]
    fn connect_strings() {
        let u = url("h1:2181,h2:2181/chroot");
        assert_eq!(u.servers().as_deref(), Some("h1:2181,h2:2181"));
        assert_eq!(u.path(), &abs("/chroot"));
        let u = url("h1,h2");
        assert_eq!(u.servers().as_deref(), Some("h1:2181,h2:2181"));
        assert_eq!(u.path(), &ZkPath::Unspecified);
        assert_eq!(
            url("127.0.0.1:2181").servers().as_deref(),
            Some("127.0.0.1:2181")
        );
        assert_eq!(
            url("h1, h2 ,h3").servers().as_deref(),
            Some("h1:2181,h2:2181,h3:2181")
        );
        assert_eq!(
            url("zk_1.example-domain.com").servers().as_deref(),
            Some("zk_1.example-domain.com:2181")
        );
        assert_eq!(url("h1:02181").servers().as_deref(), Some("h1:2181"));
    }

    #[test]
    fn ipv6() {
        assert_eq!(url("[::1]:2181").servers().as_deref(), Some("[::1]:2181"));
        assert_eq!(url("[::1]").servers().as_deref(), Some("[::1]:2181"));
        assert_eq!(
            url("[0:0:0:0:0:0:0:1]:2182").servers().as_deref(),
            Some("[::1]:2182")
        );
        let u = url("zookeeper://[::1],[fe80::2]:2888,h3/x");
        assert_eq!(
            u.servers().as_deref(),
            Some("[::1]:2181,[fe80::2]:2888,h3:2181")
        );
        assert_eq!(u.path(), &abs("/x"));
        let addrs = u.server_addrs().unwrap_or_default();
        assert_eq!(addrs[1].host(), "fe80::2");
        assert_eq!(addrs[1].port(), 2888);
        assert_eq!(url("[::1]/chroot").path(), &abs("/chroot"));
    }

    #[test]
    fn bad_ipv6() {
        for s in [
            "[::1",
            "[::1]x",
            "[::1]2181",
            "[nope]",
            "[]:2181",
            "::1",
            "fe80::1:2181",
            "zookeeper://[::1",
        ] {
            assert!(
                matches!(err(s), UrlError::BadIpv6 { .. }),
                "{s}: {:?}",
                err(s)
            );
        }
        assert!(matches!(err("h1]"), UrlError::BadIpv6 { .. }));
        assert_eq!(
            err("[::1]:0"),
            UrlError::BadPort {
                host: "[::1]".into(),
                port: "0".into()
            }
        );
    }

    #[test]
    fn empty_input() {
        assert_eq!(err(""), UrlError::Empty);
    }

    #[test]
    fn unknown_scheme() {
        assert_eq!(
            err("http://h1/x"),
            UrlError::UnknownScheme {
                scheme: "http".into()
            }
        );
        assert_eq!(
            err("zookeepers:///x"),
            UrlError::UnknownScheme {
                scheme: "zookeepers".into()
            }
        );
        // Without `://` this is a host and a port.
        assert_eq!(
            err("mailto:bob"),
            UrlError::BadPort {
                host: "mailto".into(),
                port: "bob".into()
            }
        );
        assert!(err("http://h1").to_string().contains("`http`"));
        assert_eq!(
            err("zk+tls://h1"),
            UrlError::UnknownScheme {
                scheme: "zk+tls".into()
            }
        );
        // `://` after a path is a bad path (ZooKeeper paths have no `//`), not a scheme.
        for s in ["h1/a://b", "zookeeper:/a://b", "zookeeper://h1/a://b"] {
            assert!(
                matches!(
                    err(s),
                    UrlError::BadPath {
                        problem: PathProblem::EmptyComponent,
                        ..
                    }
                ),
                "{s}"
            );
        }
        assert_eq!(
            err("h1:2181://x"),
            UrlError::BadPort {
                host: "h1".into(),
                port: "2181:".into()
            }
        );
    }

    #[test]
    fn empty_host() {
        assert_eq!(
            err("zookeeper://:2181"),
            UrlError::EmptyHost {
                servers: ":2181".into(),
                position: 1
            }
        );
        assert_eq!(
            err("h1,,h2"),
            UrlError::EmptyHost {
                servers: "h1,,h2".into(),
                position: 2
            }
        );
        assert_eq!(
            err("h1,"),
            UrlError::EmptyHost {
                servers: "h1,".into(),
                position: 2
            }
        );
        assert_eq!(
            err("zookeeper://,h1/x"),
            UrlError::EmptyHost {
                servers: ",h1".into(),
                position: 1
            }
        );
        assert_eq!(
            err("/chroot"),
            UrlError::EmptyHost {
                servers: String::new(),
                position: 1
            }
        );
    }

    #[test]
    fn bad_port() {
        for (input, host, port) in [
            ("h1:abc", "h1", "abc"),
            ("h1:0", "h1", "0"),
            ("h1:65536", "h1", "65536"),
            ("h1:99999999999", "h1", "99999999999"),
            ("h1:", "h1", ""),
            ("h1:+80", "h1", "+80"),
            ("zookeeper://h2:x1/a", "h2", "x1"),
            ("h1:/x", "h1", ""),
        ] {
            assert_eq!(
                err(input),
                UrlError::BadPort {
                    host: host.into(),
                    port: port.into()
                },
                "{input}"
            );
        }
        assert_eq!(url("h1:65535").servers().as_deref(), Some("h1:65535"));
        let msg = err("h1:0").to_string();
        assert!(msg.contains("`0`") && msg.contains("`h1`"), "{msg}");
    }

    #[test]
    fn bad_host() {
        for (input, host) in [
            ("zookeeper://user@h1/x", "user@h1"),
            ("h 1", "h 1"),
            ("hé", "hé"),
            ("h1;h2", "h1;h2"),
            ("zookeeper://h\u{0}1", "h\\01"),
        ] {
            assert_eq!(
                err(input),
                UrlError::BadHost { host: host.into() },
                "{input}"
            );
        }
    }

    #[test]
    fn bad_paths() {
        let problem = |s: &str| match err(s) {
            UrlError::BadPath { problem, .. } => problem,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(problem("zookeeper://h1/a//b"), PathProblem::EmptyComponent);
        assert_eq!(problem("zookeeper://h1//"), PathProblem::TrailingSlash);
        assert_eq!(problem("zookeeper:///a/./b"), PathProblem::DotComponent);
        assert_eq!(problem("zookeeper:///a/.."), PathProblem::DotComponent);
        assert_eq!(problem("h1/a/"), PathProblem::TrailingSlash);
        assert_eq!(
            problem("zookeeper://h1/a\u{0}b"),
            PathProblem::ForbiddenCharacter('\0')
        );
        assert_eq!(
            problem("zookeeper://h1/a\nb"),
            PathProblem::ForbiddenCharacter('\n')
        );
        assert_eq!(
            problem("zookeeper://h1/a\u{85}"),
            PathProblem::ForbiddenCharacter('\u{85}')
        );
        assert_eq!(problem("zookeeper:./a//b"), PathProblem::EmptyComponent);
        assert_eq!(problem("zookeeper:./../b"), PathProblem::DotComponent);
        assert_eq!(problem("zookeeper:./a/"), PathProblem::TrailingSlash);
        assert_eq!(problem("zookeeper:./"), PathProblem::Empty);
        assert_eq!(problem("zookeeper:."), PathProblem::Empty);
        assert_eq!(problem("zookeeper:.//x"), PathProblem::NotRelative);
        // The message escapes control characters.
        let msg = err("zookeeper://h1/a\nb").to_string();
        assert!(msg.contains("a\\nb") && !msg.contains('\n'), "{msg}");
    }

    #[test]
    fn query_and_fragment_rejected() {
        for s in [
            "zookeeper://h1/x?a=1",
            "zookeeper://h1/x#frag",
            "h1:2181?x",
            "zookeeper:./a#b",
        ] {
            assert_eq!(err(s), UrlError::QueryOrFragment { input: s.into() }, "{s}");
        }
    }

    #[test]
    fn validate_path_rules() {
        assert_eq!(validate_path("/"), Ok(()));
        assert_eq!(validate_path("/a/b-c_d.e/zookeeper"), Ok(()));
        assert_eq!(validate_path("/ünïcödé/😀"), Ok(()));
        assert_eq!(validate_path("/..."), Ok(()));
        let problem = |p: &str| match validate_path(p) {
            Err(UrlError::BadPath { problem, .. }) => problem,
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(problem(""), PathProblem::Empty);
        assert_eq!(problem("a/b"), PathProblem::NotAbsolute);
        assert_eq!(problem("//"), PathProblem::TrailingSlash);
        assert_eq!(problem("//a"), PathProblem::EmptyComponent);
        assert_eq!(problem("/a/"), PathProblem::TrailingSlash);
        assert_eq!(problem("/."), PathProblem::DotComponent);
        assert_eq!(problem("/a/../b"), PathProblem::DotComponent);
        assert_eq!(
            problem("/a\u{1f}"),
            PathProblem::ForbiddenCharacter('\u{1f}')
        );
        assert_eq!(
            problem("/a\u{7f}"),
            PathProblem::ForbiddenCharacter('\u{7f}')
        );
        assert_eq!(
            problem("/a\u{9f}"),
            PathProblem::ForbiddenCharacter('\u{9f}')
        );
        assert_eq!(
            problem("/\u{e000}"),
            PathProblem::ForbiddenCharacter('\u{e000}')
        );
        assert_eq!(
            problem("/\u{f8ff}"),
            PathProblem::ForbiddenCharacter('\u{f8ff}')
        );
        assert_eq!(
            problem("/\u{fff0}"),
            PathProblem::ForbiddenCharacter('\u{fff0}')
        );
        assert_eq!(
            problem("/\u{ffff}"),
            PathProblem::ForbiddenCharacter('\u{ffff}')
        );
        assert_eq!(validate_path("/\u{a0}\u{f900}\u{ffef}"), Ok(()));
    }

    #[test]
    fn join_path_rules() {
        assert_eq!(join_path("/", "a/b").as_deref(), Ok("/a/b"));
        assert_eq!(join_path("/x", "a").as_deref(), Ok("/x/a"));
        assert_eq!(join_path("/x/y", "a/b").as_deref(), Ok("/x/y/a/b"));
        assert_eq!(join_path("/x", "").as_deref(), Ok("/x"));
        assert!(matches!(
            join_path("/x", "/a"),
            Err(UrlError::BadPath {
                problem: PathProblem::NotRelative,
                ..
            })
        ));
        assert!(matches!(
            join_path("x", "a"),
            Err(UrlError::BadPath {
                problem: PathProblem::NotAbsolute,
                ..
            })
        ));
        assert!(matches!(
            join_path("/x/", "a"),
            Err(UrlError::BadPath {
                problem: PathProblem::TrailingSlash,
                ..
            })
        ));
        assert!(matches!(
            join_path("/x", "a/"),
            Err(UrlError::BadPath {
                problem: PathProblem::TrailingSlash,
                ..
            })
        ));
        assert!(matches!(
            join_path("/x", ".."),
            Err(UrlError::BadPath {
                problem: PathProblem::DotComponent,
                ..
            })
        ));
    }

    #[test]
    fn display_is_canonical() {
        for (input, canonical) in [
            ("h1,h2:2182/chroot", "zookeeper://h1:2181,h2:2182/chroot"),
            ("zookeeper://h1", "zookeeper://h1:2181"),
            ("zookeeper://h1/", "zookeeper://h1:2181/"),
            ("zookeeper:/a", "zookeeper:///a"),
            ("zookeeper:///a", "zookeeper:///a"),
            ("zookeeper://", "zookeeper://"),
            ("[::1]", "zookeeper://[::1]:2181"),
            ("ZOOKEEPER:./a/b", "zookeeper:./a/b"),
        ] {
            let u = url(input);
            assert_eq!(u.to_string(), canonical, "{input}");
            assert_eq!(url(canonical), u, "{input}");
            assert_eq!(canonical.parse::<ZkUrl>(), Ok(u));
        }
    }

    #[test]
    fn tls_scheme() {
        let u = url("zookeeper+tls://h1:2281,h2:2282/apps/x");
        assert!(u.tls());
        assert_eq!(u.servers().as_deref(), Some("h1:2281,h2:2282"));
        assert_eq!(u.path(), &abs("/apps/x"));
        assert!(!url("zookeeper://h1:2281/apps/x").tls());
        assert!(!url("h1:2281/apps/x").tls());
        assert_ne!(url("zookeeper+tls://h1/x"), url("zookeeper://h1/x"));
        assert_eq!(url("ZooKeeper+TLS://h1/x"), url("zookeeper+tls://h1/x"));
        let u = url("zookeeper+tls://");
        assert!(u.tls());
        assert_eq!((u.servers(), u.path()), (None, &ZkPath::Unspecified));
        let u = url("zookeeper+tls:///abs");
        assert_eq!((u.tls(), u.path()), (true, &abs("/abs")));
        assert_eq!(url("zookeeper+tls:/abs"), u);
        let u = url("zookeeper+tls:./rel/x");
        assert_eq!(
            (u.tls(), u.path()),
            (true, &ZkPath::Relative("rel/x".into()))
        );
        // Default port as for plain URLs: the secure port must be written.
        assert_eq!(
            url("zookeeper+tls://h1").servers().as_deref(),
            Some("h1:2181")
        );
    }

    #[test]
    fn bad_tls_urls() {
        let problem = |s: &str| match err(s) {
            UrlError::BadPath { problem, .. } => problem,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(problem("zookeeper+tls:rel"), PathProblem::NeedsDotSlash);
        assert_eq!(problem("zookeeper+tls:2281"), PathProblem::NeedsDotSlash);
        assert_eq!(problem("zookeeper+tls:"), PathProblem::Empty);
        assert_eq!(problem("zookeeper+tls:."), PathProblem::Empty);
        assert_eq!(problem("zookeeper+tls:./a/"), PathProblem::TrailingSlash);
        assert_eq!(
            problem("zookeeper+tls://h1/a//b"),
            PathProblem::EmptyComponent
        );
        assert!(matches!(
            err("zookeeper+tls://h1:0"),
            UrlError::BadPort { .. }
        ));
        assert_eq!(
            err("zookeeper+ssl://h1"),
            UrlError::UnknownScheme {
                scheme: "zookeeper+ssl".into()
            }
        );
        let msg = err("zk+tls://h1").to_string();
        assert!(msg.contains("zookeeper+tls://"), "{msg}");
    }

    #[test]
    fn tls_display_round_trips() {
        for (input, canonical) in [
            (
                "zookeeper+tls://h1,h2:2282/chroot",
                "zookeeper+tls://h1:2181,h2:2282/chroot",
            ),
            ("zookeeper+tls://h1:2281", "zookeeper+tls://h1:2281"),
            ("ZOOKEEPER+TLS://h1/", "zookeeper+tls://h1:2181/"),
            ("zookeeper+tls:/a", "zookeeper+tls:///a"),
            ("zookeeper+tls://", "zookeeper+tls://"),
            (
                "zookeeper+tls://[::1]:2281/x",
                "zookeeper+tls://[::1]:2281/x",
            ),
            ("zookeeper+tls:./a/b", "zookeeper+tls:./a/b"),
        ] {
            let u = url(input);
            assert!(u.tls(), "{input}");
            assert_eq!(u.to_string(), canonical, "{input}");
            assert_eq!(url(canonical), u, "{input}");
        }
    }

    fn arb_host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,12}",
            any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
            any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        ]
    }

    fn arb_server() -> impl Strategy<Value = String> {
        (arb_host(), proptest::option::of(1u16..)).prop_map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h,
        })
    }

    fn arb_component() -> impl Strategy<Value = String> {
        "[^/\\x00-\\x1f\\x7f-\\x9f?#\u{e000}-\u{f8ff}\u{fff0}-\u{ffff}]{1,6}"
            .prop_filter("dot components are invalid", |c| c != "." && c != "..")
    }

    fn arb_abs_path() -> impl Strategy<Value = String> {
        proptest::collection::vec(arb_component(), 0..4).prop_map(|cs| format!("/{}", cs.join("/")))
    }

    proptest! {
        #[test]
        fn canonical_form_round_trips(
            servers in proptest::collection::vec(arb_server(), 1..4),
            path in proptest::option::of(arb_abs_path()),
            url_form in any::<bool>(),
        ) {
            let list = servers.join(",");
            let text = match (&path, url_form) {
                (Some(p), true) => format!("zookeeper://{list}{p}"),
                (None, true) => format!("zookeeper://{list}"),
                (Some(p), false) => format!("{list}{p}"),
                (None, false) => list.clone(),
            };
            let parsed = ZkUrl::parse(&text);
            prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
            let Ok(u) = parsed else { unreachable!() };
            prop_assert_eq!(u.server_addrs().map(<[ServerAddr]>::len), Some(servers.len()));
            let expected_path = path.map_or(ZkPath::Unspecified, ZkPath::Absolute);
            prop_assert_eq!(u.path(), &expected_path);
            let again = ZkUrl::parse(&u.to_string());
            prop_assert_eq!(again.as_ref(), Ok(&u));
            // The normalised connect string is itself a connect string for the same servers.
            let servers_again = u.servers().map(|s| parse_servers(&s));
            prop_assert_eq!(servers_again, u.server_addrs().map(|a| Ok(a.to_vec())));
        }

        #[test]
        fn relative_round_trips(components in proptest::collection::vec(arb_component(), 1..4)) {
            let rel = components.join("/");
            let u = ZkUrl::parse(&format!("zookeeper:./{rel}"));
            prop_assert_eq!(u.as_ref().map(ZkUrl::path), Ok(&ZkPath::Relative(rel.clone())));
            let joined = join_path("/base", &rel);
            prop_assert_eq!(joined.clone(), Ok(format!("/base/{rel}")));
            prop_assert_eq!(joined.and_then(|j| validate_path(&j)), Ok(()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = ZkUrl::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_url_like(s in "(zookeeper:|zookeeper://|zookeeper\\+tls:|zookeeper\\+tls://|\\[|)[\\[\\]:/.,a-z0-9]{0,20}") {
            if let Ok(u) = ZkUrl::parse(&s) {
                prop_assert_eq!(ZkUrl::parse(&u.to_string()), Ok(u));
            }
        }
    }

    proptest! {
        #[test]
        fn tls_canonical_form_round_trips(
            servers in proptest::collection::vec(arb_server(), 1..4),
            path in proptest::option::of(arb_abs_path()),
        ) {
            let text = format!("zookeeper+tls://{}{}", servers.join(","), path.clone().unwrap_or_default());
            let parsed = ZkUrl::parse(&text);
            prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
            let Ok(u) = parsed else { unreachable!() };
            prop_assert!(u.tls());
            prop_assert_eq!(u.path(), &path.map_or(ZkPath::Unspecified, ZkPath::Absolute));
            prop_assert!(u.to_string().starts_with("zookeeper+tls://"));
            prop_assert_eq!(ZkUrl::parse(&u.to_string()), Ok(u));
        }
    }
}
