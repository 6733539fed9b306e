//! Money rules (SPEC 10): at most six decimal places, positive amounts
//! where money moves, computed amounts rounded once, half to even.

use std::collections::BTreeMap;

use market_rpc::RpcError;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places money may have.
pub const SCALE: u32 = 6;

/// Round a computed amount to six places, half to even.
pub fn round(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointNearestEven)
}

/// A positive amount with at most six places, or `invalid_input` naming `field`.
pub fn positive(field: &str, amount: Decimal) -> Result<Decimal, RpcError> {
    let reason = if amount <= Decimal::ZERO {
        Some("must be positive")
    } else if amount >= Decimal::from(market_rpc::rules::DECIMAL_LIMIT) {
        Some("too large")
    } else if amount.normalize().scale() > SCALE {
        Some("at most 6 decimal places")
    } else {
        None
    };
    match reason {
        Some(r) => Err(RpcError::invalid_fields(BTreeMap::from([(
            field.to_string(),
            r.to_string(),
        )]))),
        None => Ok(amount.normalize()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_to_even_at_six_places() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(round(d("0.0000005")), d("0.000000"));
        assert_eq!(round(d("0.0000015")), d("0.000002"));
        assert_eq!(round(d("1.2345675")), d("1.234568"));
        assert!(positive("amount", d("0")).is_err());
        assert!(positive("amount", d("-1")).is_err());
        assert!(positive("amount", d("1.0000001")).is_err());
        assert_eq!(
            positive("amount", d("1.500000")).unwrap().to_string(),
            "1.5"
        );
    }
}
