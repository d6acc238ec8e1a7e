-- The policy engine's state per incident (JSON, opaque to the store), written in the
-- transaction of the incident change or timer firing that produced it. PostgreSQL dialect;
-- keep in step with ../sqlite/0003_policy_state.sql. A side table rather than a column of
-- `incidents`, so the snapshot code never reads or rewrites it. Writers hold the incident's
-- row lock, so they serialise per incident.
CREATE TABLE policy_state (
    incident   BIGINT PRIMARY KEY REFERENCES incidents (number),
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
