-- The inbox: the built-in notification channel that always exists. A notification no
-- configured provider can carry lands here (and, when configured, a copy of every one).
-- SQLite dialect; keep in step with ../postgres/0012_inbox.sql. Times are epoch milliseconds.
CREATE TABLE inbox (
    id         INTEGER PRIMARY KEY,
    -- The delivery's idempotency key: a re-delivery after a crash stores nothing twice.
    key        TEXT NOT NULL UNIQUE,
    incident   BIGINT REFERENCES incidents (number),
    -- Set when the recipient is a person.
    person     TEXT,
    -- The recipient as shown: `person:alice`, `#payments`, `legal@example.com`, `alias:pr`.
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    text       TEXT NOT NULL,
    -- Why it is here, e.g. "no configured provider reaches them".
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Listing is newest first: everyone's, one person's or one incident's.
CREATE INDEX inbox_newest ON inbox (created_at, id);
CREATE INDEX inbox_person ON inbox (person, created_at, id) WHERE person IS NOT NULL;
CREATE INDEX inbox_incident ON inbox (incident, created_at, id) WHERE incident IS NOT NULL;
