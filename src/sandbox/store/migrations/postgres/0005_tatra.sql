-- Migration 5: Tatra-banka-style webhooks (issue 11).
-- One webhook settings row per application (the primary key is the invariant); consents with
-- their accounts (JSON, written once); refresh tasks with their banks' finish times (JSON,
-- written once); and the accounts refreshed at least once, whose primary key decides ADDED
-- (first insert) against UPDATED (already there) on every replica.
CREATE TABLE tatra_webhook_settings (
    client_id       TEXT PRIMARY KEY,
    enabled         BOOLEAN NOT NULL,
    url             TEXT,
    security_header TEXT NOT NULL DEFAULT '',
    active_from     BIGINT,
    updated_at      BIGINT NOT NULL,
    CHECK (NOT enabled OR url IS NOT NULL)
);
CREATE TABLE tatra_consents (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    accounts   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tatra_consents_client ON tatra_consents (client_id);
CREATE TABLE tatra_refresh_tasks (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    banks      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE tatra_refreshed_accounts (
    account_id TEXT PRIMARY KEY,
    first_at   BIGINT NOT NULL
);
