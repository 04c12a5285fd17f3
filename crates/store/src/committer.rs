//! The writer thread and its group commit.
//!
//! Every write goes through one channel to one thread per process. The thread takes the first
//! write, then everything else already queued (up to [`GROUP_EVENTS_MAX`] events), and makes all of
//! it durable in one database transaction: while one commit waits for the disk, the next group
//! forms, so the fsync cost is shared and throughput grows with load instead of collapsing.
//! Each caller is answered only after the commit holding its write has returned; if the commit
//! fails, everything in it is rolled back and every caller in the group gets the error.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use xingtong_ledger::{
    Account, AccountFlags, BATCH_EVENTS_MAX, Changes, CreateAccountResult, CreateTransferResult, Keys, Snapshot,
    Transfer, TransferFlags,
};

use crate::records::{Change, Home, Rejection};
use crate::tables::Table;
use crate::{ApiKeyRecord, Claim, Outcome, StoreError, StoredResponse, now_ns};

/// The most events one commit carries; a group stops growing here.
pub const GROUP_EVENTS_MAX: usize = 4 * BATCH_EVENTS_MAX;
/// The most idempotency records one commit purges, so that a backlog never stalls payments.
pub const IDEMPOTENCY_PURGE_MAX: usize = 10_000;
/// The most counters one purge deletes (one commit; callers repeat until fewer come back).
pub const COUNTER_PURGE_MAX: usize = 10_000;
/// The longest the writer waits for a group to fill before committing what it has.
pub const GROUP_LINGER_US: u64 = 500;
/// How often it looks while it waits.
pub const GROUP_LINGER_POLL_US: u64 = 20;
/// The most expired reservations released per commit, so that a backlog never stalls payments.
pub const EXPIRE_PER_COMMIT_MAX: usize = 1_000;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One request to the writer.
pub(crate) enum Write {
    Accounts {
        events: Vec<Account>,
        claim: Option<Claim<CreateAccountResult>>,
        reply: Reply<Outcome<Vec<CreateAccountResult>>>,
    },
    Transfers {
        events: Vec<Transfer>,
        claim: Option<Claim<CreateTransferResult>>,
        reply: Reply<Outcome<Vec<CreateTransferResult>>>,
    },
    ApiKey {
        record: ApiKeyRecord,
        reply: Reply<()>,
    },
    ExpireDue {
        reply: Reply<usize>,
    },
    PurgeIdempotency {
        before_ns: u64,
        reply: Reply<usize>,
    },
    /// Deletes counters whose keys lie in `[from, below)`: counters of time windows that have
    /// passed, which nothing reads or moves any more.
    PurgeCounters {
        from: String,
        below: String,
        reply: Reply<usize>,
    },
    /// A domain operation (records, keys, documents, audit, and the ledger events it carries).
    Change {
        change: Box<Change>,
        reply: Reply<Vec<i64>>,
    },
}

impl Write {
    fn events(&self) -> usize {
        match self {
            Write::Accounts { events, .. } => events.len(),
            Write::Transfers { events, .. } => events.len(),
            Write::Change { change, .. } => change.events(),
            Write::ApiKey { .. }
            | Write::ExpireDue { .. }
            | Write::PurgeIdempotency { .. }
            | Write::PurgeCounters { .. } => 1,
        }
    }
}

/// A stored idempotency record.
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyRow {
    pub scope: String,
    pub key: String,
    pub request_sha256: Vec<u8>,
    pub response: StoredResponse,
    pub created_at: u64,
}

