//! Where a state lives in ZooKeeper: the one description of the layout, used by the library and
//! the `zkstate` CLI. Other tools (Curator, kazoo, zkCli.sh, your own) depend on it: it changes
//! only with a new major version.
//!
//! ```text
//! /<dir>                          the state directory
//! /<dir>/payload                  the value: plain UTF-8 JSON, or JSON in a zstd frame
//! /<dir>/listeners/<id>           ephemeral, one per live instance (a JSON Listener record)
//! /<dir>/lock/_c_<uuid>-lock-<n>  the write lock: Curator's InterProcessMutex layout
//! /<dir>/writers/<id>             persistent commit marker, one per instance that wrote
//! /<dir>/writers/<id>/alive       ephemeral: the marker's writer has a live session
//! /<dir>/history/<v>-<czxid>-<n>  persistent, one per kept version (a JSON history entry)
//! ```
//!
//! * **payload**: what the state holds. Plain JSON unless the writer turned compression on
//!   ([`Compression`](crate::Compression)); a zstd frame starts with the bytes `28 B5 2F FD`,
//!   which no JSON text starts with. Every write increments its version; a write by zkstate is
//!   made under the lock, other tools may write it directly (a versioned `setData` is then the
//!   polite way).
//! * **listeners**: one ephemeral node per live instance, named by the instance id, holding a
//!   [`Listener`](crate::Listener) record as JSON: `{"id", "hostname", "pid", "started_at_ms",
//!   "applied_version", "applied_mzxid", "reported_at_ms"}` (the last three since 0.2; readers
//!   accept records without them).
//! * **lock**: Curator's `InterProcessMutex` layout: an ephemeral-sequential node
//!   `_c_<uuid>-lock-<10-digit sequence>` per contender; the lowest sequence holds the lock; the
//!   others watch their predecessor. A Curator `InterProcessMutex` on `/<dir>/lock` excludes and
//!   is excluded by zkstate writers.
//! * **writers**: a commit marker per instance that ever wrote, set in the same transaction as the
//!   payload, to a token unique to that write (`{"writer":"<id>","session":"0x…","write":N}`),
//!   so that a write whose reply was lost can be resolved exactly once. Its ephemeral child
//!   `alive` says that the writer's session lives. A marker without `alive` that has not changed
//!   for the grace period ([`StateOptions::with_marker_grace`](crate::StateOptions::with_marker_grace))
//!   belongs to a writer that is gone, and live instances remove it.
//! * **history**: one persistent node per kept version of the payload, created (and the oldest
//!   removed) in the same transaction as the payload's write, so that a version is in the
//!   history if and only if it was committed. Named `<version>-<czxid>-<bytes>`: the payload
//!   version (10 digits), the payload's `czxid` as 16 hex digits (the incarnation: entries of a
//!   payload deleted and re-created are another history and are removed by the next write), and
//!   the entry's size in bytes, so that one listing gives a writer everything retention needs.
//!   The data is a JSON object (in a zstd frame above 1 KiB), format 1:
//!   `{"format":1, "version", "base", "undo", "undo_dropped", "outside", "time_ms", "author",
//!   "message", "rollback_of", "changes"}`. `undo` is an RFC 6902 JSON patch that turns this
//!   version's value into version `base`'s (null when none is known); the newest entry's value is
//!   the payload itself, so any kept version is the payload with the newer entries' `undo`
//!   patches applied, newest first. `author` is `{"id", "host", "pid", "program",
//!   "program_version", "tool", "identity"}` (null for a version written by another tool, which
//!   has `"outside": true` and its payload's `mtime` as `time_ms`); otherwise the time is the
//!   entry node's `ctime`, the commit's server time. `changes` is `{"added", "modified",
//!   "removed", "paths"}`. See [`crate::history`].

pub(crate) use self::acl::AclPolicy;

/// The payload node's name.
pub const PAYLOAD: &str = "payload";
/// The listeners directory's name.
pub const LISTENERS: &str = "listeners";
/// The lock directory's name.
pub const LOCK: &str = "lock";
/// The commit markers' directory name.
pub const WRITERS: &str = "writers";
/// The history directory's name.
pub const HISTORY: &str = "history";
/// The name of a marker's ephemeral child that says its writer's session lives.
pub const ALIVE: &str = "alive";
/// The lock name in Curator's node names (`_c_<uuid>-lock-<sequence>`).
pub const LOCK_NAME: &str = "lock-";

/// The children a state directory may have: a node with a `payload` child is a state, and these
/// children belong to its layout (they hold no states).
pub const CHILDREN: [&str; 5] = [PAYLOAD, LISTENERS, LOCK, WRITERS, HISTORY];

/// The sequence number of a Curator lock node name (`_c_<uuid>-lock-<sequence>`), if it is
/// one: the lowest holds the lock.
pub fn lock_sequence(name: &str) -> Option<u64> {
    let at = name.rfind(LOCK_NAME)?;
    name[at + LOCK_NAME.len()..].parse().ok()
}

