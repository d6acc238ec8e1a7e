//! PostgreSQL's side of the alert batch: a few set-based statements per batch, each one a
//! network round trip — the batch's keys and rows bound as arrays and read by `unnest`, so
//! each kind of statement has one shape whatever the batch's size.

use super::*;

/// The batch's keys as two parallel arrays (integration, key) for `unnest($1, $2)`: one
/// statement shape whatever their number, and a row estimate the planner reads off the
/// arrays' length.
fn key_arrays<'k>(keys: impl Iterator<Item = &'k Key>) -> (Vec<&'k str>, Vec<&'k str>) {
    keys.map(|(a, b)| (a.as_str(), b.as_str())).unzip()
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

/// The open alerts of the batch's keys, each found through the open-key index. The
/// incident's status is a lookup by primary key per alert (a subquery, which the planner
/// does not turn into a join): as a join it became a hash join over a sequential scan of
/// `incidents`, whose rows are rewritten on every change (BENCHMARKS.md, PostgreSQL intake
/// at one alert per request). Planned on each execution, with the arrays' real length.
const PG_OPEN: &str = "SELECT a.id, a.integration, a.dedup_key, a.group_key, a.status, \
     a.service, a.severity, a.summary, a.labels, a.annotations, a.count, a.first_seen, \
     a.last_seen, a.incident, (SELECT i.status FROM incidents i WHERE i.number = a.incident) \
     FROM unnest($1::text[], $2::text[]) k(integration, dedup_key) JOIN alerts a \
     ON a.integration = k.integration AND a.dedup_key = k.dedup_key AND a.status <> 'resolved'";
/// The current incident of each of the batch's groups, the incident's status looked up as in
/// [`PG_OPEN`].
const PG_GROUPS: &str = "SELECT g.integration, g.group_key, g.incident, g.started_at \
     FROM unnest($1::text[], $2::text[]) k(integration, group_key) JOIN alert_groups g \
     ON g.integration = k.integration AND g.group_key = k.group_key \
     WHERE (SELECT i.status FROM incidents i WHERE i.number = g.incident) <> 'resolved'";
/// The advisory locks of a batch's keys, in one global order (by lock id), so two batches
/// never wait on each other in a cycle.
const PG_LOCK_ALL: &str = "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT \
     hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) s";

const PG_REPEAT: &str = "UPDATE alerts SET count = alerts.count + r.n, last_seen = $2, \
     payload = r.payload FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, n bigint, \
     payload text) WHERE alerts.id = r.id";

const PG_STALE: &str = "UPDATE alerts SET status = 'resolved', last_seen = $2, \
     resolved_at = $2 WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)";

impl BatchIo for PgConnection {
    async fn lock_all(&mut self, keys: Vec<String>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        sqlx::query(PG_LOCK_ALL)
            .bind(keys)
            .fetch_all(&mut *self)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn prefetch(
        &mut self,
        batch: &mut Batch<'_>,
        jobs: &[Job<'_>],
    ) -> Result<Source, StoreError> {
        let keys = batch_keys(jobs);
        let open_one = OPEN_ONE.replace("{cols}", OPEN_COLUMNS);
        let open: Vec<OpenRow> = by_keys(self, &keys.0, &open_one, PG_OPEN).await?;
        let groups: Vec<(String, String, i64, i64)> =
            by_keys(self, &keys.1, GROUPS_ONE, PG_GROUPS).await?;
        let silenced: Vec<String> = sqlx::query_scalar(SILENCED)
            .bind(batch.at)
            .fetch_all(&mut *self)
            .await
            .map_err(db_err)?;
        batch.fill(keys, open, groups, silenced)?;
        Ok((0, 0))
    }

    async fn flush(&mut self, batch: &mut Batch<'_>) -> Result<(), StoreError> {
        if !batch.stale.is_empty() {
            sqlx::query(PG_STALE)
                .bind(json!(std::mem::take(&mut batch.stale)).to_string())
                .bind(batch.at)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
        }
        let repeats = batch.repeat_rows()?;
        if !repeats.is_empty() {
            let rows: Vec<Value> = repeats
                .iter()
                .map(|(id, n, texts)| json!({"id": id, "n": n, "payload": texts.payload}))
                .collect();
            sqlx::query(PG_REPEAT)
                .bind(Value::Array(rows).to_string())
                .bind(batch.at)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
        }
        let keys = std::mem::take(&mut batch.inserts);
        if !keys.is_empty() {
            let inserted = pg_insert_rows(self, &batch.rows_of(&keys)?).await?;
            batch.inserted(
                inserted
                    .into_iter()
                    .map(|(id, integration, dedup)| ((integration, dedup), id)),
            );
        }
        batch.patch_results();
        Ok(())
    }
}

/// The rows of a set of keys: one key (a PagerDuty event, a heartbeat) by `one`, an equality
/// on a unique index, prepared once; several by `many`, which unnests the keys as two arrays
/// and is planned on each execution with their real number.
async fn by_keys<T>(
    conn: &mut PgConnection,
    keys: &Set<Key>,
    one: &str,
    many: &'static str,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let answer = match single(keys) {
        Some((integration, key)) => {
            sqlx::query_as(sqlx::AssertSqlSafe(one.to_owned()))
                .bind(integration)
                .bind(key)
                .fetch_all(&mut *conn)
                .await
        }
        None => {
            let (integrations, keys) = key_arrays(keys.iter());
            sqlx::query_as(many)
                .bind(integrations)
                .bind(keys)
                .persistent(false)
                .fetch_all(&mut *conn)
                .await
        }
    };
    answer.map_err(db_err)
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
