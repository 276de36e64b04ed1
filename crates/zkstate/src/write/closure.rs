//! The closure of an update: run on a copy of the local value, its result merged into the stored
//! JSON so that fields `T` does not know are kept. No I/O.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, TryUpdateError};
use crate::store::{StateRef, VersionTree};

/// Runs the closure on a copy of the snapshot's value, and returns the new value with the JSON to
/// store: the stored JSON with what the closure changed ([`crate::diff::merge`]: fields that `T`
/// does not know are kept). A panic in the closure is an error, and nothing is written.
///
/// Also returns the stored JSON's tree with the version it is of (its mzxid): a copy that keeps a
/// small payload's text parses it here, and the write's diff reuses it rather than parsing again.
pub(crate) fn run_closure<T, E, F>(
    snapshot: &StateRef<T>,
    path: &str,
    f: &mut F,
) -> Result<(T, Value, VersionTree), TryUpdateError<E>>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(&mut T) -> Result<(), E>,
{
    let encode = |e: serde_json::Error| Error::Encode {
        path: path.to_string(),
        message: e.to_string(),
    };
    // A small payload's tree is not kept with the version (`json_tree`): an update that does not
    // write (an aborted closure, a stale version) must not leave it behind in an idle copy.
    let stored = snapshot.json_tree();
    // `T` as every copy decodes it: a value read from the copy and the closure's start agree.
    let mut value = snapshot
        .decode_again(&stored)
        .map_err(|reason| Error::Decode {
            path: path.to_string(),
            version: snapshot.version(),
            reason,
        })?;
    let before = serde_json::to_value(&value).map_err(encode)?;
    match catch_unwind(AssertUnwindSafe(|| f(&mut value))) {
        Err(_) => {
            return Err(Error::UpdatePanicked {
                path: path.to_string(),
            }
            .into())
        }
        Ok(Err(err)) => return Err(TryUpdateError::Aborted(err)),
        Ok(Ok(())) => {}
    }
    let after = serde_json::to_value(&value).map_err(encode)?;
    // Nothing unknown to keep: the closure's JSON is the payload (no copy of the tree).
    let json = if before == *stored {
        after
    } else {
        crate::diff::merge(&stored, &before, &after)
    };
    Ok((value, json, (snapshot.stamp().mzxid, stored)))
}

/// For a rollback: `exact` is the JSON to store, as it is (fields `T` does not know included),
/// and `T` is decoded from it. Also returns the stored JSON's tree, as [`run_closure`] does.
///
/// # Errors
/// [`Error::Decode`] when `exact` does not fit `T` (named at the snapshot's version: the write
/// is refused, nothing is sent).
pub(crate) fn run_exact<T, E>(
    snapshot: &StateRef<T>,
    path: &str,
    exact: &Value,
) -> Result<(T, Value, VersionTree), TryUpdateError<E>>
where
    T: DeserializeOwned,
{
    let value = T::deserialize(exact).map_err(|e| Error::Decode {
        path: path.to_string(),
        version: snapshot.version(),
        reason: crate::error::DecodeError::Json(e.to_string()),
    })?;
    let stored = snapshot.json_tree();
    Ok((value, exact.clone(), (snapshot.stamp().mzxid, stored)))
}
