-- Migration 7: what retention and the per-TPP bounds need (issue 21).
-- Each TPP's number of stored events, kept in the transactions that insert and delete events
-- (a trigger's commit, a reset, a retention sweep), so the `[limits] max_events_per_tpp` check
-- reads one row instead of counting, and on PostgreSQL the row lock serialises one TPP's
-- commits so the bound holds across replicas. Filled from the events already stored.
CREATE TABLE tpp_event_counts (
    client_id TEXT PRIMARY KEY,
    stored    INTEGER NOT NULL CHECK (stored >= 0)
);
INSERT INTO tpp_event_counts (client_id, stored)
SELECT client_id, COUNT(*) FROM events GROUP BY client_id;
-- The sweeps' scans, oldest first, over exactly the rows they may remove: finished events
-- (not awaiting) by creation, awaiting ones (only when the operator asks), finished
-- deliveries by their last change, completed attempts by their start.
CREATE INDEX events_finished_age ON events (created_at) WHERE state <> 0;
CREATE INDEX events_awaiting_age ON events (created_at) WHERE state = 0;
CREATE INDEX deliveries_finished_age ON deliveries (updated_at) WHERE state <> 0;
CREATE INDEX delivery_attempts_age ON delivery_attempts (started_at) WHERE in_flight = 0;
