-- The teams a token may write for, comma-separated team ids; NULL: every team.
ALTER TABLE api_tokens ADD COLUMN teams TEXT;
