//! The application error kinds and their wire codes, with no dependencies:
//! `market-core`'s build script includes this file (`#[path]`) to tell the
//! generator the codes, so that building it does not build this crate and
//! its storage stack a second time for the host.

/// The application error kinds of the contract (SPEC section 5) and their
/// wire codes. The schema language names the same kinds in `@error(kind)`;
/// the generator takes the codes from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidInput,
    Unauthenticated,
    InsufficientFunds,
    Forbidden,
    NotFound,
    Conflict,
    IdempotencyMismatch,
    InvalidState,
    RateLimited,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidInput,
        ErrorKind::Unauthenticated,
        ErrorKind::InsufficientFunds,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::IdempotencyMismatch,
        ErrorKind::InvalidState,
        ErrorKind::RateLimited,
    ];

    /// The snake_case name on the wire (`data.kind`) and in schemas.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::InsufficientFunds => "insufficient_funds",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::IdempotencyMismatch => "idempotency_mismatch",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::RateLimited => "rate_limited",
        }
    }

    /// The JSON-RPC error code.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::InvalidInput => 4000,
            ErrorKind::Unauthenticated => 4010,
            ErrorKind::InsufficientFunds => 4020,
            ErrorKind::Forbidden => 4030,
            ErrorKind::NotFound => 4040,
            ErrorKind::Conflict => 4090,
            ErrorKind::IdempotencyMismatch => 4091,
            ErrorKind::InvalidState => 4220,
            ErrorKind::RateLimited => 4290,
        }
    }

    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The wire code of the error kind named `name` (what the generator needs).
pub fn error_code(name: &str) -> Option<i32> {
    ErrorKind::from_name(name).map(ErrorKind::code)
}
