-- Run-time schedule overrides and the audit trail. SQLite dialect; keep in step with
-- ../postgres/0004_overrides_audit.sql.

INSERT INTO counters (name, value) VALUES ('override', 0);

-- An override is never updated but to mark it deleted: who removed it and when stay visible.
CREATE TABLE schedule_overrides (
    id         TEXT PRIMARY KEY,
    schedule   TEXT NOT NULL,
    person     TEXT NOT NULL,
    replaces   TEXT,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_by TEXT,
    deleted_at BIGINT
);
CREATE INDEX schedule_overrides_live ON schedule_overrides (schedule, starts_at)
    WHERE deleted_at IS NULL;

-- Who changed what outside incidents (overrides today), append-only like the timeline.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be updated');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted');
END;
