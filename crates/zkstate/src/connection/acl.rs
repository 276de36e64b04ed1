//! The access policy for every node zkstate creates.

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
/// digest credential in the [`Settings`](super::settings::Settings).
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
