//! Where a state lives in ZooKeeper. Other tools depend on this layout: change nothing here.

use crate::connection::AclPolicy;

/// The nodes of one state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `/<dir>`
    pub(crate) dir: String,
    /// `/<dir>/payload`: the value as plain JSON.
    pub(crate) payload: String,
    /// `/<dir>/listeners`: one ephemeral child per live instance.
    pub(crate) listeners: String,
    /// `/<dir>/lock`: Curator InterProcessMutex layout.
    pub(crate) lock: String,
    /// `/<dir>/writers`: one commit marker per writing instance, written in the same transaction
    /// as the payload, so that a write whose reply was lost can be resolved.
    pub(crate) writers: String,
    /// The ACL policy of every node this state creates.
    pub(crate) acl: AclPolicy,
}

impl Layout {
    pub(crate) fn new(dir: &str) -> Layout {
        let base = if dir == "/" { "" } else { dir };
        Layout {
            dir: dir.to_string(),
            payload: format!("{base}/payload"),
            listeners: format!("{base}/listeners"),
            lock: format!("{base}/lock"),
            writers: format!("{base}/writers"),
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

    pub(crate) fn listener(&self, id: &str) -> String {
        format!("{}/{id}", self.listeners)
    }

    pub(crate) fn writer(&self, id: &str) -> String {
        format!("{}/{id}", self.writers)
    }
}
