//! Alert intake as a batch: every signal of a group commit applied with a handful of
//! statements, whatever the number of alerts.
//!
//! The batch reads what it needs up front (the open alerts of its keys, the current incident
//! of its groups, the services silenced now), decides each signal in order in memory, and
//! writes the outcome per kind (resolve stale, count repeats, insert new): on PostgreSQL with
//! one set-based statement per kind, each a network round trip; on SQLite with prepared
//! statements stepped per key and per row on the locked writer ([`BatchIo`]), where a round
//! trip to sqlx's thread would cost more than the statement.
//! Only the rare steps that change an incident — declaring one for a new group, acknowledging
//! or resolving — run one by one, after the buffered writes are flushed so they see them.
//! On PostgreSQL the batch first takes the advisory locks of all its group and dedup keys, in
//! one global order, so concurrent batches on several nodes neither deadlock nor open two
//! incidents for one group.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use muster_core::alert::{self, AlertAction, AlertSignal, AlertStatus};
use muster_core::{IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::StoreError;
use crate::alerts::{
    AlertQueries, AlertReactor, AlertRef, EncodedAlert, IngestKind, Ingested, StoredAlert,
    decode_alert, new_alert,
};
use crate::codec::{from_ms, ms};
use crate::effects::{EffectQueries, Effects};
use crate::error::db_err;
use crate::sqlite_direct::{Direct, Param, Row as DirectRow};

mod pg;
mod sqlite;

/// (integration, key): a dedup key or a group key, borrowed from the batch's signals (the
/// batch hashes and compares every alert's keys several times, and copied them each time).
pub(crate) type Key<'a> = (&'a str, &'a str);

/// One request's signals, extra effects, actor, and the signals' JSON columns when the caller
/// encoded them already (empty: encoded in the batch).
pub type Job<'a> = (&'a [AlertSignal], &'a Effects, &'a str, &'a [EncodedAlert]);

/// Each job's results, whether to wake the scheduler, whether the batch committed.
pub(crate) type Batched = (Vec<Vec<Ingested>>, bool, bool);

/// Where a signal is in the batch: (job, index).
type Source = (usize, usize);

/// foldhash, hashbrown's own hasher: the batch hashes every alert's keys several times.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<K> = HashSet<K, foldhash::fast::RandomState>;

/// An open alert as the batch knows it.
#[derive(Clone)]
pub(crate) struct Open {
    alert: StoredAlert,
    /// Its incident was resolved (by a person or earlier in the batch).
    incident_resolved: bool,
    /// Not inserted yet: its id is unknown until the next flush.
    pending: bool,
    /// A pending alert's signal, whose labels and annotations its insert stores: the batch
    /// copies none of them.
    source: Option<Source>,
    /// The last repeat's signal in this batch, whose payload the next write stores.
    latest: Option<Source>,
}

/// What a signal that needs no statement of its own does to the batch ([`Batch::plan`]).
enum Buffered {
    /// Counts a repeat of its open alert.
    Repeat,
    /// Opens a new alert, joining `incident` (none: silenced); `stale`: the stored open alert
    /// of its key is closed first.
    Open {
        stale: bool,
        incident: Option<IncidentNumber>,
        kind: IngestKind,
    },
    /// Answers that no alert is open (an acknowledgement or resolution of none).
    NoOpenAlert { stale: bool },
}

/// The in-memory side of one batch.
pub(crate) struct Batch<'a> {
    jobs: &'a [Job<'a>],
    now: Timestamp,
    at: i64,
    /// Each key's open alert; `None` or absent: none open.
    open: Map<Key<'a>, Option<Open>>,
    /// Each open group's incident and when it started; absent: none open.
    groups: Map<Key<'a>, (IncidentNumber, i64)>,
    silenced: Set<String>,
    resolved: Set<IncidentNumber>,
    /// Keys of pending alerts, in insertion order.
    inserts: Vec<Key<'a>>,
    /// Repeats of stored alerts: id → (key, times).
    repeats: Map<i64, (Key<'a>, i64)>,
    /// Stored alerts whose incident was resolved: closed before a new occurrence opens.
    stale: Vec<i64>,
    results: Vec<Vec<Ingested>>,
    /// Results naming a pending alert, patched with its id at the flush.
    unpatched: Vec<(usize, usize, Key<'a>)>,
    wake: bool,
    /// The batch owns its transaction (SQLite's group commit): it begins it under its lock
    /// with a plain `BEGIN IMMEDIATE`, and commits it there too when it needs nothing else.
    may_commit: bool,
    /// The batch committed its transaction itself.
    committed: bool,
}

impl<'a> Batch<'a> {
    /// The JSON columns of the signal at `src`: encoded by the caller, or here.
    fn texts(&self, src: Source) -> Result<Cow<'a, EncodedAlert>, StoreError> {
        let (signals, _, _, encoded) = self.jobs.get(src.0).ok_or_else(lost)?;
        if let Some(e) = encoded.get(src.1) {
            return Ok(Cow::Borrowed(e));
        }
        let signal = signals.get(src.1).ok_or_else(lost)?;
        crate::alerts::encode_alert(signal).map(Cow::Owned)
    }

    /// A pending alert's JSON columns: labels and annotations from the signal that opened it,
    /// the payload from its last repeat in the batch.
    fn insert_texts(&self, open: &Open) -> Result<Cow<'a, EncodedAlert>, StoreError> {
        let first = self.texts(open.source.ok_or_else(lost)?)?;
        match open.latest {
            Some(latest) if Some(latest) != open.source => {
                let mut mixed = first.into_owned();
                mixed.payload = self.texts(latest)?.payload.clone();
                Ok(Cow::Owned(mixed))
            }
            _ => Ok(first),
        }
    }

    /// The open alert of `key`, if any: (pending, whether its incident was resolved).
    fn peek(&self, key: &Key<'_>) -> Option<(bool, bool)> {
        let open = self.open.get(key)?.as_ref()?;
        let resolved = open.incident_resolved
            || open
                .alert
                .incident
                .is_some_and(|n| self.resolved.contains(&n));
        Some((open.pending, resolved))
    }

    /// The incident a new alert of `group` joins, if its group is open and inside its window.
    fn joinable(
        &self,
        group: &Key<'_>,
        window: Option<alert::SignedDuration>,
    ) -> Option<IncidentNumber> {
        let (n, started) = *self.groups.get(group)?;
        if self.resolved.contains(&n) {
            return None;
        }
        let started = from_ms(started).ok()?;
        alert::joins_group(started, self.now, window).then_some(n)
    }

    fn record(&mut self, job: usize, ingested: Ingested, pending: Option<Key<'a>>) {
        let i = self.results[job].len();
        self.results[job].push(ingested);
        if let Some(key) = pending {
            self.unpatched.push((job, i, key));
        }
    }

    /// Counts a repeat of the open alert of `key`; a stored one is updated at the flush.
    fn repeat(&mut self, src: Source, key: Key<'a>) {
        let job = src.0;
        let Some(Some(open)) = self.open.get_mut(&key) else {
            return;
        };
        open.alert.count += 1;
        open.alert.last_seen = self.now;
        open.latest = Some(src);
        let done = Ingested {
            kind: IngestKind::Repeated,
            alert: Some(AlertRef::from(&open.alert)),
        };
        if open.pending {
            self.record(job, done, Some(key));
        } else {
            let id = open.alert.id;
            self.repeats.entry(id).or_insert((key, 0)).1 += 1;
            self.record(job, done, None);
        }
    }

    /// What applying `signal` does when it needs no statement of its own; `None` when it
    /// does (declaring an incident, settling one, or flushing first). Decided once per signal:
    /// it reads the batch's maps, which every alert of a big batch goes through.
    fn plan(&self, signal: &AlertSignal, key: &Key<'_>) -> Option<Buffered> {
        let open = self.peek(key);
        match open {
            // A pending alert whose incident was resolved: written before it is closed.
            Some((true, true)) => None,
            Some((_, false)) => (signal.action == AlertAction::Trigger).then_some(Buffered::Repeat),
            Some((false, true)) | None => {
                // A stored open alert whose incident was resolved is closed first: the source
                // fires again, so this is a new occurrence.
                let stale = open.is_some();
                if signal.action != AlertAction::Trigger {
                    return Some(Buffered::NoOpenAlert { stale });
                }
                let (incident, kind) = if self.silenced.contains(&signal.service) {
                    (None, IngestKind::Silenced)
                } else {
                    let n = self.joinable(&group_of(signal), signal.group_window)?;
                    (Some(n), IngestKind::Joined)
                };
                Some(Buffered::Open {
                    stale,
                    incident,
                    kind,
                })
            }
        }
    }

    /// Closes the stored open alert of `key` (its incident was resolved): the source fires
    /// again, so this is a new occurrence (as PagerDuty does), not a repeat to count.
    fn close_stale(&mut self, key: &Key<'a>) {
        if let Some(Some(stale)) = self.open.insert(*key, None) {
            self.repeats.remove(&stale.alert.id);
            self.stale.push(stale.alert.id);
        }
    }

    /// Applies what [`Batch::plan`] decided for a signal that needs no statement of its own.
    fn apply_buffered(&mut self, src: Source, signal: &AlertSignal, key: Key<'a>, plan: Buffered) {
        match plan {
            Buffered::Repeat => self.repeat(src, key),
            Buffered::Open {
                stale,
                incident,
                kind,
            } => {
                if stale {
                    self.close_stale(&key);
                }
                self.open_pending(src, key, signal, incident, kind);
            }
            Buffered::NoOpenAlert { stale } => {
                if stale {
                    self.close_stale(&key);
                }
                let done = Ingested {
                    kind: IngestKind::NoOpenAlert,
                    alert: None,
                };
                self.record(src.0, done, None);
            }
        }
    }

    /// A new alert of `key`, written at the next flush.
    fn open_pending(
        &mut self,
        src: Source,
        key: Key<'a>,
        signal: &AlertSignal,
        incident: Option<IncidentNumber>,
        kind: IngestKind,
    ) {
        let alert = new_alert(signal, self.now, incident);
        let done = Ingested {
            kind,
            alert: Some(AlertRef::from(&alert)),
        };
        self.open.insert(
            key,
            Some(Open {
                alert,
                incident_resolved: false,
                pending: true,
                source: Some(src),
                latest: None,
            }),
        );
        self.inserts.push(key);
        self.record(src.0, done, Some(key));
    }

    /// Applies signals in order from `from` while none needs a statement of its own; returns
    /// where it stopped (past the end when it applied them all).
    fn apply_buffered_run(&mut self, from: Source) -> Source {
        let jobs = self.jobs;
        let (mut job, mut i) = from;
        while let Some((signals, extra, _, _)) = jobs.get(job) {
            if i == 0 && !extra.is_empty() {
                return (job, i);
            }
            while let Some(signal) = signals.get(i) {
                let key = dedup_of(signal);
                let Some(plan) = self.plan(signal, &key) else {
                    return (job, i);
                };
                self.apply_buffered((job, i), signal, key, plan);
                i += 1;
            }
            job += 1;
            i = 0;
        }
        (job, i)
    }

    fn has_buffered(&self) -> bool {
        !(self.inserts.is_empty() && self.repeats.is_empty() && self.stale.is_empty())
    }
}

