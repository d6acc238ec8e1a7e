-- Muster schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql.
-- Times are epoch milliseconds (BIGINT); JSON is TEXT; enums are their serde strings.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

-- The current state of each incident: a snapshot of the fold of its timeline (`state`), plus
-- the columns the list filters use.
CREATE TABLE incidents (
    number      BIGINT PRIMARY KEY,
    title       TEXT NOT NULL,
    severity    TEXT NOT NULL,
    status      TEXT NOT NULL,
    services    TEXT NOT NULL,
    declared_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    resolved_at BIGINT,
    last_seq    BIGINT NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX incidents_status ON incidents (status, number);
CREATE INDEX incidents_severity ON incidents (severity, number);

-- One row per (service, incident) so the service filter is an index lookup on both backends.
CREATE TABLE incident_services (
    service  TEXT NOT NULL,
    incident BIGINT NOT NULL REFERENCES incidents (number),
    PRIMARY KEY (service, incident)
);
CREATE INDEX incident_services_incident ON incident_services (incident);

-- The append-only timeline: the source of truth.
CREATE TABLE timeline (
    incident BIGINT NOT NULL REFERENCES incidents (number),
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    kind     TEXT NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (incident, seq)
);

CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'the timeline is append-only: events cannot be updated');
END;

CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'the timeline is append-only: events cannot be deleted');
END;

-- API tokens: only the SHA-256 (hex) of the secret is stored.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    access     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
