//! The settlement-bank connector: how payouts leave the platform for merchants' bank cards, beside
//! [`crate::network::CardNetwork`]. The sandbox bank implements it; a real bank's adapter would,
//! with no change elsewhere.
//!
//! Every transfer order carries an id, and a bank executes an id once: sending the same order
//! again returns the first outcome. When an answer is lost (a timeout), the outcome is unknown
//! and the platform asks by id; only an order the bank says it never received is sent again.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, insert, load};
use xingtong_store::{Change, Store};

/// A transfer to a merchant's bank card.
#[derive(Clone, PartialEq, Eq)]
pub struct Order {
    /// The attempt's id: the bank executes it once.
    pub id: String,
    /// The card or account number.
    pub card_number: String,
    /// The account holder's name as the platform has it.
    pub holder: String,
    /// The bank.
    pub bank_name: String,
    /// Minor units, CNY.
    pub amount_minor: i64,
}

impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Order")
            .field("id", &self.id)
            .field("card", &xingtong_crypto::mask_pan(&self.card_number))
            .field("amount_minor", &self.amount_minor)
            .finish_non_exhaustive()
    }
}

/// What a bank says of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// The money is on the card.
    Paid {
        /// The bank's reference.
        reference: String,
    },
    /// Refused; nothing moved.
    Failed {
        /// `account_closed`, `name_mismatch`, …
        code: String,
        /// In words.
        message: String,
    },
    /// (On a query) the bank never received that order: it may be sent again.
    NotFound,
}

/// No answer: the outcome is unknown until asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the settlement bank did not answer in time")]
pub struct NoAnswer;

/// A boxed future of a bank's answer.
pub type Answering<'a> = Pin<Box<dyn Future<Output = Result<Outcome, NoAnswer>> + Send + 'a>>;

/// A settlement bank.
pub trait SettlementBank: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// Sends an order (again: the first outcome).
    fn pay<'a>(&'a self, order: &'a Order) -> Answering<'a>;
    /// Asks what became of an order.
    fn query<'a>(&'a self, id: &'a str) -> Answering<'a>;
}

/// A sandbox bank account's behaviour, made through the API or the command line; a card number
/// without one is an open account that takes any payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxAccount {
    /// The card or account number.
    pub card_number: String,
    /// `open` or `closed` (payouts fail `account_closed`).
    pub state: String,
    /// When set, a payout to another holder name fails `name_mismatch`.
    pub holder: Option<String>,
    /// How many of the next orders are executed with their answer lost (a timeout).
    pub lose_answers: u32,
}

impl Entity for SandboxAccount {
    const KIND: &'static str = "sandbox_bank_account";
    fn id(&self) -> String {
        self.card_number.clone()
    }
    fn owner(&self) -> String {
        "sandbox".into()
    }
    fn status(&self) -> String {
        self.state.clone()
    }
}

/// An order the sandbox bank executed, with its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Executed {
    id: String,
    card_number: String,
    amount_minor: i64,
    outcome: Outcome,
}

impl Entity for Executed {
    const KIND: &'static str = "sandbox_bank_order";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        "sandbox".into()
    }
    fn status(&self) -> String {
        match self.outcome {
            Outcome::Paid { .. } => "paid".into(),
            _ => "failed".into(),
        }
    }
}

/// The sandbox settlement bank: accounts with injectable failures, every order kept.
#[derive(Debug, Clone)]
pub struct SandboxBank {
    store: Store,
}

impl SandboxBank {
    /// A sandbox bank keeping its books in `store`.
    pub fn new(store: Store) -> SandboxBank {
        SandboxBank { store }
    }

    /// Makes or replaces an account's behaviour.
    pub async fn set_account(&self, account: SandboxAccount) -> xingtong_merchants::Result<()> {
        xingtong_merchants::entity::retrying(|| async {
            let put = match load::<SandboxAccount>(&self.store, &account.card_number).await? {
                Some(mut stored) => {
                    stored.value = account.clone();
                    stored.update()?
                }
                None => insert(&account)?,
            };
            self.store.apply(Change { puts: vec![put], ..Change::default() }).await?;
            Ok(())
        })
        .await
    }

    async fn execute(&self, order: &Order) -> xingtong_merchants::Result<Result<Outcome, NoAnswer>> {
        if let Some(done) = load::<Executed>(&self.store, &order.id).await? {
            return Ok(Ok(done.value.outcome));
        }
        let account = load::<SandboxAccount>(&self.store, &order.card_number).await?;
        let outcome = match account.as_ref().map(|a| &a.value) {
            Some(a) if a.state == "closed" => {
                Outcome::Failed { code: "account_closed".into(), message: "the account is closed".into() }
            }
            Some(SandboxAccount { holder: Some(holder), .. }) if *holder != order.holder => Outcome::Failed {
                code: "name_mismatch".into(),
                message: "the account holder's name does not match".into(),
            },
            _ => Outcome::Paid { reference: format!("SB-{}", order.id) },
        };
        let executed = Executed {
            id: order.id.clone(),
            card_number: order.card_number.clone(),
            amount_minor: order.amount_minor,
            outcome: outcome.clone(),
        };
        let mut puts = vec![insert(&executed)?];
        // An account told to lose answers executes the order and says nothing.
        let lost = match account {
            Some(mut stored) if stored.value.lose_answers > 0 => {
                stored.value.lose_answers -= 1;
                puts.push(stored.update()?);
                true
            }
            _ => false,
        };
        self.store.apply(Change { puts, ..Change::default() }).await?;
        Ok(if lost { Err(NoAnswer) } else { Ok(outcome) })
    }
}

impl SettlementBank for SandboxBank {
    fn name(&self) -> &'static str {
        "sandbox bank"
    }

    fn pay<'a>(&'a self, order: &'a Order) -> Answering<'a> {
        Box::pin(async move {
            match self.execute(order).await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::warn!(%error, "the sandbox bank failed to execute an order");
                    Err(NoAnswer)
                }
            }
        })
    }

    fn query<'a>(&'a self, id: &'a str) -> Answering<'a> {
        Box::pin(async move {
            match load::<Executed>(&self.store, id).await {
                Ok(Some(done)) => Ok(done.value.outcome),
                Ok(None) => Ok(Outcome::NotFound),
                Err(_) => Err(NoAnswer),
            }
        })
    }
}
