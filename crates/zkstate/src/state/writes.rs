//! Writes that say something of themselves in the history (a message, a rollback), and the
//! history as the open state reads it.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{infallible, ZkState};
use crate::error::{Error, TryUpdateError};
use crate::history::HistoryItem;
use crate::write::{Base, Intent};

/// The writes of a [`ZkState`] with a message for their history entries: from
/// [`ZkState::with_message`]. Each method is the state's method of the same name, with the same
/// guarantees and errors.
#[must_use = "a Noted writes nothing until one of its methods is called"]
pub struct Noted<'a, T> {
    state: &'a ZkState<T>,
    intent: Intent,
}

impl<T> ZkState<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The writes of this state, with `message` in their history entries (cut to
    /// [`MAX_MESSAGE`](crate::MAX_MESSAGE) bytes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = zkstate_testing::ZkServer::start().await?;
    /// # let url = format!("zookeeper://{}/apps", server.connect_string());
    /// # let conn = zkstate::Connection::connect(&url, zkstate::Settings::default()).await?;
    /// let limit = zkstate::ZkState::new(&conn, "limit", 10u32).await?;
    /// limit.with_message("more room for the batch").update_latest(|n| *n = 20).await?;
    /// let newest = limit.history(1).await?;
    /// use zkstate::history::HistoryItem;
    /// assert!(matches!(&newest[0],
    ///     HistoryItem::Version(entry) if entry.message.as_deref() == Some("more room for the batch")));
    /// # Ok(()) }
    /// ```
    pub fn with_message(&self, message: impl Into<String>) -> Noted<'_, T> {
        self.noted(Some(message.into()))
    }

    /// [`with_message`](Self::with_message) for a message that may be absent (`None`: the
    /// writes say nothing, as the state's own methods).
    pub fn noted(&self, message: Option<String>) -> Noted<'_, T> {
        Noted {
            state: self,
            intent: Intent::default().with_message(message),
        }
    }

    /// The newest `limit` kept versions of this state, newest first (see [`crate::history`]).
    ///
    /// # Errors
    /// As [`crate::read_history`]; [`Error::Closed`] for a state without ZooKeeper
    /// ([`ZkState::empty`]).
    pub async fn history(&self, limit: usize) -> Result<Vec<HistoryItem>, Error> {
        let (conn, core) = self.connected_core()?;
        let timeout = self.inner.options.request_timeout;
        super::history::history_of(conn, &core.layout, timeout, limit).await
    }

    /// The value of kept version `version`, as the JSON it was (fields `T` does not know
    /// included).
    ///
    /// # Errors
    /// As [`crate::value_at`].
    pub async fn value_at(&self, version: i32) -> Result<Value, Error> {
        let (conn, core) = self.connected_core()?;
        let timeout = self.inner.options.request_timeout;
        super::history::value_of(conn, &core.layout, timeout, version).await
    }

    /// Writes the value of kept version `version` again, exactly (its JSON as it was, so
    /// fields that newer program versions added and `version` did not have are removed), as a
    /// new version, through the same locked, exactly-once write as
    /// [`update_latest`](Self::update_latest). Its history entry says `rollback_of: version`.
    /// Returns the new version.
    ///
    /// # Errors
    /// [`Error::NotKept`] when the history does not hold `version`; [`Error::Decode`] when its
    /// value does not fit `T`; as [`update_latest`](Self::update_latest) otherwise.
    pub async fn rollback_to(&self, version: i32) -> Result<i32, Error> {
        self.noted(None).rollback_to(version).await
    }

    fn connected_core(&self) -> Result<(&crate::Connection, &super::core::Core<T>), Error> {
        let core = &*self.inner.core;
        match &core.conn {
            Some(conn) => Ok((conn, core)),
            None => Err(Error::Closed {
                dir: core.layout.dir.clone(),
            }),
        }
    }
}

impl<T> Noted<'_, T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// [`ZkState::update`] with the message.
    ///
    /// # Errors
    /// As [`ZkState::update`].
    pub async fn update<F: FnMut(&mut T)>(self, mut f: F) -> Result<i32, Error> {
        let f = |value: &mut T| {
            f(value);
            Ok::<(), std::convert::Infallible>(())
        };
        infallible(self.state.write(&self.intent, Base::Local, f).await)
    }

    /// [`ZkState::try_update`] with the message.
    ///
    /// # Errors
    /// As [`ZkState::try_update`].
    pub async fn try_update<E, F>(self, f: F) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        self.state.write(&self.intent, Base::Local, f).await
    }

    /// [`ZkState::update_latest`] with the message.
    ///
    /// # Errors
    /// As [`ZkState::update_latest`].
    pub async fn update_latest<F: FnMut(&mut T)>(self, mut f: F) -> Result<i32, Error> {
        let f = |value: &mut T| {
            f(value);
            Ok::<(), std::convert::Infallible>(())
        };
        infallible(self.state.write(&self.intent, Base::Latest, f).await)
    }

    /// [`ZkState::try_update_latest`] with the message.
    ///
    /// # Errors
    /// As [`ZkState::try_update_latest`].
    pub async fn try_update_latest<E, F>(self, f: F) -> Result<i32, TryUpdateError<E>>
    where
        F: FnMut(&mut T) -> Result<(), E>,
    {
        self.state.write(&self.intent, Base::Latest, f).await
    }

    /// [`ZkState::replace_at`] with the message.
    ///
    /// # Errors
    /// As [`ZkState::replace_at`].
    pub async fn replace_at(self, version: i32, value: T) -> Result<i32, Error> {
        let mut value = Some(value);
        let f = |slot: &mut T| {
            if let Some(new) = value.take() {
                *slot = new;
            }
            Ok::<(), std::convert::Infallible>(())
        };
        infallible(
            self.state
                .write(&self.intent, exact(self.state, version)?, f)
                .await,
        )
    }

    /// [`ZkState::rollback_to`] with the message.
    ///
    /// # Errors
    /// As [`ZkState::rollback_to`].
    pub async fn rollback_to(self, version: i32) -> Result<i32, Error> {
        self.rollback(version, Base::Latest).await
    }

    /// [`ZkState::rollback_to`], only if ZooKeeper holds payload version `expected` (a
    /// compare-and-set, as [`ZkState::replace_at`]).
    ///
    /// # Errors
    /// As [`ZkState::rollback_to`]; [`Error::StaleWrite`] when ZooKeeper holds another version;
    /// [`Error::InvalidVersion`] for a negative `expected`.
    pub async fn rollback_to_at(self, version: i32, expected: i32) -> Result<i32, Error> {
        let base = exact(self.state, expected)?;
        self.rollback(version, base).await
    }

    async fn rollback(mut self, version: i32, base: Base) -> Result<i32, Error> {
        // A kept version's value never changes: reading it before the lock is as good as under
        // it.
        let value = self.state.value_at(version).await?;
        self.intent.rollback_of = Some(version);
        self.intent.exact = Some(value);
        let unchanged = |_: &mut T| Ok::<(), std::convert::Infallible>(());
        infallible(self.state.write(&self.intent, base, unchanged).await)
    }
}

/// `Base::Exact(version)`, refused for a negative version.
fn exact<T>(state: &ZkState<T>, version: i32) -> Result<Base, Error> {
    if version < 0 {
        return Err(Error::InvalidVersion {
            path: state.inner.core.layout.payload.clone(),
            version,
        });
    }
    Ok(Base::Exact(version))
}