/// Whether a node with these children is a state directory (it has a payload).
pub fn is_state<S: AsRef<str>>(children: &[S]) -> bool {
    children.iter().any(|c| c.as_ref() == PAYLOAD)
}

/// Whether a node with these children looks like a state directory, payload or not (what
/// `zkstate rm` accepts to remove).
pub fn looks_like_state<S: AsRef<str>>(children: &[S]) -> bool {
    children.iter().any(|c| CHILDREN.contains(&c.as_ref()))
}

/// `parent/child`, without doubling the root's slash.
pub fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The nodes of one state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `/<dir>`
    pub dir: String,
    /// `/<dir>/payload`
    pub payload: String,
    /// `/<dir>/listeners`
    pub listeners: String,
    /// `/<dir>/lock`
    pub lock: String,
    /// `/<dir>/writers`
    pub writers: String,
    /// `/<dir>/history`
    pub history: String,
    pub(crate) acl: AclPolicy,
}

impl Layout {
    /// The layout of the state directory `dir` (an absolute ZooKeeper path).
    pub fn new(dir: &str) -> Layout {
        Layout {
            dir: dir.to_string(),
            payload: child_path(dir, PAYLOAD),
            listeners: child_path(dir, LISTENERS),
            lock: child_path(dir, LOCK),
            writers: child_path(dir, WRITERS),
            history: child_path(dir, HISTORY),
            acl: AclPolicy::Open,
        }
    }

    pub(crate) fn with_acl(mut self, acl: AclPolicy) -> Layout {
        self.acl = acl;
        self
    }

    pub(crate) fn acls(&self) -> zookeeper_client::Acls<'static> {
        self.acl.acls()
    }

    /// The policy the nodes zkstate creates get.
    pub(crate) fn acl_policy(&self) -> AclPolicy {
        self.acl
    }

    /// `/<dir>/listeners/<id>`
    pub fn listener(&self, id: &str) -> String {
        format!("{}/{id}", self.listeners)
    }

    /// `/<dir>/writers/<id>`
    pub fn writer(&self, id: &str) -> String {
        format!("{}/{id}", self.writers)
    }

    /// `/<dir>/writers/<id>/alive`
    pub fn writer_alive(&self, id: &str) -> String {
        format!("{}/{id}/{ALIVE}", self.writers)
    }

    /// `/<dir>/history/<name>`
    pub fn history_entry(&self, name: &str) -> String {
        format!("{}/{name}", self.history)
    }

    /// The layout directories, parents first: `dir`, `listeners`, `lock`, `writers`.
    pub fn directories(&self) -> [&str; 4] {
        [&self.dir, &self.listeners, &self.lock, &self.writers]
    }
}

/// The access policy for every node of the layout: what [`Layout`] gives ZooKeeper when zkstate
/// creates a node (public as [`crate::AclPolicy`]).
pub(crate) mod acl {
    use std::fmt;
    use std::str::FromStr;

    use zookeeper_client::{Acl, Acls, Permission};

    /// `auth` is ZooKeeper's scheme for "every identity this session authenticated as".
    const CREATOR_ALL_WORLD_READ: &[Acl] = &[
        Acl::new_const(Permission::ALL, "auth", ""),
        Acl::new_const(Permission::READ, "world", "anyone"),
    ];

