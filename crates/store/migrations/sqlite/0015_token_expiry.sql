-- When a token stops authenticating (ms since the epoch); NULL: never.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
