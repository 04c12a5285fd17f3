//! Terminal sessions: sign-in (签到) verifies the terminal and the operator's PIN, opens or
//! continues the batch and issues fresh working keys under the TMK; sign-off (签退) ends it.
//! Sessions are stored (keys under the host master key) so that a restart keeps terminals signed
//! in, and cached in memory for the hot path.
//!
//! # Several processes on one database (PostgreSQL)
//! A process's cached session may be stale: the terminal signed in again, signed off, or got a
//! new batch through another process. Reading the stored session on every request would cost a
//! database round trip a sale; instead each stored version of a session has a **guard**, a store
//! counter (`terminal_session:<TID>:<version>`). Every change of the session record adds
//! [`SESSION_CLOSED`] to the guard of the version it replaces, in the same commit; every commit
//! of a request made under a cached session adds 1 to that session's guard with a maximum below
//! [`SESSION_CLOSED`]. The writer checks it under the lock that serialises all writers, so a
//! request is recorded only if its session was still the current one when it committed; one
//! that loses is recorded nowhere, the stale copy is dropped, and the request is decided again
//! from the stored session (C1 after a sign-off, 12 after a batch change, A0 under old keys).
//! A MAC that fails under the cached keys is checked again under the stored ones before A0.
//! The cost is one counter in the commit a sale already makes. SQLite serves one process, whose
//! cache is the truth, and needs no guard.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::outcome::Reason;
use serde::{Deserialize, Serialize};
use xingtong_crypto::{Key, WorkingKeys, WorkingKeysLayout};
use xingtong_merchants::cashiers::PinRefusal;
use xingtong_merchants::devices::{Device, DeviceStatus};
use xingtong_merchants::entity::{Entity, Stored, insert, load};
use xingtong_store::{Change, CounterAdd, now_ns};

use crate::engine::{Engine, Result};

/// A terminal's session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerminalSession {
    /// Terminal.
    pub tid: String,
    /// Merchant.
    pub mid: String,
    /// Signed-in operator.
    pub operator: String,
    /// The open batch.
    pub batch: u32,
    /// PIN key under the host master key.
    pub pin_key: String,
    /// MAC key under the host master key.
    pub mac_key: String,
    /// Signed in (false after sign-off).
    pub signed_in: bool,
    /// When (ns).
    pub signed_in_at: u64,
}

impl Entity for TerminalSession {
    const KIND: &'static str = "terminal_session";
    fn id(&self) -> String {
        self.tid.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        if self.signed_in { "signed_in".into() } else { "signed_out".into() }
    }
}

/// What closing a session version adds to its guard (see the module's documentation): more
/// than any number of requests one session can commit.
pub const SESSION_CLOSED: i64 = 1 << 40;

/// The guard counter of a stored session version.
fn guard_key(tid: &str, version: u64) -> String {
    format!("{}:{tid}:{version}", TerminalSession::KIND)
}

/// What a change of the session record adds to close the version `version` it replaces.
fn closing(tid: &str, version: u64) -> CounterAdd {
    CounterAdd { key: guard_key(tid, version), delta: SESSION_CLOSED, max: None }
}

/// A signed-in terminal, with its keys in clear, in memory only.
#[derive(Debug)]
pub struct Live {
    /// Terminal.
    pub tid: String,
    /// The version of the stored session this copy was made from; its guard is checked in every
    /// commit made under it (PostgreSQL).
    pub version: u64,
    /// Merchant.
    pub mid: String,
    /// Operator.
    pub operator: String,
    /// Batch.
    pub batch: u32,
    /// PIN key.
    pub pin_key: Key,
    /// The left half of the session's MAC key, which computes the CUP MAC (kept as such: making
    /// it from the whole key on every message cost two DES key schedules a sale).
    pub mac_key: Key,
    /// The device is already activated (so sales need not check).
    pub activated: AtomicBool,
    /// The first approved sale at or above this activates the device.
    pub activation_amount_minor: i64,
    /// The STANs this process has seen from the terminal in this session.
    pub stans: Mutex<StanWindow>,
}

impl Live {
    /// True when this process has not seen `stan` from the terminal in this session (and records
    /// it): it cannot be a duplicate, so the sale need not read the database to find out.
    pub fn fresh(&self, stan: u32) -> bool {
        self.stans.lock().unwrap_or_else(|p| p.into_inner()).first_sight(stan)
    }
}

