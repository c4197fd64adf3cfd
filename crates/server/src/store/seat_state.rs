//! The seven states of a seat (`seats.state`): one (task, item, worker) place, from planned to
//! done. Statements name a state through [`SeatState::as_str`] (or [`SeatState::sql`] inside a
//! statement's text), never as a bare literal; a stored name that is not a state fails to
//! decode, and migration 17's CHECK refuses writing one.

use std::fmt;

/// Where a seat is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatState {
    /// Planned for its worker, not handed out yet.
    Assigned,
    /// Handed out under a lease.
    Leased,
    /// Sent back to its worker by a reviewer.
    Rework,
    /// Labeled.
    Submitted,
    /// The worker skipped the item.
    Skipped,
    /// Given back (or taken back) before a label.
    Released,
    /// Its lease ran out before a label.
    Expired,
}

impl SeatState {
    /// Every state.
    pub const ALL: [SeatState; 7] = [
        SeatState::Assigned,
        SeatState::Leased,
        SeatState::Rework,
        SeatState::Submitted,
        SeatState::Skipped,
        SeatState::Released,
        SeatState::Expired,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatState::Assigned => "assigned",
            SeatState::Leased => "leased",
            SeatState::Rework => "rework",
            SeatState::Submitted => "submitted",
            SeatState::Skipped => "skipped",
            SeatState::Released => "released",
            SeatState::Expired => "expired",
        }
    }

    /// The state a stored name names; anything else is a decode error.
    pub fn parse(name: &str) -> sqlx::Result<SeatState> {
        SeatState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| sqlx::Error::Decode(format!("seats.state holds {name:?}").into()))
    }

    /// The name as a SQL literal, for a statement's text (`'leased'`): constant per state, so
    /// the statement stays prepared, and the partial indexes of migration 6 still match.
    /// Static, so building a hot statement's text costs no allocation for it.
    pub fn sql(self) -> &'static str {
        match self {
            SeatState::Assigned => "'assigned'",
            SeatState::Leased => "'leased'",
            SeatState::Rework => "'rework'",
            SeatState::Submitted => "'submitted'",
            SeatState::Skipped => "'skipped'",
            SeatState::Released => "'released'",
            SeatState::Expired => "'expired'",
        }
    }
}

impl fmt::Display for SeatState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SeatState;
    use quorum_core::lifecycle::TaskStatus;
    use quorum_core::review::ResultState;

    #[test]
    fn seat_states_round_trip_and_refuse_unknown_names() {
        for s in SeatState::ALL {
            assert_eq!(SeatState::parse(s.as_str()).unwrap(), s);
            assert_eq!(s.sql(), format!("'{s}'"));
        }
        assert!(SeatState::parse("held").is_err());
    }

    /// Every statement names a seat state through the enum: a bare `'leased'` in a statement
    /// is a state the compiler cannot check (renamed or mistyped, it matches no row). Scans
    /// the crate's sources; the migrations live outside `src/`.
    #[test]
    fn no_bare_seat_state_literal_outside_this_module() {
        fn scan(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    scan(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("store/seat_state.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        for s in SeatState::ALL {
                            if line.contains(&format!("'{}'", s.as_str())) {
                                found.push(format!(
                                    "{}:{}: {}",
                                    path.display(),
                                    n + 1,
                                    line.trim()
                                ));
                            }
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        scan(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.is_empty(), "bare seat states:\n{}", found.join("\n"));
    }

    /// Migration 17's CHECKs list exactly the enums' names: a state added to an enum without
    /// a migration would be refused by the database.
    #[test]
    fn the_checks_of_migration_17_allow_every_name_the_server_writes() {
        for migration in [
            include_str!("../../migrations/sqlite/0017_enumerated_columns.sql"),
            include_str!("../../migrations/postgres/0017_enumerated_columns.sql"),
        ] {
            let names = SeatState::ALL
                .iter()
                .map(|s| s.as_str())
                .chain(ResultState::ALL.iter().map(|s| s.as_str()));
            for name in names {
                assert!(migration.contains(&format!("'{name}'")), "{name}");
            }
            for status in TaskStatus::ALL {
                assert!(migration.contains(&format!("'{status}'")), "{status}");
            }
        }
    }
}
