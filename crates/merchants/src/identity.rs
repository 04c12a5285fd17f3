//! Who is asking: operations staff (roles admin, reviewer, risk, finance; username and password),
//! merchant owners (phone or email and password; a session cookie), and merchants' API keys.
//! Passwords are kept only as Argon2id hashes; session tokens only as SHA-256 hashes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
pub use xingtong_crypto::SecretString;
use xingtong_store::{AuditEntry, Change, NewApiKey, UniqueKey, now_ns};

use crate::Merchants;
use crate::entity::{Entity, Stored, by_key, get, insert, load, new_id};
use crate::error::{Class, Error, Result};

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing staff.
    Admin,
    /// Reviews applications and reads their documents.
    Reviewer,
    /// Risk: limits, suspensions, PIN resets.
    Risk,
    /// Finance: settlement and deposits.
    Finance,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Reviewer, Role::Risk, Role::Finance];

    /// The role named so.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "reviewer" => Some(Role::Reviewer),
            "risk" => Some(Role::Risk),
            "finance" => Some(Role::Finance),
            _ => None,
        }
    }
}

/// The caller of an operation, as authenticated by an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Operations staff (a staff user's session, or the operations admin API key with every role).
    Staff {
        /// `stf_…`, or `key:<id>` for the operations key.
        id: String,
        /// What they may do.
        roles: Vec<Role>,
    },
    /// A merchant owner (applicant) signed in with a session.
    Owner {
        /// `usr_…`.
        user_id: String,
        /// Their merchants, in the order they were approved (none before the first approval).
        merchant_ids: Vec<String>,
    },
    /// A merchant's integration API key.
    MerchantKey {
        /// The key's public id.
        key_id: String,
        /// Whose key.
        merchant_id: String,
        /// What it may change besides reading (chosen when it was made).
        scopes: Vec<Scope>,
    },
}

/// What a merchant API key may do besides reading its merchant's data (every key reads). Chosen
/// when the key is made; a key made with none is read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Take payments: sales, pre-authorizations and their completions, balance inquiries.
    Payments,
    /// Voids, refunds and pre-authorization voids (with the supervisor's PIN).
    Refunds,
    /// Cashiers: add them, set their PINs, ask for PIN resets.
    Manage,
}

impl Scope {
    /// Every scope: what a key made without naming any (and every key made before scopes) has.
    pub const ALL: [Scope; 3] = [Scope::Payments, Scope::Refunds, Scope::Manage];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Payments => "payments",
            Scope::Refunds => "refunds",
            Scope::Manage => "manage",
        }
    }

    /// The scope with this API name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// A merchant key's scopes from its stored role: `merchant` (every scope, as keys made before
    /// scopes), or `merchant:` followed by scope names separated by commas (`merchant:` alone is
    /// read-only). `None` for anything else.
    pub fn from_role(role: &str) -> Option<Vec<Scope>> {
        match role.strip_prefix("merchant") {
            Some("") => Some(Scope::ALL.to_vec()),
            Some(rest) => {
                let list = rest.strip_prefix(':')?;
                list.split(',').filter(|s| !s.is_empty()).map(Scope::parse).collect()
            }
            None => None,
        }
    }

    /// The stored role of a merchant key with these scopes.
    pub fn role(scopes: &[Scope]) -> String {
        let names: Vec<&str> = Scope::ALL.into_iter().filter(|s| scopes.contains(s)).map(Scope::as_str).collect();
        format!("merchant:{}", names.join(","))
    }
}

impl Principal {
    /// Refuses a merchant API key without `scope` (staff and signed-in owners hold every scope of
    /// what they may reach).
    pub fn require_scope(&self, scope: Scope) -> Result<()> {
        match self {
            Principal::MerchantKey { scopes, .. } if !scopes.contains(&scope) => Err(Error::new(
                Class::Forbidden,
                "scope_required",
                format!("this API key may not do this: it needs the {} scope", scope.as_str()),
            )),
            _ => Ok(()),
        }
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        match self {
            Principal::Staff { id, .. } if id.starts_with("key:") => id.clone(),
            Principal::Staff { id, .. } => format!("staff:{id}"),
            Principal::Owner { user_id, .. } => format!("user:{user_id}"),
            Principal::MerchantKey { key_id, .. } => format!("key:{key_id}"),
        }
    }

