-- Migration 8: the bank faults a TPP chose for its own client (issue 22 item 8). One row per
-- (client, fault): the primary key keeps a fault once per TPP, and the foreign key removes a
-- TPP's choice with the TPP. `fault` is the name `obevents sandbox --list-faults` shows; a name
-- this binary does not know (stored by a newer one) is ignored when read.
CREATE TABLE tpp_faults (
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    fault      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, fault)
);