/// The highest STAN seen and which of the [`StanWindow::WIDTH`] below it were seen too, so that
/// pipelined requests handled out of order are still known fresh. Anything older, or anything
/// after a restart (when nothing is known), counts as possibly seen: the caller then looks it up.
#[derive(Debug)]
pub struct StanWindow {
    /// None: nothing is known (a session loaded after a restart).
    highest: Option<u32>,
    /// Bit i: `highest - i` was seen.
    seen: u128,
}

impl StanWindow {
    /// How far below the highest STAN the window remembers.
    pub const WIDTH: u32 = 128;

    /// A window for a session just signed in here: no STAN of it seen yet.
    pub fn empty() -> StanWindow {
        StanWindow { highest: Some(0), seen: 1 }
    }

    /// A window that knows nothing: every STAN is checked.
    pub fn unknown() -> StanWindow {
        StanWindow { highest: None, seen: 0 }
    }

    /// Records `stan`; true when it had certainly not been seen.
    pub fn first_sight(&mut self, stan: u32) -> bool {
        let Some(highest) = self.highest else { return false };
        if stan > highest {
            let shift = stan - highest;
            self.seen = if shift >= Self::WIDTH { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = Some(stan);
            return true;
        }
        let below = highest - stan;
        if below >= Self::WIDTH {
            return false;
        }
        let bit = 1u128 << below;
        let fresh = self.seen & bit == 0;
        self.seen |= bit;
        fresh
    }
}

/// The cache of live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl Sessions {
    /// The live session of a terminal signed in through this process, if any (no database read).
    pub fn cached(&self, tid: &str) -> Option<Arc<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).get(tid).cloned()
    }

    fn put(&self, live: Arc<Live>) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(live.tid.clone(), live);
    }

    /// Forgets the cached copy of `tid`'s session if it is the version `version` (a newer copy
    /// stays).
    pub(crate) fn forget(&self, tid: &str, version: u64) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.get(tid).is_some_and(|l| l.version == version) {
            live.remove(tid);
        }
    }
}

/// How a sign-in ended.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the reply's field 62 and the batch.
    Ok {
        /// Field 62 (keys under the TMK).
        field62: Field62,
        /// The open batch (field 60.2 of the reply).
        batch: u32,
    },
    /// Refused, for this reason.
    Refused(Reason),
}

/// Field 62 of a sign-in reply; its `Debug` shows only its length.
pub struct Field62(pub Vec<u8>);

impl std::fmt::Debug for Field62 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Field62({} bytes)", self.0.len())
    }
}

/// The stand-in PAN of an operator's PIN block: `0000`, the terminal id and a `0`, so that the 12 digits
/// a format 0 block uses are `0000` and the TID (docs/iso8583.md §6).
pub fn operator_pin_pan(tid: &str) -> String {
    format!("0000{tid}0")
}

impl Engine {
    /// The live session of a terminal: from memory, or from the database when this process has
    /// none (after a restart, or a sign-in through another process).
    pub async fn live_session(&self, tid: &str) -> Result<Option<Arc<Live>>> {
        if let Some(live) = self.sessions().cached(tid) {
            return Ok(Some(live));
        }
        self.stored_session(tid).await
    }

    /// The stored session, made the cached one (`None`, and nothing cached, when signed off).
    async fn stored_session(&self, tid: &str) -> Result<Option<Arc<Live>>> {
        let Some(stored) = load::<TerminalSession>(self.store(), tid).await? else { return Ok(None) };
        if !stored.value.signed_in {
            if let Some(cached) = self.sessions().cached(tid) {
                self.sessions().forget(tid, cached.version);
            }
            return Ok(None);
        }
        let version = stored.version;
        let s = stored.value;
        let device = load::<Device>(self.store(), tid).await?;
        let live = Arc::new(Live {
            pin_key: self.merchants().unwrap_key(&s.pin_key)?,
            mac_key: self.merchants().unwrap_key(&s.mac_key)?.left_half(),
            tid: s.tid,
            version,
            mid: s.mid,
            operator: s.operator,
            batch: s.batch,
            activated: AtomicBool::new(device.as_ref().is_some_and(|d| d.value.status == DeviceStatus::Activated)),
            activation_amount_minor: device.map_or(0, |d| d.value.activation_amount_minor),
            // Loaded from the database: nothing is known, so every STAN of this session is checked.
            stans: Mutex::new(StanWindow::unknown()),
        });
        self.sessions().put(Arc::clone(&live));
        Ok(Some(live))
    }

