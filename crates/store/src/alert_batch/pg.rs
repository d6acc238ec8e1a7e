//! PostgreSQL's side of the alert batch: a few set-based statements per batch, each one a
//! network round trip — JSON-fed reads of the batch's keys, multi-row or JSON-fed inserts.

use super::*;

/// `[[integration, key], …]` as one JSON parameter, so each statement has one shape.
fn keys_json(keys: &[&Key]) -> String {
    let list: Vec<[&str; 2]> = keys.iter().map(|(a, b)| [a.as_str(), b.as_str()]).collect();
    json!(list).to_string()
}

/// PostgreSQL inserts a large flush's rows with one statement: every round trip of the batch
/// worker waits behind the request handlers for a turn on the runtime, so fewer is faster.
const PG_INSERT: &str = "INSERT INTO alerts (integration, dedup_key, group_key, status, \
     service, severity, summary, labels, annotations, payload, count, first_seen, last_seen, \
     incident) SELECT r.* FROM jsonb_to_recordset($1::jsonb) AS r(integration text, \
     dedup_key text, group_key text, status text, service text, severity text, summary text, \
     labels text, annotations text, payload text, count bigint, first_seen bigint, \
     last_seen bigint, incident bigint) RETURNING id, integration, dedup_key";

/// From how many rows PostgreSQL gets them as one JSON document instead of multi-row inserts.
/// Measured (`muster bench ingest`): for a few dozen rows the multi-row inserts were faster;
/// for thousands of rows the single statement is several times faster.
const PG_JSON_ROWS: usize = 256;

/// The rows of a PostgreSQL insert as one JSON parameter (text columns stay text).
fn rows_json(rows: &[Row<'_>]) -> String {
    let mut list = Vec::with_capacity(rows.len());
    for (a, texts) in rows {
        list.push(json!({
            "integration": a.integration, "dedup_key": a.dedup_key, "group_key": a.group_key,
            "status": a.status.as_str(), "service": a.service, "severity": a.severity.as_str(),
            "summary": a.summary, "labels": texts.labels, "annotations": texts.annotations,
            "payload": texts.payload, "count": a.count, "first_seen": ms(a.first_seen),
            "last_seen": ms(a.last_seen), "incident": a.incident.map(|n| n.0),
        }));
    }
    Value::Array(list).to_string()
}

/// Rows per multi-row insert on PostgreSQL, largest first: a few statement shapes, each
/// prepared once. Powers of two, so a remainder under 64 rows takes at most six statements
/// (each one a round trip on the serial path).
const INSERT_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// Splits `n` rows into chunks of [`INSERT_CHUNKS`] sizes.
fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    for size in INSERT_CHUNKS {
        while n >= size {
            sizes.push(size);
            n -= size;
        }
    }
    sizes
}

/// `?` placeholders numbered `$1…` for PostgreSQL.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() * 2);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

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

/// Binds one alert row's columns in [`INSERT_COLUMNS`] order.
fn bind_row<A: sqlx::Arguments>(
    args: &mut A,
    a: &StoredAlert,
    texts: &EncodedAlert,
) -> Result<(), StoreError>
where
    for<'t> &'t str: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
    for<'t> String: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
    for<'t> i64: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
    for<'t> Option<i64>: sqlx::Encode<'t, A::Database> + sqlx::Type<A::Database>,
{
    let bound = (|| {
        args.add(a.integration.as_str())?;
        args.add(a.dedup_key.as_str())?;
        args.add(a.group_key.as_str())?;
        args.add(a.status.as_str())?;
        args.add(a.service.as_str())?;
        args.add(a.severity.as_str())?;
        args.add(a.summary.as_str())?;
        Ok::<_, sqlx::error::BoxDynError>(())
    })();
    bound.map_err(|e| StoreError::Internal(format!("cannot bind an alert: {e}")))?;
    let bound = (|| {
        args.add(texts.labels.as_str())?;
        args.add(texts.annotations.as_str())?;
        args.add(texts.payload.as_str())?;
        args.add(a.count)?;
        args.add(ms(a.first_seen))?;
        args.add(ms(a.last_seen))?;
        args.add(a.incident.map(|n| n.0))?;
        Ok::<_, sqlx::error::BoxDynError>(())
    })();
    bound.map_err(|e| StoreError::Internal(format!("cannot bind an alert: {e}")))
}

