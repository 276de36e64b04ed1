//! Reading the payload and folding it into the local copy: shared by the sync task, `c_read` and
//! writes.

use serde::de::DeserializeOwned;
use zookeeper_client::Client;

use crate::error::Error;
use crate::state::changes::Origin;
use crate::state::store::{decode, Stamp, Store};

/// Reads the payload and applies it when it is newer. A payload that does not decode, or is
/// missing, becomes the store's fault and is returned as the error; the local copy keeps the last
/// good value.
pub(crate) async fn fetch_and_apply<T>(client: &Client, store: &Store<T>) -> Result<Stamp, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let path = &store.layout.payload;
    let read = client.get_data(path).await;
    apply_read(store, read)
}

/// Folds the result of a `get_data` on the payload into the store.
fn apply_read<T>(
    store: &Store<T>,
    read: Result<(Vec<u8>, zookeeper_client::Stat), zookeeper_client::Error>,
) -> Result<Stamp, Error>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let path = &store.layout.payload;
    match read {
        Ok((data, stat)) => {
            let stamp = Stamp::of(&stat);
            match decode::<T>(&data) {
                Ok((value, json)) => {
                    store.apply(value, json, stamp, Origin::Remote);
                    store.mark_verified();
                    Ok(stamp)
                }
                Err(message) => {
                    let fault = Error::Decode {
                        path: path.clone(),
                        version: stat.version,
                        message,
                    };
                    store.set_fault(fault.clone());
                    Err(fault)
                }
            }
        }
        Err(zookeeper_client::Error::NoNode) => {
            let fault = Error::Missing { path: path.clone() };
            store.set_fault(fault.clone());
            Err(fault)
        }
        Err(err) => Err(Error::zk("reading", path, err)),
    }
}