    /// Who may do what to the nodes zkstate creates (the state directory, payload, listener records,
    /// lock and commit markers). The policies other than `Open` name the creator, so they need a
    /// digest credential in the [`Settings`](crate::Settings).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum AclPolicy {
        /// Anyone may do anything: ZooKeeper's default (`world:anyone` with every permission).
        #[default]
        Open,
        /// The creator's identities may do anything; everyone else may read.
        CreatorAllWorldRead,
        /// Only the creator's identities may read or change anything.
        CreatorOnly,
    }

    impl AclPolicy {
        /// The ACL list given to ZooKeeper.
        pub fn acls(self) -> Acls<'static> {
            match self {
                AclPolicy::Open => Acls::anyone_all(),
                AclPolicy::CreatorAllWorldRead => Acls::new(CREATOR_ALL_WORLD_READ),
                AclPolicy::CreatorOnly => Acls::creator_all(),
            }
        }

        /// Whether the policy names the creator (and so needs a credential).
        pub fn needs_credentials(self) -> bool {
            self != AclPolicy::Open
        }

        /// Whether a node's ACL grants more than this policy would: to anyone (`world`) or an
        /// address range (`ip`) beyond what the policy gives everyone (nothing for
        /// `CreatorOnly`, reading for `CreatorAllWorldRead`). `Open` gives everything, so nothing
        /// exceeds it. Entries for other identities (`digest`, `sasl`) are not told apart from
        /// the creator's: a session cannot see whose they are.
        ///
        /// | policy | an entry | exceeds |
        /// |---|---|---|
        /// | `Open` | any | no |
        /// | `CreatorOnly` | `world` or `ip`, any permission | yes |
        /// | `CreatorAllWorldRead` | `world` or `ip`, more than read | yes |
        /// | any | `auth`, `digest`, `sasl`, `x509` | no |
        pub(crate) fn is_exceeded_by(self, acl: &[Acl]) -> bool {
            let everyone = match self {
                AclPolicy::Open => return false,
                AclPolicy::CreatorOnly => Permission::NONE,
                AclPolicy::CreatorAllWorldRead => Permission::READ,
            };
            acl.iter().any(|entry| {
                matches!(entry.scheme(), "world" | "ip")
                    && (entry.permission() | everyone) != everyone
            })
        }
    }

    impl fmt::Display for AclPolicy {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                AclPolicy::Open => "open",
                AclPolicy::CreatorAllWorldRead => "creator-all-world-read",
                AclPolicy::CreatorOnly => "creator-only",
            })
        }
    }

    /// An ACL policy name that is none of `open`, `creator-all-world-read`, `creator-only`.
    #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
    #[error("unknown acl policy `{0}`: expected open, creator-all-world-read or creator-only")]
    pub struct UnknownAclPolicy(pub String);

    impl FromStr for AclPolicy {
        type Err = UnknownAclPolicy;

        fn from_str(s: &str) -> Result<AclPolicy, UnknownAclPolicy> {
            match s.trim() {
                "open" => Ok(AclPolicy::Open),
                "creator-all-world-read" => Ok(AclPolicy::CreatorAllWorldRead),
                "creator-only" => Ok(AclPolicy::CreatorOnly),
                other => Err(UnknownAclPolicy(other.to_string())),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn open_is_exceeded_by_nothing() {
            let all = [Acl::new_const(Permission::ALL, "world", "anyone")];
            assert!(!AclPolicy::Open.is_exceeded_by(&all));
        }

        #[test]
        fn creator_only_is_exceeded_by_any_world_or_ip_entry() {
            for entry in [
                Acl::new_const(Permission::READ, "world", "anyone"),
                Acl::new_const(Permission::ALL, "ip", "10.0.0.0/8"),
            ] {
                let shown = format!("{entry:?}");
                assert!(AclPolicy::CreatorOnly.is_exceeded_by(&[entry]), "{shown}");
            }
        }

        #[test]
        fn creator_all_world_read_is_exceeded_by_world_writes_not_reads() {
            let read = Acl::new_const(Permission::READ, "world", "anyone");
            let write = Acl::new_const(Permission::WRITE, "world", "anyone");
            let ip_read = Acl::new_const(Permission::READ, "ip", "127.0.0.1");
            let policy = AclPolicy::CreatorAllWorldRead;
            assert!(!policy.is_exceeded_by(&[read.clone(), ip_read]));
            assert!(policy.is_exceeded_by(&[read, write]));
        }

        #[test]
        fn identities_never_exceed_a_policy() {
            let ids = [
                Acl::new_const(Permission::ALL, "auth", ""),
                Acl::new_const(Permission::ALL, "digest", "bob:hash"),
                Acl::new_const(Permission::ALL, "sasl", "bob"),
            ];
            for policy in [AclPolicy::CreatorOnly, AclPolicy::CreatorAllWorldRead] {
                assert!(!policy.is_exceeded_by(&ids), "{policy}");
            }
            assert!(!AclPolicy::CreatorOnly.is_exceeded_by(&CREATOR_ALL_WORLD_READ[..1]));
        }

        #[test]
        fn names_round_trip() {
            for policy in [
                AclPolicy::Open,
                AclPolicy::CreatorAllWorldRead,
                AclPolicy::CreatorOnly,
            ] {
                assert_eq!(policy.to_string().parse::<AclPolicy>(), Ok(policy));
            }
            assert!("public".parse::<AclPolicy>().is_err());
        }

        #[test]
        fn creator_all_world_read_grants_read_to_anyone() {
            let acls = AclPolicy::CreatorAllWorldRead.acls();
            assert!(acls
                .iter()
                .any(|acl| acl.scheme() == "world" && acl.permission() == Permission::READ));
            assert!(acls
                .iter()
                .any(|acl| acl.scheme() == "auth" && acl.permission() == Permission::ALL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_dir_and_under_the_root() {
        let layout = Layout::new("/apps/monitor");
        assert_eq!(layout.payload, "/apps/monitor/payload");
        assert_eq!(layout.listener("x"), "/apps/monitor/listeners/x");
        assert_eq!(layout.writer_alive("x"), "/apps/monitor/writers/x/alive");
        let root = Layout::new("/");
        assert_eq!(root.payload, "/payload");
        assert_eq!(root.lock, "/lock");
        assert_eq!(child_path("/", "a"), "/a");
    }

    #[test]
    fn a_state_is_a_node_with_a_payload() {
        assert!(is_state(&["payload", "lock"]));
        assert!(!is_state(&["listeners"]));
        assert!(looks_like_state(&["listeners"]));
        assert!(!looks_like_state(&["other"]));
    }
}
