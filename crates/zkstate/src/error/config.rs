//! The errors of what a connection is given: a URL, connect string or path ([`UrlError`],
//! [`PathProblem`]), and settings ([`SettingsError`], [`CredentialProblem`]). They are defined
//! here, below `connection`, because [`ConnectError`](super::ConnectError) carries them and
//! `connection` returns `ConnectError`; `connection::url` and `connection::settings` re-export
//! them where their users look for them.

use std::fmt;

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

/// What is wrong with a credential. Never carries the credential itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialProblem {
    /// There is no `:` between user and password.
    MissingColon,
    /// The user part is empty.
    EmptyUser,
    /// The user given to `Credential::new` contains `:`, which the digest scheme cannot carry.
    ColonInUser,
}

impl fmt::Display for CredentialProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialProblem::MissingColon => f.write_str("expected `user:password`"),
            CredentialProblem::EmptyUser => f.write_str("the user is empty"),
            CredentialProblem::ColonInUser => f.write_str("the user contains ':'"),
        }
    }
}

/// Errors from reading or resolving settings. Each names where the bad value came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// No source gave any servers.
    #[error("no zookeeper servers: give a URL with servers, `servers=` in [zookeeper], or ZOOKEEPER_SERVERS")]
    NoServers,
    /// A server list is invalid.
    #[error("bad servers in {origin}: {source}")]
    Servers {
        /// Where the list came from (`ZOOKEEPER_SERVERS`, `[zookeeper] servers`, ...).
        origin: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
    },
    /// A server list is a URL (`zookeeper://h1:2181/app`): the setting takes servers only.
    #[error(
        "{origin} holds a url (`{servers}`), but it takes servers only (`host:port[,host:port…]`); \
         give the url where a url goes (the zkstate cli's --zk), or its servers and `path` apart"
    )]
    ServersAsUrl {
        /// Where the list came from.
        origin: String,
        /// The list as given.
        servers: String,
    },
    /// A server list has a chroot (`h1:2181/app`); the base path belongs in `path`.
    #[error(
        "servers in {origin} (`{servers}`) contain a path; put the base path in `path` instead"
    )]
    ServersWithPath {
        /// Where the list came from.
        origin: String,
        /// The list as given.
        servers: String,
    },
    /// A base path is invalid.
    #[error("bad path in {origin}: {source}")]
    Path {
        /// Where the path came from (`ZOOKEEPER_PATH`, `[zookeeper] path`, ...).
        origin: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
    },
    /// A credential is invalid. The message never includes the credential.
    #[error("bad credential in {origin}: {problem}")]
    Credential {
        /// Where the credential came from (`ZOOKEEPER_AUTH`, `[zookeeper] auth`, ...).
        origin: String,
        /// What is wrong with it.
        problem: CredentialProblem,
    },
    /// A timeout is zero or does not fit the protocol's 32-bit milliseconds.
    // The client sends timeouts as an `i32` of milliseconds (the settings' `MAX_TIMEOUT_MS`).
    #[error("bad {key} = {value}: expected 1 to {max} milliseconds", max = i32::MAX)]
    Timeout {
        /// The key, e.g. `[zookeeper] session_timeout_ms`.
        key: String,
        /// The value given.
        value: u64,
    },
    /// The TOML is not valid, or its `[zookeeper]` table does not fit
    /// `ZookeeperSection`.
    #[error("bad toml in {origin}: {message}")]
    Toml {
        /// The file, or `toml text` for a string.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A settings file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// An ACL policy name is unknown, or a policy that names the creator has no credential.
    #[error("bad acl policy in {origin}: {problem}")]
    Acl {
        /// Where the policy came from (`ZOOKEEPER_ACL`, `[zookeeper] acl`, ...).
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The TLS files of one source do not fit together (a certificate without its key, or a
    /// certificate without a CA), or a path is empty.
    #[error("bad tls settings in {origin}: {problem}")]
    Tls {
        /// The key or variable at fault (`[zookeeper] tls_cert`, `ZOOKEEPER_TLS_KEY`, ...).
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// An environment variable is set but is not valid Unicode.
    #[error("environment variable {name} is not valid unicode")]
    NotUnicode {
        /// The variable.
        name: String,
    },
}
