//! Per-event result codes. Their snake_case names are part of the API and of storage: never rename one.

macro_rules! result_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every result, in declaration order (the order in which checks are made).
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable snake_case name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// Reads a stable name back.
            pub fn from_name(name: &str) -> Option<$name> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

result_enum! {
    /// The outcome of creating one account.
    CreateAccountResult {
        /// Created.
        Ok = "ok",
        /// Another event of its linked chain failed.
        LinkedEventFailed = "linked_event_failed",
        /// The batch ended inside a linked chain.
        LinkedEventChainOpen = "linked_event_chain_open",
        /// The ledger sets timestamps.
        TimestampMustBeZero = "timestamp_must_be_zero",
        /// An undefined flag bit is set.
        ReservedFlag = "reserved_flag",
        /// Ids 0 and `u128::MAX` are reserved.
        IdMustNotBeZero = "id_must_not_be_zero",
        /// Ids 0 and `u128::MAX` are reserved.
        IdMustNotBeIntMax = "id_must_not_be_int_max",
        /// Both balance-limit flags were set.
        FlagsAreMutuallyExclusive = "flags_are_mutually_exclusive",
        /// New accounts start at zero.
        BalancesMustBeZero = "balances_must_be_zero",
        /// Every account belongs to a ledger.
        LedgerMustNotBeZero = "ledger_must_not_be_zero",
        /// Every account has a type.
        CodeMustNotBeZero = "code_must_not_be_zero",
        /// The id exists with other flags.
        ExistsWithDifferentFlags = "exists_with_different_flags",
        /// The id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 = "exists_with_different_user_data_128",
        /// The id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 = "exists_with_different_user_data_64",
        /// The id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 = "exists_with_different_user_data_32",
        /// The id exists in another ledger.
        ExistsWithDifferentLedger = "exists_with_different_ledger",
        /// The id exists with another code.
        ExistsWithDifferentCode = "exists_with_different_code",
        /// The same account exists already: a retry; treat as created.
        Exists = "exists",
    }
}

