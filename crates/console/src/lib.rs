//! The web consoles, served by `xingtong serve` beside the JSON API: the merchant console at
//! `/console` and the operations console at `/ops`. Pages are rendered on the server from
//! templates compiled with the crate (askama: a template that does not match its data does not
//! compile, and every value is HTML-escaped unless a template says otherwise), in zh-CN and en,
//! with nothing fetched from elsewhere: the one stylesheet is inside the binary, and the pages
//! work without a script.
//!
//! # Layout
//! - [`i18n`]: every word of every page, in both languages.
//! - [`merchant`]: the merchant console's pages.
//! - [`ops`]: the operations console's pages.
//! - [`export`]: CSV exports.
//!
//! # Security invariants
//! - The session is the API's: the `xt_session` cookie, HttpOnly and SameSite, set at sign-in.
//! - Every form carries a token derived from a cookie the page set (HttpOnly, SameSite=Strict)
//!   under a host secret; a POST without the matching token is refused and changes nothing.
//! - Every response carries a strict Content-Security-Policy (nothing but this origin's
//!   stylesheet and images; no script, no frames, forms only to this origin).
//! - A page or export of something the caller may not see answers "not found", the same as
//!   something that does not exist. The services below decide who may see what; the consoles
//!   only ask them.

pub mod account;
pub mod apply;
pub mod chart;
pub mod export;
pub mod i18n;
pub mod merchant;
pub mod ops;
pub mod ops_finance;
pub mod ops_merchants;
pub mod period_reports;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use xingtong_api::AppState;
use xingtong_merchants::identity::Principal;

use crate::i18n::{Lang, Text};

/// The session cookie (the JSON API's).
pub const SESSION_COOKIE: &str = xingtong_api::onboarding::SESSION_COOKIE;
/// The longest report, in days (as the JSON API's).
pub const REPORT_DAYS_MAX: i64 = xingtong_api::reports::REPORT_DAYS_MAX;
/// The cookie the forms' tokens are derived from.
pub const CSRF_COOKIE: &str = "xt_csrf";
/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "xt_lang";
/// The form field carrying the token.
pub const CSRF_FIELD: &str = "_csrf";

/// The policy every page is served under: this origin's stylesheet and images, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     object-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'";

/// The routes of both consoles, to merge into the API's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(merchant::routes())
        .merge(apply::routes())
        .merge(account::routes())
        .merge(ops::routes())
        .merge(ops_merchants::routes())
        .merge(ops_finance::routes())
        .merge(period_reports::routes())
        .route("/console/static/console.css", axum::routing::get(stylesheet))
        .route("/console/language/{lang}", axum::routing::get(switch_language))
        .layer(axum::middleware::from_fn(security_headers))
}

const STYLESHEET: &str = include_str!("../static/console.css");

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
        .into_response()
}

/// The headers every console response carries.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Which console a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// `/console`.
    Merchant,
    /// `/ops`.
    Ops,
}

impl Console {
    /// Where it lives.
    pub fn root(self) -> &'static str {
        match self {
            Console::Merchant => "/console",
            Console::Ops => "/ops",
        }
    }
}

/// What every page knows of its request: language, caller, the form token.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The page's language.
    pub lang: Lang,
    /// Who is signed in, if anyone.
    pub principal: Option<Principal>,
    /// The session token, if any (for signing out).
    pub session: Option<String>,
    /// The form token cookie's value, and whether it is new (then it is set with the answer).
    csrf_cookie: (String, bool),
    /// The token forms carry.
    pub csrf: String,
    /// The path and query asked for (the language switch comes back to it).
    pub path: String,
    /// The request id, for error pages.
    pub request_id: String,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (n, value) = pair.trim().split_once('=')?;
        (n == name && !value.is_empty()).then(|| value.to_owned())
    })
}