const PG_OPEN: &str = "SELECT {cols} FROM jsonb_array_elements($1::jsonb) k \
     JOIN alerts a ON a.integration = k ->> 0 AND a.dedup_key = k ->> 1 \
     AND a.status <> 'resolved' LEFT JOIN incidents i ON i.number = a.incident";
const PG_GROUPS: &str = "SELECT g.integration, g.group_key, g.incident, g.started_at \
     FROM jsonb_array_elements($1::jsonb) k JOIN alert_groups g ON g.integration = k ->> 0 \
     AND g.group_key = k ->> 1 JOIN incidents i ON i.number = g.incident \
     WHERE i.status <> 'resolved'";

const PG_REPEAT: &str = "UPDATE alerts SET count = alerts.count + r.n, last_seen = $2, \
     payload = r.payload FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, n bigint, \
     payload text) WHERE alerts.id = r.id";

const PG_STALE: &str = "UPDATE alerts SET status = 'resolved', last_seen = $2, \
     resolved_at = $2 WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)";

impl BatchIo for PgConnection {
    async fn prefetch(
        &mut self,
        batch: &mut Batch<'_>,
        jobs: &[Job<'_>],
    ) -> Result<Source, StoreError> {
        let keys = batch_keys(jobs);
        let open: Vec<OpenRow> = match single(&keys.0) {
            // One key (a PagerDuty event, a heartbeat): an equality on the unique index,
            // prepared once.
            Some((integration, key)) => sqlx::query_as(sqlx::AssertSqlSafe(
                OPEN_ONE.replace("{cols}", OPEN_COLUMNS),
            ))
            .bind(integration)
            .bind(key)
            .fetch_all(&mut *self)
            .await
            .map_err(db_err)?,
            None => sqlx::query_as(sqlx::AssertSqlSafe(PG_OPEN.replace("{cols}", OPEN_COLUMNS)))
                .bind(keys_json(&keys.0.iter().collect::<Vec<_>>()))
                .persistent(false)
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?,
        };
        let groups: Vec<(String, String, i64, i64)> = match single(&keys.1) {
            Some((integration, group)) => sqlx::query_as(GROUPS_ONE)
                .bind(integration)
                .bind(group)
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?,
            None => sqlx::query_as(PG_GROUPS)
                .bind(keys_json(&keys.1.iter().collect::<Vec<_>>()))
                .persistent(false)
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?,
        };
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

/// PostgreSQL's insert of pending alerts: one JSON-fed statement for a large flush, a few
/// multi-row inserts for a small one. Returns (id, integration, dedup key) of each row.
async fn pg_insert_rows(
    conn: &mut PgConnection,
    rows: &[Row<'_>],
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let mut inserted: Vec<(i64, String, String)> = Vec::with_capacity(rows.len());
    let mut rest = rows;
    if rows.len() > PG_JSON_ROWS {
        let answer = sqlx::query_as(PG_INSERT)
            .bind(rows_json(rows))
            .fetch_all(&mut *conn)
            .await;
        inserted.extend(inserted_or_busy(answer)?);
        rest = &[];
    }
    for size in chunk_sizes(rest.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut args = sqlx::postgres::PgArguments::default();
        for (a, texts) in chunk {
            bind_row(&mut args, a, texts)?;
        }
        let sql = numbered(&insert_sql(size)) + " RETURNING id, integration, dedup_key";
        let answer = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_all(&mut *conn)
            .await;
        inserted.extend(inserted_or_busy(answer)?);
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_into_few_statements_of_the_prepared_shapes() {
        assert_eq!(chunk_sizes(127), [64, 32, 16, 8, 4, 2, 1]);
        assert_eq!(chunk_sizes(300), [64, 64, 64, 64, 32, 8, 4]);
        assert!(chunk_sizes(0).is_empty());
        for n in 0..200 {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| INSERT_CHUNKS.contains(s)));
            assert!(sizes.iter().filter(|s| **s < 64).count() <= 6);
        }
    }
}