    /// The stored session when it differs from `cached` (a sign-in, sign-off or new batch made
    /// elsewhere): `Some(newer)`, cached from now on, or `None` when signed off. `Some(cached)`
    /// when the store has the same version. Called before answering A0, so that a terminal signed
    /// in through another process is not refused for this process's stale keys.
    pub async fn refreshed_session(&self, cached: &Arc<Live>) -> Result<Option<Arc<Live>>> {
        let Some(stored) = load::<TerminalSession>(self.store(), &cached.tid).await? else {
            self.sessions().forget(&cached.tid, cached.version);
            return Ok(None);
        };
        if stored.version == cached.version {
            return Ok(Some(Arc::clone(cached)));
        }
        self.sessions().forget(&cached.tid, cached.version);
        self.stored_session(&cached.tid).await
    }

    /// The guard a request's commit carries, on a database several processes share (see the
    /// module's documentation): that of the session version the request was decided under.
    pub(crate) fn session_guard(&self, origin: &crate::Origin) -> Option<CounterAdd> {
        if !self.shared_database() {
            return None;
        }
        // What a commit made under a session adds to its guard: refused once the session was
        // replaced or ended, by this process or another.
        origin.session_version.map(|version| CounterAdd {
            key: guard_key(&origin.tid, version),
            delta: 1,
            max: Some(SESSION_CLOSED - 1),
        })
    }

    /// True when other processes may write the same database (PostgreSQL), so that nothing this
    /// process caches about a terminal can be trusted without a check in the commit.
    pub(crate) fn shared_database(&self) -> bool {
        self.store().backend() == "postgres"
    }

    /// Signs a terminal in: the device must be bound (or activated) to this merchant and not
    /// suspended; the operator's PIN block (under the TMK) must verify.
    pub async fn sign_in(
        &self,
        tid: &str,
        mid: &str,
        operator: &str,
        pin_block: Option<&[u8]>,
        layout: WorkingKeysLayout,
    ) -> Result<SignIn> {
        let Some(device) = load::<Device>(self.store(), tid).await? else {
            return Ok(SignIn::Refused(Reason::TerminalNotRegistered));
        };
        let d = &device.value;
        if d.mid != mid {
            return Ok(SignIn::Refused(Reason::WrongMerchant));
        }
        match d.status {
            DeviceStatus::Bound | DeviceStatus::Activated => {}
            DeviceStatus::Suspended => return Ok(SignIn::Refused(Reason::TerminalNotPermitted)),
            DeviceStatus::Ordered | DeviceStatus::Shipped => {
                return Ok(SignIn::Refused(Reason::TerminalNotRegistered));
            }
        }
        let Some(tmk) = self.merchants().device_tmk(d)? else {
            return Ok(SignIn::Refused(Reason::TerminalNotRegistered));
        };
        let Some(block) = pin_block else { return Ok(SignIn::Refused(Reason::WrongPin)) };
        let Ok(block) = <[u8; 8]>::try_from(block) else { return Ok(SignIn::Refused(Reason::PinFormatError)) };
        let clear = zeroize::Zeroizing::new(tmk.decrypt_block(block));
        let Ok(pin) = xingtong_crypto::decode_pin_block_format0(*clear, &operator_pin_pan(tid)) else {
            return Ok(SignIn::Refused(Reason::PinFormatError));
        };
        match self.merchants().verify_cashier_pin(mid, operator, pin.expose()).await? {
            Ok(_) => {}
            Err(PinRefusal::UnknownOperator) => return Ok(SignIn::Refused(Reason::UnknownOperator)),
            Err(PinRefusal::Wrong { .. }) => return Ok(SignIn::Refused(Reason::WrongPin)),
            // One reason for both: the PIN cannot be used until someone acts.
            Err(PinRefusal::Locked | PinRefusal::NotSet) => {
                return Ok(SignIn::Refused(Reason::PinTriesExceeded));
            }
        }
        drop(pin);
        let keys = WorkingKeys::generate(layout, &mut |bytes| rand::fill(bytes)).map_err(|_| internal())?;
        let field62 = keys.to_field62(&tmk).map_err(|_| internal())?;
        let previous = load::<TerminalSession>(self.store(), tid).await?;
        let batch = previous.as_ref().map_or(1, |s| s.value.batch);
        let session = TerminalSession {
            tid: tid.into(),
            mid: mid.into(),
            operator: operator.into(),
            batch,
            pin_key: self.merchants().wrap_key(&keys.pin_key),
            mac_key: self.merchants().wrap_key(&keys.mac_key),
            signed_in: true,
            signed_in_at: now_ns(),
        };
        let (put, version) = match &previous {
            Some(stored) => (Stored { value: session, ..stored.clone() }.update()?, stored.version + 1),
            None => (insert(&session)?, 1),
        };
        // The session this one replaces (here or in another process) commits nothing more.
        let counters = match &previous {
            Some(stored) if self.shared_database() => vec![closing(tid, stored.version)],
            _ => Vec::new(),
        };
        let audit = xingtong_merchants::identity::audit(
            &format!("terminal:{tid}"),
            "terminal.signed_in",
            TerminalSession::KIND,
            tid,
            &format!("{{\"operator\":\"{operator}\",\"batch\":{batch}}}"),
        );
        self.store().apply(Change { puts: vec![put], audit: vec![audit], counters, ..Change::default() }).await?;
        let live = Arc::new(Live {
            tid: tid.into(),
            version,
            mid: mid.into(),
            operator: operator.into(),
            batch,
            pin_key: keys.pin_key,
            mac_key: keys.mac_key.left_half(),
            activated: AtomicBool::new(d.status == DeviceStatus::Activated),
            activation_amount_minor: d.activation_amount_minor,
            stans: Mutex::new(StanWindow::empty()),
        });
        self.sessions().put(live);
        Ok(SignIn::Ok { field62: Field62(field62), batch })
    }

