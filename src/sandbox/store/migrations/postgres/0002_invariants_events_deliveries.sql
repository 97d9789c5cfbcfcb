-- Migration 2 (PostgreSQL): nothing to do. SQLite's migration 2 brings a release 0.1 database to
-- the schema PostgreSQL's migration 1 already creates (seeded clients, one subscription and one
-- callback-url registration per client by partial unique indexes, format-neutral events,
-- deliveries and attempts); it exists here so both engines number their migrations alike.
-- Releases before it numbered PostgreSQL's later migrations one lower; opening such a database
-- renumbers its record (see `store::migrations`) and then records this one.
SELECT 1;