    /// True for staff holding `role` (admins hold every role).
    pub fn has_role(&self, role: Role) -> bool {
        matches!(self, Principal::Staff { roles, .. } if roles.contains(&role) || roles.contains(&Role::Admin))
    }

    /// True for any staff.
    pub fn is_staff(&self) -> bool {
        matches!(self, Principal::Staff { .. })
    }

    /// Refuses unless staff with `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(Error::forbidden(format!("this needs the {role:?} staff role").to_lowercase()))
        }
    }

    /// The merchants the caller acts for: an owner's (every one approved for them) or a key's one.
    pub fn merchant_ids(&self) -> &[String] {
        match self {
            Principal::Owner { merchant_ids, .. } => merchant_ids,
            Principal::MerchantKey { merchant_id, .. } => std::slice::from_ref(merchant_id),
            Principal::Staff { .. } => &[],
        }
    }

    /// The merchant the caller acts for when it is the only one: a key's, or an owner's single
    /// merchant. `None` for staff, an owner not yet approved, or an owner with several merchants
    /// (who must say which).
    pub fn merchant_id(&self) -> Option<&str> {
        match self.merchant_ids() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Acts this caller for merchant `mid` (its owner or its key)?
    pub fn acts_for(&self, mid: &str) -> bool {
        self.merchant_ids().iter().any(|m| m == mid)
    }

    /// May this caller read and act on merchant `mid`'s data? Staff (any role) may read; the merchant
    /// itself may. Anyone else is told it does not exist.
    pub fn may_see_merchant(&self, mid: &str) -> Result<()> {
        if self.is_staff() || self.acts_for(mid) { Ok(()) } else { Err(Error::not_found("merchant")) }
    }

    /// Refuses unless the caller is the merchant `mid` (its owner or its key).
    pub fn require_merchant(&self, mid: &str) -> Result<()> {
        if self.acts_for(mid) { Ok(()) } else { Err(Error::not_found("merchant")) }
    }

    /// The merchant an owner means: `mid` when given (one of theirs), else their only one.
    pub fn owner_merchant(&self, mid: Option<&str>) -> Result<String> {
        let Principal::Owner { merchant_ids, .. } = self else {
            return Err(Error::forbidden("only an approved merchant's owner, signed in, may do this"));
        };
        match (mid, merchant_ids.as_slice()) {
            (Some(mid), _) if merchant_ids.iter().any(|m| m == mid) => Ok(mid.to_owned()),
            (Some(_), _) => Err(Error::not_found("merchant")),
            (None, [only]) => Ok(only.clone()),
            (None, []) => Err(Error::forbidden("only an approved merchant's owner, signed in, may do this")),
            (None, _) => Err(Error::new(
                Class::Unprocessable,
                "merchant_required",
                "you own several merchants: name one with \"mid\"",
            )),
        }
    }
}

/// A merchant owner's (applicant's) account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// `usr_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Mainland mobile number: login and SMS.
    pub phone: String,
    /// Email: login and email notices.
    pub email: Option<String>,
    /// Argon2id hash.
    pub password_hash: String,
    /// `zh-CN` or `en`.
    pub language: String,
    /// Their first merchant, once approved (kept for records written before `merchant_ids`).
    pub merchant_id: Option<String>,
    /// Every merchant approved for them, in order; a second approval adds one and never replaces
    /// the first.
    #[serde(default)]
    pub merchant_ids: Vec<String>,
    /// Wrong passwords in a row.
    pub failed_logins: u32,
    /// Logins refused until then (ns), after too many wrong passwords.
    pub locked_until: Option<u64>,
}