    /// The terminal's open batch (1 before its first sign-in) and the version of the session it
    /// was read from: this process's copy of the session, or the stored one. A request decided on
    /// it names that version in [`crate::Origin::session_version`]; on PostgreSQL its commit is
    /// refused if another process changed the session meanwhile (a JSON payment need not read the
    /// session each time).
    pub async fn current_batch(&self, tid: &str) -> Result<(u32, Option<u64>)> {
        if let Some(live) = self.sessions().cached(tid) {
            return Ok((live.batch, Some(live.version)));
        }
        let stored = load::<TerminalSession>(self.store(), tid).await?;
        Ok(stored.map_or((1, None), |s| (s.value.batch, Some(s.version))))
    }

    /// Signs a terminal off: its keys stop working, in every process.
    pub async fn sign_off(&self, tid: &str) -> Result<()> {
        self.change_session(tid, |session| std::mem::replace(&mut session.signed_in, false)).await
    }

    /// Opens `batch` as the terminal's batch (settlement closes the old one this way): requests
    /// of the old batch are refused (12) from the moment this commits, in every process.
    pub async fn open_batch(&self, tid: &str, batch: u32) -> Result<()> {
        self.change_session(tid, |session| std::mem::replace(&mut session.batch, batch) != batch).await
    }

    /// Changes a terminal's stored session (`change` says whether it changed anything) and closes
    /// the version it replaces. Every change of a session record after sign-in must come through
    /// here, or a cached copy in another process would go on committing under it.
    async fn change_session(&self, tid: &str, change: impl Fn(&mut TerminalSession) -> bool) -> Result<()> {
        xingtong_merchants::entity::retrying(|| async {
            let Some(mut stored) = load::<TerminalSession>(self.store(), tid).await? else { return Ok(()) };
            let version = stored.version;
            if !change(&mut stored.value) {
                return Ok(());
            }
            let counters = if self.shared_database() { vec![closing(tid, version)] } else { Vec::new() };
            self.store().apply(Change { puts: vec![stored.update()?], counters, ..Change::default() }).await?;
            self.sessions().forget(tid, version);
            Ok(())
        })
        .await
    }
}

fn internal() -> xingtong_merchants::Error {
    xingtong_merchants::Error::new(xingtong_merchants::Class::Internal, "internal", "internal error")
}

#[cfg(test)]
mod tests {
    use super::StanWindow;

    #[test]
    fn stan_window_knows_out_of_order_stans_and_doubts_the_rest() {
        let mut w = StanWindow::empty();
        assert!(w.first_sight(2));
        assert!(w.first_sight(1), "pipelined: 1 handled after 2 is still new");
        assert!(!w.first_sight(1), "seen");
        assert!(!w.first_sight(2), "seen");
        assert!(!w.first_sight(0), "STAN 0 is never valid");
        assert!(w.first_sight(300));
        assert!(w.first_sight(300 - StanWindow::WIDTH + 1), "inside the window, unseen");
        assert!(!w.first_sight(300 - StanWindow::WIDTH), "below the window: looked up");
        assert!(!w.first_sight(3), "far below: looked up");
        let mut unknown = StanWindow::unknown();
        assert!(!unknown.first_sight(5), "after a restart every STAN is looked up");
    }
}
