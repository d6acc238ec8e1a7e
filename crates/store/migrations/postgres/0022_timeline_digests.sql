-- What "brief me" shows of each full block of 256 timeline events: the core's brief digest as
-- JSON, of format `version`. The timeline is append-only, so a full block's digest never
-- changes, and a brief of a long incident combines these instead of decoding every event.
-- Derived data: written by the first brief that needs a block, rewritten when its version is
-- not the running one; losing it costs one slower brief.
-- PostgreSQL dialect; keep in step with ../sqlite/0022_timeline_digests.sql.
CREATE TABLE timeline_digests (
    incident BIGINT NOT NULL REFERENCES incidents (number),
    block    BIGINT NOT NULL,
    version  BIGINT NOT NULL,
    digest   TEXT NOT NULL,
    PRIMARY KEY (incident, block)
);