fn csrf_token(state: &AppState, cookie: &str) -> String {
    let secret = state.merchants.host_secret("console form tokens");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret[..]).expect("any key length");
    mac.update(cookie.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Ctx, Response> {
        let headers = &parts.headers;
        let lang = cookie(headers, LANG_COOKIE)
            .and_then(|c| Lang::parse(&c))
            .or_else(|| {
                headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::Zh);
        let session = cookie(headers, SESSION_COOKIE);
        let principal = match &session {
            Some(token) => match state.merchants.session(token).await {
                Ok(principal) => principal,
                Err(error) => {
                    tracing::error!(%error, "a console session could not be read");
                    None
                }
            },
            None => None,
        };
        let csrf_cookie = match cookie(headers, CSRF_COOKIE).filter(|c| c.len() == 32) {
            Some(value) => (value, false),
            None => (hex::encode(rand::random::<[u8; 16]>()), true),
        };
        let csrf = csrf_token(state, &csrf_cookie.0);
        let asked = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        // A page answered to a form (POST) comes back, on a language switch or a sign-in, to the
        // page the form was on: the POST's own address takes no GET.
        let path = if parts.method == axum::http::Method::GET {
            asked
        } else {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(referred_path)
                .unwrap_or_else(|| if asked.starts_with("/ops") { "/ops" } else { "/console" }.to_owned())
        };
        let request_id =
            headers.get(xingtong_api::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
        Ok(Ctx { lang, principal, session, csrf_cookie, csrf, path, request_id })
    }
}

/// The path (and query) of a `Referer` when it is a page of the consoles.
fn referred_path(referer: &str) -> Option<String> {
    let rest = referer.split_once("://").map_or(referer, |(_, rest)| rest);
    let path = &rest[rest.find('/')?..];
    ((path.starts_with("/console") || path.starts_with("/ops")) && !path.starts_with("//")).then(|| path.to_owned())
}

/// Why a page was not shown.
#[derive(Debug)]
pub enum Fail {
    /// Not there, or not the caller's: the same answer.
    NotFound,
    /// A form without its token.
    Csrf,
    /// Signed in, but not allowed.
    Forbidden,
    /// Not signed in (or signed in to the other console): to its sign-in page.
    SignIn(Console),
    /// Something broke inside; logged.
    Internal(String),
}

impl From<xingtong_merchants::Error> for Fail {
    fn from(error: xingtong_merchants::Error) -> Fail {
        use xingtong_merchants::Class;
        match error.class {
            Class::NotFound => Fail::NotFound,
            Class::Forbidden | Class::Unauthenticated => Fail::Forbidden,
            _ => Fail::Internal(format!("{}: {}", error.code, error.message)),
        }
    }
}

impl From<xingtong_store::StoreError> for Fail {
    fn from(error: xingtong_store::StoreError) -> Fail {
        Fail::Internal(error.to_string())
    }
}

impl From<askama::Error> for Fail {
    fn from(error: askama::Error) -> Fail {
        Fail::Internal(format!("a page did not render: {error}"))
    }
}

/// What every page's frame shows.
#[derive(Debug)]
pub struct Base {
    /// The words.
    pub t: &'static Text,
    /// The language.
    pub lang: Lang,
    /// Which console.
    pub console: Console,
    /// The page's title.
    pub title: String,
    /// The form token.
    pub csrf: String,
    /// Who is signed in (for the header), if anyone.
    pub who: Option<String>,
    /// Where the language switch goes.
    pub switch_href: String,
}

impl Base {
    /// The console's name.
    pub fn console_name(&self) -> &'static str {
        match self.console {
            Console::Merchant => self.t.merchant_console,
            Console::Ops => self.t.ops_console,
        }
    }

    /// Where the console lives.
    pub fn root(&self) -> &'static str {
        self.console.root()
    }

    /// True on the merchant console.
    pub fn is_merchant(&self) -> bool {
        self.console == Console::Merchant
    }
}

