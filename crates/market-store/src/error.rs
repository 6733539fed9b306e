//! The storage layer's error type.

/// What can go wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object of this kind with this id.
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// The caller's `expected_version` is not the stored one.
    #[error("{kind} {id} is at version {actual}, not {expected}")]
    StaleVersion {
        kind: &'static str,
        id: String,
        expected: u64,
        actual: u64,
    },
    /// A unique value is already held by another object.
    #[error("{kind}.{field} '{value}' is already taken")]
    UniqueTaken {
        kind: &'static str,
        field: &'static str,
        value: String,
    },
    /// A write inside a batch failed, so the whole batch was rolled back.
    #[error("a change in the batch failed, so none of the batch was kept")]
    BatchFailed,
    /// A record with secret fields was read or written without a secret key.
    #[error(
        "this data has secret fields, and no secret key is configured (set MARKETPLACE_SECRET_KEY)"
    )]
    NoSecretKey,
    /// A list cursor that this store did not hand out.
    #[error("invalid cursor")]
    BadCursor,
    /// A lookup by a field that has no index.
    #[error("{kind}.{field} is not indexed")]
    NoIndex { kind: &'static str, field: String },
    /// The database file is held by another process.
    #[error(
        "the database {path} is in use by another process (a running server?); stop it or use --url to go through its RPC endpoint"
    )]
    Locked { path: String },
    /// A database URL this build cannot open.
    #[error(
        "unsupported database URL '{0}' (expected redb://PATH or postgres://USER:PASS@HOST:PORT/DB)"
    )]
    BadUrl(String),
    /// The database server cannot be reached or refused us.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// The database was written by a newer build.
    #[error("{0}")]
    NewerDatabase(String),
    /// The database holds tables, columns or indexes the schema no longer has.
    #[error(
        "the database has what this build's schema does not (a newer marketplace, or removed fields): {0}; run `marketplace migrate --allow-destructive` to drop them"
    )]
    NeedsDestructiveMigration(String),
    /// A stored value could not be decoded: the data or the schema changed under us.
    #[error("corrupt record in {table}: {reason}")]
    Corrupt { table: String, reason: String },
    /// The backend failed (I/O, storage engine).
    #[error("storage backend: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        }
    )*};
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
