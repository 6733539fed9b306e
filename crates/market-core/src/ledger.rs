//! The TFC ledger: accounts, immutable double-entry transfers and the
//! integrity check.
//!
//! Every movement of money is a [`Leg`] applied inside the caller's write
//! transaction: it debits one account and credits another by the same
//! positive amount, records the transfer and one entry per account, and
//! refuses to take a wallet below zero. Several legs in one transaction
//! commit together or not at all (escrow: buyer → escrow, then escrow →
//! seller and escrow → revenue).

use std::collections::BTreeMap;

use market_rpc::{ErrorKind, RpcError};
use market_store::{Actor, Db, Id, PageRequest, Reads, Record, WriteTx};
use rust_decimal::Decimal;
use serde_json::json;

use crate::money;
use crate::{
    Account, AccountKind, LedgerEntry, LedgerEntryKind, LedgerVerification, Transfer, TransferKind,
};

/// The currency of every account.
pub const CURRENCY: &str = "TFC";

/// One movement of money.
#[derive(Debug, Clone)]
pub struct Leg {
    pub from: Id,
    pub to: Id,
    pub amount: Decimal,
    pub kind: TransferKind,
    /// The entry kinds of the debited and the credited account.
    pub from_entry: LedgerEntryKind,
    pub to_entry: LedgerEntryKind,
    /// What the money is about, as `type:id`.
    pub reference: String,
    /// What each side's history shows as the reference, when it differs from
    /// `reference` (a peer transfer shows each side the other user).
    pub entry_references: Option<(String, String)>,
    pub memo: Option<String>,
}

/// The platform's account of a system `kind`.
pub fn system_account<R: Reads>(tx: &R, kind: AccountKind) -> Result<Account, RpcError> {
    let page = PageRequest {
        limit: 1,
        cursor: None,
    };
    Account::find_by_kind(tx, kind, &page)?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| {
            tracing::error!(kind = %kind, "system account missing");
            RpcError::internal()
        })
}

/// Create the issuance, escrow and revenue accounts if they are missing.
pub fn ensure_system_accounts(db: &Db) -> Result<(), RpcError> {
    db.write(&Actor::system("ledger.init"), |tx| {
        for kind in [
            AccountKind::Issuance,
            AccountKind::Escrow,
            AccountKind::Revenue,
        ] {
            let page = PageRequest {
                limit: 1,
                cursor: None,
            };
            if Account::find_by_kind(tx, kind, &page)?.items.is_empty() {
                tx.insert(&mut Account {
                    kind,
                    currency: CURRENCY.into(),
                    ..Default::default()
                })?;
            }
        }
        Ok::<_, RpcError>(())
    })
}

/// Open the wallet of a new user (in the transaction creating the user).
pub fn open_wallet(tx: &mut WriteTx<'_>, user_id: Id) -> Result<Account, RpcError> {
    let mut wallet = Account {
        kind: AccountKind::User,
        owner_id: Some(user_id),
        currency: CURRENCY.into(),
        ..Default::default()
    };
    tx.insert(&mut wallet)?;
    Ok(wallet)
}

/// A user's wallet.
pub fn wallet_of<R: Reads>(tx: &R, user_id: Id) -> Result<Account, RpcError> {
    Account::by_owner_id(tx, user_id)?.ok_or_else(|| RpcError::not_found("wallet not found"))
}

/// `insufficient_funds` unless `from` can pay `amount` (the issuance
/// account always can).
pub fn ensure_funds(from: &Account, amount: Decimal) -> Result<(), RpcError> {
    if from.kind != AccountKind::Issuance && from.balance < amount {
        return Err(
            RpcError::app(ErrorKind::InsufficientFunds, "not enough TFC in the wallet")
                .with_data("needed", json!(amount.to_string()))
                .with_data("available", json!(from.balance.to_string())),
        );
    }
    Ok(())
}

