-- Migration 1 (release 0.1): the first schema. Databases written by 0.1 recorded it as PRAGMA user_version = 1.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    client_name TEXT NOT NULL,
    scope       TEXT NOT NULL,
    jwks        TEXT,
    created_at  INTEGER NOT NULL
);
-- One subscription per client is a rule (ES-03) enforced in code, not by a UNIQUE constraint,
-- so the `subscription-no-409` fault can break it.
CREATE TABLE IF NOT EXISTS event_subscriptions (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    version      TEXT NOT NULL,
    callback_url TEXT,
    event_types  TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS event_subscriptions_client ON event_subscriptions (client_id);
CREATE TABLE IF NOT EXISTS callback_urls (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    url        TEXT NOT NULL,
    version    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS callback_urls_client ON callback_urls (client_id);
CREATE TABLE IF NOT EXISTS consents (
    consent_id        TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL,
    status            TEXT NOT NULL,
    permissions       TEXT NOT NULL,
    expiration        TEXT,
    transaction_from  TEXT,
    transaction_to    TEXT,
    created_at        TEXT NOT NULL,
    status_updated_at TEXT NOT NULL
);
-- Stored SETs. `seq` gives oldest-first order; the (client_id, state, seq) index makes a poll
-- O(batch) however many SETs are stored.
CREATE TABLE IF NOT EXISTS events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    jti             TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    token           TEXT NOT NULL,
    state           INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    err             TEXT,
    err_description TEXT,
    UNIQUE (client_id, jti)
);
CREATE INDEX IF NOT EXISTS events_pending ON events (client_id, state, seq);
CREATE INDEX IF NOT EXISTS events_jti ON events (jti);
CREATE INDEX IF NOT EXISTS events_state ON events (state, seq);
