-- The full-text index of incidents is appended to once per timeline statement, not once per
-- row: a declaration inserts its playbook's tasks with one statement, and re-computing the
-- incident's document for each of them cost about 0.3 ms a row on the alert → page path.
-- PostgreSQL only; SQLite has no statement triggers (its FTS5 update is in-process and cheap).

DROP TRIGGER incident_search_timeline ON timeline;
DROP FUNCTION muster_search_timeline();

CREATE FUNCTION muster_search_timeline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incident_search s SET body = s.body || ' ' || n.piece
    FROM (
        SELECT incident, string_agg(muster_search_text(kind, data), ' ' ORDER BY seq) AS piece
        FROM new_rows
        WHERE kind IN ('note_added', 'task_added', 'title_changed')
        GROUP BY incident
    ) n
    WHERE s.incident = n.incident AND length(s.body) < 100000 AND n.piece IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER incident_search_timeline AFTER INSERT ON timeline
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION muster_search_timeline();

-- Wake-ups: a statement that inserts timers or outbox items notifies every process on commit
-- (PostgreSQL folds a transaction's identical notifications into one). Done here rather than
-- by the writer, which saves the alert → page path a round trip.
CREATE FUNCTION muster_wakeup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('muster_wakeup', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER timers_wakeup AFTER INSERT ON timers
    FOR EACH STATEMENT EXECUTE FUNCTION muster_wakeup();
CREATE TRIGGER outbox_wakeup AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION muster_wakeup();
