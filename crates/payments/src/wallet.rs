//! The wallet connector: the one interface between the platform and the QR wallets (WeChat Pay,
//! Alipay, UnionPay QR), beside [`crate::network::CardNetwork`]. The sandbox wallets implement it
//! ([`crate::sandbox_wallet`]); a real wallet's adapter would, in its own module, with no change
//! elsewhere.
//!
//! The calls are the ones every wallet's merchant API has, in the wallet's own terms: pay with a
//! payment code (付款码支付, merchant scans customer), make an order the customer scans
//! (`precreate`: 统一下单/预创建, customer scans merchant), query an order, cancel (撤销/关单:
//! close an order still waiting for the user, or reverse one that was paid), refund (退款), check
//! a payment notification's signature, and the daily bill file (对账单). An order is named by our
//! id for it (`out_trade_no`), so every call can be repeated safely: the wallet answers the same
//! order again.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::network::{Funding, NetworkError};
use crate::qr::{Decline, Scheme};

/// A payment asked of a wallet with the code the cashier scanned.
pub struct CodePayment {
    /// The wallet the code belongs to (from its shape).
    pub scheme: Scheme,
    /// The payment code (digits). Its `Debug` shows only the scheme's prefix and the last four.
    pub code: String,
    /// Our id for the order (`out_trade_no`): the transaction's id.
    pub order_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
}

impl std::fmt::Debug for CodePayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodePayment")
            .field("scheme", &self.scheme)
            .field("code", &mask_code(&self.code))
            .field("order_id", &self.order_id)
            .field("amount_minor", &self.amount_minor)
            .finish_non_exhaustive()
    }
}

/// A payment code as logs and receipts may show it: its first two and last four digits.
pub fn mask_code(code: &str) -> String {
    if code.len() <= 6 {
        return "*".repeat(code.len());
    }
    format!("{}{}{}", &code[..2], "*".repeat(code.len() - 6), &code[code.len() - 4..])
}

/// An order the customer pays by scanning a code (C扫B): the wallet makes the code.
#[derive(Debug, Clone)]
pub struct OrderRequest {
    /// The wallet.
    pub scheme: Scheme,
    /// Our id for the order (`out_trade_no`): the transaction's id.
    pub order_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Until when it can be paid (ns, the engine's clock; the wallet's `time_expire`).
    pub expires_at: u64,
    /// Static codes: the payer who entered the amount (only they may pay it; JSAPI's `openid`).
    pub payer: Option<String>,
}

/// A wallet's payment notification whose signature held: which order it is about. What it says of
/// the order is not trusted beyond that: the host asks the wallet ([`WalletNetwork::query`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The notification's own id (a wallet repeats it when it sends again).
    pub id: String,
    /// Our id of the order.
    pub order_id: String,
}

/// A paid order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paid {
    /// The wallet's id of the payment (its `transaction_id` / `trade_no`).
    pub wallet_txn_id: String,
    /// Who paid, as the wallet lets a merchant see them (masked).
    pub payer: String,
    /// Where the money comes from in our ledger.
    pub funding: Funding,
}

/// Where an order stands at the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderState {
    /// Paid.
    Paid(Paid),
    /// The user is confirming (entering a password in the app): ask again (USERPAYING).
    UserPaying,
    /// A customer-scans order nobody has paid yet (NOTPAY / WAIT_BUYER_PAY).
    NotPaid,
    /// Not paid, and never will be.
    Failed(Decline),
}

/// What a wallet call resolves to: an answer, or no answer in time.
pub type Answering<'a, T> = Pin<Box<dyn Future<Output = Result<T, NetworkError>> + Send + 'a>>;

/// A wallet's daily bill file (对账单), once the wallet has made it.
pub type BillFetching<'a> =
    Pin<Box<dyn Future<Output = xingtong_merchants::Result<Option<crate::recon::ClearingFile>>> + Send + 'a>>;

/// The QR wallets.
pub trait WalletNetwork: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// Pays an order with a payment code.
    fn pay<'a>(&'a self, payment: &'a CodePayment) -> Answering<'a, OrderState>;
    /// Makes an order the customer pays by scanning its code; answers the code's URL (what the QR
    /// code holds). Asking again for the same order answers the same URL.
    fn precreate<'a>(&'a self, order: &'a OrderRequest) -> Answering<'a, String>;
    /// Checks a payment notification the wallet sent (its body, and the signature that came with
    /// it): the order it names when the signature is the wallet's, `None` otherwise.
    fn verify_notification(&self, scheme: Scheme, body: &[u8], signature: &str) -> Option<Notice>;
    /// Where an order stands.
    fn query<'a>(&'a self, scheme: Scheme, order_id: &'a str) -> Answering<'a, OrderState>;
    /// Cancels an order (撤销): closed if the user has not paid, reversed (money back) if they
    /// have. Repeating it is harmless.
    fn cancel<'a>(&'a self, scheme: Scheme, order_id: &'a str) -> Answering<'a, ()>;
    /// Refunds `amount_minor` of a paid order; `refund_id` makes a repeat harmless.
    fn refund<'a>(
        &'a self,
        scheme: Scheme,
        order_id: &'a str,
        refund_id: &'a str,
        amount_minor: i64,
    ) -> Answering<'a, Result<(), Decline>>;
    /// The wallet's bill file of a business day (`YYYYMMDD`), once made; none before.
    fn bill_file<'a>(&'a self, scheme: Scheme, day: &'a str) -> BillFetching<'a> {
        let _ = (scheme, day);
        Box::pin(async { Ok(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_code_never_prints_whole() {
        let payment = CodePayment {
            scheme: Scheme::Wechat,
            code: "134567890123456789".into(),
            order_id: "o".into(),
            amount_minor: 1,
            mid: "m".into(),
            tid: "t".into(),
        };
        let shown = format!("{payment:?}");
        assert!(shown.contains("13************6789") && !shown.contains("4567890123"), "{shown}");
        assert_eq!(mask_code("12345"), "*****");
    }
}
