//! A merchant's real-name application (journey step 1) and its check: every problem of one
//! submission at once, each naming its field, so that an applicant fixes everything in one go.

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::validate::{self, Finding, Severity};

/// The three kinds of merchant, which decide limits, fees and what must be proven.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessType {
    /// An individual or micro merchant (小微) without a business licence.
    #[default]
    Individual,
    /// A registered individual business (个体工商户), with a licence.
    IndividualBusiness,
    /// An enterprise, with a licence.
    Enterprise,
}

impl BusinessType {
    /// True when the merchant holds a business licence, and so a unified social credit code.
    pub fn licensed(self) -> bool {
        self != BusinessType::Individual
    }
}

/// The person applying.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Applicant {
    /// Legal name as on the ID card.
    pub legal_name: String,
    /// Resident ID number.
    pub resident_id: String,
    /// Mainland mobile number (notifications and one-time codes go here).
    pub phone: String,
    /// Email address.
    pub email: String,
    /// Residential address.
    pub address: String,
}

/// The business.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Business {
    /// Trading name.
    pub name: String,
    /// Kind of merchant.
    pub business_type: BusinessType,
    /// Unified social credit code; required when licensed.
    #[serde(default)]
    pub unified_social_credit_code: Option<String>,
}

/// Where settlements are paid (一清: only ever to the merchant's own account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementAccount {
    /// Card or account number.
    pub card_number: String,
    /// Bank name.
    pub bank_name: String,
    /// Account holder.
    pub account_holder: String,
}

/// An application; a draft may leave fields empty, and [`Application::check`] says what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Application {
    /// Who applies.
    pub applicant: Applicant,
    /// For what business.
    pub business: Business,
    /// Where the money goes.
    pub settlement_account: SettlementAccount,
    /// Where the device is shipped.
    pub delivery_address: String,
}

/// The longest free-text field accepted.
pub const TEXT_LEN_MAX: usize = 200;

fn text(field: &str, value: &str, findings: &mut Vec<Finding>) {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        findings.push(Finding {
            field: field.to_owned(),
            code: "required",
            severity: Severity::Error,
            message_en: "this field is required",
            message_zh: "此项为必填项",
        });
    } else if trimmed.chars().count() > TEXT_LEN_MAX || trimmed.chars().any(char::is_control) {
        findings.push(Finding {
            field: field.to_owned(),
            code: "text_format",
            severity: Severity::Error,
            message_en: "at most 200 characters, without control characters",
            message_zh: "最多200个字符，且不能含控制字符",
        });
    }
}

impl Application {
    /// Every problem with this application on `today`, errors and warnings, in field order.
    pub fn check(&self, today: Date) -> Vec<Finding> {
        let mut findings = Vec::new();
        let a = &self.applicant;
        text("applicant.legal_name", &a.legal_name, &mut findings);
        findings.extend(validate::resident_id("applicant.resident_id", a.resident_id.trim(), today));
        findings.extend(validate::mobile("applicant.phone", a.phone.trim()));
        findings.extend(validate::email("applicant.email", a.email.trim()));
        text("applicant.address", &a.address, &mut findings);

        let b = &self.business;
        text("business.name", &b.name, &mut findings);
        match (&b.unified_social_credit_code, b.business_type.licensed()) {
            (Some(code), _) if !code.trim().is_empty() => {
                findings.extend(validate::uscc("business.unified_social_credit_code", code.trim()));
            }
            (_, true) => findings.push(Finding {
                field: "business.unified_social_credit_code".into(),
                code: "required",
                severity: Severity::Error,
                message_en: "licensed businesses must give their unified social credit code",
                message_zh: "持照经营者须填写统一社会信用代码",
            }),
            (_, false) => {}
        }

        let s = &self.settlement_account;
        findings.extend(validate::bank_card("settlement_account.card_number", s.card_number.trim()));
        text("settlement_account.bank_name", &s.bank_name, &mut findings);
        text("settlement_account.account_holder", &s.account_holder, &mut findings);
        // 一清: settlement goes only to the merchant's own account.
        let owner = if b.business_type == BusinessType::Enterprise { b.name.trim() } else { a.legal_name.trim() };
        if !s.account_holder.trim().is_empty() && !owner.is_empty() && s.account_holder.trim() != owner {
            findings.push(Finding {
                field: "settlement_account.account_holder".into(),
                code: "account_holder_mismatch",
                severity: Severity::Error,
                message_en: "settlement is paid only to the merchant's own account: the holder must be the applicant (the business, for enterprises)",
                message_zh: "结算款只付至商户本人账户：户名须与申请人一致（企业须与企业名称一致）",
            });
        }
        text("delivery_address", &self.delivery_address, &mut findings);
        findings
    }

    /// True when nothing in `findings` is an error.
    pub fn acceptable(findings: &[Finding]) -> bool {
        findings.iter().all(|f| f.severity == Severity::Warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2026, 11, 22).unwrap()
    }

    fn good() -> Application {
        Application {
            applicant: Applicant {
                legal_name: "张三".into(),
                resident_id: "11010519491231002X".into(),
                phone: "13812345678".into(),
                email: "zhangsan@example.cn".into(),
                address: "北京市东城区王府井大街1号".into(),
            },
            business: Business {
                name: "张三便利店".into(),
                business_type: BusinessType::IndividualBusiness,
                unified_social_credit_code: Some("91310110666007217T".into()),
            },
            settlement_account: SettlementAccount {
                card_number: "6222021234567890128".into(),
                bank_name: "中国工商银行".into(),
                account_holder: "张三".into(),
            },
            delivery_address: "北京市东城区王府井大街1号".into(),
        }
    }

    #[test]
    fn a_good_application_passes() {
        let findings = good().check(today());
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once_each_naming_its_field() {
        let mut app = good();
        app.applicant.resident_id = "110105194912310021".into();
        app.applicant.phone = "12345".into();
        app.business.unified_social_credit_code = Some("91310110666007217A".into());
        app.settlement_account.account_holder = "李四".into();
        app.delivery_address = " ".into();
        let findings = app.check(today());
        let fields: Vec<(&str, &str)> = findings.iter().map(|f| (f.field.as_str(), f.code)).collect();
        assert_eq!(
            fields,
            [
                ("applicant.resident_id", "resident_id_check_character"),
                ("applicant.phone", "mobile_format"),
                ("business.unified_social_credit_code", "uscc_check_character"),
                ("settlement_account.account_holder", "account_holder_mismatch"),
                ("delivery_address", "required"),
            ]
        );
        assert!(!Application::acceptable(&findings));
    }

    #[test]
    fn licensed_businesses_need_a_code_and_warnings_alone_are_acceptable() {
        let mut app = good();
        app.business.unified_social_credit_code = None;
        assert_eq!(app.check(today())[0].code, "required");
        app.business.business_type = BusinessType::Individual;
        assert!(app.check(today()).is_empty(), "individuals have no licence");
        let mut pilot = good();
        pilot.business.unified_social_credit_code = Some("91350100M0001TGQXM".into());
        let findings = pilot.check(today());
        assert_eq!(findings.len(), 1);
        assert!(Application::acceptable(&findings), "a pilot-era code goes to manual review");
        let mut enterprise = good();
        enterprise.business.business_type = BusinessType::Enterprise;
        assert_eq!(enterprise.check(today())[0].code, "account_holder_mismatch", "enterprises settle to the company");
        enterprise.settlement_account.account_holder = "张三便利店".into();
        assert!(enterprise.check(today()).is_empty());
    }
}
