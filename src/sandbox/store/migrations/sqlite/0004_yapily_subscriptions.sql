-- Migration 4: Yapily-style event-type subscriptions (issue 10).
-- YA-03: one live subscription per application and event type, held by a partial unique index
-- so the 409 comes from the database on every replica. `extra` marks a second row admitted by
-- the `yapily-duplicate-subscription` fault; `deleted_at` (unix ms) marks a row the
-- `yapily-after-delete` fault keeps delivering to after DELETE. Without faults a DELETE removes
-- the row, so neither column is ever set.
CREATE TABLE yapily_subscriptions (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    event_type_id TEXT NOT NULL,
    url           TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    extra         INTEGER NOT NULL DEFAULT 0,
    deleted_at    INTEGER
);
CREATE UNIQUE INDEX yapily_subscriptions_one_per_type
    ON yapily_subscriptions (client_id, event_type_id) WHERE extra = 0 AND deleted_at IS NULL;
CREATE INDEX yapily_subscriptions_client ON yapily_subscriptions (client_id, created_at);
