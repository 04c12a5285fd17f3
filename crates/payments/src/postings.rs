//! The posting rules: what each payment operation moves on the ledger, written once for every
//! payment method (cards today; QR wallets use the same rules with the wallet as the payer).
//!
//! Pure: the caller decides (approved, amounts, the fee) and these say which transfers make it so.
//! Every rule returns the transfers and the movements a transaction records of them: a void or a
//! reversal later undoes exactly what was recorded ([`undo`]), and clearing reads a transaction's
//! effect on the merchant from them. Transfer ids come from [`crate::ids::transfer_id`].
//!
//! The accounts (docs/payments.md has the chart): the payer's money arrives in card clearing (201);
//! the net goes to the merchant's settlement payable, the fee to fee revenue. When the payer's
//! money is on our own ledger (the sandbox issuer's and wallets' accounts), the payer → clearing
//! leg is posted too; a real network pays clearing in its own settlement.

use xingtong_ledger::{Transfer, TransferFlags};

use crate::chart::{self, LEDGER_CNY};
use crate::txn::Movement;

/// The accounts a merchant's payment moves money between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounts {
    /// Card clearing (201): where the payer's money arrives.
    pub clearing: u128,
    /// The merchant's settlement payable.
    pub payable: u128,
    /// Fee revenue.
    pub revenue: u128,
}

impl Accounts {
    /// A merchant's.
    pub fn of(mid: &str) -> Accounts {
        Accounts {
            clearing: chart::platform_account_id(chart::ACCOUNT_CARD_CLEARING),
            payable: chart::merchant_account_id(mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).unwrap_or(0),
            revenue: chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE),
        }
    }
}

/// A posted transfer of `amount` minor units.
pub(crate) fn transfer(debit: u128, credit: u128, amount: i64, code: u16) -> Transfer {
    Transfer {
        id: crate::ids::transfer_id(),
        debit_account_id: debit,
        credit_account_id: credit,
        amount: amount as u128,
        ledger: LEDGER_CNY,
        code,
        ..Transfer::default()
    }
}

/// A transfer as a transaction records it.
pub(crate) fn movement(t: &Transfer, pending: bool) -> Movement {
    Movement {
        id: t.id.to_string(),
        debit: t.debit_account_id.to_string(),
        credit: t.credit_account_id.to_string(),
        amount: t.amount as i64,
        pending,
    }
}

/// Transfers and the movements that record them.
pub type Posting = (Vec<Transfer>, Vec<Movement>);

fn posted(transfers: Vec<Transfer>) -> Posting {
    let movements = transfers.iter().map(|t| movement(t, false)).collect();
    (transfers, movements)
}

/// The merchant's side of a capture: the net to its payable and the fee to revenue.
fn to_merchant(accounts: &Accounts, amount: i64, fee: i64) -> Vec<Transfer> {
    let mut transfers = vec![transfer(accounts.clearing, accounts.payable, amount - fee, chart::code::MERCHANT_CREDIT)];
    if fee > 0 {
        transfers.push(transfer(accounts.clearing, accounts.revenue, fee, chart::code::FEE));
    }
    transfers
}

/// A sale: the payer pays clearing (when on our ledger), the merchant gets the amount less the fee.
pub fn sale(accounts: &Accounts, payer: Option<u128>, amount: i64, fee: i64) -> Posting {
    let mut transfers = Vec::new();
    if let Some(payer) = payer {
        transfers.push(transfer(payer, accounts.clearing, amount, chart::code::CARDHOLDER_PAYS));
    }
    transfers.extend(to_merchant(accounts, amount, fee));
    posted(transfers)
}

/// A pre-authorization's hold: the payer's money held for clearing, `timeout_s` at most.
pub fn hold(accounts: &Accounts, payer: u128, amount: i64, timeout_s: u32) -> (Transfer, Movement) {
    let mut hold = transfer(payer, accounts.clearing, amount, chart::code::CARDHOLDER_PAYS);
    hold.flags = TransferFlags(TransferFlags::PENDING);
    hold.timeout = timeout_s;
    let recorded = movement(&hold, true);
    (hold, recorded)
}

/// A completion: `amount` of the hold (if any) posted, then the merchant's side as for a sale.
pub fn completion(accounts: &Accounts, held: Option<(u128, u128)>, amount: i64, fee: i64) -> Posting {
    let (mut transfers, mut movements) = (Vec::new(), Vec::new());
    if let Some((pending_id, payer)) = held {
        let post = Transfer {
            id: crate::ids::transfer_id(),
            pending_id,
            amount: amount as u128,
            ledger: LEDGER_CNY,
            flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
            ..Transfer::default()
        };
        // Recorded as the payer paying clearing, so that undoing it returns the money.
        movements.push(Movement {
            id: post.id.to_string(),
            debit: payer.to_string(),
            credit: accounts.clearing.to_string(),
            amount,
            pending: false,
        });
        transfers.push(post);
    }
    let (merchant, recorded) = posted(to_merchant(accounts, amount, fee));
    transfers.extend(merchant);
    movements.extend(recorded);
    (transfers, movements)
}

/// The fee a refund of `amount` returns: the original's fee in proportion (round half up), and
/// what is left of it when the refund takes the rest of the original.
pub fn fee_returned(original_amount: i64, original_fee: i64, fee_refunded: i64, amount: i64, refundable: i64) -> i64 {
    if amount == refundable {
        return original_fee - fee_refunded;
    }
    let share = i128::from(original_fee) * i128::from(amount);
    let rounded = (2 * share + i128::from(original_amount)) / (2 * i128::from(original_amount));
    (rounded as i64).min(original_fee - fee_refunded)
}

