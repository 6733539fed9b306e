//! Escrow on the ledger: buyers' money waits in the escrow account until
//! each seller delivers; sellers then get their share minus the platform
//! commission, or the buyer gets it back. Each function is one or two legs
//! in the caller's transaction.

use market_rpc::RpcError;
use market_store::{Id, WriteTx};
use rust_decimal::Decimal;

use crate::ledger::{self, Leg};
use crate::{AccountKind, LedgerEntryKind, TransferKind, money};

/// The commission on a seller's share: `round(share * pct / 100)`.
pub fn commission(share: Decimal, percent: Decimal) -> Decimal {
    money::round(share * percent / Decimal::ONE_HUNDRED)
}

/// Move `amount` from the buyer's wallet into escrow.
pub fn hold(
    tx: &mut WriteTx<'_>,
    buyer: Id,
    amount: Decimal,
    kind: TransferKind,
    entry: LedgerEntryKind,
    reference: &str,
) -> Result<(), RpcError> {
    let wallet = ledger::wallet_of(tx, buyer)?;
    let escrow = ledger::system_account(tx, AccountKind::Escrow)?;
    ledger::apply(
        tx,
        Leg {
            from: wallet.id,
            to: escrow.id,
            amount,
            kind,
            from_entry: entry,
            to_entry: entry,
            reference: reference.to_string(),
            entry_references: None,
            memo: None,
        },
    )?;
    Ok(())
}

/// Pay a seller's `share` out of escrow: `share - commission` to the seller,
/// the commission to platform revenue.
pub fn release(
    tx: &mut WriteTx<'_>,
    seller: Id,
    share: Decimal,
    percent: Decimal,
    reference: &str,
) -> Result<(), RpcError> {
    let cut = commission(share, percent);
    let escrow = ledger::system_account(tx, AccountKind::Escrow)?;
    let net = share - cut;
    if net > Decimal::ZERO {
        let wallet = ledger::wallet_of(tx, seller)?;
        ledger::apply(
            tx,
            Leg {
                from: escrow.id,
                to: wallet.id,
                amount: net,
                kind: TransferKind::Sale,
                from_entry: LedgerEntryKind::Sale,
                to_entry: LedgerEntryKind::Sale,
                reference: reference.to_string(),
                entry_references: None,
                memo: None,
            },
        )?;
    }
    if cut > Decimal::ZERO {
        let revenue = ledger::system_account(tx, AccountKind::Revenue)?;
        ledger::apply(
            tx,
            Leg {
                from: escrow.id,
                to: revenue.id,
                amount: cut,
                kind: TransferKind::Commission,
                from_entry: LedgerEntryKind::Commission,
                to_entry: LedgerEntryKind::Commission,
                reference: reference.to_string(),
                entry_references: None,
                memo: None,
            },
        )?;
    }
    Ok(())
}

/// Return `amount` from escrow to the buyer.
pub fn give_back(
    tx: &mut WriteTx<'_>,
    buyer: Id,
    amount: Decimal,
    reference: &str,
) -> Result<(), RpcError> {
    if amount <= Decimal::ZERO {
        return Ok(());
    }
    let escrow = ledger::system_account(tx, AccountKind::Escrow)?;
    let wallet = ledger::wallet_of(tx, buyer)?;
    ledger::apply(
        tx,
        Leg {
            from: escrow.id,
            to: wallet.id,
            amount,
            kind: TransferKind::Refund,
            from_entry: LedgerEntryKind::Refund,
            to_entry: LedgerEntryKind::Refund,
            reference: reference.to_string(),
            entry_references: None,
            memo: None,
        },
    )?;
    Ok(())
}

/// Take a completed sale back: the seller's net share from their wallet and
/// the commission from platform revenue, both to the buyer. Fails with
/// `insufficient_funds` when the seller's wallet cannot cover it.
pub fn reverse(
    tx: &mut WriteTx<'_>,
    buyer: Id,
    seller: Id,
    share: Decimal,
    percent: Decimal,
    reference: &str,
) -> Result<(), RpcError> {
    let cut = commission(share, percent);
    let net = share - cut;
    let buyer_wallet = ledger::wallet_of(tx, buyer)?;
    if net > Decimal::ZERO {
        let seller_wallet = ledger::wallet_of(tx, seller)?;
        ledger::apply(
            tx,
            Leg {
                from: seller_wallet.id,
                to: buyer_wallet.id,
                amount: net,
                kind: TransferKind::Refund,
                from_entry: LedgerEntryKind::Refund,
                to_entry: LedgerEntryKind::Refund,
                reference: reference.to_string(),
                entry_references: None,
                memo: None,
            },
        )?;
    }
    if cut > Decimal::ZERO {
        let revenue = ledger::system_account(tx, AccountKind::Revenue)?;
        ledger::apply(
            tx,
            Leg {
                from: revenue.id,
                to: buyer_wallet.id,
                amount: cut,
                kind: TransferKind::Refund,
                from_entry: LedgerEntryKind::Refund,
                to_entry: LedgerEntryKind::Refund,
                reference: reference.to_string(),
                entry_references: None,
                memo: None,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_rounds_half_to_even() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(commission(d("100"), d("10")), d("10"));
        assert_eq!(commission(d("0.000005"), d("10")), d("0"));
        assert_eq!(commission(d("0.000015"), d("10")), d("0.000002"));
        assert_eq!(commission(d("33.333333"), d("12.5")), d("4.166667"));
    }
}
