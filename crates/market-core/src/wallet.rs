//! `wallet.*` and `ledger.verify`: the caller's TFC wallet.

use market_rpc::{Ctx, RpcError};
use market_store::{Page, Reads, Stored};

use crate::listing::{self, Source};

use crate::auth::Standing;
use crate::ledger::{self, Leg};
use crate::{
    Account, AccountKind, App, LedgerEntry, LedgerEntryKind, LedgerService, LedgerVerification,
    LedgerVerifyParams, Transfer, TransferKind, User, UserStatus, WalletGetParams,
    WalletGrantParams, WalletHistoryParams, WalletInfo, WalletService, WalletTopupParams,
    WalletTransferParams, me, money,
};

impl WalletService for App {
    fn get(&self, ctx: &Ctx, _p: WalletGetParams) -> Result<WalletInfo, RpcError> {
        let user_id = me(ctx)?;
        self.db.read(|tx| {
            let wallet = ledger::wallet_of(tx, user_id)?;
            let rate = self.system_config(tx)?.currency.usd_rate;
            Ok(WalletInfo {
                balance: wallet.balance,
                currency: wallet.currency,
                usd_value: money::round(wallet.balance * rate).normalize(),
            })
        })
    }

    fn history(
        &self,
        ctx: &Ctx,
        p: WalletHistoryParams,
    ) -> Result<Page<Stored<LedgerEntry>>, RpcError> {
        let user_id = me(ctx)?;
        let page = p.page()?;
        self.db.read(|tx| {
            let wallet = ledger::wallet_of(tx, user_id)?.id.to_string();
            listing::stored(
                tx,
                Source::Index(LedgerEntry::BY_ACCOUNT_ID, &wallet),
                &page,
            )
        })
    }

    fn transfer(&self, ctx: &Ctx, p: WalletTransferParams) -> Result<Transfer, RpcError> {
        let user_id = me(ctx)?;
        let amount = p.amount.normalize();
        let budget = user_id.to_string();
        self.lookups.check(&budget, self.db.now())?;
        let email = crate::normalize_email(&p.to_email);
        let mut missed = false;
        let result = ctx.write(&self.db, |tx| {
            // the sender's wallet comes back with the recipient
            Account::prefetch_by_owner_id(tx, user_id)?;
            // (the email lookup ignores case, as the sender's own does)
            let recipient = tx
                .find_unique_part_in::<User, Standing>(User::BY_EMAIL, &email)?
                .filter(|u| u.status != UserStatus::Deleted);
            if recipient.as_ref().is_some_and(|r| r.id == user_id) {
                return Err(RpcError::invalid_input("you cannot send TFC to yourself"));
            }
            // Funds before telling an unknown recipient: without them, a
            // known and an unknown email answer alike.
            let from = ledger::wallet_of(tx, user_id)?;
            ledger::ensure_funds(&from, amount)?;
            missed = recipient.is_none();
            let recipient =
                recipient.ok_or_else(|| RpcError::not_found("no user with this email"))?;
            let to = ledger::wallet_of(tx, recipient.id)?;
            ledger::apply(
                tx,
                Leg {
                    from: from.id,
                    to: to.id,
                    amount,
                    kind: TransferKind::Transfer,
                    from_entry: LedgerEntryKind::TransferOut,
                    to_entry: LedgerEntryKind::TransferIn,
                    reference: format!("user:{}", recipient.id),
                    entry_references: Some((
                        format!("user:{}", recipient.id),
                        format!("user:{user_id}"),
                    )),
                    memo: p.memo.clone(),
                },
            )
        });
        if missed {
            self.lookups.record(&budget, self.db.now());
        }
        result
    }

    fn grant(&self, ctx: &Ctx, p: WalletGrantParams) -> Result<Transfer, RpcError> {
        let admin = ctx.actor().actor_id;
        let amount = p.amount.normalize();
        ctx.write(&self.db, |tx| {
            tx.get::<User>(p.user_id)?
                .filter(|u| u.status != UserStatus::Deleted)
                .ok_or_else(|| RpcError::not_found("user not found"))?;
            let issuance = ledger::system_account(tx, AccountKind::Issuance)?;
            let wallet = ledger::wallet_of(tx, p.user_id)?;
            ledger::apply(
                tx,
                Leg {
                    from: issuance.id,
                    to: wallet.id,
                    amount,
                    kind: TransferKind::Grant,
                    from_entry: LedgerEntryKind::Grant,
                    to_entry: LedgerEntryKind::Grant,
                    reference: format!("user:{admin}"),
                    entry_references: None,
                    memo: Some(p.reason.trim().to_string()),
                },
            )
        })
    }

    fn topup(&self, ctx: &Ctx, p: WalletTopupParams) -> Result<Transfer, RpcError> {
        let user_id = me(ctx)?;
        if !self.config.test_payments {
            return Err(RpcError::forbidden(
                "top-ups need test payments to be on (MARKETPLACE_TEST_PAYMENTS=1)",
            ));
        }
        let amount = p.amount.normalize();
        ctx.write(&self.db, |tx| {
            let issuance = ledger::system_account(tx, AccountKind::Issuance)?;
            let wallet = ledger::wallet_of(tx, user_id)?;
            ledger::apply(
                tx,
                Leg {
                    from: issuance.id,
                    to: wallet.id,
                    amount,
                    kind: TransferKind::Topup,
                    from_entry: LedgerEntryKind::Topup,
                    to_entry: LedgerEntryKind::Topup,
                    reference: format!("user:{user_id}"),
                    entry_references: None,
                    memo: None,
                },
            )
        })
    }
}

impl LedgerService for App {
    fn verify(&self, _ctx: &Ctx, _p: LedgerVerifyParams) -> Result<LedgerVerification, RpcError> {
        ledger::verify(&self.db)
    }
}