/// A refund (退货): the merchant gives back the amount less the fee returned, revenue gives back
/// that fee, and the payer gets the amount (when on our ledger).
pub fn refund(accounts: &Accounts, payer: Option<u128>, amount: i64, fee_back: i64) -> Posting {
    let mut transfers =
        vec![transfer(accounts.payable, accounts.clearing, amount - fee_back, chart::code::MERCHANT_DEBIT)];
    if fee_back > 0 {
        transfers.push(transfer(accounts.revenue, accounts.clearing, fee_back, chart::code::FEE_RETURN));
    }
    if let Some(payer) = payer {
        transfers.push(transfer(accounts.clearing, payer, amount, chart::code::CARDHOLDER_REFUND));
    }
    posted(transfers)
}

/// Undoes what a transaction recorded (a void, a reversal): each movement in reverse order, a hold
/// voided, a posted movement sent back.
pub fn undo(movements: &[Movement]) -> Posting {
    let clearing = chart::platform_account_id(chart::ACCOUNT_CARD_CLEARING);
    let (mut transfers, mut made) = (Vec::new(), Vec::new());
    for m in movements.iter().rev() {
        let (debit, credit) = (m.debit.parse().unwrap_or(0), m.credit.parse().unwrap_or(0));
        if m.pending {
            let void = Transfer {
                id: crate::ids::transfer_id(),
                pending_id: m.id.parse().unwrap_or(0),
                ledger: LEDGER_CNY,
                flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
                ..Transfer::default()
            };
            made.push(Movement {
                id: void.id.to_string(),
                debit: m.debit.clone(),
                credit: m.credit.clone(),
                amount: 0,
                pending: false,
            });
            transfers.push(void);
        } else {
            let code = if debit == clearing { chart::code::MERCHANT_DEBIT } else { chart::code::CARDHOLDER_REFUND };
            let t = transfer(credit, debit, m.amount, code);
            made.push(movement(&t, false));
            transfers.push(t);
        }
    }
    (transfers, made)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net_of(transfers: &[Transfer], account: u128) -> i128 {
        transfers
            .iter()
            .map(|t| {
                let amount = t.amount as i128;
                if t.credit_account_id == account {
                    amount
                } else if t.debit_account_id == account {
                    -amount
                } else {
                    0
                }
            })
            .sum()
    }

    #[test]
    fn a_sale_refunded_in_full_leaves_every_account_where_it_was() {
        let accounts = Accounts { clearing: 1, payable: 2, revenue: 3 };
        let payer = 4;
        let (sale, recorded) = sale(&accounts, Some(payer), 10_000, 38);
        assert_eq!(recorded.len(), 3);
        assert_eq!(net_of(&sale, accounts.payable), 9_962);
        assert_eq!(net_of(&sale, accounts.revenue), 38);
        assert_eq!(net_of(&sale, accounts.clearing), 0, "clearing passes the money on");
        // Two partial refunds, the second taking the rest: the fee comes back in proportion, then
        // whatever of it is left, never more.
        let first_back = fee_returned(10_000, 38, 0, 3_333, 10_000);
        assert_eq!(first_back, 13, "38 × 3,333 / 10,000 = 12.67, half up");
        let (first, _) = refund(&accounts, Some(payer), 3_333, first_back);
        let second_back = fee_returned(10_000, 38, first_back, 6_667, 6_667);
        assert_eq!(second_back, 25);
        let (second, _) = refund(&accounts, Some(payer), 6_667, second_back);
        let all: Vec<Transfer> = [sale, first, second].concat();
        for account in [accounts.clearing, accounts.payable, accounts.revenue, payer] {
            assert_eq!(net_of(&all, account), 0, "account {account}");
        }
    }

    #[test]
    fn undoing_what_was_recorded_sends_every_posted_movement_back_and_voids_a_hold() {
        let accounts =
            Accounts { clearing: chart::platform_account_id(chart::ACCOUNT_CARD_CLEARING), payable: 2, revenue: 3 };
        let (sale, recorded) = sale(&accounts, Some(4), 5_000, 30);
        let (back, _) = undo(&recorded);
        let all: Vec<Transfer> = [sale, back].concat();
        for account in [accounts.clearing, accounts.payable, accounts.revenue, 4] {
            assert_eq!(net_of(&all, account), 0, "account {account}");
        }
        let (held, movement) = hold(&accounts, 4, 8_000, 60);
        let (void, made) = undo(&[movement]);
        assert_eq!(void[0].pending_id, held.id);
        assert_eq!(void[0].flags, TransferFlags(TransferFlags::VOID_PENDING_TRANSFER));
        assert_eq!(made[0].amount, 0);
    }

    #[test]
    fn a_completion_posts_part_of_the_hold_and_pays_the_merchant() {
        let accounts = Accounts { clearing: 1, payable: 2, revenue: 3 };
        let (transfers, recorded) = completion(&accounts, Some((77, 4)), 6_000, 23);
        assert_eq!(transfers[0].pending_id, 77);
        assert_eq!(transfers[0].amount, 6_000);
        assert_eq!((recorded[0].debit.as_str(), recorded[0].amount), ("4", 6_000), "undone as the payer's money");
        assert_eq!(net_of(&transfers[1..], accounts.payable), 5_977);
        assert_eq!(net_of(&transfers[1..], accounts.revenue), 23);
    }
}
