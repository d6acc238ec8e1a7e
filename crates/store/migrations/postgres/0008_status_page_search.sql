-- The public status page and the full-text index of incidents. PostgreSQL dialect; keep in
-- step with ../sqlite/0008_status_page_search.sql.

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

CREATE FUNCTION muster_public_update_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'public updates cannot be deleted' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.state = 'published' THEN
        RAISE EXCEPTION 'a published public update cannot be changed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER public_updates_guard BEFORE UPDATE OR DELETE ON public_updates
    FOR EACH ROW EXECUTE FUNCTION muster_public_update_guard();

-- Full-text index of incidents for "similar past incidents": one row per incident. `body`
-- collects notes, task titles, former titles, the public incident's name and its updates,
-- capped at about 100,000 characters (the first words of an incident say most about it, the
-- cap bounds the cost of each append and keeps under tsvector's size limit). Triggers keep it
-- current in the transaction of every write.
CREATE TABLE incident_search (
    incident BIGINT PRIMARY KEY REFERENCES incidents (number),
    title    TEXT NOT NULL,
    services TEXT NOT NULL,
    body     TEXT NOT NULL DEFAULT '',
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', services), 'B')
        || setweight(to_tsvector('english', body), 'C')
    ) STORED
);
CREATE INDEX incident_search_document ON incident_search USING GIN (document);

CREATE FUNCTION muster_search_text(kind TEXT, data TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$
    SELECT left(CASE kind
        WHEN 'note_added' THEN data::jsonb ->> 'text'
        WHEN 'task_added' THEN data::jsonb ->> 'title'
        WHEN 'title_changed' THEN data::jsonb ->> 'from'
    END, 2000)
$$;

INSERT INTO incident_search (incident, title, services, body)
SELECT i.number, i.title, i.services, coalesce((
    SELECT string_agg(muster_search_text(t.kind, t.data), ' ' ORDER BY t.seq)
    FROM timeline t
    WHERE t.incident = i.number AND t.kind IN ('note_added', 'task_added', 'title_changed')
), '')
FROM incidents i;

CREATE FUNCTION muster_search_append(target BIGINT, piece TEXT) RETURNS void
    LANGUAGE sql AS $$
    UPDATE incident_search SET body = body || ' ' || left(piece, 2000)
    WHERE incident = target AND length(body) < 100000 AND piece IS NOT NULL
$$;

CREATE FUNCTION muster_search_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO incident_search (incident, title, services)
        VALUES (NEW.number, NEW.title, NEW.services);
    ELSE
        UPDATE incident_search SET title = NEW.title, services = NEW.services
        WHERE incident = NEW.number;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER incident_search_insert AFTER INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION muster_search_incident();

CREATE TRIGGER incident_search_update AFTER UPDATE OF title, services ON incidents
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.services IS DISTINCT FROM NEW.services)
    EXECUTE FUNCTION muster_search_incident();

CREATE FUNCTION muster_search_timeline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM muster_search_append(NEW.incident, muster_search_text(NEW.kind, NEW.data));
    RETURN NULL;
END
$$;

CREATE TRIGGER incident_search_timeline AFTER INSERT ON timeline
    FOR EACH ROW WHEN (NEW.kind IN ('note_added', 'task_added', 'title_changed'))
    EXECUTE FUNCTION muster_search_timeline();

CREATE FUNCTION muster_search_public() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'public_incidents' THEN
        PERFORM muster_search_append(NEW.incident, NEW.name);
    ELSE
        PERFORM muster_search_append(
            (SELECT incident FROM public_incidents WHERE id = NEW.public_incident), NEW.body);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER incident_search_public_incident AFTER INSERT ON public_incidents
    FOR EACH ROW EXECUTE FUNCTION muster_search_public();

CREATE TRIGGER incident_search_public_update AFTER INSERT ON public_updates
    FOR EACH ROW EXECUTE FUNCTION muster_search_public();