/// Apply one leg: both balances, the transfer and its two entries.
pub fn apply(tx: &mut WriteTx<'_>, leg: Leg) -> Result<Transfer, RpcError> {
    let amount = money::positive("amount", leg.amount)?;
    if leg.from == leg.to {
        return Err(RpcError::invalid_input(
            "a transfer needs two different accounts",
        ));
    }
    let mut from: Account = tx.load(leg.from)?;
    let mut to: Account = tx.load(leg.to)?;
    ensure_funds(&from, amount)?;
    let overflow = || RpcError::invalid_input("the amount is too large for the ledger");
    from.balance = from
        .balance
        .checked_sub(amount)
        .ok_or_else(overflow)?
        .normalize();
    to.balance = to
        .balance
        .checked_add(amount)
        .ok_or_else(overflow)?
        .normalize();
    tx.update(&mut from, None)?;
    tx.update(&mut to, None)?;
    let mut transfer = Transfer {
        debit_account_id: from.id,
        credit_account_id: to.id,
        amount,
        kind: leg.kind,
        reference: leg.reference,
        memo: leg.memo,
        request_id: Some(tx.actor().request_id.clone()).filter(|r| !r.is_empty()),
        ..Default::default()
    };
    tx.insert(&mut transfer)?;
    let (from_ref, to_ref) = leg
        .entry_references
        .unwrap_or_else(|| (transfer.reference.clone(), transfer.reference.clone()));
    for (account, signed, kind, reference) in [
        (&from, -amount, leg.from_entry, from_ref),
        (&to, amount, leg.to_entry, to_ref),
    ] {
        let mut entry = LedgerEntry {
            account_id: account.id,
            transfer_id: transfer.id,
            amount: signed,
            kind,
            reference,
            balance_after: account.balance,
            memo: transfer.memo.clone(),
            ..Default::default()
        };
        tx.insert(&mut entry)?;
        if let Some(owner) = account.owner_id {
            let event = if signed.is_sign_negative() {
                "wallet.debited"
            } else {
                "wallet.credited"
            };
            crate::events::emit(
                tx,
                event,
                "ledger_entry",
                entry.id,
                vec![owner],
                json!({
                    "amount": signed.to_string(),
                    "kind": entry.kind.as_str(),
                    "reference": entry.reference,
                    "balance_after": entry.balance_after.to_string(),
                    "transfer_id": transfer.id.to_string(),
                }),
            )?;
        }
    }
    Ok(transfer)
}

/// Every record of a type, read in pages inside one snapshot.
fn all<T: Record, R: Reads>(tx: &R) -> Result<Vec<T>, RpcError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = tx.list::<T>(&PageRequest {
            limit: 1000,
            cursor,
        })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Check the whole ledger on one snapshot.
pub fn verify(db: &Db) -> Result<LedgerVerification, RpcError> {
    db.read(|tx| {
        let accounts: Vec<Account> = all(tx)?;
        let transfers: Vec<Transfer> = all(tx)?;
        let entries: Vec<LedgerEntry> = all(tx)?;
        let mut problems = Vec::new();
        let mut sums: BTreeMap<Id, Decimal> = BTreeMap::new();
        let mut per_transfer: BTreeMap<Id, Vec<&LedgerEntry>> = BTreeMap::new();
        for e in &entries {
            *sums.entry(e.account_id).or_default() += e.amount;
            per_transfer.entry(e.transfer_id).or_default().push(e);
        }
        for t in &transfers {
            if t.amount <= Decimal::ZERO {
                problems.push(format!(
                    "transfer {} moves a non-positive amount {}",
                    t.id, t.amount
                ));
            }
            if t.debit_account_id == t.credit_account_id {
                problems.push(format!(
                    "transfer {} debits and credits the same account",
                    t.id
                ));
            }
            let legs = per_transfer.remove(&t.id).unwrap_or_default();
            let debit = legs
                .iter()
                .any(|e| e.account_id == t.debit_account_id && e.amount == -t.amount);
            let credit = legs
                .iter()
                .any(|e| e.account_id == t.credit_account_id && e.amount == t.amount);
            if legs.len() != 2 || !debit || !credit {
                problems.push(format!(
                    "transfer {} is not recorded as one debit and one equal credit",
                    t.id
                ));
            }
        }
        for id in per_transfer.keys() {
            problems.push(format!("entries refer to a missing transfer {id}"));
        }
        let mut total = Decimal::ZERO;
        let mut all_balances = Decimal::ZERO;
        for a in &accounts {
            let sum = sums.remove(&a.id).unwrap_or_default();
            if sum != a.balance {
                problems.push(format!(
                    "account {} holds {} but its entries sum to {}",
                    a.id, a.balance, sum
                ));
            }
            if a.kind != AccountKind::Issuance && a.balance < Decimal::ZERO {
                problems.push(format!(
                    "account {} ({}) is negative: {}",
                    a.id, a.kind, a.balance
                ));
            }
            if a.kind == AccountKind::User {
                total += a.balance;
            }
            all_balances += a.balance;
        }
        for id in sums.keys() {
            problems.push(format!("entries refer to a missing account {id}"));
        }
        if all_balances != Decimal::ZERO {
            problems.push(format!(
                "the balances of all accounts sum to {all_balances}, not 0"
            ));
        }
        Ok(LedgerVerification {
            ok: problems.is_empty(),
            accounts: accounts.len() as u64,
            transfers: transfers.len() as u64,
            total,
            problems,
        })
    })
}
