//! Versioned schema migrations, one ordered list per engine, numbered alike: version N names the
//! same step on both engines (one that has nothing to do on an engine is a documented no-op
//! there). Each database records what it has applied in
//! `schema_migrations (version, name, applied_at)`; opening a database applies the missing ones
//! in order and refuses a database that records a version this binary does not know (written
//! by a newer release).
//!
//! Releases before the numbering was shared numbered PostgreSQL's migrations without SQLite's
//! version 2 (`tatra` was PostgreSQL's 4, SQLite's 5). Such a database's record is recognised
//! by name and renumbered ([`renumbering`]) before anything is applied, so `tatra` is not
//! applied twice; the no-op version 2 it lacks is then applied (recorded) like any missing one.
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

/// Logs migration `m` applied by `engine`: a new database (`fresh`) gets one line for its
/// whole schema ([`created`]) and each step at debug; an existing one, a line per migration it
/// is upgraded by.
pub fn applied(engine: &str, m: &Migration, fresh: bool) {
    if fresh {
        tracing::debug!(
            engine,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    } else {
        tracing::info!(
            engine,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    }
}

/// Logs the schema of a new `engine` database, at `version`.
pub fn created(engine: &str, version: i64) {
    tracing::info!(engine, version, "created the database schema");
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
    Migration {
        version: 6,
        name: "attempts_in_flight",
        sql: include_str!("migrations/sqlite/0006_attempts_in_flight.sql"),
    },
    Migration {
        version: 7,
        name: "retention",
        sql: include_str!("migrations/sqlite/0007_retention.sql"),
    },
    Migration {
        version: 8,
        name: "tpp_faults",
        sql: include_str!("migrations/sqlite/0008_tpp_faults.sql"),
    },
    Migration {
        version: 9,
        name: "referee_runs",
        sql: include_str!("migrations/sqlite/0009_referee_runs.sql"),
    },
];

/// PostgreSQL migrations, oldest first (the engine arrived at SQLite's version 2: its version
/// 1 creates that schema, its version 2 is a no-op).
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "invariants_events_deliveries",
        sql: include_str!("migrations/postgres/0002_invariants_events_deliveries.sql"),
    },
    Migration {
        version: 3,
        name: "client_auth_method",
        sql: include_str!("migrations/postgres/0003_client_auth_method.sql"),
    },
    Migration {
        version: 4,
        name: "yapily_subscriptions",
        sql: include_str!("migrations/postgres/0004_yapily_subscriptions.sql"),
    },
    Migration {
        version: 5,
        name: "tatra",
        sql: include_str!("migrations/postgres/0005_tatra.sql"),
    },
    Migration {
        version: 6,
        name: "attempts_in_flight",
        sql: include_str!("migrations/postgres/0006_attempts_in_flight.sql"),
    },
    Migration {
        version: 7,
        name: "retention",
        sql: include_str!("migrations/postgres/0007_retention.sql"),
    },
    Migration {
        version: 8,
        name: "tpp_faults",
        sql: include_str!("migrations/postgres/0008_tpp_faults.sql"),
    },
    Migration {
        version: 9,
        name: "referee_runs",
        sql: include_str!("migrations/postgres/0009_referee_runs.sql"),
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

/// The migrations of `list` that `recorded` (the versions a database records) lacks, oldest
/// first; or the highest recorded version when it is newer than anything in `list`. A gap
/// below the highest recorded version is only ever a step an older numbering did not have
/// (PostgreSQL's no-op 2), so applying it late is safe.
pub fn pending<'a>(list: &'a [Migration], recorded: &[i64]) -> Result<Vec<&'a Migration>, i64> {
    if let Some(&newest) = recorded.iter().max()
        && newest > latest(list)
    {
        return Err(newest);
    }
    Ok(list
        .iter()
        .filter(|m| !recorded.contains(&m.version))
        .collect())
}

/// How to renumber a record written under an older numbering: `(recorded version, version in
/// list)` for each recorded migration that `list` holds under the same name but another
/// version. Empty for a database of this numbering (or one newer: unknown names stay).
pub fn renumbering(list: &[Migration], recorded: &[(i64, String)]) -> Vec<(i64, i64)> {
    recorded
        .iter()
        .filter_map(|(version, name)| {
            let m = list.iter().find(|m| m.name == name)?;
            (m.version != *version).then_some((*version, m.version))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_ordered_dense_and_numbered_alike() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            }
        }
        let names = |list: &[Migration]| list.iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
    }

    #[test]
    fn pending_after_each_version() {
        let n = SQLITE.len();
        let newest = latest(SQLITE);
        let upto = |v: i64| (1..=v).collect::<Vec<_>>();
        let versions = |p: Vec<&Migration>| p.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(pending(SQLITE, &[]).map(|p| p.len()), Ok(n));
        assert_eq!(
            pending(SQLITE, &upto(1)).map(versions),
            Ok((2..=newest).collect::<Vec<_>>())
        );
        assert_eq!(pending(SQLITE, &upto(newest)).map(|p| p.len()), Ok(0));
        assert_eq!(
            pending(SQLITE, &upto(newest + 1)).map(|p| p.len()),
            Err(newest + 1)
        );
        let all_but_2: Vec<i64> = (1..=latest(POSTGRES)).filter(|v| *v != 2).collect();
        assert_eq!(pending(POSTGRES, &all_but_2).map(versions), Ok(vec![2]));
    }

    /// What PostgreSQL databases of the releases before the shared numbering record.
    fn old_postgres(upto: usize) -> Vec<(i64, String)> {
        [
            "initial",
            "client_auth_method",
            "yapily_subscriptions",
            "tatra",
        ]
        .iter()
        .take(upto)
        .enumerate()
        .map(|(i, name)| (i as i64 + 1, name.to_string()))
        .collect()
    }

    #[test]
    fn old_postgres_numbering_is_renumbered_by_name() {
        assert_eq!(
            renumbering(POSTGRES, &old_postgres(4)),
            [(2, 3), (3, 4), (4, 5)]
        );
        assert_eq!(renumbering(POSTGRES, &old_postgres(2)), [(2, 3)]);
        assert!(renumbering(POSTGRES, &old_postgres(1)).is_empty());
        let current: Vec<_> = POSTGRES
            .iter()
            .map(|m| (m.version, m.name.to_string()))
            .collect();
        assert!(renumbering(POSTGRES, &current).is_empty());
        assert!(renumbering(SQLITE, &[(9, "future".into())]).is_empty());
    }
}
