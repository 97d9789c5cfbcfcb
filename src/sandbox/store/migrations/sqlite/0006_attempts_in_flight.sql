-- An attempt is recorded as started before its request is sent (in_flight = 1) and completed
-- with its outcome after; one cut by a crash stays visible and is marked interrupted.
ALTER TABLE delivery_attempts ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
CREATE INDEX delivery_attempts_in_flight ON delivery_attempts (delivery_id) WHERE in_flight = 1;
