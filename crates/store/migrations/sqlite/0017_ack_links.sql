-- Acknowledgement links sent in a notification's email or SMS: one per delivery to a person,
-- kept only as the SHA-256 of its random token. A link acknowledges notification
-- `notification` of `incident` as `person`, and only while the incident is open.
-- SQLite dialect; keep in step with ../postgres/0017_ack_links.sql.
CREATE TABLE ack_links (
    token_hash   TEXT   PRIMARY KEY,
    incident     BIGINT NOT NULL REFERENCES incidents (number),
    notification TEXT   NOT NULL,
    person       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
