-- The policy engine's state per incident (JSON, opaque to the store), written in the
-- transaction of the incident change or timer firing that produced it. SQLite dialect; keep
-- in step with ../postgres/0003_policy_state.sql. A side table rather than a column of
-- `incidents`, so the snapshot code never reads or rewrites it.
CREATE TABLE policy_state (
    incident   BIGINT PRIMARY KEY REFERENCES incidents (number),
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