/// A signal's dedup key, as the batch keys it.
fn dedup_of(s: &AlertSignal) -> Key<'_> {
    (&s.integration, &s.dedup_key)
}

/// A signal's group key, as the batch keys it.
fn group_of(s: &AlertSignal) -> Key<'_> {
    (&s.integration, &s.group_key)
}

fn lost() -> StoreError {
    StoreError::Internal("a signal the batch lost".into())
}

/// Statements and steps of the batch, per connection type.
pub(crate) trait AlertBatchQueries {
    /// Applies the jobs' signals in order; returns each job's results, whether to wake, and
    /// whether it committed the transaction itself (only when `may_commit`: see
    /// [`crate::alerts`]' SQLite intake).
    async fn ingest_batch<R: AlertReactor>(
        &mut self,
        jobs: &[Job<'_>],
        now: Timestamp,
        reactor: &R,
        may_commit: bool,
    ) -> Result<Batched, StoreError>;
    async fn apply_signal<'a, R: AlertReactor>(
        &mut self,
        batch: &mut Batch<'a>,
        src: Source,
        signal: &'a AlertSignal,
        actor: &str,
        reactor: &R,
    ) -> Result<(), StoreError>;
    /// Opens a trigger's alert with an incident of its own: `plan` found no group to join and
    /// no silence.
    async fn open_new<'a, R: AlertReactor>(
        &mut self,
        batch: &mut Batch<'a>,
        src: Source,
        key: Key<'a>,
        signal: &'a AlertSignal,
        actor: &str,
        reactor: &R,
    ) -> Result<(), StoreError>;
    #[allow(clippy::too_many_arguments)]
    async fn settle<'a, R: AlertReactor>(
        &mut self,
        batch: &mut Batch<'a>,
        src: Source,
        key: Key<'a>,
        signal: &AlertSignal,
        action: AlertAction,
        actor: &str,
        reactor: &R,
    ) -> Result<(), StoreError>;
}

