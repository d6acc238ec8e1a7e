-- When each reader (API token name) last asked for a brief of an incident, so "brief me since
-- I last looked" needs no time from the caller. PostgreSQL dialect; keep in step with
-- ../sqlite/0009_brief_reads.sql. One row per (reader, incident), overwritten.
CREATE TABLE brief_reads (
    reader    TEXT   NOT NULL,
    incident  BIGINT NOT NULL REFERENCES incidents (number),
    looked_at BIGINT NOT NULL,
    PRIMARY KEY (reader, incident)
);