/// The writer side of a backend. Calls come in the order begin → (lookups, loads) → write → commit,
/// or rollback after any error.
pub(crate) trait Backend: Send {
    fn name(&self) -> &'static str;
    /// True when this process is the only writer, so accounts may stay cached between commits.
    fn caches_accounts(&self) -> bool;
    /// Starts a write transaction and returns the ledger's last timestamp.
    fn begin(&mut self) -> Result<u64, StoreError>;
    fn idempotency(&mut self, scope: &str, key: &str) -> Result<Option<IdempotencyRow>, StoreError>;
    /// Loads what `keys` names into the snapshot (accounts already there are kept).
    fn load(&mut self, snapshot: &mut Snapshot, keys: &Keys) -> Result<(), StoreError>;
    /// Ids of pending transfers whose deadline is at or before `now`.
    fn due_pending(&mut self, now_ns: u64, limit: usize) -> Result<Vec<u128>, StoreError>;
    fn write(
        &mut self,
        snapshot: &Snapshot,
        changes: &Changes,
        idempotency: &[IdempotencyRow],
    ) -> Result<(), StoreError>;
    fn insert_api_key(&mut self, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Deletes at most `limit` idempotency records created before `before_ns`; returns how many.
    fn purge_idempotency(&mut self, before_ns: u64, limit: usize) -> Result<usize, StoreError>;
    /// Deletes at most `limit` counters with keys in `[from, below)`; returns how many.
    fn purge_counters(&mut self, from: &str, below: &str, limit: usize) -> Result<usize, StoreError>;
    /// The version of a record, if it exists (seeing this transaction's own writes).
    fn record_version(&mut self, kind: &str, id: &str) -> Result<Option<u64>, StoreError>;
    /// The version of a transaction (typed table), if it exists.
    fn txn_version(&mut self, kind: &str, id: &str) -> Result<Option<u64>, StoreError>;
    /// The version of a row of a typed domain table, if it exists.
    fn table_version(&mut self, table: Table, kind: &str, id: &str) -> Result<Option<u64>, StoreError>;
    /// The version of what a put names, in the table it goes to.
    fn put_version(&mut self, kind: &str, id: &str, home: Home) -> Result<Option<u64>, StoreError> {
        match home {
            Home::Records => self.record_version(kind, id),
            Home::Transactions => self.txn_version(kind, id),
            Home::Table(table) => self.table_version(table, kind, id),
        }
    }
    /// The id of the record holding a unique key, if any.
    fn key_holder(&mut self, kind: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Writes a checked change's rows (not its ledger events: those go through `write`).
    fn write_change(&mut self, change: &Change, now_ns: u64) -> Result<(), StoreError>;
    /// A counter's value (0 when it does not exist), seeing this transaction's own writes.
    fn counter(&mut self, key: &str) -> Result<i64, StoreError>;
    /// What a group's domain changes will check, read at once: record versions, key holders and
    /// counter values. The default asks one at a time; a backend with round trips overrides it.
    fn prefetch(&mut self, wanted: &Wanted) -> Result<Overlay, StoreError> {
        let mut overlay = Overlay::default();
        for (kind, id, home, _) in &wanted.records {
            let version = self.put_version(kind, id, *home)?;
            overlay.versions.insert((kind.clone(), id.clone()), version);
        }
        for (kind, key) in &wanted.keys {
            let holder = self.key_holder(kind, key)?;
            overlay.holders.insert((kind.clone(), key.clone()), holder);
        }
        for key in &wanted.counters {
            let value = self.counter(key)?;
            overlay.counters.insert(key.clone(), value);
        }
        Ok(overlay)
    }
    /// Sets counters to these values.
    fn set_counters(&mut self, values: &[(String, i64)]) -> Result<(), StoreError>;
    fn commit(&mut self, last_timestamp: u64) -> Result<(), StoreError>;
    fn rollback(&mut self);
}

/// What a group's domain changes name.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    /// Kind, id, the table it lives in, and its owner (a typed row's merchant: with the id, its
    /// whole primary key on PostgreSQL).
    pub records: Vec<(String, String, Home, String)>,
    pub keys: Vec<(String, String)>,
    pub counters: Vec<String>,
}

/// The state the group's domain changes are checked against: read once at the start of the group,
/// then kept up to date by each change applied, so that a later change sees an earlier one.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    pub versions: HashMap<(String, String), Option<u64>>,
    pub holders: HashMap<(String, String), Option<String>>,
    pub counters: HashMap<String, i64>,
    /// Counters the group's changes moved (repeats included), written once each at the end of the
    /// group: a merchant's daily total moves with every sale, and is stored once per commit.
    pub moved: Vec<String>,
}