/// Percent-encodes a value for a URL's query.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Ctx {
    /// The frame of a page in `console` titled `title`.
    pub fn base(&self, console: Console, title: &str) -> Base {
        let who = match &self.principal {
            Some(Principal::Owner { user_id, .. }) => Some(user_id.clone()),
            Some(Principal::Staff { id, .. }) => Some(id.clone()),
            _ => None,
        };
        Base {
            t: self.lang.text(),
            lang: self.lang,
            console,
            title: title.to_owned(),
            csrf: self.csrf.clone(),
            who,
            switch_href: format!(
                "/console/language/{}?back={}",
                if self.lang.other() == Lang::En { "en" } else { "zh" },
                url_encode(&self.path)
            ),
        }
    }

    /// Checks a form's token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), Fail> {
        // The cookie must have come with the request (a new one means the form did not come
        // from a page of ours), and the token must be the one derived from it.
        if self.csrf_cookie.1 || !constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            return Err(Fail::Csrf);
        }
        Ok(())
    }

    /// The owner's merchants, or to the sign-in page.
    pub fn owner(&self) -> Result<&[String], Fail> {
        match &self.principal {
            Some(Principal::Owner { merchant_ids, .. }) => Ok(merchant_ids),
            _ => Err(Fail::SignIn(Console::Merchant)),
        }
    }

    /// The staff member, or to the sign-in page.
    pub fn staff(&self) -> Result<&Principal, Fail> {
        match &self.principal {
            Some(p @ Principal::Staff { .. }) => Ok(p),
            _ => Err(Fail::SignIn(Console::Ops)),
        }
    }

    /// A rendered page, with this request's cookies.
    pub fn page(&self, status: StatusCode, html: String) -> Response {
        let mut response =
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
                .into_response();
        self.add_cookies(&mut response);
        response
    }

    /// A redirect after a form (303: the browser asks with GET).
    pub fn redirect(&self, to: &str) -> Response {
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
        self.add_cookies(&mut response);
        response
    }

    fn add_cookies(&self, response: &mut Response) {
        if self.csrf_cookie.1
            && let Ok(value) = HeaderValue::from_str(&format!(
                "{CSRF_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=86400",
                self.csrf_cookie.0
            ))
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }

    /// The page for a failure, in `console`.
    pub fn fail(&self, console: Console, fail: Fail) -> Response {
        let t = self.lang.text();
        let (status, title, body) = match fail {
            Fail::SignIn(console) => {
                let to = format!("{}/sign-in?next={}", console.root(), url_encode(&self.path));
                return self.redirect(&to);
            }
            Fail::NotFound => (StatusCode::NOT_FOUND, t.not_found, t.not_found_body.to_owned()),
            Fail::Csrf => (StatusCode::FORBIDDEN, t.refused, t.csrf_refused.to_owned()),
            Fail::Forbidden => (StatusCode::FORBIDDEN, t.refused, t.forbidden_body.to_owned()),
            Fail::Internal(message) => {
                tracing::error!(request_id = %self.request_id, %message, "a console page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, t.error, format!("{} {}", t.error_body, self.request_id))
            }
        };
        let page = ErrorPage { base: self.base(console, title), body };
        match page.render() {
            Ok(html) => self.page(status, html),
            Err(error) => {
                tracing::error!(%error, "the error page did not render");
                (status, title).into_response()
            }
        }
    }

    /// A handler's result as a response.
    pub fn finish(&self, console: Console, result: Result<Response, Fail>) -> Response {
        result.unwrap_or_else(|fail| self.fail(console, fail))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    base: Base,
    body: String,
}

#[derive(serde::Deserialize)]
struct Back {
    back: Option<String>,
}

/// Sets the language and goes back to the page (only to a page of the consoles).
async fn switch_language(
    ctx: Ctx,
    axum::extract::Path(lang): axum::extract::Path<String>,
    axum::extract::Query(back): axum::extract::Query<Back>,
) -> Response {
    let lang = Lang::parse(&lang).unwrap_or(ctx.lang);
    let back = back
        .back
        .filter(|b| (b.starts_with("/console") || b.starts_with("/ops")) && !b.starts_with("//"))
        .unwrap_or_else(|| "/console".to_owned());
    let mut response = ctx.redirect(&back);
    if let Ok(value) =
        HeaderValue::from_str(&format!("{LANG_COOKIE}={}; SameSite=Lax; Path=/; Max-Age=31536000", lang.code()))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Sets the session cookie after a sign-in.
pub(crate) fn with_session(mut response: Response, token: &str, ttl_ns: u64) -> Response {
    let ttl = ttl_ns / 1_000_000_000;
    if let Ok(value) =
        HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={ttl}"))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Clears the session cookie.
pub(crate) fn without_session(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::SET_COOKIE, HeaderValue::from_static("xt_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"));
    response
}

/// A service's findings (`details.findings[]` of a `validation_failed` refusal) in the page's
/// language: (field, is an error, message).
pub(crate) fn findings_of(lang: Lang, error: &xingtong_merchants::Error) -> Vec<(String, bool, String)> {
    let key = if lang == Lang::Zh { "message_zh" } else { "message_en" };
    error
        .details
        .as_ref()
        .and_then(|d| d["findings"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or("").to_owned(),
                f["severity"] == "error",
                f[key].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Money as a page shows it: `¥1,234.56`.
pub fn yuan(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let (whole, fen) = (abs / 100, abs % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}¥{grouped}.{fen:02}")
}

/// A time as a page shows it: China time, `YYYY-MM-DD hh:mm:ss`.
pub fn china_time(at_ns: u64) -> String {
    let (y, m, d, hh, mm, ss) = xingtong_payments::clock::china(i64::try_from(at_ns / 1_000_000_000).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

/// `YYYYMMDD` as `YYYY-MM-DD`.
pub fn dashed_day(day: &str) -> String {
    if day.len() == 8 { format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]) } else { day.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_days_read_as_people_write_them() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(123_456_789), "¥1,234,567.89");
        assert_eq!(yuan(-5), "-¥0.05");
        assert_eq!(yuan(100_000), "¥1,000.00");
        assert_eq!(dashed_day("20261128"), "2026-11-28");
        assert_eq!(
            url_encode("/console/transactions?from=2026-11-01&tid=1"),
            "/console/transactions%3Ffrom%3D2026-11-01%26tid%3D1"
        );
    }

    #[test]
    fn a_form_s_page_is_found_from_its_referer() {
        assert_eq!(
            referred_path("http://127.0.0.1:8080/ops/merchants/898?x=1").as_deref(),
            Some("/ops/merchants/898?x=1")
        );
        assert_eq!(referred_path("https://pos.example.cn/console/cashiers").as_deref(), Some("/console/cashiers"));
        assert_eq!(referred_path("http://evil.example/elsewhere"), None);
        assert_eq!(referred_path("http://host"), None);
        assert_eq!(referred_path("http://host//ops"), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