result_enum! {
    /// The outcome of creating one transfer.
    CreateTransferResult {
        /// Created.
        Ok = "ok",
        /// Another event of its linked chain failed.
        LinkedEventFailed = "linked_event_failed",
        /// The batch ended inside a linked chain.
        LinkedEventChainOpen = "linked_event_chain_open",
        /// The ledger sets timestamps.
        TimestampMustBeZero = "timestamp_must_be_zero",
        /// An undefined flag bit is set.
        ReservedFlag = "reserved_flag",
        /// Ids 0 and `u128::MAX` are reserved.
        IdMustNotBeZero = "id_must_not_be_zero",
        /// Ids 0 and `u128::MAX` are reserved.
        IdMustNotBeIntMax = "id_must_not_be_int_max",
        /// This id failed before for a reason that depended on state; a retry keeps that outcome.
        IdAlreadyFailed = "id_already_failed",
        /// The id exists with other flags.
        ExistsWithDifferentFlags = "exists_with_different_flags",
        /// The id exists with another `pending_id`.
        ExistsWithDifferentPendingId = "exists_with_different_pending_id",
        /// The id exists with another timeout.
        ExistsWithDifferentTimeout = "exists_with_different_timeout",
        /// The id exists with another debit account.
        ExistsWithDifferentDebitAccountId = "exists_with_different_debit_account_id",
        /// The id exists with another credit account.
        ExistsWithDifferentCreditAccountId = "exists_with_different_credit_account_id",
        /// The id exists with another amount.
        ExistsWithDifferentAmount = "exists_with_different_amount",
        /// The id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 = "exists_with_different_user_data_128",
        /// The id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 = "exists_with_different_user_data_64",
        /// The id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 = "exists_with_different_user_data_32",
        /// The id exists in another ledger.
        ExistsWithDifferentLedger = "exists_with_different_ledger",
        /// The id exists with another code.
        ExistsWithDifferentCode = "exists_with_different_code",
        /// The same transfer exists already: a retry; treat as created.
        Exists = "exists",
        /// Incompatible flags (pending with post, post with void, balancing with post or void).
        FlagsAreMutuallyExclusive = "flags_are_mutually_exclusive",
        /// A debit account is required.
        DebitAccountIdMustNotBeZero = "debit_account_id_must_not_be_zero",
        /// `u128::MAX` is reserved.
        DebitAccountIdMustNotBeIntMax = "debit_account_id_must_not_be_int_max",
        /// A credit account is required.
        CreditAccountIdMustNotBeZero = "credit_account_id_must_not_be_zero",
        /// `u128::MAX` is reserved.
        CreditAccountIdMustNotBeIntMax = "credit_account_id_must_not_be_int_max",
        /// A transfer moves money between two different accounts.
        AccountsMustBeDifferent = "accounts_must_be_different",
        /// Only post and void name a pending transfer.
        PendingIdMustBeZero = "pending_id_must_be_zero",
        /// Post and void must name a pending transfer.
        PendingIdMustNotBeZero = "pending_id_must_not_be_zero",
        /// `u128::MAX` is reserved.
        PendingIdMustNotBeIntMax = "pending_id_must_not_be_int_max",
        /// A transfer cannot resolve itself.
        PendingIdMustBeDifferent = "pending_id_must_be_different",
        /// Only pending transfers time out.
        TimeoutReservedForPendingTransfer = "timeout_reserved_for_pending_transfer",
        /// Every transfer names its ledger.
        LedgerMustNotBeZero = "ledger_must_not_be_zero",
        /// Every transfer names its reason.
        CodeMustNotBeZero = "code_must_not_be_zero",
        /// No such debit account.
        DebitAccountNotFound = "debit_account_not_found",
        /// No such credit account.
        CreditAccountNotFound = "credit_account_not_found",
        /// The two accounts are in different ledgers.
        AccountsMustHaveTheSameLedger = "accounts_must_have_the_same_ledger",
        /// The transfer's ledger is not its accounts'.
        TransferMustHaveTheSameLedgerAsAccounts = "transfer_must_have_the_same_ledger_as_accounts",
        /// No such pending transfer.
        PendingTransferNotFound = "pending_transfer_not_found",
        /// The transfer named was not created pending.
        PendingTransferNotPending = "pending_transfer_not_pending",
        /// Post or void named another debit account than the pending transfer's.
        PendingTransferHasDifferentDebitAccountId = "pending_transfer_has_different_debit_account_id",
        /// Post or void named another credit account than the pending transfer's.
        PendingTransferHasDifferentCreditAccountId = "pending_transfer_has_different_credit_account_id",
        /// Post or void named another ledger than the pending transfer's.
        PendingTransferHasDifferentLedger = "pending_transfer_has_different_ledger",
        /// Post or void named another code than the pending transfer's.
        PendingTransferHasDifferentCode = "pending_transfer_has_different_code",
        /// A post cannot move more than was reserved.
        ExceedsPendingTransferAmount = "exceeds_pending_transfer_amount",
        /// A void must name the reserved amount, 0 or `AMOUNT_MAX`.
        PendingTransferHasDifferentAmount = "pending_transfer_has_different_amount",
        /// The pending transfer was posted already.
        PendingTransferAlreadyPosted = "pending_transfer_already_posted",
        /// The pending transfer was voided already.
        PendingTransferAlreadyVoided = "pending_transfer_already_voided",
        /// The pending transfer timed out.
        PendingTransferExpired = "pending_transfer_expired",
        /// `debits_pending` would overflow.
        OverflowsDebitsPending = "overflows_debits_pending",
        /// `credits_pending` would overflow.
        OverflowsCreditsPending = "overflows_credits_pending",
        /// `debits_posted` would overflow.
        OverflowsDebitsPosted = "overflows_debits_posted",
        /// `credits_posted` would overflow.
        OverflowsCreditsPosted = "overflows_credits_posted",
        /// `debits_pending + debits_posted` would overflow.
        OverflowsDebits = "overflows_debits",
        /// `credits_pending + credits_posted` would overflow.
        OverflowsCredits = "overflows_credits",
        /// The expiry time would overflow.
        OverflowsTimeout = "overflows_timeout",
        /// The debit account may not be overdrawn and this would overdraw it.
        ExceedsCredits = "exceeds_credits",
        /// The credit account may not exceed its debits and this would.
        ExceedsDebits = "exceeds_debits",
    }
}

impl CreateTransferResult {
    /// Failures that depend on the ledger's state rather than on the transfer alone. The id of a
    /// transfer that failed so is remembered, and a retry gets `id_already_failed`: a retry must
    /// never succeed later just because the state changed in between (TigerBeetle PR #2335).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            CreateTransferResult::DebitAccountNotFound
                | CreateTransferResult::CreditAccountNotFound
                | CreateTransferResult::PendingTransferNotFound
                | CreateTransferResult::ExceedsCredits
                | CreateTransferResult::ExceedsDebits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for r in CreateTransferResult::ALL {
            assert_eq!(CreateTransferResult::from_name(r.as_str()), Some(*r));
        }
        for r in CreateAccountResult::ALL {
            assert_eq!(CreateAccountResult::from_name(r.as_str()), Some(*r));
        }
        let mut names: Vec<_> = CreateTransferResult::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CreateTransferResult::ALL.len());
        assert_eq!(CreateTransferResult::from_name("no_such_result"), None);
    }
}