/// The writer thread's body: runs until every sender is dropped.
pub(crate) fn run(mut backend: Box<dyn Backend>, mut receiver: mpsc::Receiver<Write>) {
    let mut snapshot = Snapshot::new(0);
    // How many writes the last group carried: the concurrency we expect to see again.
    let mut expected_writes = 1;
    while let Some(first) = receiver.blocking_recv() {
        let mut events = first.events();
        let mut group = vec![first];
        let lingering_since = std::time::Instant::now();
        while events < GROUP_EVENTS_MAX {
            match receiver.try_recv() {
                Ok(write) => {
                    events += write.events();
                    group.push(write);
                }
                // Callers answered by the last commit are still on their way back: wait a little
                // for as many as came last time, never longer than the linger bound.
                Err(mpsc::error::TryRecvError::Empty)
                    if group.len() < expected_writes
                        && lingering_since.elapsed() < std::time::Duration::from_micros(GROUP_LINGER_US) =>
                {
                    std::thread::sleep(std::time::Duration::from_micros(GROUP_LINGER_POLL_US));
                }
                Err(_) => break,
            }
        }
        expected_writes = group.len();
        metrics::histogram!("xingtong_commit_group_events").record(events as f64);
        let started = std::time::Instant::now();
        commit_group(backend.as_mut(), &mut snapshot, group);
        metrics::histogram!("xingtong_commit_seconds").record(started.elapsed().as_secs_f64());
    }
    tracing::debug!(backend = backend.name(), "writer stopped");
}

/// How one write of the group ends, before replies are sent.
enum Settled {
    Accounts(Result<Outcome<Vec<CreateAccountResult>>, StoreError>),
    Transfers(Result<Outcome<Vec<CreateTransferResult>>, StoreError>),
    Unit(Result<(), StoreError>),
    Count(Result<usize, StoreError>),
    Counters(Result<Vec<i64>, StoreError>),
    /// Same key and request as an earlier write of this group: answered with its response.
    SameAs(usize),
}

fn commit_group(backend: &mut dyn Backend, snapshot: &mut Snapshot, group: Vec<Write>) {
    let mut settled: Vec<Option<Settled>> = (0..group.len()).map(|_| None).collect();
    let mut stored: Vec<Option<StoredResponse>> = vec![None; group.len()];
    let result = apply_group(backend, snapshot, &group, &mut settled, &mut stored);
    match result {
        Ok(()) => {}
        Err(error) => {
            backend.rollback();
            // The snapshot may hold changes that never reached the disk: forget them.
            *snapshot = Snapshot::new(0);
            tracing::error!(backend = backend.name(), %error, writes = group.len(), "commit failed; group rolled back");
            metrics::counter!("xingtong_commit_failures_total").increment(1);
            let message = error.to_string();
            for slot in settled.iter_mut() {
                let failure = || StoreError::CommitFailed(message.clone());
                *slot = Some(match slot.take() {
                    Some(Settled::Accounts(_)) => Settled::Accounts(Err(failure())),
                    Some(Settled::Transfers(_)) => Settled::Transfers(Err(failure())),
                    Some(Settled::Count(_)) => Settled::Count(Err(failure())),
                    Some(Settled::Counters(_)) => Settled::Counters(Err(failure())),
                    Some(Settled::SameAs(_)) | Some(Settled::Unit(_)) | None => Settled::Unit(Err(failure())),
                });
            }
        }
    }
    reply_all(group, settled, &stored);
}

