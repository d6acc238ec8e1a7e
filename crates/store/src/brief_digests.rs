//! "Brief me" of a long incident without decoding its whole timeline: the events before the
//! first full block and after the last are read and folded, and each full block in between
//! is read as its stored digest (`timeline_digests`), folded once and kept the first time a
//! brief needs it. Everything read is bounded by the incident's `last_seq` as the caller read
//! it, so a brief never sees half of a concurrent append; the timeline is append-only, so a
//! full block's digest never goes stale.

use std::time::Instant;

use muster_core::brief::{DIGEST_BLOCK, DIGEST_VERSION, Digest, Plan};
use muster_core::{IncidentNumber, TimelineEvent, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::brief_reads::CommitUnflushed;
use crate::codec;
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// The events of an incident in two `seq` ranges (an empty range is `(1, 0)`).
const EVENTS_IN: &str = "SELECT seq, at, actor, kind, data FROM timeline \
     WHERE incident = $1 AND (seq BETWEEN $2 AND $3 OR seq BETWEEN $4 AND $5)";
/// The first event stamped at or after a time (the `(incident, at)` index finds it).
const FIRST_SINCE: &str = "SELECT seq FROM timeline \
     WHERE incident = $1 AND at >= $2 AND seq <= $3 ORDER BY at, seq LIMIT 1";
const STORED: &str = "SELECT block, version, digest FROM timeline_digests \
     WHERE incident = $1 AND block BETWEEN $2 AND $3";
/// Two briefs may fold the same block at once: the digests are equal, either may win.
const SAVE: &str = "INSERT INTO timeline_digests (incident, block, version, digest) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (incident, block) \
     DO UPDATE SET version = excluded.version, digest = excluded.digest";

const NONE: (i64, i64) = (1, 0);

/// Statements on `timeline_digests`, per connection type.
trait DigestQueries {
    async fn first_since(
        &mut self,
        id: IncidentNumber,
        since: i64,
        last_seq: i64,
    ) -> Result<Option<i64>, StoreError>;
    async fn stored(
        &mut self,
        id: IncidentNumber,
        blocks: (i64, i64),
    ) -> Result<Vec<(i64, i64, String)>, StoreError>;
    async fn save(
        &mut self,
        id: IncidentNumber,
        block: i64,
        digest: &str,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_digest_queries {
    ($conn:ty) => {
        impl DigestQueries for $conn {
            async fn first_since(
                &mut self,
                id: IncidentNumber,
                since: i64,
                last_seq: i64,
            ) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar(FIRST_SINCE)
                    .bind(id.0)
                    .bind(since)
                    .bind(last_seq)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)
            }

            async fn stored(
                &mut self,
                id: IncidentNumber,
                blocks: (i64, i64),
            ) -> Result<Vec<(i64, i64, String)>, StoreError> {
                sqlx::query_as(STORED)
                    .bind(id.0)
                    .bind(blocks.0)
                    .bind(blocks.1)
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)
            }

            async fn save(
                &mut self,
                id: IncidentNumber,
                block: i64,
                digest: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(SAVE)
                    .bind(id.0)
                    .bind(block)
                    .bind(DIGEST_VERSION)
                    .bind(digest)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

impl_digest_queries!(SqliteConnection);
impl_digest_queries!(PgConnection);

impl Store {
    /// The brief's digest of incident `id` from the first event stamped at or after `since`
    /// (`None`: from the declaration) to event `last_seq` (the incident's, as read by the
    /// caller), in timeline order. Later events are left out.
    pub async fn brief_digest(
        &self,
        id: IncidentNumber,
        since: Option<Timestamp>,
        last_seq: i64,
    ) -> Result<Digest, StoreError> {
        let start = match since {
            None => 1,
            Some(at) => {
                let at = codec::ms(at);
                match read!(self, |conn| conn.first_since(id, at, last_seq).await)? {
                    Some(seq) => seq,
                    None => return Ok(Digest::default()),
                }
            }
        };
        let plan = Plan::new(start, last_seq);
        let ends = self
            .events_in(id, plan.head.unwrap_or(NONE), plan.tail.unwrap_or(NONE))
            .await?;
        let head_end = plan.head.map_or(0, |(_, end)| end);
        let (head, tail) = ends.split_at(ends.partition_point(|e| e.seq <= head_end));
        let mut digest = Digest::of(head);
        if let Some(blocks) = plan.blocks {
            for block in self.full_blocks(id, blocks).await? {
                digest = digest.then(&block);
            }
        }
        Ok(digest.then(&Digest::of(tail)))
    }

    /// The digests of full blocks `first..=end`, in order: stored ones as they are, the rest
    /// (never folded, or of another version) folded from their events and stored.
    async fn full_blocks(
        &self,
        id: IncidentNumber,
        (first, end): (i64, i64),
    ) -> Result<Vec<Digest>, StoreError> {
        let stored = read!(self, |conn| conn.stored(id, (first, end)).await)?;
        let mut out: Vec<Option<Digest>> = vec![None; (end - first + 1) as usize];
        for (block, version, json) in stored {
            let usable = version == DIGEST_VERSION && (first..=end).contains(&block);
            let Some(d) = usable
                .then(|| serde_json::from_str::<Digest>(&json).ok())
                .flatten()
            else {
                continue;
            };
            // A digest of fewer events than a block holds was not of a full block.
            if d.events as i64 == DIGEST_BLOCK {
                out[(block - first) as usize] = Some(d);
            }
        }
        let missing: Vec<i64> = (first..=end)
            .filter(|k| out[(k - first) as usize].is_none())
            .collect();
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            let events = self
                .events_in(id, (Plan::block_seqs(lo).0, Plan::block_seqs(hi).1), NONE)
                .await?;
            let mut folded = Vec::with_capacity(missing.len());
            for &k in &missing {
                let (a, z) = Plan::block_seqs(k);
                let from = events.partition_point(|e| e.seq < a);
                let to = events.partition_point(|e| e.seq <= z);
                let d = Digest::of(&events[from..to]);
                if d.events as i64 != DIGEST_BLOCK {
                    return Err(StoreError::Internal(format!(
                        "{id}: block {k} of its timeline holds {} events, not {DIGEST_BLOCK}",
                        d.events
                    )));
                }
                folded.push((k, d));
            }
            self.keep(id, &folded).await;
            for (k, d) in folded {
                out[(k - first) as usize] = Some(d);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Stores folded block digests. Best effort: the brief is answered either way, and the
    /// next one folds the blocks again.
    async fn keep(&self, id: IncidentNumber, folded: &[(i64, Digest)]) {
        if let Err(e) = self.save_digests(id, folded).await {
            tracing::warn!(error = %e, incident = %id, "brief digests not kept");
        }
    }

    async fn save_digests(
        &self,
        id: IncidentNumber,
        folded: &[(i64, Digest)],
    ) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(folded.len());
        for (k, d) in folded {
            let json = serde_json::to_string(d)
                .map_err(|e| StoreError::Internal(format!("brief digest: {e}")))?;
            rows.push((*k, json));
        }
        write_tx!(self, |conn| {
            conn.commit_unflushed().await?;
            for (k, json) in &rows {
                conn.save(id, *k, json).await?;
            }
            Ok(())
        })
    }

    /// The events of `id` in two inclusive `seq` ranges, in `seq` order.
    async fn events_in(
        &self,
        id: IncidentNumber,
        a: (i64, i64),
        b: (i64, i64),
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        if a.0 > a.1 && b.0 > b.1 {
            return Ok(Vec::new());
        }
        self.events_where(EVENTS_IN, &[id.0, a.0, a.1, b.0, b.1])
            .await
    }
}
