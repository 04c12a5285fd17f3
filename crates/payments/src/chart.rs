//! The chart of accounts of card payments, and the platform's own ledger accounts.
//!
//! | code | account | side |
//! |---|---|---|
//! | 101 | merchant settlement payable (per merchant; made at approval) | liability |
//! | 102 | merchant deposits held (per merchant) | liability |
//! | 201 | card network clearing: what the networks owe us for approved card payments | asset |
//! | 202 | settlement bank: the platform's account payouts leave from | asset |
//! | 203 | payouts in transit: cleared for merchants, not yet paid to their bank cards | liability |
//! | 301 | fee revenue (MDR) | revenue |
//! | 302 | deposits kept: device deposits whose refund deadline passed below the volume | revenue |
//! | 901 | sandbox issuer funding (the simulated issuer's own money) | sandbox |
//! | 902 | sandbox cardholder (one per test card; cannot go below zero) | sandbox |
//!
//! A sale moves the cardholder's money to clearing (sandbox only: a real network pays clearing
//! later, in its settlement), then clearing to the merchant (net of the fee) and to fee revenue.
//! Clearing (清算) moves each merchant-day's net from the merchant's payable (101) to payouts in
//! transit (203), and a D0 surcharge from the payable to fee revenue. A device deposit goes from
//! the card, through clearing, to the merchant's deposit account (102), never to the payable; its
//! refund leaves 102 for in transit, or, past the deadline, it moves to deposits kept (302).

use xingtong_ledger::{Account, AccountFlags};

pub use xingtong_merchants::merchant::{
    ACCOUNT_MERCHANT_DEPOSIT, ACCOUNT_MERCHANT_SETTLEMENT, LEDGER_CNY, merchant_account_id,
};

/// Card network clearing.
pub const ACCOUNT_CARD_CLEARING: u16 = 201;
/// The settlement bank account payouts leave from.
pub const ACCOUNT_SETTLEMENT_BANK: u16 = 202;
/// Payouts in transit.
pub const ACCOUNT_PAYOUTS_IN_TRANSIT: u16 = 203;
/// Fee revenue.
pub const ACCOUNT_FEE_REVENUE: u16 = 301;
/// Deposits kept against the device (the refund deadline passed below the volume).
pub const ACCOUNT_DEPOSITS_KEPT: u16 = 302;
/// Sandbox issuer funding.
pub const ACCOUNT_SANDBOX_FUNDING: u16 = 901;
/// Sandbox cardholder.
pub const ACCOUNT_SANDBOX_CARDHOLDER: u16 = 902;

/// Platform account ids carry this tag in their top 16 bits, far above any merchant's (MID << 16).
const PLATFORM_TAG: u128 = 0x5854 << 112;

/// The id of a platform account of `code`.
pub const fn platform_account_id(code: u16) -> u128 {
    PLATFORM_TAG | code as u128
}

/// The platform accounts, to create at start (existing ones are left alone).
pub fn platform_accounts() -> Vec<Account> {
    [
        ACCOUNT_CARD_CLEARING,
        ACCOUNT_SETTLEMENT_BANK,
        ACCOUNT_PAYOUTS_IN_TRANSIT,
        ACCOUNT_FEE_REVENUE,
        ACCOUNT_DEPOSITS_KEPT,
        ACCOUNT_SANDBOX_FUNDING,
    ]
    .into_iter()
    .map(|code| Account { id: platform_account_id(code), ledger: LEDGER_CNY, code, ..Account::default() })
    .collect()
}

/// A sandbox cardholder's account: its balance (or credit line) can never go below zero.
pub fn cardholder_account(id: u128) -> Account {
    Account {
        id,
        ledger: LEDGER_CNY,
        code: ACCOUNT_SANDBOX_CARDHOLDER,
        flags: AccountFlags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ..Account::default()
    }
}

/// Transfer codes: what a movement is for.
pub mod code {
    /// Cardholder to clearing: a sale, completion or pre-authorization hold.
    pub const CARDHOLDER_PAYS: u16 = 1;
    /// Clearing to the merchant, net of the fee.
    pub const MERCHANT_CREDIT: u16 = 2;
    /// Clearing to fee revenue.
    pub const FEE: u16 = 3;
    /// Back to the cardholder (void, reversal, refund).
    pub const CARDHOLDER_REFUND: u16 = 11;
    /// From the merchant back to clearing.
    pub const MERCHANT_DEBIT: u16 = 12;
    /// From fee revenue back to clearing (the proportional fee of a refund).
    pub const FEE_RETURN: u16 = 13;
    /// Clearing: a merchant-day's net from the merchant's payable to payouts in transit.
    pub const CLEARING: u16 = 21;
    /// Clearing: the D0 surcharge, from the merchant's payable to fee revenue (or back).
    pub const D0_SURCHARGE: u16 = 22;
    /// A payout reached the merchant's card: from in transit to the settlement bank.
    pub const PAYOUT: u16 = 23;
    /// A payout failed: from in transit back to the merchant's payable.
    pub const PAYOUT_RETURNED: u16 = 24;
    /// A failed payout sent again (the card fixed): from the payable to in transit.
    pub const PAYOUT_RETRY: u16 = 25;
    /// A device deposit paid: from clearing to the merchant's deposit account.
    pub const DEPOSIT_TAKEN: u16 = 26;
    /// A deposit refund due: from the deposit account to payouts in transit.
    pub const DEPOSIT_REFUND: u16 = 27;
    /// A deposit kept past its deadline: from the deposit account to deposits kept.
    pub const DEPOSIT_KEPT: u16 = 28;
    /// Sandbox: funding a test card.
    pub const SANDBOX_FUNDING: u16 = 91;
}
