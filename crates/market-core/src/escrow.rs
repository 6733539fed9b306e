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

/// One leg between two accounts, both sides' entries of `kind`.
fn pay(
    tx: &mut WriteTx<'_>,
    from: Id,
    to: Id,
    amount: Decimal,
    (kind, entry): (TransferKind, LedgerEntryKind),
    reference: &str,
) -> Result<(), RpcError> {
    ledger::apply(
        tx,
        Leg {
            from,
            to,
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

const SALE: (TransferKind, LedgerEntryKind) = (TransferKind::Sale, LedgerEntryKind::Sale);
const COMMISSION: (TransferKind, LedgerEntryKind) =
    (TransferKind::Commission, LedgerEntryKind::Commission);
const REFUND: (TransferKind, LedgerEntryKind) = (TransferKind::Refund, LedgerEntryKind::Refund);

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
    pay(tx, wallet.id, escrow.id, amount, (kind, entry), reference)
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
    let escrow = ledger::system_account(tx, AccountKind::Escrow)?.id;
    if share - cut > Decimal::ZERO {
        let wallet = ledger::wallet_of(tx, seller)?.id;
        pay(tx, escrow, wallet, share - cut, SALE, reference)?;
    }
    if cut > Decimal::ZERO {
        let revenue = ledger::system_account(tx, AccountKind::Revenue)?.id;
        pay(tx, escrow, revenue, cut, COMMISSION, reference)?;
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
    let escrow = ledger::system_account(tx, AccountKind::Escrow)?.id;
    let wallet = ledger::wallet_of(tx, buyer)?.id;
    pay(tx, escrow, wallet, amount, REFUND, reference)
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
    let buyer_wallet = ledger::wallet_of(tx, buyer)?.id;
    if share - cut > Decimal::ZERO {
        let seller_wallet = ledger::wallet_of(tx, seller)?.id;
        pay(
            tx,
            seller_wallet,
            buyer_wallet,
            share - cut,
            REFUND,
            reference,
        )?;
    }
    if cut > Decimal::ZERO {
        let revenue = ledger::system_account(tx, AccountKind::Revenue)?.id;
        pay(tx, revenue, buyer_wallet, cut, REFUND, reference)?;
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