/// The batch's reads and buffered writes, per backend: PostgreSQL gets a few set-based
/// statements (each one a network round trip), SQLite a prepared statement stepped per key
/// and per row on the locked writer (no round trips at all; see [`crate::sqlite_direct`]).
pub(crate) trait BatchIo {
    /// Takes the advisory locks of all the batch's keys (PostgreSQL; SQLite's single writer
    /// orders batches already), then reads the open alerts of the batch's keys, the current
    /// incidents of its groups and the services silenced now. May apply (and write) leading signals that need no
    /// statement of their own; returns the first signal left to apply.
    async fn prefetch<'a>(
        &mut self,
        batch: &mut Batch<'a>,
        jobs: &'a [Job<'a>],
    ) -> Result<Source, StoreError>;
    /// Writes the buffered outcomes (stale closes first: a new occurrence may reuse the key)
    /// and gives pending alerts and their results their ids.
    async fn flush(&mut self, batch: &mut Batch<'_>) -> Result<(), StoreError>;
}

/// The distinct dedup keys and group keys of a batch.
fn batch_keys<'a>(jobs: &'a [Job<'a>]) -> (Set<Key<'a>>, Set<Key<'a>>) {
    let mut dedup: Set<Key<'a>> = Set::default();
    let mut groups: Set<Key<'a>> = Set::default();
    for (signals, _, _, _) in jobs {
        for s in signals.iter() {
            dedup.insert(dedup_of(s));
            groups.insert(group_of(s));
        }
    }
    (dedup, groups)
}

