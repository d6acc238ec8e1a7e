//! "Similar past incidents": full-text search over incidents (titles, services, notes, task
//! titles, former titles, public incidents and their updates), and who held roles in them.
//!
//! The index (`incident_search`: FTS5 on SQLite, a weighted `tsvector` with a GIN index on
//! PostgreSQL) is kept current by triggers in the transaction of every write (migration 0008),
//! so no caller can forget it. A query is built from the incident's own indexed text: its
//! most telling words (title first, then services, then the most frequent words of its body).
//! The search is tiered: incidents holding every word of the title come first (a selective
//! AND, cheap even over 100,000 incidents); when they are fewer than asked for, the rest come
//! from all the words ORed together. Each tier is ranked by bm25 / `ts_rank`, the title
//! weighing most.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use muster_core::{Incident, IncidentNumber, TimelineEvent};
use sqlx::{PgConnection, SqliteConnection};

use crate::error::db_err;
use crate::queries::{Dialect, Queries};
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Matches one `similar_incidents` call returns at most.
pub const MAX_SIMILAR: u32 = 50;
/// Words a query is built from at most: enough to describe an incident, few enough to keep
/// the ranking cheap over 100,000 incidents.
const MAX_QUERY_TERMS: usize = 12;
/// Title words the first, strict tier requires at most.
const MAX_TITLE_TERMS: usize = 6;

/// A past incident like the one asked about, with its rank and the people who held roles.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarIncident {
    pub incident: Incident,
    /// Higher is more similar; comparable only within one answer.
    pub score: f64,
    /// Who held a role in it (the experts to pull in), in order of first assignment.
    pub experts: Vec<Expert>,
}

/// A person and the roles they held in one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expert {
    pub person: String,
    pub roles: Vec<String>,
}

/// Words that say nothing about an incident.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "with", "from", "this", "that", "have", "has",
    "not", "but", "all", "any", "can", "into", "its", "our", "out", "now", "some", "than", "then",
    "they", "them", "their", "there", "these", "been", "being", "will", "would", "what", "when",
    "who", "which", "while", "about", "after", "before", "over", "under", "again", "more", "most",
    "very", "just", "also", "only", "still", "see", "seen", "get", "got", "you", "your",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
}

