//! Connecting to ZooKeeper: URLs, settings and the connection container.

pub mod acl;
mod container;
mod probe;
pub mod settings;
mod state;
pub mod tls;
pub mod url;

pub use self::acl::AclPolicy;
pub use self::container::{Connection, ConnectionEvents};
pub(crate) use self::container::{CoreKey, SessionSlot};
pub use self::state::{ConnectionEvent, ConnectionState};
pub use self::tls::TlsSettings;
