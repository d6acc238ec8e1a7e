-- Alerts received from monitoring (Alertmanager, PagerDuty Events v2, generic, heartbeats).
-- Sqlite dialect; keep in step with ../postgres/0005_alerts.sql.

-- One row per alert occurrence: repeats of an open alert only bump `count` and `last_seen`;
-- once resolved, the same dedup key opens a new row.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
-- Dedup: at most one open (firing or acknowledged) alert per key and integration.
CREATE UNIQUE INDEX alerts_open_key ON alerts (integration, dedup_key)
    WHERE status <> 'resolved';
CREATE INDEX alerts_group ON alerts (integration, group_key, first_seen);
CREATE INDEX alerts_incident ON alerts (incident) WHERE incident IS NOT NULL;
CREATE INDEX alerts_status ON alerts (status, id);

-- Maintenance windows and silences per service: alerts are stored but open no incident and
-- page nobody. Removal marks the row deleted, so who silenced what stays visible.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    service    TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_by TEXT,
    deleted_at BIGINT
);
CREATE INDEX silences_live ON silences (service, ends_at) WHERE deleted_at IS NULL;
