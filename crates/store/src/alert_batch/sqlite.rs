//! SQLite's side of the alert batch: prepared statements stepped per key and per row on the
//! locked writer, with no round trip to sqlx's thread (see [`crate::sqlite_direct`]).

use super::*;
use crate::connect::SQLITE_BUSY_TIMEOUT;

/// SQLite's per-row writes of a flush, stepped on the locked writer.
const STALE_ONE: &str = "UPDATE alerts SET status = 'resolved', last_seen = $2, \
     resolved_at = $2 WHERE id = $1";
const REPEAT_ONE: &str = "UPDATE alerts SET count = count + $2, last_seen = $3, payload = $4 \
     WHERE id = $1";

/// The open alert of one key (no payload: a repeat replaces it, with its incident's status),
/// and the current incident of one group: equalities on unique indexes, stepped per key.
const OPEN_ONE: &str = "SELECT a.id, a.integration, a.dedup_key, a.group_key, a.status, \
     a.service, a.severity, a.summary, a.labels, a.annotations, a.count, a.first_seen, \
     a.last_seen, a.incident, i.status FROM alerts a LEFT JOIN incidents i \
     ON i.number = a.incident WHERE a.integration = $1 AND a.dedup_key = $2 \
     AND a.status <> 'resolved'";
const GROUPS_ONE: &str = "SELECT g.integration, g.group_key, g.incident, g.started_at \
     FROM alert_groups g JOIN incidents i ON i.number = g.incident \
     WHERE g.integration = $1 AND g.group_key = $2 AND i.status <> 'resolved'";
/// The services silenced at `$1`.
const SILENCED: &str = "SELECT DISTINCT service FROM silences WHERE deleted_at IS NULL \
     AND starts_at <= $1 AND ends_at > $1";

/// One alert row, stepped once per pending alert; its parameters come from [`row_params`].
const INSERT_ONE: &str = "INSERT INTO alerts (integration, dedup_key, group_key, status, \
     service, severity, summary, labels, annotations, payload, count, first_seen, last_seen, \
     incident) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

impl BatchIo for SqliteConnection {
    async fn prefetch<'a>(
        &mut self,
        batch: &mut Batch<'a>,
        jobs: &'a [Job<'a>],
    ) -> Result<Source, StoreError> {
        // The group commit begins its own transaction under the lock it reads and writes under
        // (see `alerts::sqlite_intake`); while another process holds SQLite's write lock, it
        // begins on sqlx's thread instead, which may wait for it without holding up a task.
        {
            let direct = Direct::lock(self).await?;
            if !batch.may_commit || direct.try_begin_immediate(SQLITE_BUSY_TIMEOUT)? {
                return prefetch_locked(&direct, batch, jobs);
            }
        }
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *self)
            .await
            .map_err(db_err)?;
        let direct = Direct::lock(self).await?;
        prefetch_locked(&direct, batch, jobs)
    }

    async fn flush(&mut self, batch: &mut Batch<'_>) -> Result<(), StoreError> {
        if batch.has_buffered() {
            let direct = Direct::lock(self).await?;
            flush_locked(&direct, batch)?;
        }
        batch.patch_results();
        Ok(())
    }
}

/// The batch's reads on the locked writer (one lookup per key); then, when the leading
/// signals need no statement of their own, their writes and (if the batch owns its
/// transaction) the commit.
fn prefetch_locked<'a>(
    direct: &Direct<'_>,
    batch: &mut Batch<'a>,
    jobs: &'a [Job<'a>],
) -> Result<Source, StoreError> {
    let keys = batch_keys(jobs);
    let mut stmt = direct.prepare(OPEN_ONE)?;
    let mut open = Vec::new();
    for (integration, key) in &keys.0 {
        open.extend(stmt.query(&[Param::Text(integration), Param::Text(key)], open_row)?);
    }
    let mut stmt = direct.prepare(GROUPS_ONE)?;
    let mut groups = Vec::new();
    for (integration, group) in &keys.1 {
        groups.extend(
            stmt.query(&[Param::Text(integration), Param::Text(group)], |r| {
                Ok((r.text(0)?, r.text(1)?, r.int(2), r.int(3)))
            })?,
        );
    }
    let silenced = direct
        .prepare(SILENCED)?
        .query(&[Param::Int(batch.at)], |r| r.text(0))?;
    batch.fill(keys, open, groups, silenced)?;
    // Most batches only store alerts: decided and written under this one lock.
    let next = batch.apply_buffered_run((0, 0));
    if next.0 >= jobs.len() {
        flush_locked(direct, batch)?;
        if batch.may_commit {
            direct.prepare("COMMIT")?.run(&[])?;
            batch.committed = true;
        }
    }
    Ok(next)
}

/// SQLite's flush on the locked writer: a prepared statement per kind, stepped per row.
fn flush_locked(direct: &Direct<'_>, batch: &mut Batch<'_>) -> Result<(), StoreError> {
    let at = batch.at;
    let stale = std::mem::take(&mut batch.stale);
    if !stale.is_empty() {
        let mut stmt = direct.prepare(STALE_ONE)?;
        for id in stale {
            stmt.run(&[Param::Int(id), Param::Int(at)])?;
        }
    }
    let repeats = batch.repeat_rows()?;
    if !repeats.is_empty() {
        let mut stmt = direct.prepare(REPEAT_ONE)?;
        for (id, n, texts) in &repeats {
            let payload = Param::Text(&texts.payload);
            stmt.run(&[Param::Int(*id), Param::Int(*n), Param::Int(at), payload])?;
        }
    }
    let keys = std::mem::take(&mut batch.inserts);
    if !keys.is_empty() {
        let mut ids = Vec::with_capacity(keys.len());
        let mut stmt = direct.prepare(INSERT_ONE)?;
        for (a, texts) in batch.rows_of(&keys)? {
            stmt.run(&row_params(a, &texts))?;
            ids.push(direct.last_insert_rowid());
        }
        drop(stmt);
        batch.inserted(keys.into_iter().zip(ids));
    }
    batch.patch_results();
    Ok(())
}

/// An open alert's row as [`OPEN_ONE`] reads it.
fn open_row(r: &DirectRow<'_>) -> Result<OpenRow, StoreError> {
    Ok((
        r.int(0),
        r.text(1)?,
        r.text(2)?,
        r.text(3)?,
        r.text(4)?,
        r.text(5)?,
        r.text(6)?,
        r.text(7)?,
        r.text(8)?,
        r.text(9)?,
        r.int(10),
        r.int(11),
        r.int(12),
        r.opt_int(13),
        r.opt_text(14)?,
    ))
}

/// One alert row's parameters in [`INSERT_ONE`]'s column order.
fn row_params<'p>(a: &'p StoredAlert, texts: &'p EncodedAlert) -> [Param<'p>; 14] {
    [
        Param::Text(&a.integration),
        Param::Text(&a.dedup_key),
        Param::Text(&a.group_key),
        Param::Text(a.status.as_str()),
        Param::Text(&a.service),
        Param::Text(a.severity.as_str()),
        Param::Text(&a.summary),
        Param::Text(&texts.labels),
        Param::Text(&texts.annotations),
        Param::Text(&texts.payload),
        Param::Int(a.count),
        Param::Int(ms(a.first_seen)),
        Param::Int(ms(a.last_seen)),
        a.incident.map(|n| n.0).into(),
    ]
}
