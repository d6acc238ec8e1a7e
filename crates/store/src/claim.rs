//! The leased claim, written once: timers and outbox items are claimed the same way, so the
//! statement is built here from what differs (table, ready states, due column, extra columns
//! to set, columns returned).
//!
//! A row is claimable when it is ready (`$ready`, its due column `<= $2`) or when its claim's
//! lease ended before `$2`. A claim sets `state = 'claimed'`, the owner `$1`, the lease's end
//! `$3` and counts an attempt (the fencing token), at most `$4` rows, earliest due first.
//! SQLite runs it inside `BEGIN IMMEDIATE`, where no other writer runs meanwhile; PostgreSQL
//! skips rows another claimer holds instead of waiting for them, and re-checks rows claimed
//! and committed meanwhile against the `WHERE` clause.

use crate::queries::Dialect;

/// The claim statement of one table, per dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeasedClaim {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl LeasedClaim {
    pub(crate) fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// A [`LeasedClaim`] built at compile time. `ready`: the state test of rows claimable once
/// due (written as the table's partial indexes are, so the planners use them); `due`:
/// the column compared with `$2` and ordered by; `also_set`: further assignments (each
/// starting with `, `); `returning`: the columns each claimed row answers, in order.
macro_rules! leased_claim {
    (
        table: $table:literal,
        ready: $ready:literal,
        due: $due:literal,
        also_set: $set:literal,
        returning: [$first:literal $(, $col:literal)* $(,)?] $(,)?
    ) => {
        $crate::claim::LeasedClaim {
            sqlite: concat!(
                "UPDATE ", $table, " SET state = 'claimed', lease_owner = $1, ",
                "lease_until = $3, attempts = attempts + 1", $set, " ",
                "WHERE id IN (SELECT id FROM ", $table, " ",
                "WHERE (", $ready, " AND ", $due, " <= $2) ",
                "OR (state = 'claimed' AND lease_until < $2) ",
                "ORDER BY ", $due, ", id LIMIT $4) ",
                "RETURNING ", $first $(, ", ", $col)*
            ),
            postgres: concat!(
                "WITH due AS (SELECT id FROM ", $table, " ",
                "WHERE (", $ready, " AND ", $due, " <= $2) ",
                "OR (state = 'claimed' AND lease_until < $2) ",
                "ORDER BY ", $due, ", id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
                "UPDATE ", $table, " c SET state = 'claimed', lease_owner = $1, ",
                "lease_until = $3, attempts = c.attempts + 1", $set, " ",
                "FROM due WHERE c.id = due.id ",
                "RETURNING c.", $first $(, ", c.", $col)*
            ),
        }
    };
}

pub(crate) use leased_claim;

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of whitespace as one space, as the database reads them.
    fn squeeze(sql: &str) -> String {
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The statements timers and outbox claimed with before they shared this one: the same
    /// text but the PostgreSQL alias of the updated table.
    #[test]
    fn timers_and_outbox_claim_as_before() {
        assert_eq!(
            squeeze(crate::timers::CLAIM.sql(Dialect::Sqlite)),
            squeeze(
                "UPDATE timers SET state = 'claimed', lease_owner = $1, \
                 lease_until = $3, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM timers \
                     WHERE (state = 'pending' AND due_at <= $2) \
                        OR (state = 'claimed' AND lease_until < $2) \
                     ORDER BY due_at, id LIMIT $4) \
                 RETURNING id, key, incident, due_at, payload, attempts, \
                     lease_owner, lease_until"
            )
        );
        assert_eq!(
            squeeze(crate::timers::CLAIM.sql(Dialect::Postgres)),
            squeeze(
                "WITH due AS (SELECT id FROM timers \
                     WHERE (state = 'pending' AND due_at <= $2) \
                        OR (state = 'claimed' AND lease_until < $2) \
                     ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 UPDATE timers c SET state = 'claimed', lease_owner = $1, \
                     lease_until = $3, attempts = c.attempts + 1 \
                 FROM due WHERE c.id = due.id \
                 RETURNING c.id, c.key, c.incident, c.due_at, c.payload, c.attempts, \
                     c.lease_owner, c.lease_until"
            )
        );
        assert_eq!(
            squeeze(crate::outbox::CLAIM.sql(Dialect::Sqlite)),
            squeeze(
                "UPDATE outbox SET state = 'claimed', lease_owner = $1, \
                 lease_until = $3, attempts = attempts + 1, updated_at = $2 \
                 WHERE id IN (SELECT id FROM outbox \
                     WHERE (state IN ('queued', 'failed') AND next_attempt_at <= $2) \
                        OR (state = 'claimed' AND lease_until < $2) \
                     ORDER BY next_attempt_at, id LIMIT $4) \
                 RETURNING id, idempotency_key, incident, effect, payload, attempts, \
                     created_at"
            )
        );
        assert_eq!(
            squeeze(crate::outbox::CLAIM.sql(Dialect::Postgres)),
            squeeze(
                "WITH due AS (SELECT id FROM outbox \
                     WHERE (state IN ('queued', 'failed') AND next_attempt_at <= $2) \
                        OR (state = 'claimed' AND lease_until < $2) \
                     ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 UPDATE outbox c SET state = 'claimed', lease_owner = $1, \
                     lease_until = $3, attempts = c.attempts + 1, updated_at = $2 \
                 FROM due WHERE c.id = due.id \
                 RETURNING c.id, c.idempotency_key, c.incident, c.effect, c.payload, \
                     c.attempts, c.created_at"
            )
        );
    }

    #[test]
    fn builds_the_update_returning_and_the_skip_locked_statements() {
        let claim = leased_claim!(
            table: "jobs",
            ready: "state = 'ready'",
            due: "run_at",
            also_set: ", touched = $2",
            returning: ["id", "payload"],
        );
        assert_eq!(
            squeeze(claim.sql(Dialect::Sqlite)),
            squeeze(
                "UPDATE jobs SET state = 'claimed', lease_owner = $1, \
                 lease_until = $3, attempts = attempts + 1, touched = $2 \
                 WHERE id IN (SELECT id FROM jobs \
                     WHERE (state = 'ready' AND run_at <= $2) \
                        OR (state = 'claimed' AND lease_until < $2) \
                     ORDER BY run_at, id LIMIT $4) \
                 RETURNING id, payload"
            )
        );
        assert_eq!(
            squeeze(claim.sql(Dialect::Postgres)),
            squeeze(
                "WITH due AS (SELECT id FROM jobs \
                     WHERE (state = 'ready' AND run_at <= $2) \
                        OR (state = 'claimed' AND lease_until < $2) \
                     ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 UPDATE jobs c SET state = 'claimed', lease_owner = $1, \
                     lease_until = $3, attempts = c.attempts + 1, touched = $2 \
                 FROM due WHERE c.id = due.id \
                 RETURNING c.id, c.payload"
            )
        );
    }
}
