//! Payment permissions per terminal (PRODUCT.md: 设置默认支付方式): which methods a terminal
//! takes (bank cards, QR) and which is its default. The merchant sets them over the API
//! (`PUT /v1/devices/{tid}/payment-methods`), staff on the command line. A payment by a method the
//! terminal does not take is declined on every channel: `58` over ISO 8583 (a QR sale's field 57
//! reason `08`), `method_disabled` in a QR transaction's view over JSON.
//!
//! A terminal with no setting takes both, with the card as its default.

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, insert, load};
use xingtong_merchants::{Class, Error};
use xingtong_store::{Change, now_ns};

use crate::engine::{Engine, Result};

/// How a customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A bank card.
    Card,
    /// A wallet's QR code.
    Qr,
}

impl Method {
    /// `card` or `qr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Card => "card",
            Method::Qr => "qr",
        }
    }
}

/// A terminal's payment methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethods {
    /// Terminal.
    pub tid: String,
    /// Its merchant.
    pub mid: String,
    /// Takes bank cards.
    pub card: bool,
    /// Takes QR payments.
    pub qr: bool,
    /// The method a sale starts with at the till.
    pub default_method: Method,
    /// When last set (ns).
    pub updated_at: u64,
}

impl PaymentMethods {
    /// What a terminal with no setting takes: both, the card first.
    pub fn default_for(tid: &str, mid: &str) -> PaymentMethods {
        PaymentMethods {
            tid: tid.to_owned(),
            mid: mid.to_owned(),
            card: true,
            qr: true,
            default_method: Method::Card,
            updated_at: 0,
        }
    }

    /// Whether the terminal takes `method`.
    pub fn takes(&self, method: Method) -> bool {
        match method {
            Method::Card => self.card,
            Method::Qr => self.qr,
        }
    }
}

impl Entity for PaymentMethods {
    const KIND: &'static str = "terminal_payment_methods";
    fn id(&self) -> String {
        self.tid.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        "set".into()
    }
}

/// A change to a terminal's payment methods; what is left out stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodsChange {
    /// Take bank cards.
    #[serde(default)]
    pub card: Option<bool>,
    /// Take QR payments.
    #[serde(default)]
    pub qr: Option<bool>,
    /// The default method.
    #[serde(default)]
    pub default_method: Option<Method>,
}

impl Engine {
    /// A terminal's payment methods, at most a second old (the default when never set).
    pub async fn payment_methods(&self, tid: &str, mid: &str) -> Result<PaymentMethods> {
        Ok(PaymentMethods::clone(&*self.cached_methods(tid, mid).await?))
    }

    async fn cached_methods(&self, tid: &str, mid: &str) -> Result<std::sync::Arc<PaymentMethods>> {
        let now = now_ns();
        if let Some(methods) = self.inner.methods_cache.get(tid, now) {
            return Ok(methods);
        }
        // Boxed: read once a second per terminal, it stays out of every sale's future.
        let stored = Box::pin(load::<PaymentMethods>(self.store(), tid)).await?;
        let methods =
            std::sync::Arc::new(stored.map_or_else(|| PaymentMethods::default_for(tid, mid), |stored| stored.value));
        self.inner.methods_cache.put(tid, std::sync::Arc::clone(&methods), now);
        Ok(methods)
    }

    /// Whether the terminal takes `method` now.
    pub async fn terminal_takes(&self, tid: &str, mid: &str, method: Method) -> Result<bool> {
        Ok(self.cached_methods(tid, mid).await?.takes(method))
    }

    /// Changes a terminal's payment methods (audited as `actor`): at least one stays on, and the
    /// default is one that is on (`422 invalid_payment_methods` otherwise).
    pub async fn set_payment_methods(
        &self,
        actor: &str,
        tid: &str,
        mid: &str,
        change: MethodsChange,
    ) -> Result<PaymentMethods> {
        xingtong_merchants::entity::retrying(|| async {
            let stored = load::<PaymentMethods>(self.store(), tid).await?;
            let mut methods =
                stored.as_ref().map_or_else(|| PaymentMethods::default_for(tid, mid), |s| s.value.clone());
            if let Some(card) = change.card {
                methods.card = card;
            }
            if let Some(qr) = change.qr {
                methods.qr = qr;
            }
            if let Some(default) = change.default_method {
                methods.default_method = default;
            } else if !methods.takes(methods.default_method) {
                // The default went off: the other method becomes the default.
                methods.default_method = if methods.card { Method::Card } else { Method::Qr };
            }
            if !methods.card && !methods.qr {
                return Err(Error::new(
                    Class::Unprocessable,
                    "invalid_payment_methods",
                    "a terminal takes at least one payment method (card or qr)",
                ));
            }
            if !methods.takes(methods.default_method) {
                return Err(Error::new(
                    Class::Unprocessable,
                    "invalid_payment_methods",
                    format!("the default method {} is not enabled on the terminal", methods.default_method.as_str()),
                ));
            }
            methods.updated_at = now_ns();
            let put = match stored {
                Some(mut stored) => {
                    stored.value = methods.clone();
                    stored.update()?
                }
                None => insert(&methods)?,
            };
            let audit = xingtong_merchants::identity::audit(
                actor,
                "terminal.payment_methods_set",
                PaymentMethods::KIND,
                tid,
                &serde_json::json!({ "card": methods.card, "qr": methods.qr, "default_method": methods.default_method })
                    .to_string(),
            );
            self.store().apply(Change { puts: vec![put], audit: vec![audit], ..Change::default() }).await?;
            self.inner.methods_cache.put(tid, std::sync::Arc::new(methods.clone()), now_ns());
            Ok(methods)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_never_set_takes_both_with_the_card_first() {
        let m = PaymentMethods::default_for("10000001", "898310053990001");
        assert!(m.takes(Method::Card) && m.takes(Method::Qr));
        assert_eq!(m.default_method, Method::Card);
    }
}
