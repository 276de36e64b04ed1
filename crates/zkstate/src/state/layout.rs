//! Where a state lives in ZooKeeper. Other tools depend on this layout: change nothing here.

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
        }
    }

    pub(crate) fn listener(&self, id: &str) -> String {
        format!("{}/{id}", self.listeners)
    }

    pub(crate) fn writer(&self, id: &str) -> String {
        format!("{}/{id}", self.writers)
    }
}
