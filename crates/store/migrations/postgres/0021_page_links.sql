-- One-tap answers to a page: each link (email, SMS, push, a voice call's webhooks) now says
-- through which channel it went out, what it answers (a page, or a policy's notification),
-- until when it works, whether it was used (a link answers once) and, for SMS, the short code
-- a reply may name. Links made before keep working while their incident is open.
-- PostgreSQL dialect; keep in step with ../sqlite/0021_page_links.sql.
ALTER TABLE ack_links ADD COLUMN channel TEXT;
ALTER TABLE ack_links ADD COLUMN kind TEXT;
ALTER TABLE ack_links ADD COLUMN expires_at BIGINT;
ALTER TABLE ack_links ADD COLUMN used_at BIGINT;
ALTER TABLE ack_links ADD COLUMN used_for TEXT;
ALTER TABLE ack_links ADD COLUMN code TEXT;
-- An SMS reply names its page by the person and the code, or means the person's latest page;
-- a new code is checked against the person's codes.
CREATE INDEX ack_links_person ON ack_links (person, created_at);
CREATE INDEX ack_links_person_code ON ack_links (person, code);