/// The rows read for `keys` (`key_of` names a row's key), as `value`s by the batch's key: rows
/// come back owning their keys, the batch keys by its signals' borrowed ones. A key without a
/// row is left out, which the batch reads as "none open".
fn match_rows<'k, 'a: 'k, R, V>(
    keys: impl IntoIterator<Item = &'k Key<'a>>,
    rows: Vec<R>,
    key_of: impl Fn(&R) -> Key<'_>,
    value: impl Fn(R) -> V,
) -> Map<Key<'a>, V> {
    let mut out = Map::with_capacity_and_hasher(rows.len(), Default::default());
    if rows.is_empty() {
        return out;
    }
    let found: Vec<(Key<'a>, usize)> = {
        let at: Map<Key<'_>, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (key_of(r), i))
            .collect();
        keys.into_iter()
            .filter_map(|k| Some((*k, *at.get(k)?)))
            .collect()
    };
    // Each row is found by one key at most, so each is taken once.
    let mut rows: Vec<Option<R>> = rows.into_iter().map(Some).collect();
    for (k, i) in found {
        if let Some(row) = rows.get_mut(i).and_then(Option::take) {
            out.insert(k, value(row));
        }
    }
    out
}

impl<'a> Batch<'a> {
    /// Records what the prefetch read: every key of the batch, open or not.
    fn fill(
        &mut self,
        keys: (Set<Key<'a>>, Set<Key<'a>>),
        open: Vec<OpenRow>,
        groups: Vec<(String, String, i64, i64)>,
        silenced: Vec<String>,
    ) -> Result<(), StoreError> {
        let (dedup, group_keys) = keys;
        let open = open
            .into_iter()
            .map(decode_open)
            .collect::<Result<Vec<_>, _>>()?;
        self.open = match_rows(
            &dedup,
            open,
            |o| (&o.alert.integration, &o.alert.dedup_key),
            Some,
        );
        self.groups = match_rows(
            &group_keys,
            groups,
            |g| (&g.0, &g.1),
            |(_, _, n, started)| (IncidentNumber(n), started),
        );
        self.silenced = silenced.into_iter().collect();
        Ok(())
    }

