-- The calendar revision of each schedule's definition: its fingerprint (SHA-256 of the
-- zone, layers and configured overrides) and a sequence bumped whenever the fingerprint
-- differs, so iCalendar clients re-read the events (they only update on a higher SEQUENCE).
-- PostgreSQL dialect; keep in step with ../sqlite/0013_schedule_versions.sql.
CREATE TABLE schedule_versions (
    schedule    TEXT   NOT NULL PRIMARY KEY,
    fingerprint TEXT   NOT NULL,
    sequence    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
