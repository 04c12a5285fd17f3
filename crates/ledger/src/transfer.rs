//! Transfers: the only way money moves. Immutable once created.

/// As the amount of a `post_pending_transfer`: post the whole pending amount.
/// As the amount of a balancing transfer: no upper bound other than the account's balance.
pub const AMOUNT_MAX: u128 = u128::MAX;

/// A transfer of `amount` from `debit_account_id` to `credit_account_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Chosen by the client and persisted before sending, so that a retry is recognised; neither 0
    /// nor `u128::MAX`.
    pub id: u128,
    /// The account debited.
    pub debit_account_id: u128,
    /// The account credited.
    pub credit_account_id: u128,
    /// Minor units of the ledger's currency.
    pub amount: u128,
    /// For `post_pending_transfer`/`void_pending_transfer`: the pending transfer resolved; else 0.
    pub pending_id: u128,
    /// Free for the caller, e.g. the payment id this movement belongs to.
    pub user_data_128: u128,
    /// Free for the caller, e.g. a settlement batch.
    pub user_data_64: u64,
    /// Free for the caller.
    pub user_data_32: u32,
    /// For pending transfers: seconds after which an unresolved reservation expires; 0 is never.
    pub timeout: u32,
    /// The ledger (currency) of both accounts.
    pub ledger: u32,
    /// Why the money moved (sale, refund, fee, payout, …); never 0.
    pub code: u16,
    /// Behaviour flags.
    pub flags: TransferFlags,
    /// Set by the ledger when the transfer is created; must be 0 on input.
    pub timestamp: u64,
}

/// Transfer flags as a bit set, stored as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TransferFlags(pub u16);

impl TransferFlags {
    /// Succeeds or fails together with the next event in the batch.
    pub const LINKED: u16 = 1 << 0;
    /// Reserves the amount in the `*_pending` balances until posted, voided or expired.
    pub const PENDING: u16 = 1 << 1;
    /// Posts (all or part of) the pending transfer named by `pending_id`.
    pub const POST_PENDING_TRANSFER: u16 = 1 << 2;
    /// Voids the pending transfer named by `pending_id`.
    pub const VOID_PENDING_TRANSFER: u16 = 1 << 3;
    /// Transfer at most `amount`, less if the debit account's balance would go below zero.
    pub const BALANCING_DEBIT: u16 = 1 << 4;
    /// Transfer at most `amount`, less if the credit account's balance would go above zero.
    pub const BALANCING_CREDIT: u16 = 1 << 5;
    /// Every bit we define; any other bit set is `reserved_flag`.
    pub const ALL: u16 = Self::LINKED
        | Self::PENDING
        | Self::POST_PENDING_TRANSFER
        | Self::VOID_PENDING_TRANSFER
        | Self::BALANCING_DEBIT
        | Self::BALANCING_CREDIT;

    /// The flag names, in bit order, for the API.
    pub const NAMES: [(&'static str, u16); 6] = [
        ("linked", Self::LINKED),
        ("pending", Self::PENDING),
        ("post_pending_transfer", Self::POST_PENDING_TRANSFER),
        ("void_pending_transfer", Self::VOID_PENDING_TRANSFER),
        ("balancing_debit", Self::BALANCING_DEBIT),
        ("balancing_credit", Self::BALANCING_CREDIT),
    ];

    /// True when `flag` is set.
    pub const fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }

    /// True for `post_pending_transfer` or `void_pending_transfer`.
    pub const fn resolves_pending(self) -> bool {
        self.has(Self::POST_PENDING_TRANSFER) || self.has(Self::VOID_PENDING_TRANSFER)
    }

    /// True for `balancing_debit` or `balancing_credit`.
    pub const fn balancing(self) -> bool {
        self.has(Self::BALANCING_DEBIT) || self.has(Self::BALANCING_CREDIT)
    }
}