    /// Gives the results that named a pending alert the id its insert got.
    fn patch_results(&mut self) {
        for (job, i, key) in std::mem::take(&mut self.unpatched) {
            if let (Some(Some(open)), Some(alert)) =
                (self.open.get(&key), self.results[job][i].alert.as_mut())
            {
                alert.id = open.alert.id;
            }
        }
    }

    /// The repeats to write: (id, times, payload of the last repeat).
    fn repeat_rows(&mut self) -> Result<Vec<(i64, i64, Cow<'a, EncodedAlert>)>, StoreError> {
        let repeats = std::mem::take(&mut self.repeats);
        let mut rows = Vec::with_capacity(repeats.len());
        for (id, (key, n)) in repeats {
            let Some(Some(Open {
                latest: Some(src), ..
            })) = self.open.get(&key)
            else {
                continue;
            };
            rows.push((id, n, self.texts(*src)?));
        }
        Ok(rows)
    }

    /// The rows of the pending alerts of `keys`, in order.
    fn rows_of<'s>(&'s self, keys: &[Key<'a>]) -> Result<Vec<Row<'s>>, StoreError> {
        let mut rows: Vec<Row<'_>> = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(Some(open)) = self.open.get(k) else {
                return Err(StoreError::Internal(
                    "pending alert not in the batch".into(),
                ));
            };
            rows.push((&open.alert, self.insert_texts(open)?));
        }
        Ok(rows)
    }

    /// Marks pending alerts inserted, with their ids.
    fn inserted(&mut self, ids: impl IntoIterator<Item = (Key<'a>, i64)>) {
        for (key, id) in ids {
            if let Some(Some(open)) = self.open.get_mut(&key) {
                open.alert.id = id;
                open.pending = false;
            }
        }
    }
}

/// An open alert as the prefetch reads it (no payload: a repeat replaces it), with its
/// incident's status.
type OpenRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

fn decode_open(r: OpenRow) -> Result<Open, StoreError> {
    // The payload is not read (a repeat replaces it); decode the rest as any stored alert.
    let row = (
        r.0,
        r.1,
        r.2,
        r.3,
        r.4,
        r.5,
        r.6,
        r.7,
        r.8,
        r.9,
        "null".to_string(),
        r.10,
        r.11,
        r.12,
        None,
        r.13,
    );
    Ok(Open {
        alert: decode_alert(row)?,
        incident_resolved: r.14.as_deref() == Some("resolved"),
        pending: false,
        source: None,
        latest: None,
    })
}

/// A pending alert's row: its columns, and its JSON columns from its signal.
type Row<'a> = (&'a StoredAlert, Cow<'a, EncodedAlert>);

