//! Accounts: balances that only transfers change.

/// A ledger account. All balances start at zero; only transfers change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Chosen by the client; neither 0 nor `u128::MAX`.
    pub id: u128,
    /// Sum of pending (reserved, not yet posted) debits.
    pub debits_pending: u128,
    /// Sum of posted debits.
    pub debits_posted: u128,
    /// Sum of pending credits.
    pub credits_pending: u128,
    /// Sum of posted credits.
    pub credits_posted: u128,
    /// Free for the owner of the account, e.g. the merchant id it belongs to.
    pub user_data_128: u128,
    /// Free for the owner, e.g. a terminal id.
    pub user_data_64: u64,
    /// Free for the owner, e.g. a region or product.
    pub user_data_32: u32,
    /// Which ledger (one per currency, by its ISO 4217 numeric code); transfers never cross ledgers.
    pub ledger: u32,
    /// The account's type in the chart of accounts (merchant payable, fee revenue, …); never 0.
    pub code: u16,
    /// Behaviour flags.
    pub flags: AccountFlags,
    /// When it was created, nanoseconds since the Unix epoch, set by the ledger; unique and increasing.
    pub timestamp: u64,
}

impl Account {
    /// Posted credits minus posted debits, signed: what a liability account holds for its owner.
    pub fn credit_balance_posted(&self) -> i128 {
        // Each sum is at most u128::MAX, but real sums stay far below i128::MAX; saturate rather than wrap.
        let credits = i128::try_from(self.credits_posted).unwrap_or(i128::MAX);
        let debits = i128::try_from(self.debits_posted).unwrap_or(i128::MAX);
        credits.saturating_sub(debits)
    }

    /// True when every balance is zero, as it must be when an account is created.
    pub fn balances_are_zero(&self) -> bool {
        self.debits_pending == 0 && self.debits_posted == 0 && self.credits_pending == 0 && self.credits_posted == 0
    }
}

/// Account flags as a bit set, stored as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AccountFlags(pub u16);

impl AccountFlags {
    /// This event succeeds or fails together with the next one in the batch.
    pub const LINKED: u16 = 1 << 0;
    /// Reject a transfer that would make `debits_pending + debits_posted` exceed `credits_posted`:
    /// the account cannot be overdrawn (merchant balances, deposits).
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: u16 = 1 << 1;
    /// The mirror: `credits_pending + credits_posted` may not exceed `debits_posted`.
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: u16 = 1 << 2;
    /// Every bit we define; any other bit set is `reserved_flag`.
    pub const ALL: u16 = Self::LINKED | Self::DEBITS_MUST_NOT_EXCEED_CREDITS | Self::CREDITS_MUST_NOT_EXCEED_DEBITS;

    /// The flag names, in bit order, for the API.
    pub const NAMES: [(&'static str, u16); 3] = [
        ("linked", Self::LINKED),
        ("debits_must_not_exceed_credits", Self::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ("credits_must_not_exceed_debits", Self::CREDITS_MUST_NOT_EXCEED_DEBITS),
    ];

    /// True when `flag` is set.
    pub const fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }

    /// Same flags without `linked`, which concerns the batch, not the account.
    pub const fn without_linked(self) -> AccountFlags {
        AccountFlags(self.0 & !Self::LINKED)
    }
}
