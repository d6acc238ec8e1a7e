//! Similar past incidents per incident, kept for a minute.
//!
//! Finding them reads the incident's search document (up to 100 KB of notes on a long
//! incident), counts its words and runs two full-text queries: most of a brief's time once
//! the timeline itself is read incrementally. Past incidents change rarely and a brief is
//! asked for again and again while an incident runs, so each answer is kept for
//! [`KEEP_FOR`] of the shared clock.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use muster_core::IncidentNumber;
use muster_core::brief::SimilarIncident;

/// How long an answer stands.
const KEEP_FOR: SignedDuration = SignedDuration::from_secs(60);
/// Incidents remembered at once; the oldest answer goes first beyond it.
const CAPACITY: usize = 256;

#[derive(Default)]
pub struct SimilarCache {
    found: Mutex<HashMap<IncidentNumber, (Timestamp, Vec<SimilarIncident>)>>,
}

impl SimilarCache {
    /// The answer for `id` found less than [`KEEP_FOR`] before `now`, if any.
    pub fn get(&self, id: IncidentNumber, now: Timestamp) -> Option<Vec<SimilarIncident>> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        let (at, similar) = found.get(&id)?;
        // A clock set back (a drill's simulated clock) also makes the answer stale.
        (*at <= now && now < *at + KEEP_FOR).then(|| similar.clone())
    }

    /// Keeps `similar` as the answer for `id` found at `now`.
    pub fn put(&self, id: IncidentNumber, now: Timestamp, similar: Vec<SimilarIncident>) {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= CAPACITY && !found.contains_key(&id) {
            let oldest = found.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                found.remove(&oldest);
            }
        }
        found.insert(id, (now, similar));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("valid time")
    }

    fn one(id: &str) -> Vec<SimilarIncident> {
        vec![SimilarIncident {
            id: id.into(),
            title: format!("like {id}"),
            experts: vec!["alice".into()],
        }]
    }

    #[test]
    fn an_answer_stands_for_a_minute_of_the_clock() {
        let cache = SimilarCache::default();
        assert_eq!(cache.get(IncidentNumber(1), at(0)), None);
        cache.put(IncidentNumber(1), at(0), one("INC-7"));
        assert_eq!(cache.get(IncidentNumber(1), at(59)), Some(one("INC-7")));
        assert_eq!(cache.get(IncidentNumber(2), at(1)), None, "per incident");
        assert_eq!(
            cache.get(IncidentNumber(1), at(60)),
            None,
            "stale after a minute"
        );
        assert_eq!(cache.get(IncidentNumber(1), at(-1)), None, "clock set back");
        cache.put(IncidentNumber(1), at(60), one("INC-8"));
        assert_eq!(cache.get(IncidentNumber(1), at(61)), Some(one("INC-8")));
    }

    #[test]
    fn the_oldest_answer_goes_first_when_full() {
        let cache = SimilarCache::default();
        for i in 0..CAPACITY as i64 {
            cache.put(IncidentNumber(i + 1), at(i), one("INC-1"));
        }
        cache.put(IncidentNumber(1), at(1_000), one("INC-2"));
        cache.put(IncidentNumber(10_000), at(1_000), one("INC-3"));
        let found = cache.found.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(found.len(), CAPACITY);
        // Incident 1 was refreshed; incident 2 held the oldest answer left and went.
        assert!(found.contains_key(&IncidentNumber(1)));
        assert!(!found.contains_key(&IncidentNumber(2)));
        assert!(found.contains_key(&IncidentNumber(10_000)));
    }
}
