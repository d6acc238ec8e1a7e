//! PostgreSQL's side of the alert batch: a few set-based statements per batch, each one a
//! network round trip — the batch's keys and rows bound as arrays and read by `unnest`, so
//! each kind of statement has one shape whatever the batch's size.

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::*;

/// The batch's keys as two parallel arrays (integration, key) for `unnest($1, $2)`: one
/// statement shape whatever their number, and a row estimate the planner reads off the
/// arrays' length.
fn key_arrays<'k>(keys: impl Iterator<Item = &'k Key<'k>>) -> (Vec<&'k str>, Vec<&'k str>) {
    keys.copied().unzip()
}

/// Every pending alert of a flush in one statement of one shape, a column per array: one
/// round trip whatever the number of rows, prepared once (it reads no table, so its plan
/// never goes stale).
const PG_INSERT: &str = "INSERT INTO alerts (integration, dedup_key, group_key, status, \
     service, severity, summary, labels, annotations, payload, count, first_seen, last_seen, \
     incident) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], \
     $12::int8[], $13::int8[], $14::int8[]) RETURNING id, integration, dedup_key";

/// The inserted rows, or `Unavailable` when another node inserted the same open key first
/// (only possible when the advisory lock was bypassed): the sender retries on 503 and dedups
/// then.
fn inserted_or_busy<T>(answer: Result<T, sqlx::Error>) -> Result<T, StoreError> {
    match answer {
        Ok(rows) => Ok(rows),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StoreError::Unavailable(
            "concurrent delivery of the same alert".into(),
        )),
        Err(e) => Err(db_err(e)),
    }
}

/// The batch's locks and reads, one round trip: `muster_intake_prefetch` (migration 24, where
/// its contract is written) takes the advisory locks of the batch's keys, then returns its
/// open alerts (`'open'` rows), the current incident of each of its groups (`'group'`) and
/// the services silenced at `$6` (`'silenced'`), as rows of one shape. Its plans are kept
/// for the session and are index lookups whatever the tables' size.
const PG_PREFETCH: &str = "SELECT * FROM muster_intake_prefetch($1, $2, $3, $4, $5, $6)";

/// A flush's repeats of stored open alerts, and its stale alerts closed, by id arrays:
/// planned on each execution with the arrays' real length (a plan cached while `alerts` was
/// small could stay a sequential scan).
const PG_REPEAT: &str = "UPDATE alerts SET count = alerts.count + r.n, last_seen = $4, \
     payload = r.payload FROM unnest($1::int8[], $2::int8[], $3::text[]) AS r(id, n, payload) \
     WHERE alerts.id = r.id";
const PG_STALE: &str = "UPDATE alerts SET status = 'resolved', last_seen = $2, \
     resolved_at = $2 WHERE id = ANY($1::int8[])";

impl BatchIo for PgConnection {
    async fn prefetch<'a>(
        &mut self,
        batch: &mut Batch<'a>,
        jobs: &'a [Job<'a>],
    ) -> Result<Source, StoreError> {
        let keys = batch_keys(jobs);
        let (integrations, dedup_keys) = key_arrays(keys.0.iter());
        let (group_integrations, group_keys) = key_arrays(keys.1.iter());
        let rows = sqlx::query(PG_PREFETCH)
            .bind(lock_keys(jobs))
            .bind(integrations)
            .bind(dedup_keys)
            .bind(group_integrations)
            .bind(group_keys)
            .bind(batch.at)
            .fetch_all(&mut *self)
            .await
            .map_err(db_err)?;
        let (mut open, mut groups, mut silenced) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            match row.try_get::<&str, _>(0).map_err(db_err)? {
                "open" => open.push(prefetched_open(row).map_err(db_err)?),
                "group" => groups.push(prefetched_group(row).map_err(db_err)?),
                "silenced" => silenced.push(row.try_get(6).map_err(db_err)?),
                other => {
                    let e = format!("intake prefetch returned a row of unknown kind `{other}`");
                    return Err(StoreError::Internal(e));
                }
            }
        }
        batch.fill(keys, open, groups, silenced)?;
        Ok((0, 0))
    }

    async fn flush(&mut self, batch: &mut Batch<'_>) -> Result<(), StoreError> {
        if !batch.stale.is_empty() {
            sqlx::query(PG_STALE)
                .bind(std::mem::take(&mut batch.stale))
                .bind(batch.at)
                .persistent(false)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
        }
        let repeats = batch.repeat_rows()?;
        if !repeats.is_empty() {
            let ids: Vec<i64> = repeats.iter().map(|r| r.0).collect();
            let counts: Vec<i64> = repeats.iter().map(|r| r.1).collect();
            let payloads: Vec<&str> = repeats.iter().map(|r| r.2.payload.as_str()).collect();
            sqlx::query(PG_REPEAT)
                .bind(ids)
                .bind(counts)
                .bind(payloads)
                .bind(batch.at)
                .persistent(false)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
        }
        let keys = std::mem::take(&mut batch.inserts);
        if !keys.is_empty() {
            let inserted = pg_insert_rows(self, &batch.rows_of(&keys)?).await?;
            // The rows come back naming their keys, matched to the batch's own.
            let ids = match_rows(&keys, inserted, |(_, i, d)| (i, d), |(id, _, _)| id);
            batch.inserted(ids);
        }
        batch.patch_results();
        Ok(())
    }
}

/// An `'open'` row of [`PG_PREFETCH`]: its columns 1 to 15.
fn prefetched_open(r: &PgRow) -> Result<OpenRow, sqlx::Error> {
    Ok((
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
        r.try_get(13)?,
        r.try_get(14)?,
        r.try_get(15)?,
    ))
}

/// A `'group'` row of [`PG_PREFETCH`]: integration, group key, incident, started at.
fn prefetched_group(r: &PgRow) -> Result<(String, String, i64, i64), sqlx::Error> {
    Ok((r.try_get(2)?, r.try_get(4)?, r.try_get(14)?, r.try_get(16)?))
}

/// PostgreSQL's insert of pending alerts ([`PG_INSERT`]). Returns (id, integration, dedup
/// key) of each row.
async fn pg_insert_rows(
    conn: &mut PgConnection,
    rows: &[Row<'_>],
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let answer = sqlx::query_as(PG_INSERT)
        .bind(column(rows, |a, _| a.integration.as_str()))
        .bind(column(rows, |a, _| a.dedup_key.as_str()))
        .bind(column(rows, |a, _| a.group_key.as_str()))
        .bind(column(rows, |a, _| a.status.as_str()))
        .bind(column(rows, |a, _| a.service.as_str()))
        .bind(column(rows, |a, _| a.severity.as_str()))
        .bind(column(rows, |a, _| a.summary.as_str()))
        .bind(column(rows, |_, t| t.labels.as_str()))
        .bind(column(rows, |_, t| t.annotations.as_str()))
        .bind(column(rows, |_, t| t.payload.as_str()))
        .bind(column(rows, |a, _| a.count))
        .bind(column(rows, |a, _| ms(a.first_seen)))
        .bind(column(rows, |a, _| ms(a.last_seen)))
        .bind(column(rows, |a, _| a.incident.map(|n| n.0)))
        .fetch_all(&mut *conn)
        .await;
    inserted_or_busy(answer)
}

/// One column of the rows, as the array [`PG_INSERT`] unnests.
fn column<'r, T>(
    rows: &'r [Row<'_>],
    f: impl Fn(&'r StoredAlert, &'r EncodedAlert) -> T,
) -> Vec<T> {
    rows.iter().map(|(a, texts)| f(a, texts)).collect()
}
