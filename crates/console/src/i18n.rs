//! The consoles' words in English and Chinese. Every string a page shows is here, once per
//! language, so a page cannot show one language's word in the other's page: the templates read
//! `t.<name>`, and the compiler checks every name.

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// From `zh`, `zh-CN`, `en`, `en-US` …
    pub fn parse(value: &str) -> Option<Lang> {
        let value = value.trim().to_ascii_lowercase();
        if value.starts_with("zh") {
            Some(Lang::Zh)
        } else if value.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first language of an `Accept-Language` header we speak.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header.split(',').find_map(|part| Lang::parse(part.split(';').next().unwrap_or("")))
    }

    /// As the `lang` attribute and the cookie say it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// Its words.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
}

macro_rules! text {
    ($($name:ident: $en:literal, $zh:literal;)+) => {
        /// Every word of the consoles, in one language.
        #[derive(Debug)]
        pub struct Text {
            $(#[doc = $en] pub $name: &'static str,)+
        }

        /// English.
        pub static EN: Text = Text { $($name: $en,)+ };
        /// 简体中文.
        pub static ZH: Text = Text { $($name: $zh,)+ };
    };
}

text! {
    app: "XingTong", "星通";
    merchant_console: "Merchant console", "商户控制台";
    ops_console: "Operations console", "运营控制台";
    switch_language: "中文", "English";
    skip_to_content: "Skip to content", "跳到正文";
    sign_in: "Sign in", "登录";
    sign_out: "Sign out", "退出";
    login: "Phone or email", "手机号或邮箱";
    username: "Username", "用户名";
    password: "Password", "密码";
    signed_in_as: "Signed in as", "当前用户";
    wrong_credentials: "Wrong login or password.", "账号或密码错误。";
    locked: "Too many wrong tries: wait 15 minutes, then try again.", "错误次数过多，请15分钟后再试。";
    nav_overview: "Overview", "概览";
    nav_transactions: "Transactions", "交易";
    nav_settlements: "Settlements", "结算";
    nav_reports: "Reports", "报表";
    nav_review: "Review queue", "审核队列";
    nav_merchants: "Merchants", "商户";
    not_found: "Not found", "未找到";
    not_found_body: "There is nothing here, or it is not yours to see.", "此页面不存在，或您无权查看。";
    refused: "Refused", "已拒绝";
    csrf_refused: "This form was not sent from this page (or the page is too old). Go back, reload it and send it again.", "表单来源无效（或页面已过期）。请返回并刷新页面后重新提交。";
    forbidden_body: "Your account may not do this.", "您的账号无权执行此操作。";
    error: "Something went wrong", "出错了";
    error_body: "The request could not be completed. Try again; if it persists, give support this request id:", "请求未能完成。请重试；如仍有问题，请将此请求编号提供给客服：";
    merchants: "Merchants", "商户";
    no_merchant: "You have no merchant yet: your application is not approved.", "您还没有商户：申请尚未通过审核。";
    devices: "Devices", "设备";
    no_devices: "No devices.", "暂无设备。";
    mid: "Merchant number (MID)", "商户号";
    tid: "Terminal (TID)", "终端号";
    model: "Model", "型号";
    serial_number: "Serial number", "序列号";
    status: "Status", "状态";
    name: "Name", "名称";
    deposit: "Deposit", "押金";
    device_ordered: "Ordered", "已订购";
    device_shipped: "Shipped", "已发货";
    device_bound: "Not activated (未激活)", "未激活";
    device_activated: "Activated (已激活)", "已激活";
    device_suspended: "Suspended", "已停用";
    merchant_active: "Active", "正常";
    merchant_suspended: "Suspended", "已停用";
    transactions: "Transactions", "交易明细";
    date_from: "From", "开始日期";
    date_to: "To", "结束日期";
    terminal: "Terminal", "终端";
    any: "Any", "全部";
    method: "Method", "支付方式";
    method_card: "Bank card", "银行卡";
    method_wechat: "WeChat Pay", "微信支付";
    method_alipay: "Alipay", "支付宝";
    method_unionpay_qr: "UnionPay QR", "云闪付";
    kind: "Type", "交易类型";
    business_type: "Business", "业务类型";
    business_sale: "Sale", "销售";
    business_collection: "Collection", "收款";
    business_purchase: "Purchase", "进货";
    status_approved: "Approved", "成功";
    status_declined: "Declined", "失败";
    status_voided: "Voided", "已撤销";
    status_reversed: "Reversed", "已冲正";
    status_completed: "Completed", "已完成";
    status_pending: "Pending", "处理中";
    cashier: "Cashier", "操作员";
    amount: "Amount", "金额";
    fee: "Fee", "手续费";
    time: "Time", "时间";
    response: "Response", "应答";
    filter: "Filter", "筛选";
    export_csv: "Export CSV", "导出 CSV";
    export_xlsx: "Export XLSX", "导出 XLSX";
    sales_report: "Sales report", "销售报表";
    period: "Period", "周期";
    period_day: "By day", "按日";
    period_week: "By week", "按周";
    period_month: "By month", "按月";
    split_by: "Split by", "分组";
    by_total: "Nothing", "不分组";
    by_terminal: "Terminal", "终端";
    by_cashier: "Cashier", "操作员";
    by_method: "Payment method", "支付方式";
    by_business_type: "Business type", "业务类型";
    sales: "Sales", "消费";
    voids: "Voids", "撤销";
    refunds: "Refunds", "退货";
    count: "Count", "笔数";
    declined: "Declined", "失败";
    total: "Total", "合计";
    unknown: "(not recorded)", "（未记录）";
    chart_net: "Net by period", "各期净额";
    chart_mix: "Sales by payment method", "各支付方式消费金额";
    report_range_refused: "Choose a range of 1 to 366 days, the end not before the start.", "请选择1至366天的日期范围，结束日期不早于开始日期。";
    next_page: "Next page", "下一页";
    nothing_found: "Nothing matches.", "没有符合条件的记录。";
    receipt: "Receipt", "签购单";
    card_number: "Card", "卡号";
    rrn: "Reference number", "参考号";
    auth_code: "Authorization code", "授权码";
    batch: "Batch", "批次号";
    stan: "Trace number", "凭证号";
    original: "Original transaction", "原交易";
    refunded: "Refunded", "已退款";
    wallet_order: "Wallet order", "钱包订单号";
    what_to_do: "What to do", "处理建议";
    settlements: "Settlements", "结算记录";
    business_day: "Business day", "交易日";
    gross: "Gross", "交易金额";
    net: "Net", "净额";
    payout: "Payout", "划款";
    lines: "Lines", "笔数";
    review_queue: "Applications waiting for review", "待审核申请";
    queue_empty: "No application is waiting.", "暂无待审核申请。";
    application: "Application", "申请";
    applicant: "Applicant", "申请人";
    business_name: "Business name", "经营名称";
    submissions: "Submissions", "提交次数";
    open: "Open", "查看";
    take_for_review: "Take for review", "开始审核";
    approve: "Approve", "通过";
    reject: "Reject", "驳回";
    reject_reason: "Reason (shown to the applicant)", "驳回原因（将告知申请人）";
    documents: "Documents", "资料";
    warnings: "Warnings for the reviewer", "审核提示";
    phone: "Phone", "手机号";
    email: "Email", "邮箱";
    address: "Address", "地址";
    settlement_account: "Settlement account", "结算账户";
    bank: "Bank", "开户行";
    account_holder: "Account holder", "户名";
    decided: "Done.", "已处理。";
    settlement_cleared: "Cleared: paid out on the payout date", "已清算，于划款日付款";
    settlement_nothing: "Nothing to pay (refunds and fees carried forward)", "无需划款（退款及手续费结转）";
    sign_up: "Apply for a POS terminal", "申请POS机";
    sign_up_lead: "Register with your mobile number, then fill in the application and upload your documents.", "使用手机号注册，然后填写申请并上传资料。";
    no_account: "No account yet?", "还没有账号？";
    have_account: "Already registered?", "已有账号？";
    your_name: "Your name", "姓名";
    nav_application: "Application", "申请";
    legal_name: "Legal name (as on the ID card)", "法定姓名（与身份证一致）";
    resident_id: "Resident ID number", "身份证号码";
    uscc: "Unified social credit code (licensed businesses)", "统一社会信用代码（持照经营者填写）";
    card_number_settlement: "Settlement bank card number", "结算银行卡号";
    delivery_address: "Device delivery address", "设备收货地址";
    doc_id_front: "ID card, portrait side", "身份证人像面";
    doc_id_back: "ID card, emblem side", "身份证国徽面";
    doc_licence: "Business licence", "营业执照";
    doc_tax: "Tax registration", "税务登记证";
    doc_bank_permit: "Bank account permit", "开户许可证";
    doc_storefront: "Storefront photo", "门头照";
    required: "required", "必填";
    uploaded: "Uploaded", "已上传";
    not_uploaded: "Not uploaded yet", "尚未上传";
    upload: "Upload", "上传";
    save: "Save", "保存";
    submit_application: "Submit for review", "提交审核";
    saved: "Saved.", "已保存。";
    saved_with_errors: "Saved, with problems to fix (shown beside the fields) before you can submit.", "已保存。提交前请先修正字段旁标出的问题。";
    fix_then_submit: "The application cannot be submitted yet: fix what is shown beside the fields.", "申请暂不能提交：请修正字段旁标出的问题。";
    choose_file: "Choose a file (JPEG, PNG or PDF, at most 5 MiB).", "请选择文件（JPEG、PNG或PDF，不超过5 MiB）。";
    documents_hint: "JPEG, PNG or PDF, at most 5 MiB each.", "JPEG、PNG或PDF格式，每个不超过5 MiB。";
    review_reason: "The reviewer's reason", "审核意见";
    waiting_review: "Submitted: a reviewer will look at it. You will be told by SMS and email.", "已提交，等待审核。结果将通过短信和邮件通知您。";
    approved_note: "Approved: your merchant and device are on the overview.", "已通过：商户和设备信息见概览页。";
    cashiers: "Cashiers", "操作员";
    cashier_pin_required: "PIN to be set", "待设置密码";
    cashier_active: "Active", "正常";
    cashier_locked: "Locked (PIN tries)", "已锁定（密码错误）";
    cashier_disabled: "Disabled", "已停用";
    reset_requested: "reset asked for", "已申请重置";
    reset_pin: "Reset PIN", "重置密码";
    pin_was_reset: "PIN reset: the owner sets a new one for operator", "密码已重置，请商户为该操作员设置新密码：";
    ship: "Ship", "发货";
    tracking_number: "Tracking number", "运单号";
    suspend: "Suspend", "停用";
    resume: "Resume", "恢复";
    reissue_code: "New activation code", "重发激活码";
    new_activation_code: "New activation code (shown once; give it to the merchant) for terminal", "新的激活码（仅显示一次，请告知商户），终端";
    not_done: "Not done", "操作未完成";
    actions: "Actions", "操作";
    app_draft: "Draft", "草稿";
    app_submitted: "Submitted", "已提交";
    app_under_review: "Under review", "审核中";
    app_approved: "Approved", "已通过";
    app_rejected: "Rejected", "已驳回";
    type_individual: "Individual / micro (小微)", "小微商户";
    type_individual_business: "Individual business (个体工商户)", "个体工商户";
    type_enterprise: "Enterprise", "企业";
    reason_required: "A reason is required (1 to 500 characters).", "请填写驳回原因（1至500字）。";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_read_from_headers_and_cookies() {
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("EN-us"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::from_accept_language("fr-FR, en;q=0.8, zh;q=0.5"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de"), None);
        assert_eq!(Lang::Zh.other().text().sign_in, "Sign in");
    }
}