/// The query terms for a document: title words, then service words, then the body's most
/// frequent words; distinct, alphanumeric only (safe to quote into either dialect's syntax).
pub(crate) fn query_terms(title: &str, services: &str, body: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let push = |w: String, terms: &mut Vec<String>| {
        if terms.len() < MAX_QUERY_TERMS && !terms.contains(&w) {
            terms.push(w);
        }
    };
    for w in words(title).chain(words(services)) {
        push(w, &mut terms);
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in words(body) {
        *counts.entry(w).or_default() += 1;
    }
    let mut frequent: Vec<(String, usize)> = counts.into_iter().collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (w, _) in frequent {
        push(w, &mut terms);
    }
    terms
}

/// The distinct words of the title, for the strict tier.
pub(crate) fn title_terms(title: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for w in words(title) {
        if terms.len() < MAX_TITLE_TERMS && !terms.contains(&w) {
            terms.push(w);
        }
    }
    terms
}

/// `every`: all terms must match (AND); otherwise any (OR).
fn match_expression(dialect: Dialect, terms: &[String], every: bool) -> String {
    match dialect {
        // Quoted FTS5 strings; the terms hold no quotes.
        Dialect::Sqlite => terms
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(if every { " AND " } else { " OR " }),
        Dialect::Postgres => terms.join(if every { " & " } else { " | " }),
    }
}

/// The strict tier's hits, then the broad tier's that are not among them, at most `limit`.
/// Strict scores are raised by the best broad score so the answer stays best first.
fn merge_tiers(strict: Vec<(i64, f64)>, broad: Vec<(i64, f64)>, limit: usize) -> Vec<(i64, f64)> {
    let lift = broad.iter().map(|h| h.1).fold(0.0_f64, f64::max);
    let mut out: Vec<(i64, f64)> = strict.into_iter().map(|(id, s)| (id, s + lift)).collect();
    for hit in broad {
        if out.len() >= limit {
            break;
        }
        if !out.iter().any(|h| h.0 == hit.0) {
            out.push(hit);
        }
    }
    out.truncate(limit);
    out
}

pub(crate) trait SimilarQueries {
    async fn search_document(
        &mut self,
        id: IncidentNumber,
    ) -> Result<Option<(String, String, String)>, StoreError>;
    async fn search(
        &mut self,
        expression: &str,
        except: IncidentNumber,
        limit: u32,
    ) -> Result<Vec<(i64, f64)>, StoreError>;
    async fn role_assignments(&mut self, id: IncidentNumber) -> Result<Vec<String>, StoreError>;
}

macro_rules! impl_similar_queries {
    ($conn:ty) => {
        impl SimilarQueries for $conn {
            async fn search_document(
                &mut self,
                id: IncidentNumber,
            ) -> Result<Option<(String, String, String)>, StoreError> {
                let sql = match <$conn as Queries>::DIALECT {
                    Dialect::Sqlite => {
                        "SELECT title, services, body FROM incident_search WHERE rowid = $1"
                    }
                    Dialect::Postgres => {
                        "SELECT title, services, body FROM incident_search WHERE incident = $1"
                    }
                };
                sqlx::query_as(sql)
                    .bind(id.0)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)
            }

            async fn search(
                &mut self,
                expression: &str,
                except: IncidentNumber,
                limit: u32,
            ) -> Result<Vec<(i64, f64)>, StoreError> {
                let sql = match <$conn as Queries>::DIALECT {
                    // bm25 is lower-is-better; the title weighs most, then the services.
                    Dialect::Sqlite => {
                        "SELECT rowid, -bm25(incident_search, 10.0, 4.0, 1.0) AS score \
                         FROM incident_search WHERE incident_search MATCH $1 AND rowid <> $2 \
                         AND rowid NOT IN (SELECT number FROM incidents WHERE exercise) \
                         ORDER BY bm25(incident_search, 10.0, 4.0, 1.0) LIMIT $3"
                    }
                    Dialect::Postgres => {
                        "SELECT incident, ts_rank(document, q)::float8 AS score \
                         FROM incident_search, to_tsquery('english', $1) q \
                         WHERE document @@ q AND incident <> $2 \
                         AND incident NOT IN (SELECT number FROM incidents WHERE exercise) \
                         ORDER BY score DESC, incident DESC LIMIT $3"
                    }
                };
                sqlx::query_as(sql)
                    .bind(expression)
                    .bind(except.0)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)
            }

            async fn role_assignments(
                &mut self,
                id: IncidentNumber,
            ) -> Result<Vec<String>, StoreError> {
                sqlx::query_scalar(
                    "SELECT data FROM timeline WHERE incident = $1 AND kind = 'role_assigned' \
                     ORDER BY seq",
                )
                .bind(id.0)
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)
            }
        }
    };
}

impl_similar_queries!(SqliteConnection);
impl_similar_queries!(PgConnection);

fn dialect_of<C: Queries>(_: &C) -> Dialect {
    C::DIALECT
}

/// People and their roles from `role_assigned` data, in order of first assignment.
fn experts(assignments: &[String]) -> Vec<Expert> {
    let mut order: Vec<String> = Vec::new();
    let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for data in assignments {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        let (Some(person), Some(role)) = (v["person"].as_str(), v["role"].as_str()) else {
            continue;
        };
        let held = roles.entry(person.to_string()).or_insert_with(|| {
            order.push(person.to_string());
            Vec::new()
        });
        if !held.iter().any(|r| r == role) {
            held.push(role.to_string());
        }
    }
    order
        .into_iter()
        .map(|person| Expert {
            roles: roles.remove(&person).unwrap_or_default(),
            person,
        })
        .collect()
}

