-- Intake's single writer inserts every alert, and on SQLite that writer is the one serial step
-- of intake: each thing an insert maintains besides the row is paid inside it. Two of them
-- bought nothing, so `alerts` is rebuilt without them (measured in docs/BENCHMARKS.md,
-- "SQLite intake: a leaner alerts table"):
-- * AUTOINCREMENT: it reads and rewrites the table's row in `sqlite_sequence` on every insert
--   so that an id is never reused even after the newest row is deleted. Alert rows are never
--   deleted (retention empties old payloads, it keeps the rows), so a plain rowid, the highest
--   plus one, gives the same ids.
-- * `alerts_status (status, id)`: no query reads through it here. Listing filters with
--   `($1 IS NULL OR status = $1)` and walks the rowid backwards; open alerts are found by
--   `alerts_open_key` and `alerts_incident`. PostgreSQL keeps its copy (its custom plans can
--   use it for a filtered list).
-- The foreign key on `incident` stays: here it is an in-process lookup (PostgreSQL dropped
-- its trigger in its 0023). SQLite dialect only.
CREATE TABLE alerts_lean (
    id          INTEGER PRIMARY KEY,
    integration TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    status      TEXT NOT NULL,
    service     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    summary     TEXT NOT NULL,
    labels      TEXT NOT NULL,
    annotations TEXT NOT NULL,
    payload     TEXT NOT NULL,
    count       BIGINT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    resolved_at BIGINT,
    incident    BIGINT REFERENCES incidents (number)
);
INSERT INTO alerts_lean (id, integration, dedup_key, group_key, status, service, severity,
    summary, labels, annotations, payload, count, first_seen, last_seen, resolved_at, incident)
SELECT id, integration, dedup_key, group_key, status, service, severity, summary, labels,
    annotations, payload, count, first_seen, last_seen, resolved_at, incident
FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_lean RENAME TO alerts;
DELETE FROM sqlite_sequence WHERE name = 'alerts';

-- As 0005 and 0016 made them.
CREATE UNIQUE INDEX alerts_open_key ON alerts (integration, dedup_key)
    WHERE status <> 'resolved';
CREATE INDEX alerts_incident ON alerts (incident) WHERE incident IS NOT NULL;
CREATE INDEX alerts_resolved_payload ON alerts (resolved_at)
    WHERE status = 'resolved' AND payload <> '{}';