fn apply_group(
    backend: &mut dyn Backend,
    snapshot: &mut Snapshot,
    group: &[Write],
    settled: &mut [Option<Settled>],
    stored: &mut [Option<StoredResponse>],
) -> Result<(), StoreError> {
    let last_timestamp = backend.begin()?;
    if !backend.caches_accounts() {
        *snapshot = Snapshot::new(last_timestamp);
    }
    snapshot.last_timestamp = snapshot.last_timestamp.max(last_timestamp);
    let now = now_ns();

    // Idempotency first: a replay or a conflicting reuse is settled without touching the ledger.
    let mut claimed: HashMap<(&str, &str), (usize, &[u8])> = HashMap::new();
    for (index, write) in group.iter().enumerate() {
        let (scope, key, hash) = match write {
            Write::Accounts { claim: Some(c), .. } => (c.scope.as_str(), c.key.as_str(), &c.request_sha256[..]),
            Write::Transfers { claim: Some(c), .. } => (c.scope.as_str(), c.key.as_str(), &c.request_sha256[..]),
            _ => continue,
        };
        if let Some(&(first, first_hash)) = claimed.get(&(scope, key)) {
            settled[index] = Some(if first_hash == hash { Settled::SameAs(first) } else { key_reused(write) });
            continue;
        }
        if let Some(row) = backend.idempotency(scope, key)? {
            settled[index] =
                Some(if row.request_sha256 == hash { replayed(write, row.response) } else { key_reused(write) });
            continue;
        }
        claimed.insert((scope, key), (index, hash));
    }

    // Load everything the remaining writes name, in two rounds (then the accounts of pending transfers).
    let mut keys = Keys::default();
    for (index, write) in group.iter().enumerate() {
        if settled[index].is_some() {
            continue;
        }
        match write {
            Write::Accounts { events, .. } => keys.accounts.extend(events.iter().map(|a| a.id)),
            Write::Transfers { events, .. } => {
                let k = Keys::for_transfers(events);
                keys.accounts.extend(k.accounts);
                keys.transfers.extend(k.transfers);
            }
            Write::Change { change, .. } => {
                keys.accounts.extend(change.accounts.iter().map(|a| a.id));
                let k = Keys::for_transfers(&change.transfers);
                keys.accounts.extend(k.accounts);
                keys.transfers.extend(k.transfers);
            }
            Write::ApiKey { .. }
            | Write::ExpireDue { .. }
            | Write::PurgeIdempotency { .. }
            | Write::PurgeCounters { .. } => {}
        }
    }
    let due = if group.iter().any(|w| matches!(w, Write::ExpireDue { .. })) {
        backend.due_pending(now, EXPIRE_PER_COMMIT_MAX)?
    } else {
        Vec::new()
    };
    keys.transfers.extend(&due);
    backend.load(snapshot, &keys)?;
    let mut second = Keys::default();
    for write in group {
        match write {
            Write::Transfers { events, .. } => {
                second.accounts.extend(Keys::for_pending_accounts(snapshot, events).accounts);
            }
            Write::Change { change, .. } => {
                second.accounts.extend(Keys::for_pending_accounts(snapshot, &change.transfers).accounts);
            }
            _ => {}
        }
    }
    for id in &due {
        if let Some(p) = snapshot.transfers.get(id) {
            second.accounts.extend([p.debit_account_id, p.credit_account_id]);
        }
    }
    second.accounts.retain(|id| !snapshot.accounts.contains_key(id));
    if !second.is_empty() {
        backend.load(snapshot, &second)?;
    }

    // What the domain changes will check, read at once.
    let mut wanted = Wanted::default();
    for (index, write) in group.iter().enumerate() {
        if let (None, Write::Change { change, .. }) = (&settled[index], write) {
            wanted.records.extend(
                change
                    .puts
                    .iter()
                    .map(|p| (p.record.kind.clone(), p.record.id.clone(), p.home(), p.record.owner.clone())),
            );
            wanted.keys.extend(change.claim_keys.iter().map(|k| (k.kind.clone(), k.key.clone())));
            wanted.counters.extend(change.counters.iter().map(|c| c.key.clone()));
        }
    }
    wanted.records.sort_unstable();
    wanted.records.dedup();
    wanted.keys.sort_unstable();
    wanted.keys.dedup();
    wanted.counters.sort_unstable();
    wanted.counters.dedup();
    let mut overlay = backend.prefetch(&wanted)?;

    // Apply, in arrival order.
    let mut changes = Changes::default();
    let expired = snapshot.expire(&due, &mut changes);
    let mut idempotency = Vec::new();
    for (index, write) in group.iter().enumerate() {
        if settled[index].is_some() {
            continue;
        }
        settled[index] = Some(match write {
            Write::Accounts { events, .. } => {
                Settled::Accounts(Ok(Outcome::Applied(snapshot.create_accounts(events, now, &mut changes))))
            }
            Write::Transfers { events, .. } => {
                Settled::Transfers(Ok(Outcome::Applied(snapshot.create_transfers(events, now, &mut changes))))
            }
            Write::ApiKey { record, .. } => {
                backend.insert_api_key(record)?;
                Settled::Unit(Ok(()))
            }
            Write::ExpireDue { .. } => Settled::Count(Ok(expired)),
            Write::PurgeIdempotency { before_ns, .. } => {
                Settled::Count(Ok(backend.purge_idempotency(*before_ns, IDEMPOTENCY_PURGE_MAX)?))
            }
            Write::PurgeCounters { from, below, .. } => {
                Settled::Count(Ok(backend.purge_counters(from, below, COUNTER_PURGE_MAX)?))
            }
            Write::Change { change, .. } => Settled::Counters(
                apply_change(backend, snapshot, &mut overlay, change, now, &mut changes)?.map_err(StoreError::Rejected),
            ),
        });
    }

    // Render and store the responses of claimed keys, in the same transaction as the writes.
    for (index, write) in group.iter().enumerate() {
        let row = match (write, &settled[index]) {
            (Write::Accounts { claim: Some(claim), .. }, Some(Settled::Accounts(Ok(Outcome::Applied(results))))) => {
                claim_row(claim, results, now)
            }
            (Write::Transfers { claim: Some(claim), .. }, Some(Settled::Transfers(Ok(Outcome::Applied(results))))) => {
                claim_row(claim, results, now)
            }
            _ => continue,
        };
        stored[index] = Some(row.response.clone());
        idempotency.push(row);
    }
    if !overlay.moved.is_empty() {
        overlay.moved.sort_unstable();
        overlay.moved.dedup();
        let values: Vec<(String, i64)> = overlay.moved.iter().map(|key| (key.clone(), overlay.counters[key])).collect();
        backend.set_counters(&values)?;
    }
    backend.write(snapshot, &changes, &idempotency)?;
    backend.commit(snapshot.last_timestamp)?;
    metrics::counter!("xingtong_ledger_transfers_created_total").increment(changes.transfers.len() as u64);
    if backend.caches_accounts() {
        snapshot.clear_transfers();
        if snapshot.accounts.len() > ACCOUNTS_CACHED_MAX {
            snapshot.accounts.clear();
        }
    } else {
        *snapshot = Snapshot::new(snapshot.last_timestamp);
    }
    Ok(())
}

