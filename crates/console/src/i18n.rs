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
    chart_hours: "Approved sales by hour of day (China time)", "各时段消费金额（北京时间）";
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
    nav_bank_card: "Bank card", "结算卡";
    nav_cashiers: "Cashiers", "操作员";
    nav_fees: "Fees", "费率";
    nav_api_keys: "API keys", "API密钥";
    nav_notifications: "Notifications", "消息通知";
    last_sign_in: "Last sign-in", "最近签到";
    never_signed_in: "Never signed in", "从未签到";
    signed_off: "signed off", "已签退";
    deposit_progress: "Deposit refund progress", "押金返还进度";
    deposit_due: "Due: not paid yet", "待缴纳";
    deposit_held: "Held", "已缴纳";
    deposit_waived: "Waived", "已免除";
    deposit_refunding: "Earned back: refund being paid", "已达标，退款中";
    deposit_refunded: "Refunded", "已退还";
    deposit_kept: "Kept (target not met in time)", "未按期达标，押金不退";
    deposit_to_go: "to go, until", "尚差，截止";
    settlement: "Settlement", "结算单";
    carried_in: "Carried in", "上期结转";
    carried_out: "Carried forward", "结转下期";
    payout_date: "Payout date", "划款日";
    payouts: "Payouts", "划款记录";
    payout_scheduled: "Scheduled", "待划款";
    payout_sending: "Sent, awaiting the bank", "已发送，等待银行应答";
    payout_paid: "Paid", "已到账";
    payout_failed: "Failed", "划款失败";
    payout_failed_help: "The bank refused this payout. Change the settlement card (the new card must be in the merchant's name): the payout is sent again to the new card at the next payout run, with nothing else to do.", "银行退回了此笔划款。请修改结算卡（户名须与商户一致）：下一次划款时将自动重新付至新卡，无需其他操作。";
    attempts: "Attempts", "划款尝试";
    to_card: "To card", "收款卡";
    bank_answer: "Bank's answer", "银行应答";
    purpose_deposit_refund: "Deposit refund", "押金退还";
    purpose_settlement: "Settlement", "结算款";
    more_lines: "More lines", "更多明细";
    current_card: "Payouts go to", "当前结算卡";
    change_card: "Change the settlement card", "修改结算银行卡";
    change_card_lead: "The new card must be in the merchant's own name. A 6-digit code is texted to the registered phone and is valid for 10 minutes; five wrong codes cancel the change.", "新卡户名须与商户一致。验证码将以短信发送至注册手机号，10分钟内有效；输错5次则本次修改作废。";
    send_code: "Send the code", "获取验证码";
    code_sent_to: "A code was texted to", "验证码已发送至";
    new_card: "New card", "新卡";
    sms_code: "Code from the SMS", "短信验证码";
    confirm_change: "Confirm the change", "确认修改";
    card_changed: "The settlement card is changed. It is used from the next payout; a failed payout is sent again to it.", "结算卡已修改，自下一次划款起使用；划款失败的款项将重新付至新卡。";
    wrong_code: "The code is wrong.", "验证码错误。";
    code_expired: "The code has expired: ask for a new one.", "验证码已过期，请重新获取。";
    change_not_pending: "This change is no longer open (five wrong codes cancel it): start again.", "该修改申请已失效（验证码输错5次即作废），请重新申请。";
    add_cashier: "Add a cashier", "添加操作员";
    operator_number: "Operator number (01–99)", "操作员号（01–99）";
    pin_six: "PIN (6 digits)", "密码（6位数字）";
    set_pin: "Set PIN", "设置密码";
    disable: "Disable", "停用";
    enable: "Enable", "启用";
    ask_reset: "Ask staff to reset the PIN", "申请重置密码";
    supervisor_note: "Operator 00 is the supervisor: its PIN authorises voids and refunds, and it cannot be disabled. A locked PIN is reset by staff: ask here, then set a new one.", "00号为主管操作员，其密码用于授权撤销和退货，不能停用。密码被锁定后须由运营人员重置：请在此申请，重置后再设置新密码。";
    fees_in_force: "Fees in force today", "今日执行费率";
    announced_changes: "Announced fee changes", "费率调整公告";
    no_fee_changes: "No change has been announced.", "暂无费率调整公告。";
    effective_from: "In force from", "生效日期";
    announced_at: "Announced", "公告时间";
    debit_rate: "Debit cards", "借记卡";
    debit_cap: "Debit cap per transaction", "借记卡单笔封顶";
    credit_rate: "Credit cards", "贷记卡";
    qr_rate: "QR (WeChat Pay, Alipay, UnionPay QR)", "扫码支付（微信、支付宝、云闪付）";
    d0_rate: "Same-day (D0) surcharge", "D0当日到账附加费率";
    limits: "Limits", "交易限额";
    limit_per_txn: "Per transaction", "单笔限额";
    limit_daily: "Per day, all methods", "单日累计限额";
    limit_credit_daily: "Credit cards per day", "贷记卡单日限额";
    limit_credit_monthly: "Credit cards per month", "贷记卡单月限额";
    limit_static_qr: "Static QR, per payer per day", "静态码单个付款人单日限额";
    no_limit: "No limit", "不限";
    settlement_cycle: "Settlement cycle", "结算周期";
    cycle_t1: "T+1: paid the next day", "T+1：次日到账";
    cycle_d0: "D0: paid the same day (with the D0 surcharge)", "D0：当日到账（收取D0附加费）";
    change: "Change", "修改";
    fee_notice: "Fees change only after an announcement at least 30 days ahead; you are told by SMS and email.", "费率调整须至少提前30天公告，并通过短信和邮件通知您。";
    api_keys_lead: "A key lets your own systems call the JSON API for this merchant (Authorization: Bearer …). Its secret is shown once, when it is made.", "API密钥供贵方系统调用本商户的JSON API（Authorization: Bearer …）。密钥仅在创建时显示一次。";
    label: "Label", "名称";
    scopes: "Scopes", "权限";
    scope_read: "Read", "只读";
    scope_payments: "Payments", "收款";
    scope_refunds: "Voids and refunds", "撤销与退货";
    scope_manage: "Cashiers", "操作员管理";
    create_key: "Create a key", "创建密钥";
    new_key: "The new key: copy it now, it is not shown again", "新密钥：请立即复制，不会再次显示";
    revoke: "Revoke", "吊销";
    key_active: "Active", "有效";
    key_revoked: "Revoked", "已吊销";
    created: "Created", "创建时间";
    no_keys: "No keys yet.", "暂无密钥。";
    channel: "Channel", "渠道";
    recipient: "To", "接收方";
    subject: "Subject", "主题";
    message: "Message", "内容";
    secret_withheld: "(carries a one-time code: shown only on the phone)", "（含一次性验证码，仅在手机上显示）";
    notif_pending: "Waiting", "待发送";
    notif_sent: "Sent", "已发送";
    notif_failed: "Failed", "发送失败";
    no_notifications: "No notifications yet.", "暂无通知。";
    nav_clearing: "Clearing & payouts", "清算与划款";
    nav_reconciliation: "Reconciliation", "对账";
    nav_fee_changes: "Fees", "费率";
    nav_outbox: "Outbox", "消息队列";
    nav_audit: "Audit log", "审计日志";
    nav_health: "Health", "系统状态";
    run_clearing: "Clear a business day", "清算交易日";
    run_clearing_note: "Clears every merchant's transactions of the day into settlements and schedules their payouts. Running a day again changes nothing. serve does it on its own once the day is over.", "将该交易日所有商户的交易清算为结算单并安排划款。重复清算同一天不会有任何变化。服务会在交易日结束后自动执行。";
    run_payouts: "Pay what is due", "执行划款";
    run_payouts_note: "Sends every payout due on the day, asks the bank about unanswered ones, and sends failed ones again once the merchant changed the card. serve does it every minute.", "发送当日到期的划款，向银行查询未应答的划款，并在商户修改结算卡后重发失败的划款。服务每分钟自动执行一次。";
    run: "Run", "执行";
    cleared_summary: "Cleared", "清算完成";
    payouts_summary: "Payouts run for", "划款已执行，划款日";
    merchants_looked_at: "Merchants looked at", "检查商户数";
    settlements_made: "Settlements made by this run", "本次新结算单";
    already_cleared: "Cleared before (unchanged)", "此前已清算（未变）";
    payouts_sum: "Payouts", "划款总额";
    fees_sum: "Fees and D0 surcharges", "手续费及D0附加费";
    payouts_looked_at: "Payouts looked at", "检查划款笔数";
    payouts_paid: "Paid", "成功";
    payouts_paid_sum: "Paid, in all", "成功金额";
    payouts_failed_now: "Failed", "失败";
    payouts_retried: "Sent again to a changed card", "改卡后重发";
    payouts_unknown: "Still awaiting the bank", "待银行应答";
    needs_attention: "Payouts needing attention (failed or awaiting the bank)", "需关注的划款（失败或待银行应答）";
    scheduled_runs: "Runs made by the server", "服务自动执行记录";
    run_id: "Run", "任务";
    outcome: "Outcome", "结果";
    detail: "Detail", "详情";
    outcome_ok: "OK", "成功";
    outcome_failed: "Failed", "失败";
    finance_only: "Clearing, payouts, reconciliation and fee changes need the finance role.", "清算、划款、对账和费率调整需要财务角色。";
    recon_source: "File", "对账文件";
    source_card: "Card network (CUP)", "银联卡";
    recon_run: "Reconcile", "执行对账";
    recon_show: "Show", "查看";
    recon_none: "This day is not reconciled yet for this file.", "该交易日尚未对此文件对账。";
    recon_summary: "Summary", "汇总";
    recon_network_lines: "Lines in the file", "文件笔数";
    recon_host_lines: "Lines of ours", "本方笔数";
    recon_matched: "Matched", "已匹配";
    recon_host_only: "Ours only (短款)", "短款（仅本方有）";
    recon_network_only: "Theirs only (长款)", "长款（仅对方有）";
    recon_mismatch: "Amounts differ (金额不符)", "金额不符";
    recon_balanced: "Balanced: every line matched.", "已平账：全部匹配。";
    recon_items: "Discrepancies, with what to do", "差错明细及处理建议";
    class: "Class", "类别";
    ours: "Ours", "本方";
    theirs: "Theirs", "对方";
    difference: "Difference", "差额";
    file: "File", "文件";
    announce_fees: "Announce new fees for a business type", "按商户类型公告新费率";
    announce_fees_note: "In force no earlier than 30 days after today; every merchant of the type is told by SMS and email, and keeps the old fees until that day. Sent again, nobody is told twice.", "生效日须在今天30天之后；该类型所有商户将收到短信和邮件通知，生效前沿用原费率。重复提交不会重复通知。";
    standard_fees: "Standard fees and limits of each business type", "各商户类型标准费率与限额";
    percent_hint: "per cent, e.g. 0.38", "百分比，如 0.38";
    yuan_hint: "yuan, e.g. 20.00", "元，如 20.00";
    announce: "Announce", "公告";
    announced_summary: "Announced. Merchants of the type, newly told:", "已公告。该类型商户数、本次新通知数：";
    bad_rate: "A rate or amount could not be read: give a per cent such as 0.38 and an amount such as 20.00.", "费率或金额格式有误：费率请填百分比（如 0.38），金额请填元（如 20.00）。";
    bad_date: "Give a date as YYYY-MM-DD.", "请按 YYYY-MM-DD 格式填写日期。";
    all_statuses: "All", "全部";
    attempts_count: "Attempts", "尝试次数";
    last_error: "Last error", "最近错误";
    actor: "Who", "操作人";
    action: "Action", "操作";
    subject_kind: "Record kind", "对象类型";
    subject_id: "Record id", "对象编号";
    search: "Search", "搜索";
    older: "Older", "更早";
    node: "This node", "本节点";
    version: "Version", "版本";
    uptime: "Up for", "运行时长";
    database: "Database", "数据库";
    database_ok: "answers", "正常";
    database_down: "does not answer", "无响应";
    database_latency: "Round trip", "往返耗时";
    outbox_waiting: "Messages waiting", "待发送消息";
    outbox_failed: "Messages failed", "发送失败消息";
    payouts_failed: "Payouts failed", "失败划款";
    payouts_sending: "Payouts awaiting the bank", "待银行应答划款";
    runs_failed: "Server runs failed (latest 50)", "自动任务失败（最近50次）";
    counters: "Counters since start", "启动以来计数";
    nodes_note: "Each node answers for itself: on PostgreSQL with several nodes, open this page on each (or scrape /metrics and /readyz).", "每个节点只报告自身状态：PostgreSQL 多节点部署时，请分别打开各节点此页面（或采集 /metrics 与 /readyz）。";
    activation_code: "Activation code", "激活码";
    activation_code_hint: "Enter it on the terminal, with the merchant number and the serial number, when it arrives.", "设备到货后，在终端上输入激活码、商户号和序列号完成激活。";
    waive_deposit: "Waive deposit", "免除押金";
    waiver_reason: "Reason for the waiver", "免除原因";
    deposit_state: "Deposit", "押金状态";
    settlement_report: "Settlement report", "结算报表";
    collection_report: "Collection report", "收款报表";
    collected: "Collected", "收款金额";
    all_days: "Whole range", "全部日期";
    collection_report_note: "By payment method: collected is what sales and completions took, less what was voided; refunds are then taken off with the fees to give the net, the same net as the sales report.", "按支付方式统计：收款金额为消费及预授权完成金额减去撤销金额；再扣除退货与手续费得到净额，与销售报表的净额一致。";
    refund_details: "Refunds, one by one", "退货明细";
    captured: "Captured", "收单金额";
    returned: "Returned", "退回金额";
    settlement_report_note: "By the business day each settlement cleared: captured is what sales and completions took, returned what voids and refunds gave back; fees include the D0 surcharge; carried forward is the balance the period's last settlement left for the next payout.", "按各结算单的清算交易日汇总：收单金额为消费及预授权完成金额，退回金额为撤销及退货金额；手续费含D0附加费；结转下期为该期最后一张结算单留待下次划款抵扣的余额。";
    kind_any: "Any type", "全部类型";
    announce_merchant_fees_note: "Finance role. In force no earlier than 30 days after today; the merchant is told by SMS and email and keeps the old fees until that day.", "需财务角色。生效日须在今天30天之后；商户将收到短信和邮件通知，生效前沿用原费率。";
    limits_note: "Risk staff set them; an empty credit limit is none. In force for the merchant's next transaction, and audited.", "由风控人员设置；贷记卡限额留空表示不限。对商户的下一笔交易即生效，并记入审计日志。";
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