impl User {
    /// Every merchant approved for this owner, in order.
    pub fn merchants(&self) -> Vec<String> {
        if self.merchant_ids.is_empty() {
            self.merchant_id.iter().cloned().collect()
        } else {
            self.merchant_ids.clone()
        }
    }
}

impl Entity for User {
    const KIND: &'static str = "user";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.id.clone()
    }
    fn status(&self) -> String {
        "active".into()
    }
}

/// An operations staff account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Staff {
    /// `stf_…`.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Argon2id hash.
    pub password_hash: String,
    /// Wrong passwords in a row.
    pub failed_logins: u32,
    /// Logins refused until then (ns).
    pub locked_until: Option<u64>,
}

impl Entity for Staff {
    const KIND: &'static str = "staff";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        "staff".into()
    }
    fn status(&self) -> String {
        "active".into()
    }
}

/// A signed-in session; its id is the SHA-256 of the token, so a database leak reveals no token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Hex SHA-256 of the token.
    pub id: String,
    /// `user` or `staff`.
    pub subject: String,
    /// The user's or staff member's id.
    pub subject_id: String,
    /// Valid until (ns).
    pub expires_at: u64,
    /// Signed out.
    pub ended: bool,
}

impl Entity for Session {
    const KIND: &'static str = "session";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.subject_id.clone()
    }
    fn status(&self) -> String {
        if self.ended { "ended".into() } else { "active".into() }
    }
}

/// A new session's token, given to the caller once (as a cookie).
pub struct SessionToken(pub String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(xts_…)")
    }
}

/// The prefix of session tokens.
pub const SESSION_PREFIX: &str = "xts_";
/// An owner's session lasts a week.
pub const OWNER_SESSION_NS: u64 = 7 * 24 * 3_600 * 1_000_000_000;
/// A staff session lasts twelve hours.
pub const STAFF_SESSION_NS: u64 = 12 * 3_600 * 1_000_000_000;
/// Wrong passwords in a row before logins are refused for a while.
pub const LOGIN_FAILURES_MAX: u32 = 10;
/// How long: fifteen minutes.
pub const LOGIN_LOCK_NS: u64 = 15 * 60 * 1_000_000_000;

fn session_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks a new password: 8 to 128 characters.
pub fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if (8..=128).contains(&n) {
        Ok(())
    } else {
        Err(Error::new(Class::Unprocessable, "weak_password", "a password has 8 to 128 characters"))
    }
}

/// Hashes a secret (password, PIN, one-time code) off the async threads: Argon2id takes tens of ms.
pub async fn hash(secret: SecretString) -> Result<String> {
    tokio::task::spawn_blocking(move || xingtong_crypto::secret::hash_secret(secret.expose(), rand::random()))
        .await
        .map_err(|_| Error::new(Class::Internal, "internal", "internal error"))
}

/// Verifies a secret against its hash, off the async threads.
pub async fn verify(secret: SecretString, stored: String) -> bool {
    tokio::task::spawn_blocking(move || xingtong_crypto::secret::verify_secret(secret.expose(), &stored))
        .await
        .unwrap_or(false)
}

fn invalid_credentials() -> Error {
    Error::new(Class::Unauthenticated, "invalid_credentials", "wrong login or password")
}

/// What registering an owner needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Name.
    pub name: String,
    /// Mainland mobile number.
    pub phone: String,
    /// Email, optional.
    #[serde(default)]
    pub email: Option<String>,
    /// Password, 8 to 128 characters.
    pub password: SecretString,
    /// `zh-CN` (default) or `en`.
    #[serde(default)]
    pub language: Option<String>,
}

/// The language codes we speak.
pub fn language(requested: Option<&str>) -> Result<String> {
    match requested.unwrap_or("zh-CN") {
        "zh-CN" | "zh" => Ok("zh-CN".into()),
        "en" => Ok("en".into()),
        _ => Err(Error::new(Class::Unprocessable, "unsupported_language", "language is zh-CN or en")),
    }
}