/// Checks a change against the current state and applies it, or refuses it leaving nothing behind.
/// The outer error fails the whole group (the database said no); the inner one refuses this change.
fn apply_change(
    backend: &mut dyn Backend,
    snapshot: &mut Snapshot,
    overlay: &mut Overlay,
    change: &Change,
    now: u64,
    changes: &mut Changes,
) -> Result<Result<Vec<i64>, Rejection>, StoreError> {
    // Checks first, writes after: a refused change has written nothing.
    for put in &change.puts {
        let at = (put.record.kind.clone(), put.record.id.clone());
        let current = match overlay.versions.get(&at) {
            Some(version) => *version,
            None => backend.put_version(&at.0, &at.1, put.home())?,
        };
        if current != put.expected {
            return Ok(Err(Rejection::Conflict { kind: at.0, id: at.1 }));
        }
    }
    for key in &change.claim_keys {
        let at = (key.kind.clone(), key.key.clone());
        let holder = match overlay.holders.get(&at) {
            Some(holder) => holder.clone(),
            None => backend.key_holder(&at.0, &at.1)?,
        };
        if let Some(holder) = holder
            && holder != key.id
        {
            return Ok(Err(Rejection::KeyTaken { kind: at.0, key: at.1 }));
        }
    }
    // Counters: added here, in the one writer, so that concurrent changes never conflict.
    let mut values: Vec<(String, i64)> = Vec::new();
    let mut results = Vec::with_capacity(change.counters.len());
    for add in &change.counters {
        let current = match values.iter().rev().find(|(k, _)| *k == add.key) {
            Some((_, v)) => *v,
            None => match overlay.counters.get(&add.key) {
                Some(value) => *value,
                None => backend.counter(&add.key)?,
            },
        };
        let next = current.saturating_add(add.delta);
        // Subtractions are never refused; a zero delta with a maximum is a check ("still ≤ max").
        if add.max.is_some_and(|max| add.delta >= 0 && next > max) {
            return Ok(Err(Rejection::CounterLimit { key: add.key.clone() }));
        }
        values.push((add.key.clone(), next));
        results.push(next);
    }
    // Ledger events as one linked chain each, so that the ledger itself makes them all or nothing.
    // Accounts and transfers in one change could not be undone together, so a change has one or the other.
    assert!(
        change.accounts.is_empty() || change.transfers.is_empty(),
        "a change creates ledger accounts or transfers, not both"
    );
    if !change.accounts.is_empty() {
        let mut events = change.accounts.clone();
        let last = events.len() - 1;
        for (i, event) in events.iter_mut().enumerate() {
            event.flags = if i < last { AccountFlags(event.flags.0 | AccountFlags::LINKED) } else { event.flags };
        }
        let results = snapshot.create_accounts(&events, now, changes);
        if results.iter().any(|r| *r != CreateAccountResult::Ok) {
            return Ok(Err(Rejection::Accounts(results)));
        }
    }
    if !change.transfers.is_empty() {
        let mut events = change.transfers.clone();
        let last = events.len() - 1;
        for (i, event) in events.iter_mut().enumerate() {
            if i < last {
                event.flags = TransferFlags(event.flags.0 | TransferFlags::LINKED);
            }
        }
        let results = snapshot.create_transfers(&events, now, changes);
        if results.iter().any(|r| *r != CreateTransferResult::Ok) {
            return Ok(Err(Rejection::Transfers(results)));
        }
    }
    backend.write_change(change, now)?;
    // Later changes of the group see this one.
    for put in &change.puts {
        overlay.versions.insert((put.record.kind.clone(), put.record.id.clone()), Some(put.expected.unwrap_or(0) + 1));
    }
    for key in &change.claim_keys {
        overlay.holders.entry((key.kind.clone(), key.key.clone())).or_insert_with(|| Some(key.id.clone()));
        if let Some(holder) = overlay.holders.get_mut(&(key.kind.clone(), key.key.clone()))
            && holder.is_none()
        {
            *holder = Some(key.id.clone());
        }
    }
    for (kind, key) in &change.release_keys {
        overlay.holders.insert((kind.clone(), key.clone()), None);
    }
    for (key, value) in values {
        overlay.counters.insert(key.clone(), value);
        overlay.moved.push(key);
    }
    Ok(Ok(results))
}

