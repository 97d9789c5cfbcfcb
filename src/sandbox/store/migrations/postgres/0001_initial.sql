-- Migration 1 (PostgreSQL): the schema SQLite reaches after its migration 2; every number is a
-- BIGINT (Rust i64). Times are unix
-- seconds except where a column says milliseconds.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    client_name TEXT NOT NULL,
    scope       TEXT NOT NULL,
    jwks        TEXT,
    created_at  BIGINT NOT NULL,
    -- Seeded from `[[clients]]`: removed at start when the config no longer names it.
    seeded      BOOLEAN NOT NULL DEFAULT FALSE
);
-- ES-03 / CB-03: one per client, enforced by partial unique indexes so the 409 holds across
-- replicas; `extra` marks a second row admitted by the `*-no-409` faults.
CREATE TABLE event_subscriptions (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    version      TEXT NOT NULL,
    callback_url TEXT,
    event_types  TEXT,
    created_at   BIGINT NOT NULL,
    extra        BOOLEAN NOT NULL DEFAULT FALSE,
    ord          BIGSERIAL
);
CREATE UNIQUE INDEX event_subscriptions_one_per_client
    ON event_subscriptions (client_id) WHERE NOT extra;
CREATE INDEX event_subscriptions_client ON event_subscriptions (client_id);
CREATE TABLE callback_urls (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    url        TEXT NOT NULL,
    version    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    extra      BOOLEAN NOT NULL DEFAULT FALSE,
    ord        BIGSERIAL
);
CREATE UNIQUE INDEX callback_urls_one_per_client ON callback_urls (client_id) WHERE NOT extra;
CREATE INDEX callback_urls_client ON callback_urls (client_id);
CREATE TABLE consents (
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
-- Format-neutral events with the signed OBIE SET beside them; `state` is the polling queue
-- (0 awaiting, 1 acknowledged, 2 dropped after setErrs).
CREATE TABLE events (
    seq             BIGSERIAL PRIMARY KEY,
    event_id        TEXT NOT NULL,
    jti             TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_links  TEXT NOT NULL DEFAULT '[]',
    txn             TEXT,
    toe             BIGINT NOT NULL,
    details         TEXT NOT NULL DEFAULT '{}',
    token           TEXT,
    state           BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    err             TEXT,
    err_description TEXT,
    UNIQUE (client_id, jti),
    CHECK (token IS NOT NULL OR state <> 0)
);
-- INCLUDE (jti): a poll reads its keys from the index alone where the visibility map allows.
CREATE INDEX events_pending ON events (client_id, state, seq) INCLUDE (jti);
CREATE INDEX events_jti ON events (jti);
-- No (state, seq) index as SQLite has: it serves only the events-leak fault's unscoped poll,
-- and a plan cached while the table was small would pick it for every TPP's poll, scanning all
-- awaiting rows of every TPP (measured: 18 ms per poll at 100,000 stored SETs).
-- state: 0 pending (next_attempt_at set), 1 delivered, 2 failed, 3 cancelled.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_seq       BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    format          TEXT NOT NULL,
    url             TEXT NOT NULL,
    state           BIGINT NOT NULL DEFAULT 0,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (state IN (0, 1, 2, 3)),
    CHECK ((state = 0) = (next_attempt_at IS NOT NULL))
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 0;
CREATE INDEX deliveries_client ON deliveries (client_id, created_at);
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE TABLE delivery_attempts (
    id               BIGSERIAL PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt          BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    latency_ms       BIGINT NOT NULL,
    status_code      BIGINT,
    error            TEXT,
    interaction_id   TEXT,
    response_excerpt TEXT,
    note             TEXT,
    UNIQUE (delivery_id, attempt)
);
