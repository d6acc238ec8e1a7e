-- An alert's incident is no longer checked by a foreign key on PostgreSQL: the check was a
-- trigger per inserted row (a lookup and a share lock on the incident), 40 % of the time of a
-- 64-alert insert at intake. Only intake writes `alerts.incident`, inside the transaction that
-- found the incident under its group's lock or declared it, and incidents are never deleted
-- (the timeline, which references them, is append-only). SQLite keeps its check: there it is
-- an in-process index lookup. PostgreSQL dialect only.
ALTER TABLE alerts DROP CONSTRAINT alerts_incident_fkey;
