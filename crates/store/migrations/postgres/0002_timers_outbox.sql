-- Durable timers and the transactional outbox, PostgreSQL dialect. Keep in step with
-- ../sqlite/0002_timers_outbox.sql. Times are epoch milliseconds; JSON is TEXT.

-- One row per arming of a timer. A key names one logical timer
-- ("INC-7/deadline:blast-radius-20m:due"); at most one row per key is live (pending or
-- claimed). Setting a live key to another time or payload cancels its row and inserts a new
-- one, so a claim (row id + owner + attempts) can never fire a timer that was moved meanwhile.
-- Fired and cancelled rows stay, for audit.
CREATE TABLE timers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          TEXT NOT NULL,
    incident     BIGINT REFERENCES incidents (number),
    due_at       BIGINT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'fired', 'cancelled')),
    -- Claims so far; also the fencing token of the current claim.
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    fired_at     BIGINT,
    -- The owner (process) whose claim fired it.
    fired_by     TEXT,
    cancelled_at BIGINT,
    -- When the handler refused (a domain error): the timer is consumed and nothing else written.
    refusal      TEXT
);
CREATE UNIQUE INDEX timers_live_key ON timers (key) WHERE state IN ('pending', 'claimed');
CREATE INDEX timers_pending_due ON timers (due_at) WHERE state = 'pending';
CREATE INDEX timers_claimed_lease ON timers (lease_until) WHERE state = 'claimed';
CREATE INDEX timers_incident ON timers (incident, id);

-- Effects to deliver (page, notify, …), written in the transaction that decided them.
-- queued → claimed → delivered | failed (retry at next_attempt_at) | dead (no more retries).
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident        BIGINT REFERENCES incidents (number),
    effect          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL
        CHECK (state IN ('queued', 'claimed', 'delivered', 'failed', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT
);
CREATE INDEX outbox_ready ON outbox (next_attempt_at) WHERE state IN ('queued', 'failed');
CREATE INDEX outbox_claimed_lease ON outbox (lease_until) WHERE state = 'claimed';
CREATE INDEX outbox_incident ON outbox (incident, id);
CREATE INDEX outbox_dead ON outbox (id) WHERE state = 'dead';
