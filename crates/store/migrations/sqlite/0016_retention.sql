-- What retention prunes, found by index: delivered outbox items, fired and cancelled timers
-- by when they settled, resolved alerts whose payload is still kept. (Fired and cancelled timers
-- stay for `limits.retention`, no longer for good as 0002 says.)
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE state = 'delivered';
CREATE INDEX timers_fired_at ON timers (fired_at) WHERE state = 'fired';
CREATE INDEX timers_cancelled_at ON timers (cancelled_at) WHERE state = 'cancelled';
CREATE INDEX alerts_resolved_payload ON alerts (resolved_at)
    WHERE status = 'resolved' AND payload <> '{}';
