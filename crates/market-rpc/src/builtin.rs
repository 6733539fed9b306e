//! The schema language's builtin composite types.

use serde::{Deserialize, Serialize};

use crate::params::{FieldErrors, Validate, path, rules};
use crate::redact::Redact;

/// `olocation`: a point on Earth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

impl Validate for Location {
    fn validate_at(&self, at: &str, errs: &mut FieldErrors) {
        rules::range(
            errs,
            &path(at, "latitude"),
            self.latitude,
            Some(-90.0),
            Some(90.0),
        );
        rules::range(
            errs,
            &path(at, "longitude"),
            self.longitude,
            Some(-180.0),
            Some(180.0),
        );
    }
}

impl Redact for Location {}

/// `oaddress`: a postal address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

impl Validate for Address {
    fn validate_at(&self, _at: &str, _errs: &mut FieldErrors) {}
}

impl Redact for Address {}
