//! `muster bench replay`: replay 10,000 recorded incidents of about 50 events each through the
//! config's policies (target: under 1 s), parsing their JSON lines included.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use muster_core::engine::Event;
use muster_core::{Severity, Status};
use serde_json::json;

use crate::bench::emit;
use crate::policy::{Recorded, RecordedEvent, replay_one, tally};

const INCIDENTS: usize = 10_000;

/// A small deterministic generator (no dependency, same incidents every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// About 50 events: declaration, responders, chatter, milestones, status updates, resolution.
fn incident(i: usize, rng: &mut Lcg) -> Recorded {
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap_or_default();
    let start = start + SignedDuration::from_mins(i as i64 * 37);
    let mut t = 0i64; // seconds
    let mut events = Vec::with_capacity(56);
    let mut push = |t: i64, event: Event| {
        events.push(RecordedEvent {
            at: start + SignedDuration::from_secs(t),
            event,
        })
    };
    let severity = Severity::ALL[rng.below(4) as usize];
    push(
        0,
        Event::Declared {
            severity,
            services: vec![["checkout", "payments-api", "postgres"][rng.below(3) as usize].into()],
            incident_type: None,
            labels: BTreeMap::new(),
        },
    );
    push(
        30,
        Event::StatusChanged {
            to: Status::Investigating,
        },
    );
    let people = ["alice", "bob", "carol", "dave", "erin"];
    let validated_at = 300 + rng.below(1800) as i64;
    let mut validated = false;
    for k in 0..44 {
        t += 20 + rng.below(140) as i64;
        if !validated && t >= validated_at {
            validated = true;
            push(
                t,
                Event::MilestoneReached {
                    milestone: "blast_radius_validated".into(),
                    actor: people[rng.below(5) as usize].into(),
                },
            );
            continue;
        }
        let person = people[rng.below(5) as usize].to_string();
        let e = match rng.below(12) {
            0 => Event::ResponderJoined { person },
            1 => Event::ResponderLeft { person },
            2 => Event::StatusUpdatePosted { actor: person },
            3 if k > 30 => Event::StatusChanged {
                to: Status::Identified,
            },
            4 => Event::RoleAssigned {
                role: "ops_lead".into(),
                person,
            },
            5 => Event::AlertAttached {},
            _ => Event::MessagePosted { person },
        };
        push(t, e);
    }
    push(
        t + 60,
        Event::StatusChanged {
            to: Status::Mitigated,
        },
    );
    push(
        t + 600,
        Event::StatusChanged {
            to: Status::Resolved,
        },
    );
    Recorded {
        incident: format!("INC-{i}"),
        events,
        fired: Vec::new(),
        until: None,
    }
}

fn to_json(r: &Recorded) -> String {
    let events: Vec<serde_json::Value> = r
        .events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(&e.event).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("at".into(), json!(e.at));
            }
            v
        })
        .collect();
    json!({ "incident": r.incident, "events": events }).to_string()
}

pub fn run(config: &Path) -> anyhow::Result<()> {
    let config = muster_config::load(config).map_err(|d| {
        anyhow::anyhow!(
            "config has errors: {}",
            d.first().map(|x| x.to_string()).unwrap_or_default()
        )
    })?;
    let policies = config.engine_policies();
    let mut rng = Lcg(5);
    let incidents: Vec<Recorded> = (0..INCIDENTS).map(|i| incident(i, &mut rng)).collect();
    let events: usize = incidents.iter().map(|r| r.events.len()).sum();
    let lines: Vec<String> = incidents.iter().map(to_json).collect();
    let ctx = json!({ "incidents": INCIDENTS, "events": events, "policies": policies.len() });

    // simulate + compare only
    let t0 = Instant::now();
    let mut stats = BTreeMap::new();
    let mut actions = 0usize;
    for r in &incidents {
        let out = replay_one(&policies, r, SignedDuration::from_mins(1));
        actions += out.actions.len();
        tally(&mut stats, &out);
    }
    let simulate = t0.elapsed();

    // end to end: parse each JSON line, simulate, compare
    let t1 = Instant::now();
    for line in &lines {
        let r: Recorded = serde_json::from_str(line)?;
        let out = replay_one(&policies, &r, SignedDuration::from_mins(1));
        std::hint::black_box(out);
    }
    let total = t1.elapsed();

    let mut extra = ctx.clone();
    if let Some(o) = extra.as_object_mut() {
        o.insert("actions".into(), json!(actions));
        o.insert("target_ms".into(), json!(1000));
    }
    emit(
        "replay",
        "replay_total",
        total.as_secs_f64() * 1e3,
        "ms",
        extra,
    );
    emit(
        "replay",
        "simulate_only",
        simulate.as_secs_f64() * 1e3,
        "ms",
        ctx.clone(),
    );
    emit(
        "replay",
        "events_per_sec",
        events as f64 / total.as_secs_f64(),
        "events/s",
        ctx,
    );
    Ok(())
}
