//! The facts a briefing is made from (incident, whole timeline, live clock, linked alerts,
//! similar past incidents), loaded once: the API's briefings and Slack's `/muster brief`
//! read the same.

use muster_core::brief::{Digest, Facts, LinkedAlert, PendingDeadline, SimilarIncident};
use muster_core::{Incident, IncidentNumber, TimelineEvent, Timestamp};
use muster_store::{AlertFilter, MAX_ALERT_LIMIT, StoreError};

use super::clock::clock_view;
use crate::AppState;

/// What a summary is made from, loaded once per request.
pub struct Loaded {
    pub incident: Incident,
    pub events: Vec<TimelineEvent>,
    pub pending: Vec<PendingDeadline>,
    pub alerts: Vec<LinkedAlert>,
    /// Similar past incidents (the best few), with the people who held roles in them.
    pub similar: Vec<SimilarIncident>,
    pub now: Timestamp,
}

impl Loaded {
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            incident: &self.incident,
            events: &self.events,
            pending: &self.pending,
            alerts: &self.alerts,
            similar: &self.similar,
            now: self.now,
        }
    }

    /// The whole timeline, the live clock, the linked alerts and similar incidents of `id`
    /// (`None`: no such incident).
    pub async fn load(state: &AppState, id: IncidentNumber) -> Result<Option<Loaded>, StoreError> {
        let Some(incident) = state.store.incident(id).await? else {
            return Ok(None);
        };
        let events = state.store.timeline_since(id, None).await?;
        Ok(Some(Loaded::with(state, incident, events).await?))
    }

    /// What "brief me" is made from: [`Loaded::load`] without the timeline, and the digest of
    /// the events from the first stamped at or after `since` (`None`: all of them). A brief
    /// since the reader's last look folds only what the reader has not seen, and a long
    /// incident's stored block digests rather than its events.
    pub async fn load_brief(
        state: &AppState,
        id: IncidentNumber,
        since: Option<Timestamp>,
    ) -> Result<Option<(Loaded, Digest)>, StoreError> {
        let Some(incident) = state.store.incident(id).await? else {
            return Ok(None);
        };
        let digest = state
            .store
            .brief_digest(id, since, incident.last_seq)
            .await?;
        Ok(Some((
            Loaded::with(state, incident, Vec::new()).await?,
            digest,
        )))
    }

    /// The live clock, alerts and similar incidents beside `incident` and `events`.
    async fn with(
        state: &AppState,
        incident: Incident,
        events: Vec<TimelineEvent>,
    ) -> Result<Loaded, StoreError> {
        let id = incident.id;
        let clock = clock_view(state, id).await?;
        let mut pending: Vec<PendingDeadline> = clock
            .timers
            .into_iter()
            .map(|t| PendingDeadline {
                policy: t.policy,
                kind: t.kind,
                expect: t.expect,
                due_at: t.due_at,
            })
            .collect();
        // Only the next step of each running escalation: the rest may never come.
        for step in clock.escalations {
            if !pending
                .iter()
                .any(|p| p.kind == "escalation" && p.policy == step.escalation_policy)
            {
                pending.push(PendingDeadline {
                    policy: step.escalation_policy,
                    kind: "escalation".into(),
                    expect: None,
                    due_at: step.due_at,
                });
            }
        }
        let filter = AlertFilter {
            incident: Some(id),
            limit: Some(MAX_ALERT_LIMIT),
            ..AlertFilter::default()
        };
        let mut alerts: Vec<LinkedAlert> = state
            .store
            .alerts(&filter)
            .await?
            .into_iter()
            .map(|a| LinkedAlert {
                id: a.id,
                service: a.service,
                severity: a.severity,
                summary: a.summary,
                status: a.status.as_str().to_string(),
                first_seen: a.first_seen,
                last_seen: a.last_seen,
                count: a.count,
            })
            .collect();
        alerts.sort_by_key(|a| (a.first_seen, a.id));
        Ok(Loaded {
            incident,
            events,
            pending,
            alerts,
            similar: similar_of(state, id, clock.now).await,
            now: clock.now,
        })
    }
}

/// Past incidents most like `id` and their experts, for "brief me", found at most once a
/// minute per incident. Best effort: a brief without them is still worth answering.
async fn similar_of(state: &AppState, id: IncidentNumber, now: Timestamp) -> Vec<SimilarIncident> {
    if let Some(similar) = state.similar.get(id, now) {
        return similar;
    }
    match state.store.similar_incidents(id, SIMILAR_IN_BRIEF).await {
        Ok(found) => {
            let similar: Vec<SimilarIncident> = found
                .into_iter()
                .map(|s| SimilarIncident {
                    id: s.incident.id.to_string(),
                    title: s.incident.title,
                    experts: s.experts.into_iter().map(|e| e.person).collect(),
                })
                .collect();
            state.similar.put(id, now, similar.clone());
            similar
        }
        Err(e) => {
            tracing::warn!(error = %e, incident = %id, "similar incidents left out of the brief");
            Vec::new()
        }
    }
}

/// How many similar incidents "brief me" names.
const SIMILAR_IN_BRIEF: u32 = 3;
