-- Drills: an incident declared by a drill is an exercise. Reports of real incidents leave
-- exercises out and drill reports keep them, so the flag is a column they can filter on.
-- PostgreSQL dialect; keep in step with ../sqlite/0014_exercises.sql.
ALTER TABLE incidents ADD COLUMN exercise BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX incidents_exercise ON incidents (exercise, number);