impl Merchants {
    /// Registers a merchant owner and signs them in.
    pub async fn register_owner(&self, registration: Registration) -> Result<(User, SessionToken)> {
        let phone = registration.phone.trim().to_owned();
        let email = registration.email.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(str::to_lowercase);
        let mut findings = xingtong_onboarding::validate::mobile("phone", &phone);
        if let Some(email) = &email {
            findings.extend(xingtong_onboarding::validate::email("email", email));
        }
        let name = crate::text::checked("name", "invalid_name", &registration.name, 100)?;
        if !findings.is_empty() {
            return Err(crate::applications::validation_failed(&findings));
        }
        check_password(registration.password.expose())?;
        let user = User {
            id: new_id("usr"),
            name,
            phone: phone.clone(),
            email: email.clone(),
            password_hash: hash(registration.password).await?,
            language: language(registration.language.as_deref())?,
            merchant_id: None,
            merchant_ids: Vec::new(),
            failed_logins: 0,
            locked_until: None,
        };
        let mut keys = vec![UniqueKey { kind: User::KIND.into(), key: format!("phone:{phone}"), id: user.id.clone() }];
        if let Some(email) = &email {
            keys.push(UniqueKey { kind: User::KIND.into(), key: format!("email:{email}"), id: user.id.clone() });
        }
        self.store
            .apply(Change {
                puts: vec![insert(&user)?],
                claim_keys: keys,
                audit: vec![audit(&format!("user:{}", user.id), "user.registered", User::KIND, &user.id, "{}")],
                ..Change::default()
            })
            .await?;
        let token = self.new_session("user", &user.id, OWNER_SESSION_NS).await?;
        Ok((user, token))
    }

