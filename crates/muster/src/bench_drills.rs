//! `muster bench drills`: a headless six-hour scenario with 50 injects (target: under 5 ms a
//! run, report included) and a sweep of 1,000 headless runs over participant profiles
//! (target: under 1 s). Runs the config's real policies; scenarios are built from its first
//! drill, so the demo's policies, roles and services are the ones exercised.

use std::time::Instant;

use anyhow::Context;
use jiff::SignedDuration;
use muster_core::drill::{self, Act, Inject, InjectKind, Profile, Scenario, Step};
use muster_core::{Severity, Status};
use serde_json::json;

use crate::bench::emit;

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

/// The base scenario stretched to six hours with 50 injects of every kind.
fn six_hours(base: &Scenario) -> Scenario {
    let mut s = base.clone();
    s.length = mins(360);
    let service = s.incident.services[0].clone();
    let to = s.play[0].clone();
    let from = s.personas.first().map(|p| p.id.clone());
    s.injects = (0..50)
        .map(|i| {
            let what = match (i % 5, &from) {
                (0, _) => InjectKind::AlertFires {
                    service: service.clone(),
                    summary: format!("alert {i}"),
                },
                (1, _) => InjectKind::AlertResolves {
                    service: service.clone(),
                    summary: format!("alert {}", i - 1),
                },
                (2, Some(from)) => InjectKind::Message {
                    from: from.clone(),
                    to: to.clone(),
                    text: format!("message {i}"),
                },
                (3, _) => InjectKind::Severity {
                    to: if i % 2 == 0 {
                        Severity::Sev1
                    } else {
                        Severity::Sev2
                    },
                },
                _ => InjectKind::Recovers {
                    service: service.clone(),
                },
            };
            Inject {
                at: mins(i * 7),
                what,
                unless: None,
            }
        })
        .collect();
    s
}

/// A profile: acknowledge at `ack`, validate at `validate`, post an update every `every`
/// minutes (0: never), mitigate and resolve.
fn profile(by: &str, ack: i64, validate: i64, every: i64, length: i64) -> Profile {
    let step = |at: i64, act: Act| Step {
        at: mins(at),
        by: by.to_string(),
        act,
    };
    let mut steps = vec![
        step(ack, Act::Acknowledge),
        step(validate, Act::Milestone("blast_radius_validated".into())),
    ];
    if every > 0 {
        steps.extend(
            (1..)
                .map(|n| n * every)
                .take_while(|t| *t < length)
                .map(|t| step(t, Act::StatusUpdate)),
        );
    }
    steps.push(step(length - 30, Act::Milestone("mitigated".into())));
    steps.push(step(length - 10, Act::Status(Status::Resolved)));
    Profile {
        id: format!("ack{ack}-validate{validate}-every{every}"),
        description: String::new(),
        scenario: None,
        steps,
        expect: None,
    }
}

pub fn run(config_dir: &std::path::Path) -> anyhow::Result<()> {
    let config = muster_config::load(config_dir)
        .map_err(|d| anyhow::anyhow!("{}: {} errors", config_dir.display(), d.len()))?;
    let base = config
        .drills
        .values()
        .next()
        .context("the configuration has no drill scenario (drills/*.yaml)")?;
    let policies = config.engine_policies();
    let vocab = config.vocabulary();
    let players = base.players.clone();
    let by = base.play[0].clone();

    let long = six_hours(base);
    let p = profile(&by, 3, 25, 25, 360);
    // Warm-up: the first runs load the time-zone database and fault in pages.
    for _ in 0..10 {
        std::hint::black_box(drill::headless(
            &long,
            Some(&p),
            &policies,
            &vocab,
            &players,
        ));
    }
    let mut times = Vec::with_capacity(200);
    let mut events = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let report = drill::headless(&long, Some(&p), &policies, &vocab, &players);
        std::hint::black_box(drill::markdown(&report));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        events = report.played.messages.len() + report.played.steps.len();
    }
    times.sort_by(f64::total_cmp);
    let extra = json!({ "scenario": long.id, "length": "6h", "injects": long.injects.len(), "runs": times.len(), "messages_and_steps": events, "target_ms": 5 });
    emit(
        "drills",
        "six_hour_50_injects_median",
        times[times.len() / 2],
        "ms",
        extra.clone(),
    );
    emit(
        "drills",
        "six_hour_50_injects_p99",
        times[times.len() * 99 / 100],
        "ms",
        extra,
    );

    // The sweep: 10 acknowledgement times × 10 validation times × 10 update cadences.
    let length = base.length.as_mins();
    let profiles: Vec<Profile> = (0..1_000)
        .map(|i| {
            profile(
                &by,
                1 + i % 10,
                5 + (i / 10) % 10 * 4,
                (i / 100) * 5,
                length,
            )
        })
        .collect();
    let t = Instant::now();
    let mut met = 0usize;
    for p in &profiles {
        let report = drill::headless(base, Some(p), &policies, &vocab, &players);
        met += report.score.totals.met;
    }
    let elapsed = t.elapsed().as_secs_f64() * 1000.0;
    emit(
        "drills",
        "sweep_1000_runs",
        elapsed,
        "ms",
        json!({ "scenario": base.id, "runs": profiles.len(), "verdicts_met": met, "target_ms": 1000 }),
    );
    Ok(())
}
