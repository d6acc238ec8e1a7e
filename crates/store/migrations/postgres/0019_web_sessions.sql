-- Web UI sessions: one per sign-in with an API token, kept only as the SHA-256 of the random
-- id in the browser's cookie. A session is as good as its token: it is read joined with
-- api_tokens, so revoking or expiring the token ends it on its next request on every node.
-- `csrf` is the per-session token every form carries. Idle and absolute expiry are checked
-- against `last_seen_at` and `created_at` by the reader.
-- PostgreSQL dialect; keep in step with ../sqlite/0019_web_sessions.sql.
CREATE TABLE web_sessions (
    id_hash      TEXT   PRIMARY KEY,
    token_id     BIGINT NOT NULL REFERENCES api_tokens (id),
    csrf         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
