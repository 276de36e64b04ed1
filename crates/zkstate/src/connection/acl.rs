//! The access policy for every node zkstate creates. It is defined with the layout of those nodes
//! ([`Layout`](crate::layout::Layout) carries it), and re-exported here.

pub use crate::layout::acl::{AclPolicy, UnknownAclPolicy};
