//! Records answered as they are stored: a listing reads the few fields it
//! filters on and passes each record's JSON through to the answer, instead
//! of decoding the whole object and encoding it again.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::crypto::SecretCipher;
use crate::error::{Result, StoreError};
use crate::record::Record;
use crate::tx::{Page, decode_record};
use crate::types::Id;

/// A root object whose stored JSON is its answer: it has no sealed or
/// hidden field. The generator implements it for every such type.
pub trait Verbatim: Record {
    /// The id and indexed fields of a stored record, typed, with every
    /// other field of the type named (and skipped): a record passes as
    /// this shape only if its keys are the type's own, so one written
    /// before a field was added, renamed or removed goes through the type.
    type Shape: DeserializeOwned;

    fn shape_id(shape: &Self::Shape) -> Id;
}

/// A record's JSON as the answer carries it.
pub struct Stored<T> {
    raw: Box<RawValue>,
    of: PhantomData<fn() -> T>,
}

impl<T> Stored<T> {
    /// The JSON text.
    pub fn json(&self) -> &str {
        self.raw.get()
    }
}

impl<T: Verbatim> Stored<T> {
    /// The JSON of a typed object.
    pub fn of(obj: &T) -> Result<Stored<T>> {
        serde_json::value::to_raw_value(obj)
            .map(|raw| Stored {
                raw,
                of: PhantomData,
            })
            .map_err(|e| StoreError::Corrupt {
                table: T::KIND.to_string(),
                reason: e.to_string(),
            })
    }

    /// A page of typed objects as JSON.
    pub fn page(page: Page<T>) -> Result<Page<Stored<T>>> {
        let items = page.items.iter().map(Stored::of).collect::<Result<_>>()?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}

impl<T> Clone for Stored<T> {
    fn clone(&self) -> Self {
        Stored {
            raw: self.raw.clone(),
            of: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Stored").field(&self.raw.get()).finish()
    }
}

impl<T> Serialize for Stored<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

/// A stored record read for a listing: its shape to filter on, and its JSON.
pub struct Shaped<T: Verbatim> {
    pub shape: T::Shape,
    pub stored: Stored<T>,
}

impl<T: Verbatim> Shaped<T> {
    pub fn id(&self) -> Id {
        T::shape_id(&self.shape)
    }
}

/// Read a stored record as its shape and JSON. The text passes as it is
/// stored when the backend keeps it as written (`keeps_text`) and the shape
/// fits it. A record of an earlier layout of the type, one holding a `null`
/// (which the type may leave out), and every record of a backend that
/// rewrites the text go through the type: decoded, then encoded as the
/// type writes it today.
pub(crate) fn decode_shaped<T: Verbatim>(
    cipher: Option<&SecretCipher>,
    keeps_text: bool,
    bytes: &[u8],
) -> Result<Shaped<T>> {
    if let Some(shaped) = keeps_text
        .then(|| std::str::from_utf8(bytes).ok())
        .flatten()
        .filter(|text| !text.contains(":null"))
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
        .and_then(|raw| {
            let shape = serde_json::from_str(raw.get()).ok()?;
            Some(Shaped {
                shape,
                stored: Stored {
                    raw: raw.to_owned(),
                    of: PhantomData,
                },
            })
        })
    {
        return Ok(shaped);
    }
    let obj: T = decode_record(cipher, T::KIND, bytes)?;
    let stored = Stored::of(&obj)?;
    let shape = serde_json::from_str(stored.json()).map_err(|e| StoreError::Corrupt {
        table: T::KIND.to_string(),
        reason: format!("the type's own JSON does not fit its shape: {e}"),
    })?;
    Ok(Shaped { shape, stored })
}
