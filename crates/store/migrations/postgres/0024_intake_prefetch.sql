-- Alert intake's locks and reads for one batch, in one round trip and without planning on
-- each call (BENCHMARKS.md, "PostgreSQL intake at one alert per request"). PostgreSQL
-- dialect only: SQLite steps prepared statements in-process and has no round trips to save.
--
-- Contract:
-- * First the advisory locks of `lock_keys`, in one global order (by lock id), so two
--   batches (of one node or of two) never wait on each other in a cycle.
-- * Then the reads, each a statement of its own: a VOLATILE function takes a fresh snapshot
--   for each, so they see everything the locks' previous holders committed.
-- * Rows of one shape, told apart by `kind`:
--   'open'     the open (not resolved) alert of each (integration, dedup key), with its
--              incident's status;
--   'group'    the current incident of each (integration, group key), if not resolved;
--   'silenced' each service silenced at `at`.
-- * Each incident's status is a lookup by primary key (a subquery), never a join over
--   `incidents`, whose rows are rewritten on every change.
-- * PL/pgSQL keeps each query's plan for the session (force_generic_plan: planned once);
--   the function's own settings make that plan index lookups, which stays right however
--   large the tables grow. (A generic plan chosen while `alerts` was small was once a hash
--   join over a sequential scan: 48 ms a batch.)
CREATE FUNCTION muster_intake_prefetch(
    lock_keys text[],
    integrations text[],
    dedup_keys text[],
    group_integrations text[],
    group_keys text[],
    at int8
) RETURNS TABLE (
    kind text, id int8, integration text, dedup_key text, group_key text, status text,
    service text, severity text, summary text, labels text, annotations text, count int8,
    first_seen int8, last_seen int8, incident int8, incident_status text, started_at int8
)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $fn$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(l.h)
    FROM (SELECT DISTINCT hashtextextended(k.k, 0) AS h FROM unnest(lock_keys) AS k(k)
          ORDER BY h) l;

    RETURN QUERY
    SELECT 'open'::text, a.id, a.integration, a.dedup_key, a.group_key, a.status, a.service,
           a.severity, a.summary, a.labels, a.annotations, a.count, a.first_seen,
           a.last_seen, a.incident,
           (SELECT i.status FROM incidents i WHERE i.number = a.incident), NULL::int8
    FROM unnest(integrations, dedup_keys) k(integration, dedup_key)
    JOIN alerts a ON a.integration = k.integration AND a.dedup_key = k.dedup_key
                 AND a.status <> 'resolved';

    RETURN QUERY
    SELECT 'group'::text, NULL::int8, g.integration, NULL::text, g.group_key, NULL::text,
           NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::int8,
           NULL::int8, NULL::int8, g.incident, NULL::text, g.started_at
    FROM unnest(group_integrations, group_keys) k(integration, group_key)
    JOIN alert_groups g ON g.integration = k.integration AND g.group_key = k.group_key
    WHERE (SELECT i.status FROM incidents i WHERE i.number = g.incident) <> 'resolved';

    RETURN QUERY
    SELECT DISTINCT 'silenced'::text, NULL::int8, NULL::text, NULL::text, NULL::text,
           NULL::text, s.service, NULL::text, NULL::text, NULL::text, NULL::text,
           NULL::int8, NULL::int8, NULL::int8, NULL::int8, NULL::text, NULL::int8
    FROM silences s
    WHERE s.deleted_at IS NULL AND s.starts_at <= at AND s.ends_at > at;
END
$fn$;