    async fn new_session(&self, subject: &str, subject_id: &str, ttl_ns: u64) -> Result<SessionToken> {
        let token = format!("{SESSION_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
        let session = Session {
            id: session_id(&token),
            subject: subject.into(),
            subject_id: subject_id.into(),
            expires_at: now_ns() + ttl_ns,
            ended: false,
        };
        self.store.apply(Change { puts: vec![insert(&session)?], ..Change::default() }).await?;
        Ok(SessionToken(token))
    }

    /// Signs an owner in by phone or email and password.
    pub async fn login_owner(&self, login: &str, password: &str) -> Result<SessionToken> {
        let login = login.trim();
        let key =
            if login.contains('@') { format!("email:{}", login.to_lowercase()) } else { format!("phone:{login}") };
        self.login::<User>(&key, password).await
    }

    /// Checks a password with the lockout rules and opens a session.
    async fn login<T: Credentials>(&self, key: &str, password: &str) -> Result<SessionToken> {
        let Some(account) = by_key::<T>(&self.store, key).await? else {
            // Spend the same time as a real check, so that timing does not tell which logins exist.
            let _ = verify(SecretString::new(password), DUMMY_HASH.to_owned()).await;
            return Err(invalid_credentials());
        };
        let now = now_ns();
        let (_, locked_until) = account.value.failures();
        if locked_until.is_some_and(|until| until > now) {
            return Err(Error::new(Class::Locked, "login_locked", "too many wrong passwords; try again in 15 minutes"));
        }
        let ok = verify(SecretString::new(password), account.value.password_hash().to_owned()).await;
        let mut updated = account.clone();
        let (failed, locked_until) = updated.value.failures_mut();
        if ok {
            if *failed != 0 {
                *failed = 0;
                *locked_until = None;
                self.store.apply(Change { puts: vec![updated.update()?], ..Change::default() }).await?;
            }
            return self.new_session(T::SUBJECT, &account.value.id(), T::SESSION_NS).await;
        }
        *failed += 1;
        if *failed >= LOGIN_FAILURES_MAX {
            *locked_until = Some(now + LOGIN_LOCK_NS);
            *failed = 0;
        }
        self.store.apply(Change { puts: vec![updated.update()?], ..Change::default() }).await?;
        Err(invalid_credentials())
    }

    /// Creates a staff account (the CLI, or an admin).
    pub async fn create_staff(
        &self,
        by: &str,
        username: &str,
        name: &str,
        roles: Vec<Role>,
        password: SecretString,
    ) -> Result<Staff> {
        let username = username.trim().to_lowercase();
        let valid = (3..=32).contains(&username.len())
            && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
        if !valid {
            return Err(Error::new(
                Class::Unprocessable,
                "invalid_username",
                "a username is 3 to 32 lower-case letters, digits, '.' or '_'",
            ));
        }
        if roles.is_empty() {
            return Err(Error::new(Class::Unprocessable, "roles_required", "give at least one role"));
        }
        check_password(password.expose())?;
        let staff = Staff {
            id: new_id("stf"),
            username: username.clone(),
            name: crate::text::checked("name", "invalid_name", name, 100)?,
            roles,
            password_hash: hash(password).await?,
            failed_logins: 0,
            locked_until: None,
        };
        let detail = serde_json::json!({ "username": username, "roles": staff.roles }).to_string();
        self.store
            .apply(Change {
                puts: vec![insert(&staff)?],
                claim_keys: vec![UniqueKey {
                    kind: Staff::KIND.into(),
                    key: format!("username:{username}"),
                    id: staff.id.clone(),
                }],
                audit: vec![audit(by, "staff.created", Staff::KIND, &staff.id, &detail)],
                ..Change::default()
            })
            .await?;
        Ok(staff)
    }

    /// Signs a staff member in.
    pub async fn login_staff(&self, username: &str, password: &str) -> Result<SessionToken> {
        self.login::<Staff>(&format!("username:{}", username.trim().to_lowercase()), password).await
    }

    /// The principal a session token stands for, if it is valid.
    pub async fn session(&self, token: &str) -> Result<Option<Principal>> {
        if !token.starts_with(SESSION_PREFIX) || token.len() != SESSION_PREFIX.len() + 64 {
            return Ok(None);
        }
        let Some(session) = load::<Session>(&self.store, &session_id(token)).await? else { return Ok(None) };
        let s = session.value;
        if s.ended || s.expires_at <= now_ns() {
            return Ok(None);
        }
        Ok(match s.subject.as_str() {
            "user" => {
                let user = get::<User>(&self.store, &s.subject_id, "user").await?;
                let merchant_ids = user.value.merchants();
                Some(Principal::Owner { user_id: user.value.id, merchant_ids })
            }
            "staff" => {
                let staff = get::<Staff>(&self.store, &s.subject_id, "staff").await?;
                Some(Principal::Staff { id: staff.value.id, roles: staff.value.roles })
            }
            _ => None,
        })
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<()> {
        if let Some(mut session) = load::<Session>(&self.store, &session_id(token)).await? {
            session.value.ended = true;
            self.store.apply(Change { puts: vec![session.update()?], ..Change::default() }).await?;
        }
        Ok(())
    }

    /// The principal an API key stands for.
    pub fn principal_for_key(&self, key: &xingtong_store::ApiKeyRecord) -> Option<Principal> {
        match (key.role.as_str(), &key.owner) {
            ("admin", _) => Some(Principal::Staff { id: format!("key:{}", key.id), roles: Role::ALL.to_vec() }),
            (role, Some(merchant_id)) => Some(Principal::MerchantKey {
                key_id: key.id.clone(),
                merchant_id: merchant_id.clone(),
                scopes: Scope::from_role(role)?,
            }),
            _ => None,
        }
    }

    /// Makes an API key for the caller's merchant; the token is returned once.
    pub async fn create_merchant_key(
        &self,
        principal: &Principal,
        mid: Option<&str>,
        label: &str,
        scopes: &[Scope],
    ) -> Result<NewApiKey> {
        let mid = &principal.owner_merchant(mid)?;
        let label = &crate::text::checked("label", "invalid_label", label, 100)?;
        let key = NewApiKey::generate_for(&Scope::role(scopes), label, Some(mid), now_ns());
        self.store
            .apply(Change {
                api_keys: vec![key.record.clone()],
                audit: vec![audit(
                    &principal.actor(),
                    "api_key.created",
                    "merchant",
                    mid,
                    &format!("{{\"key\":\"{}\"}}", key.record.id),
                )],
                ..Change::default()
            })
            .await?;
        Ok(key)
    }

    /// The caller's merchant's API keys (never their secrets).
    pub async fn merchant_keys(&self, principal: &Principal) -> Result<Vec<xingtong_store::ApiKeyRecord>> {
        if principal.merchant_ids().is_empty() {
            return Err(Error::forbidden("only a merchant has API keys"));
        }
        let mut keys = Vec::new();
        for mid in principal.merchant_ids() {
            keys.extend(self.store.api_keys_of(mid).await?);
        }
        Ok(keys)
    }

    /// Revokes one of the caller's merchant's API keys.
    pub async fn revoke_merchant_key(&self, principal: &Principal, key_id: &str) -> Result<()> {
        if !matches!(principal, Principal::Owner { .. }) {
            return Err(Error::forbidden("only the merchant's owner, signed in, can revoke API keys"));
        }
        let key = self.store.api_key(key_id.to_owned()).await?;
        let Some(mid) = key.and_then(|k| k.owner).filter(|owner| principal.acts_for(owner)) else {
            return Err(Error::not_found("API key"));
        };
        let mid = &mid;
        self.store
            .apply(Change {
                revoke_api_keys: vec![(key_id.to_owned(), mid.clone())],
                audit: vec![audit(
                    &principal.actor(),
                    "api_key.revoked",
                    "merchant",
                    mid,
                    &format!("{{\"key\":\"{key_id}\"}}"),
                )],
                ..Change::default()
            })
            .await?;
        Ok(())
    }

    /// The owner's own account.
    pub async fn user(&self, user_id: &str) -> Result<Stored<User>> {
        get::<User>(&self.store, user_id, "user").await
    }
}

/// An account that signs in with a password: owners and staff.
trait Credentials: Entity + Clone {
    /// `user` or `staff`, as sessions name it.
    const SUBJECT: &'static str;
    /// How long its sessions last.
    const SESSION_NS: u64;
    fn password_hash(&self) -> &str;
    fn failures(&self) -> (u32, Option<u64>);
    fn failures_mut(&mut self) -> (&mut u32, &mut Option<u64>);
}

impl Credentials for User {
    const SUBJECT: &'static str = "user";
    const SESSION_NS: u64 = OWNER_SESSION_NS;
    fn password_hash(&self) -> &str {
        &self.password_hash
    }
    fn failures(&self) -> (u32, Option<u64>) {
        (self.failed_logins, self.locked_until)
    }
    fn failures_mut(&mut self) -> (&mut u32, &mut Option<u64>) {
        (&mut self.failed_logins, &mut self.locked_until)
    }
}

impl Credentials for Staff {
    const SUBJECT: &'static str = "staff";
    const SESSION_NS: u64 = STAFF_SESSION_NS;
    fn password_hash(&self) -> &str {
        &self.password_hash
    }
    fn failures(&self) -> (u32, Option<u64>) {
        (self.failed_logins, self.locked_until)
    }
    fn failures_mut(&mut self) -> (&mut u32, &mut Option<u64>) {
        (&mut self.failed_logins, &mut self.locked_until)
    }
}

/// A hash of nothing anyone knows, checked when a login does not exist.
const DUMMY_HASH: &str = "argon2id$v=19$m=19456,t=2,p=1$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000";

/// An audit entry now.
pub fn audit(actor: &str, action: &str, kind: &str, id: &str, detail: &str) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: 0,
        actor: actor.into(),
        action: action.into(),
        subject_kind: kind.into(),
        subject_id: id.into(),
        detail: detail.into(),
    }
}
