-- "Brief me since I last looked" reads the events at or after a time: with this index it
-- reads only those, not every event of a long incident.
CREATE INDEX timeline_incident_at ON timeline (incident, at);
