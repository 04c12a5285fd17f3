//! What a merchant is charged and allowed, by merchant type (PRODUCT.md Rules): the fee schedule
//! (MDR) and the limits. These are the defaults given at approval; operations staff may change a
//! merchant's terms later, and every change is audited.

use serde::{Deserialize, Serialize};

use crate::application::BusinessType;

/// Parts per million: 5,000 ppm = 0.50 %.
pub type Ppm = u32;

/// The merchant discount rates, per transaction, rounded half up to the fen, never above the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    /// Debit cards: 0.50 %.
    pub debit_ppm: Ppm,
    /// Debit cards: at most this per transaction, in fen (¥20.00).
    pub debit_cap_minor: i64,
    /// Credit cards: 0.60 %.
    pub credit_ppm: Ppm,
    /// Alipay, WeChat Pay, UnionPay QR: 0.38 %.
    pub qr_ppm: Ppm,
    /// Added for D0 (same-day) settlement: 0.05 %.
    pub d0_extra_ppm: Ppm,
}

/// Limits in fen; `None` means no limit of that kind. Exceeding one answers 61 (65 for frequency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Per transaction.
    pub per_transaction_minor: i64,
    /// Per day, all payment methods.
    pub daily_minor: i64,
    /// Credit-card receipts per day.
    pub credit_daily_minor: Option<i64>,
    /// Credit-card receipts per month.
    pub credit_monthly_minor: Option<i64>,
    /// Static QR: per payer per day.
    pub static_qr_per_payer_daily_minor: i64,
}

/// A merchant's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Fees.
    pub fees: FeeSchedule,
    /// Limits.
    pub limits: Limits,
}

/// The default fee schedule, the same for every merchant type.
pub const DEFAULT_FEES: FeeSchedule =
    FeeSchedule { debit_ppm: 5_000, debit_cap_minor: 2_000, credit_ppm: 6_000, qr_ppm: 3_800, d0_extra_ppm: 500 };

impl Terms {
    /// The defaults for a merchant type. A 个体工商户 (registered individual business) is a natural
    /// person trading, so it gets the individual/小微 limits.
    pub fn for_business_type(business_type: BusinessType) -> Terms {
        let limits = match business_type {
            BusinessType::Individual | BusinessType::IndividualBusiness => Limits {
                per_transaction_minor: 2_000_000,
                daily_minor: 5_000_000,
                credit_daily_minor: Some(100_000),
                credit_monthly_minor: Some(1_000_000),
                static_qr_per_payer_daily_minor: 50_000,
            },
            BusinessType::Enterprise => Limits {
                per_transaction_minor: 50_000_000,
                daily_minor: 500_000_000,
                credit_daily_minor: None,
                credit_monthly_minor: None,
                static_qr_per_payer_daily_minor: 50_000,
            },
        };
        Terms { fees: DEFAULT_FEES, limits }
    }
}

/// The device deposit (押金), in fen: ¥299, taken from the activation sale's settlement.
pub const DEVICE_DEPOSIT_MINOR: i64 = 29_900;
/// The card volume, in fen, after which the deposit is refunded: ¥100,000 …
pub const DEPOSIT_REFUND_VOLUME_MINOR: i64 = 10_000_000;
/// … reached within this many days of activation.
pub const DEPOSIT_REFUND_DAYS: u32 = 180;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_product_rules() {
        let small = Terms::for_business_type(BusinessType::Individual);
        assert_eq!(small.limits.per_transaction_minor, 2_000_000, "¥20,000 per transaction");
        assert_eq!(small.limits.daily_minor, 5_000_000, "¥50,000 per day");
        assert_eq!(small.limits.credit_daily_minor, Some(100_000), "credit ¥1,000 per day");
        assert_eq!(small.limits.credit_monthly_minor, Some(1_000_000), "credit ¥10,000 per month");
        assert_eq!(Terms::for_business_type(BusinessType::IndividualBusiness), small);
        let big = Terms::for_business_type(BusinessType::Enterprise);
        assert_eq!(big.limits.per_transaction_minor, 50_000_000, "¥500,000 per transaction");
        assert_eq!(big.limits.daily_minor, 500_000_000, "¥5,000,000 per day");
        assert_eq!(big.limits.credit_daily_minor, None);
        assert_eq!(small.fees.debit_ppm, 5_000);
        assert_eq!(small.fees.debit_cap_minor, 2_000);
        assert_eq!(small.fees.credit_ppm, 6_000);
        assert_eq!(small.fees.qr_ppm, 3_800);
        assert_eq!(small.fees.d0_extra_ppm, 500);
        assert_eq!(big.fees, small.fees);
    }
}