impl Store {
    /// The incidents most like incident `number` (never itself), best first, at most `limit`
    /// (capped at [`MAX_SIMILAR`]), each with the people who held roles in it. Open incidents
    /// are included (a duplicate being worked now is worth knowing about). `NotFound` when
    /// the incident does not exist; empty when it has no searchable words.
    pub async fn similar_incidents(
        &self,
        number: IncidentNumber,
        limit: u32,
    ) -> Result<Vec<SimilarIncident>, StoreError> {
        let limit = limit.min(MAX_SIMILAR);
        read!(self, |conn| {
            let Some((title, services, body)) = conn.search_document(number).await? else {
                return Err(StoreError::NotFound(number));
            };
            let terms = query_terms(&title, &services, &body);
            if terms.is_empty() || limit == 0 {
                return Ok(Vec::new());
            }
            let dialect = dialect_of(&*conn);
            let strict_terms = title_terms(&title);
            let strict = if strict_terms.is_empty() {
                Vec::new()
            } else {
                let expression = match_expression(dialect, &strict_terms, true);
                conn.search(&expression, number, limit).await?
            };
            // One word ANDed or ORed is the same query: no second tier then.
            let same = terms.len() == 1 && terms == strict_terms;
            let broad = if strict.len() < limit as usize && !same {
                let expression = match_expression(dialect, &terms, false);
                conn.search(&expression, number, limit + strict.len() as u32)
                    .await?
            } else {
                Vec::new()
            };
            let hits = merge_tiers(strict, broad, limit as usize);
            let mut found = Vec::with_capacity(hits.len());
            for (id, score) in hits {
                let id = IncidentNumber(id);
                let Some(incident) = conn.load_incident(id).await? else {
                    continue;
                };
                let experts = experts(&conn.role_assignments(id).await?);
                found.push(SimilarIncident {
                    incident,
                    score,
                    experts,
                });
            }
            Ok(found)
        })
    }

    /// Stores recorded incidents (each a whole timeline, starting with `declared`; its `seq`s
    /// are renumbered from 1) in one transaction and returns their new numbers. For bringing
    /// history over from another tool, and for building a benchmark's corpus fast.
    pub async fn import_incidents(
        &self,
        timelines: Vec<Vec<TimelineEvent>>,
    ) -> Result<Vec<IncidentNumber>, StoreError> {
        write_tx!(self, |conn| {
            let mut numbers = Vec::with_capacity(timelines.len());
            for mut events in timelines {
                let number = IncidentNumber(conn.next_incident_number().await?);
                for (i, e) in events.iter_mut().enumerate() {
                    e.seq = i as i64 + 1;
                }
                let incident = Incident::replay(number, &events).ok_or_else(|| {
                    StoreError::Internal("an imported timeline must start with `declared`".into())
                })?;
                conn.insert_incident(&incident).await?;
                conn.insert_events(number, &events).await?;
                numbers.push(number);
            }
            Ok(numbers)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_favour_the_title_and_drop_noise() {
        let terms = query_terms(
            "Checkout returns 500s for <script> users",
            r#"["checkout","payments-api"]"#,
            "the database pool the pool exhausted 12345 pool database",
        );
        assert_eq!(
            terms,
            [
                "checkout",
                "returns",
                "500s",
                "script",
                "users",
                "payments",
                "api",
                "pool",
                "database",
                "exhausted"
            ]
        );
        assert_eq!(
            match_expression(Dialect::Sqlite, &terms[..2], false),
            r#""checkout" OR "returns""#
        );
        assert_eq!(
            match_expression(Dialect::Sqlite, &terms[..2], true),
            r#""checkout" AND "returns""#
        );
        assert_eq!(
            match_expression(Dialect::Postgres, &terms[..2], false),
            "checkout | returns"
        );
        assert_eq!(
            match_expression(Dialect::Postgres, &terms[..2], true),
            "checkout & returns"
        );
        assert_eq!(
            title_terms("Checkout returns 500s for <script> users, checkout"),
            ["checkout", "returns", "500s", "script", "users"]
        );
    }

    #[test]
    fn strict_hits_come_first_and_stay_best_first() {
        let merged = merge_tiers(vec![(7, 0.5)], vec![(3, 2.0), (7, 1.0), (9, 0.2)], 3);
        assert_eq!(merged, vec![(7, 2.5), (3, 2.0), (9, 0.2)]);
        assert_eq!(
            merge_tiers(vec![(1, 1.0), (2, 0.5)], vec![], 1),
            vec![(1, 1.0)]
        );
    }

    #[test]
    fn experts_keep_first_assignment_order() {
        let rows = vec![
            r#"{"role":"incident_commander","person":"bob"}"#.to_string(),
            r#"{"role":"comms_lead","person":"alice"}"#.to_string(),
            r#"{"role":"ops_lead","person":"bob"}"#.to_string(),
        ];
        let e = experts(&rows);
        assert_eq!(e[0].person, "bob");
        assert_eq!(e[0].roles, ["incident_commander", "ops_lead"]);
        assert_eq!(e[1].person, "alice");
    }
}
