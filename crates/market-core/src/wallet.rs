//! `wallet.*` and `ledger.verify`: the caller's TFC wallet.

use market_rpc::{Ctx, RpcError};
use market_store::{Page, Reads};

use crate::ledger::{self, Leg};
use crate::{
    AccountKind, App, LedgerEntry, LedgerEntryKind, LedgerService, LedgerVerification,
    LedgerVerifyParams, Transfer, TransferKind, User, UserStatus, WalletGetParams,
    WalletGrantParams, WalletHistoryParams, WalletInfo, WalletService, WalletTopupParams,
    WalletTransferParams, me, money, page,
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

    fn history(&self, ctx: &Ctx, p: WalletHistoryParams) -> Result<Page<LedgerEntry>, RpcError> {
        let user_id = me(ctx)?;
        let page = page(p.limit, p.cursor)?;
        self.db.read(|tx| {
            let wallet = ledger::wallet_of(tx, user_id)?;
            Ok(tx.find("account_id", &wallet.id.to_string(), &page)?)
        })
    }

    fn transfer(&self, ctx: &Ctx, p: WalletTransferParams) -> Result<Transfer, RpcError> {
        let user_id = me(ctx)?;
        let amount = money::positive("amount", p.amount)?;
        ctx.write(&self.db, |tx| {
            let recipient = tx
                .find_unique::<User>("email", p.to_email.trim())?
                .filter(|u| u.status != UserStatus::Deleted)
                .ok_or_else(|| RpcError::not_found("no user with this email"))?;
            if recipient.id == user_id {
                return Err(RpcError::invalid_input("you cannot send TFC to yourself"));
            }
            let from = ledger::wallet_of(tx, user_id)?;
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
        })
    }

    fn grant(&self, ctx: &Ctx, p: WalletGrantParams) -> Result<Transfer, RpcError> {
        let admin = ctx.actor().actor_id;
        let amount = money::positive("amount", p.amount)?;
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
        let amount = money::positive("amount", p.amount)?;
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
