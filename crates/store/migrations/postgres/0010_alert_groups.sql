-- The current incident of each alert group: which incident new alerts of the group join and
-- when the group started (its grouping window runs from there). One primary-key lookup
-- however large the group grows. PostgreSQL dialect; keep in step with the other backend's 0010.
CREATE TABLE alert_groups (
    integration TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    incident    BIGINT NOT NULL REFERENCES incidents (number),
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (integration, group_key)
);

-- Existing groups: the latest incident each group opened, started at its first alert.
INSERT INTO alert_groups (integration, group_key, incident, started_at)
SELECT a.integration, a.group_key, a.incident, MIN(a.first_seen)
FROM alerts a
WHERE a.incident = (
    SELECT MAX(b.incident) FROM alerts b
    WHERE b.integration = a.integration AND b.group_key = a.group_key
)
GROUP BY a.integration, a.group_key, a.incident;

-- Grouping reads alert_groups now; this index only slowed every insert.
DROP INDEX alerts_group;
