-- The public status page and the full-text index of incidents. SQLite dialect; keep in step
-- with ../postgres/0008_status_page_search.sql.

INSERT INTO counters (name, value) VALUES ('public_incident', 0);
INSERT INTO counters (name, value) VALUES ('public_update', 0);

-- A public incident: what customers are told about an internal incident, in its own words.
-- It is on the page only once one of its updates is published.
CREATE TABLE public_incidents (
    id         TEXT PRIMARY KEY,
    incident   BIGINT NOT NULL REFERENCES incidents (number),
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX public_incidents_incident ON public_incidents (incident);

-- Its updates: drafted, approved (when the page requires it), then published. Published
-- updates are never changed again; `components` is JSON [{"component","status"}].
CREATE TABLE public_updates (
    id              TEXT PRIMARY KEY,
    public_incident TEXT NOT NULL REFERENCES public_incidents (id),
    status          TEXT NOT NULL,
    body            TEXT NOT NULL,
    components      TEXT NOT NULL,
    state           TEXT NOT NULL,
    drafted_by      TEXT NOT NULL,
    drafted_at      BIGINT NOT NULL,
    approved_by     TEXT,
    approved_at     BIGINT,
    published_by    TEXT,
    published_at    BIGINT
);
CREATE INDEX public_updates_incident ON public_updates (public_incident, drafted_at);
CREATE INDEX public_updates_published ON public_updates (published_at)
    WHERE published_at IS NOT NULL;

CREATE TRIGGER public_updates_published_frozen BEFORE UPDATE ON public_updates
    WHEN old.state = 'published'
BEGIN
    SELECT RAISE(ABORT, 'a published public update cannot be changed');
END;

CREATE TRIGGER public_updates_no_delete BEFORE DELETE ON public_updates
BEGIN
    SELECT RAISE(ABORT, 'public updates cannot be deleted');
END;

-- Full-text index of incidents for "similar past incidents": one row per incident
-- (rowid = incident number). `body` collects notes, task titles, former titles, the public
-- incident's name and its updates, capped at about 100,000 characters (the first words of an
-- incident say most about it, and the cap bounds the cost of each append). Triggers keep it
-- current in the transaction of every write.
CREATE VIRTUAL TABLE incident_search USING fts5 (
    title, services, body, tokenize = 'porter unicode61'
);

INSERT INTO incident_search (rowid, title, services, body)
SELECT i.number, i.title, i.services, coalesce((
    SELECT group_concat(substr(CASE t.kind
        WHEN 'note_added' THEN json_extract(t.data, '$.text')
        WHEN 'task_added' THEN json_extract(t.data, '$.title')
        ELSE json_extract(t.data, '$.from') END, 1, 2000), ' ')
    FROM timeline t
    WHERE t.incident = i.number AND t.kind IN ('note_added', 'task_added', 'title_changed')
), '')
FROM incidents i;

CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents
BEGIN
    INSERT INTO incident_search (rowid, title, services, body)
    VALUES (new.number, new.title, new.services, '');
END;

CREATE TRIGGER incident_search_update AFTER UPDATE OF title, services ON incidents
    WHEN old.title IS NOT new.title OR old.services IS NOT new.services
BEGIN
    UPDATE incident_search SET title = new.title, services = new.services
    WHERE rowid = new.number;
END;

CREATE TRIGGER incident_search_timeline AFTER INSERT ON timeline
    WHEN new.kind IN ('note_added', 'task_added', 'title_changed')
BEGIN
    UPDATE incident_search
    SET body = body || ' ' || coalesce(substr(CASE new.kind
        WHEN 'note_added' THEN json_extract(new.data, '$.text')
        WHEN 'task_added' THEN json_extract(new.data, '$.title')
        ELSE json_extract(new.data, '$.from') END, 1, 2000), '')
    WHERE rowid = new.incident AND length(body) < 100000;
END;

CREATE TRIGGER incident_search_public_incident AFTER INSERT ON public_incidents
BEGIN
    UPDATE incident_search SET body = body || ' ' || substr(new.name, 1, 2000)
    WHERE rowid = new.incident AND length(body) < 100000;
END;

CREATE TRIGGER incident_search_public_update AFTER INSERT ON public_updates
BEGIN
    UPDATE incident_search SET body = body || ' ' || substr(new.body, 1, 2000)
    WHERE rowid = (SELECT incident FROM public_incidents WHERE id = new.public_incident)
      AND length(body) < 100000;
END;
