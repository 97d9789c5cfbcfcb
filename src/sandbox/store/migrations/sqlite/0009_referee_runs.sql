-- Migration 9: the last TPP-side referee run each TPP published (`obevents test --tpp` with a
-- [publish] section, issue 23). One row per client, replaced by the next publication; the
-- foreign key removes it with the TPP. `summary` is the run's summary as the sandbox checked
-- and re-serialised it (JSON text), never the raw upload.
CREATE TABLE referee_runs (
    client_id   TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    summary     TEXT NOT NULL
);
