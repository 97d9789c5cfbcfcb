//! Versioned schema migrations, one ordered list per engine. Each database records what it has
//! applied in `schema_migrations (version, name, applied_at)`; opening a database applies the
//! missing ones in order, inside a transaction each, and refuses a database that records a
//! version this binary does not know (written by a newer release).
//!
//! SQLite databases of release 0.1 have no `schema_migrations` table: they carry
//! `PRAGMA user_version = 1`, which is read as "migration 1 applied". The SQLite engine keeps
//! `user_version` equal to the newest applied version, so a 0.1 binary (which refuses a
//! `user_version` above 1) refuses a database this release has upgraded instead of misreading it.

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// SQLite migrations, oldest first.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "invariants_events_deliveries",
        sql: include_str!("migrations/sqlite/0002_invariants_events_deliveries.sql"),
    },
    Migration {
        version: 3,
        name: "client_auth_method",
        sql: include_str!("migrations/sqlite/0003_client_auth_method.sql"),
    },
    Migration {
        version: 4,
        name: "yapily_subscriptions",
        sql: include_str!("migrations/sqlite/0004_yapily_subscriptions.sql"),
    },
    Migration {
        version: 5,
        name: "tatra",
        sql: include_str!("migrations/sqlite/0005_tatra.sql"),
    },
];

/// PostgreSQL migrations, oldest first (the engine arrived at SQLite's version 2).
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "client_auth_method",
        sql: include_str!("migrations/postgres/0002_client_auth_method.sql"),
    },
    Migration {
        version: 3,
        name: "yapily_subscriptions",
        sql: include_str!("migrations/postgres/0003_yapily_subscriptions.sql"),
    },
    Migration {
        version: 4,
        name: "tatra",
        sql: include_str!("migrations/postgres/0004_tatra.sql"),
    },
];

/// The table both engines record applied migrations in.
pub const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// The newest version of a list.
pub fn latest(list: &[Migration]) -> i64 {
    list.last().map_or(0, |m| m.version)
}

/// The migrations still to apply after `applied` (the highest version recorded), or the
/// recorded version when it is newer than anything in `list`.
pub fn pending(list: &[Migration], applied: i64) -> Result<&[Migration], i64> {
    if applied > latest(list) {
        return Err(applied);
    }
    let start = list.partition_point(|m| m.version <= applied);
    Ok(&list[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_ordered_and_dense() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            }
        }
    }

    #[test]
    fn pending_after_each_version() {
        let n = SQLITE.len();
        let newest = latest(SQLITE);
        assert_eq!(pending(SQLITE, 0).map(<[_]>::len), Ok(n));
        assert_eq!(pending(SQLITE, 1).map(|p| p[0].version), Ok(2));
        assert_eq!(pending(SQLITE, newest).map(<[_]>::len), Ok(0));
        assert_eq!(pending(SQLITE, newest + 1).map(<[_]>::len), Err(newest + 1));
    }
}