/// The most accounts the SQLite writer keeps cached; beyond it the cache starts again empty.
pub const ACCOUNTS_CACHED_MAX: usize = 1_000_000;

fn claim_row<R>(claim: &Claim<R>, results: &[R], created_at: u64) -> IdempotencyRow {
    IdempotencyRow {
        scope: claim.scope.clone(),
        key: claim.key.clone(),
        request_sha256: claim.request_sha256.to_vec(),
        response: (claim.render)(results),
        created_at,
    }
}

fn replayed(write: &Write, response: StoredResponse) -> Settled {
    match write {
        Write::Accounts { .. } => Settled::Accounts(Ok(Outcome::Replayed(response))),
        _ => Settled::Transfers(Ok(Outcome::Replayed(response))),
    }
}

fn key_reused(write: &Write) -> Settled {
    match write {
        Write::Accounts { .. } => Settled::Accounts(Ok(Outcome::KeyReused)),
        _ => Settled::Transfers(Ok(Outcome::KeyReused)),
    }
}

fn reply_all(group: Vec<Write>, settled: Vec<Option<Settled>>, stored: &[Option<StoredResponse>]) {
    for (write, settled) in group.into_iter().zip(settled) {
        let settled = match settled {
            Some(Settled::SameAs(first)) => match &stored[first] {
                Some(response) => replayed(&write, response.clone()),
                None => Settled::Unit(Err(StoreError::CommitFailed(
                    "the first use of this idempotency key did not complete".into(),
                ))),
            },
            Some(s) => s,
            None => Settled::Unit(Err(StoreError::CommitFailed("write was not processed".into()))),
        };
        // A caller that gave up (timed out, disconnected) has dropped its receiver; its write is
        // committed all the same, which is what makes a retry with the same key safe.
        match (write, settled) {
            (Write::Accounts { reply, .. }, Settled::Accounts(r)) => drop(reply.send(r)),
            (Write::Transfers { reply, .. }, Settled::Transfers(r)) => drop(reply.send(r)),
            (Write::ApiKey { reply, .. }, Settled::Unit(r)) => drop(reply.send(r)),
            (Write::Change { reply, .. }, Settled::Counters(r)) => drop(reply.send(r)),
            (Write::Change { reply, .. }, Settled::Unit(Err(e))) => drop(reply.send(Err(e))),
            (
                Write::ExpireDue { reply, .. }
                | Write::PurgeIdempotency { reply, .. }
                | Write::PurgeCounters { reply, .. },
                Settled::Count(r),
            ) => drop(reply.send(r)),
            (Write::Accounts { reply, .. }, Settled::Unit(Err(e))) => drop(reply.send(Err(e))),
            (Write::Transfers { reply, .. }, Settled::Unit(Err(e))) => drop(reply.send(Err(e))),
            (
                Write::ExpireDue { reply, .. }
                | Write::PurgeIdempotency { reply, .. }
                | Write::PurgeCounters { reply, .. },
                Settled::Unit(Err(e)),
            ) => drop(reply.send(Err(e))),
            (_, _) => unreachable!("each write settles with its own kind"),
        }
    }
}
