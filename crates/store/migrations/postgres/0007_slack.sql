-- Each incident's Slack channel and the message that carries its header (severity, status,
-- roles, live clock). Written by the deliverer once Slack answered; the channel id maps
-- commands and events from a channel back to its incident. Keep in step with the other
-- backend's 0007_slack.sql.
CREATE TABLE slack_channels (
    incident   BIGINT PRIMARY KEY REFERENCES incidents (number),
    channel_id TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    header_ts  TEXT,
    created_at BIGINT NOT NULL
);

-- Requests from Slack already accepted (by signature) and events already handled (by event
-- id), kept for the five minutes a signature is valid, so a replay to any node is refused and
-- a retried event is handled once.
CREATE TABLE slack_seen (
    key     TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX slack_seen_at ON slack_seen (seen_at);
