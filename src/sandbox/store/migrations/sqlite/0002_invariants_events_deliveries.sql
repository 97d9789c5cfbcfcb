-- Migration 2: invariants in the database, format-neutral events, delivery and attempt rows.

-- Clients seeded from `[[clients]]` are marked, so an entry removed from the config can be
-- removed from the database at the next start.
ALTER TABLE clients ADD COLUMN seeded INTEGER NOT NULL DEFAULT 0;

-- ES-03 / CB-03: one subscription and one callback-url registration per client, held by a
-- partial unique index so the 409 comes from the database on every replica. `extra` marks a
-- second row admitted by the `subscription-no-409` / `callback-url-no-409` faults; rows that a
-- 0.1 database already holds beyond the first are marked extra so the index can be built.
ALTER TABLE event_subscriptions ADD COLUMN extra INTEGER NOT NULL DEFAULT 0;
UPDATE event_subscriptions SET extra = 1
 WHERE rowid NOT IN (SELECT MIN(rowid) FROM event_subscriptions GROUP BY client_id);
CREATE UNIQUE INDEX event_subscriptions_one_per_client
    ON event_subscriptions (client_id) WHERE extra = 0;

ALTER TABLE callback_urls ADD COLUMN extra INTEGER NOT NULL DEFAULT 0;
UPDATE callback_urls SET extra = 1
 WHERE rowid NOT IN (SELECT MIN(rowid) FROM callback_urls GROUP BY client_id);
CREATE UNIQUE INDEX callback_urls_one_per_client ON callback_urls (client_id) WHERE extra = 0;

-- Events become format-neutral: what happened (type, TPP, subject, txn, time, details) in
-- columns of their own, the signed OBIE SET beside it (NULL for an event no OBIE TPP receives).
-- `jti` stays the key the SET is served under in `sets`; `event_id` is the event's own id (the
-- SET's jti claim). Rebuilt rather than altered because `token` loses its NOT NULL.
CREATE TABLE events_v2 (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    jti             TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_links  TEXT NOT NULL DEFAULT '[]',
    txn             TEXT,
    toe             INTEGER NOT NULL,
    details         TEXT NOT NULL DEFAULT '{}',
    token           TEXT,
    state           INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    err             TEXT,
    err_description TEXT,
    UNIQUE (client_id, jti),
    CHECK (token IS NOT NULL OR state <> 0)
);
-- 0.1 kept no subject links, txn or reason outside the signed token; the SET still carries them.
INSERT INTO events_v2 (seq, event_id, jti, client_id, event_type, resource_id, resource_type,
                       toe, token, state, created_at, err, err_description)
SELECT seq, jti, jti, client_id, event_type, resource_id, resource_type,
       created_at, token, state, created_at, err, err_description
  FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_pending ON events (client_id, state, seq);
CREATE INDEX events_jti ON events (jti);
CREATE INDEX events_state ON events (state, seq);

-- One delivery per push destination that wants an event, written with the event; the worker
-- treats due rows as its queue. Times in unix milliseconds.
-- state: 0 pending (next_attempt_at set), 1 delivered, 2 failed, 3 cancelled.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_seq       INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    format          TEXT NOT NULL,
    url             TEXT NOT NULL,
    state           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (state IN (0, 1, 2, 3)),
    CHECK ((state = 0) = (next_attempt_at IS NOT NULL))
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 0;
CREATE INDEX deliveries_client ON deliveries (client_id, created_at);
CREATE INDEX deliveries_event ON deliveries (event_seq);

-- One row per try of a delivery.
CREATE TABLE delivery_attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    status_code      INTEGER,
    error            TEXT,
    interaction_id   TEXT,
    response_excerpt TEXT,
    note             TEXT,
    UNIQUE (delivery_id, attempt)
);