/// The advisory-lock keys of a batch, as the per-signal path named them.
fn lock_keys(jobs: &[Job<'_>]) -> Vec<String> {
    let mut keys = Vec::new();
    for (signals, _, _, _) in jobs {
        for s in signals.iter() {
            keys.push(format!("alert-group:{}:{}", s.integration, s.group_key));
            keys.push(format!("alert-key:{}:{}", s.integration, s.dedup_key));
        }
    }
    keys
}

const UPSERT_GROUP: &str = "INSERT INTO alert_groups (integration, group_key, incident, \
     started_at) VALUES ($1, $2, $3, $4) ON CONFLICT (integration, group_key) DO UPDATE \
     SET incident = excluded.incident, started_at = excluded.started_at";

macro_rules! impl_alert_batch {
    ($conn:ty) => {
        impl AlertBatchQueries for $conn {
            async fn apply_signal<'a, R: AlertReactor>(
                &mut self,
                batch: &mut Batch<'a>,
                src: Source,
                signal: &'a AlertSignal,
                actor: &str,
                reactor: &R,
            ) -> Result<(), StoreError> {
                let key = dedup_of(signal);
                if let Some(plan) = batch.plan(signal, &key) {
                    batch.apply_buffered(src, signal, key, plan);
                    return Ok(());
                }
                if let Some((pending, true)) = batch.peek(&key) {
                    // A new occurrence of an alert whose incident was resolved: the old one is
                    // closed first (written first if pending); then the signal is decided again.
                    if pending {
                        self.flush(batch).await?;
                    }
                    batch.close_stale(&key);
                    if let Some(plan) = batch.plan(signal, &key) {
                        batch.apply_buffered(src, signal, key, plan);
                        return Ok(());
                    }
                }
                // What `plan` leaves: a trigger with nothing open to join (it declares), or an
                // acknowledgement or resolution of an open alert.
                if batch.peek(&key).is_none() {
                    return self.open_new(batch, src, key, signal, actor, reactor).await;
                }
                self.settle(batch, src, key, signal, signal.action, actor, reactor)
                    .await
            }

            async fn open_new<'a, R: AlertReactor>(
                &mut self,
                batch: &mut Batch<'a>,
                src: Source,
                key: Key<'a>,
                signal: &'a AlertSignal,
                actor: &str,
                reactor: &R,
            ) -> Result<(), StoreError> {
                let group = group_of(signal);
                let (n, wake) = self.declare_for(signal, actor, batch.now, reactor).await?;
                batch.wake |= wake;
                sqlx::query(UPSERT_GROUP)
                    .bind(group.0)
                    .bind(group.1)
                    .bind(n.0)
                    .bind(batch.at)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                batch.groups.insert(group, (n, batch.at));
                batch.open_pending(src, key, signal, Some(n), IngestKind::Opened);
                Ok(())
            }

            #[allow(clippy::too_many_arguments)]
            async fn settle<'a, R: AlertReactor>(
                &mut self,
                batch: &mut Batch<'a>,
                src: Source,
                key: Key<'a>,
                signal: &AlertSignal,
                action: AlertAction,
                actor: &str,
                reactor: &R,
            ) -> Result<(), StoreError> {
                // Settling reads the alert and its incident's other alerts: write first.
                if batch.has_buffered() {
                    self.flush(batch).await?;
                }
                let Some(Some(open)) = batch.open.get(&key).cloned() else {
                    return Err(StoreError::Internal(
                        "settling an alert the batch lost".into(),
                    ));
                };
                let incident = open.alert.incident;
                let (updated, wake) = self
                    .settle_alert(
                        open.alert,
                        action,
                        signal.auto_resolve,
                        actor,
                        batch.now,
                        reactor,
                    )
                    .await?;
                batch.wake |= wake;
                let done = Ingested {
                    kind: IngestKind::Updated,
                    alert: updated.as_ref().map(AlertRef::from),
                };
                let still_open = updated.filter(|a| a.status != AlertStatus::Resolved);
                batch.open.insert(
                    key,
                    still_open.map(|alert| Open {
                        alert,
                        incident_resolved: false,
                        pending: false,
                        source: None,
                        latest: None,
                    }),
                );
                if let Some(n) = incident
                    && self.incident_resolved(Some(n)).await?
                {
                    batch.resolved.insert(n);
                }
                batch.record(src.0, done, None);
                Ok(())
            }

            async fn ingest_batch<R: AlertReactor>(
                &mut self,
                jobs: &[Job<'_>],
                now: Timestamp,
                reactor: &R,
                may_commit: bool,
            ) -> Result<Batched, StoreError> {
                let mut batch = Batch {
                    jobs,
                    now,
                    at: ms(now),
                    open: Map::default(),
                    groups: Map::default(),
                    silenced: Set::default(),
                    resolved: Set::default(),
                    inserts: Vec::new(),
                    repeats: Map::default(),
                    stale: Vec::new(),
                    results: jobs.iter().map(|j| Vec::with_capacity(j.0.len())).collect(),
                    unpatched: Vec::new(),
                    wake: false,
                    may_commit,
                    committed: false,
                };
                let (first_job, first) = self.prefetch(&mut batch, jobs).await?;
                for (job, (signals, extra, actor, _)) in jobs.iter().enumerate().skip(first_job) {
                    let from = if job == first_job { first } else { 0 };
                    if from == 0 && !extra.is_empty() {
                        batch.wake |= self.apply_effects(batch.at, extra).await?;
                    }
                    for (i, signal) in signals.iter().enumerate().skip(from) {
                        self.apply_signal(&mut batch, (job, i), signal, actor, reactor)
                            .await?;
                    }
                }
                self.flush(&mut batch).await?;
                Ok((batch.results, batch.wake, batch.committed))
            }
        }
    };
}

impl_alert_batch!(SqliteConnection);
impl_alert_batch!(PgConnection);
