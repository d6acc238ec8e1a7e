//! `examples/demo` is part of the product surface (the README's tour uses it): it must load
//! cleanly and keep the shapes INTERFACE.md promises.

use std::collections::BTreeSet;
use std::path::PathBuf;

use muster_config::{Action, IntegrationType, PageTarget, Severity, Trigger};

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

fn demo() -> muster_config::Config {
    match muster_config::load(&demo_dir()) {
        Ok(config) => config,
        Err(errors) => panic!(
            "demo has errors:\n{}",
            errors.iter().map(|d| format!("{d}\n")).collect::<String>()
        ),
    }
}

/// The demo's only diagnostics but the rotation lint's are the warnings about its public, short
/// integration keys (the README's tour types them); each key differs from its integration's id,
/// or it would be an error.
#[test]
fn demo_checks_clean_but_for_its_public_keys() {
    let report = muster_config::check(&demo_dir());
    let lines: Vec<String> = report
        .diagnostics
        .iter()
        .filter(|d| d.lint.is_none())
        .map(|d| d.to_string())
        .collect();
    let short = "warning: integration key is shorter than 24 characters: it is the only secret of its endpoint (use a long random key, e.g. `openssl rand -hex 16`)";
    let expected: Vec<String> = [6, 18, 26]
        .iter()
        .map(|line| {
            format!(
                "{}:{line}:10: {short}",
                demo_dir().join("integrations.yaml").display()
            )
        })
        .collect();
    assert_eq!(lines, expected);
    assert!(report.config.is_some());
}

/// The demo's rotation findings, each explained in its README: the deliberate circular pair
/// (identity ↔ messaging) and single-expert service (fraud-detection), and the true findings
/// about the existing rotations (weekly 24/7 shifts, thin 24/7 rotations).
#[test]
fn demo_lint_findings_are_the_deliberate_ones_and_the_explained_ones() {
    let findings = muster_config::lint(&demo_dir()).unwrap_or_else(|e| panic!("{e:?}"));
    let found: Vec<(String, usize, usize, &str)> = findings
        .iter()
        .map(|d| {
            let file = d.path.file_name().unwrap_or_default();
            let lint = d.lint.map_or("", |l| l.id());
            (file.to_string_lossy().into_owned(), d.line, d.col, lint)
        })
        .collect();
    let expected = [
        ("escalation.yaml", 6, 20, "thin-rotation"),
        ("escalation.yaml", 17, 20, "thin-rotation"),
        ("escalation.yaml", 41, 20, "circular-secondary"),
        ("escalation.yaml", 52, 20, "circular-secondary"),
        ("schedules.yaml", 10, 16, "long-shift"),
        ("schedules.yaml", 22, 16, "long-shift"),
        ("schedules.yaml", 61, 16, "long-shift"),
        ("schedules.yaml", 74, 16, "long-shift"),
        ("services.yaml", 29, 15, "single-expert"),
    ];
    let expected: Vec<(String, usize, usize, &str)> = expected
        .iter()
        .map(|(f, l, c, id)| (f.to_string(), *l, *c, *id))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(
        findings[2].message,
        "escalation policy `identity-escalation` falls back to schedule `messaging-primary`, team \
         `messaging`'s primary, while `messaging-escalation` falls back to `identity-primary`, \
         team `identity`'s primary: the secondaries form a circle, so when one outage pages both \
         teams each back-up is the other team's busy primary and neither has a second line"
    );
    // one person across layers: comms' after-hours and weekend layers hand carol the weekend
    assert_eq!(
        findings[7].message,
        "layer `after-hours` of schedule `comms-rotation` keeps one person on call for 2 d 12 h \
         at a stretch (`carol` from 2026-01-23 20:00 to 2026-01-26 08:00 America/New_York): past \
         12 hours a responder is paged through their night and answers tired; hand over at least \
         twice a day (follow the sun, or split day and night)"
    );
    assert_eq!(
        findings[8].message,
        "service `fraud-detection` has one expert, `heidi`: when they are asleep, on leave or \
         gone nobody who knows it can be called in (a bus factor of one); name a second expert \
         and let them shadow its incidents"
    );
}

#[test]
fn demo_is_a_realistic_organisation() {
    let c = demo();
    assert!(c.teams.len() >= 4, "teams: {}", c.teams.len());
    for team in ["payments", "platform", "comms", "legal"] {
        assert!(c.teams.contains_key(team), "missing team {team}");
    }
    assert!(c.people.len() >= 20, "people: {}", c.people.len());
    let zones: BTreeSet<&str> = c.people.values().map(|p| p.time_zone.as_str()).collect();
    assert!(zones.len() >= 3, "time zones: {zones:?}");
    for alias in ["pr-oncall", "legal", "exec-staff", "comms-leads"] {
        assert!(c.aliases.contains_key(alias), "missing alias {alias}");
    }
    // checkout -> payments-api -> postgres
    assert!(c.dependencies_of("checkout").contains("postgres"));
    assert!(c.dependents_of("postgres").contains("checkout"));
    assert!(!c.templates.is_empty());
    assert!(
        c.schedules
            .values()
            .any(|s| s.layers.iter().any(|l| !l.restrictions.is_empty()))
    );
}

#[test]
fn demo_integrations_are_reachable_by_key_and_routed_to_paged_services() {
    let c = demo();
    for (key, kind) in [
        ("demo-alertmanager", IntegrationType::Alertmanager),
        ("demo-events-v2", IntegrationType::PagerdutyEventsV2),
    ] {
        let Some(integration) = c.integration_by_key(key) else {
            panic!("no integration with key {key}");
        };
        assert_eq!(integration.kind, kind);
        let services = integration
            .service
            .iter()
            .chain(integration.routes.iter().map(|r| &r.service));
        for service in services {
            let svc = &c.services[service];
            let Some(ep) = &svc.escalation_policy else {
                panic!("{key} routes to {service}, which has no escalation policy");
            };
            assert!(c.escalation_policies.contains_key(ep));
        }
    }
    assert!(c.integration_by_key("no-such-key").is_none());
}

#[test]
fn demo_has_the_seed_policy_exactly() {
    let c = demo();
    let p = &c.policies["blast-radius-20m"];
    assert_eq!(p.when.severity, vec![Severity::Sev1, Severity::Sev2]);
    let Trigger::Deadline {
        within,
        of,
        expect,
        warn_before,
    } = &p.trigger
    else {
        panic!("not a deadline: {:?}", p.trigger);
    };
    assert_eq!(within.as_secs(), 20 * 60);
    assert_eq!(of, "declared");
    assert_eq!(expect.key(), "blast_radius_validated");
    assert_eq!(warn_before.map(|d| d.as_secs()), Some(5 * 60));
    assert_eq!(
        p.on_warn,
        vec![Action::Nudge {
            role: "ops_lead".into(),
            template: Some("blast-radius-reminder".into())
        }]
    );
    assert_eq!(
        p.on_missed,
        vec![
            Action::Page {
                target: PageTarget::Schedule("platform-secondary".into())
            },
            Action::Notify {
                alias: "comms-leads".into(),
                template: "sev-escalated".into()
            },
        ]
    );
    assert_eq!(p.source.path, PathBuf::from("policies/blast-radius.yaml"));
    // a SEV1 status-update cadence every 30 minutes
    assert!(c.policies.values().any(|p| matches!(
        &p.trigger,
        Trigger::Cadence { every, .. } if every.as_secs() == 30 * 60
    ) && p.when.severity.contains(&Severity::Sev1)));
}

#[test]
fn demo_policy_tests_exist_and_are_not_config() {
    let tests = demo_dir().join("policies/tests/blast-radius.test.yaml");
    let text = std::fs::read_to_string(&tests).unwrap_or_default();
    assert!(
        text.contains("blast_radius_validated"),
        "{}",
        tests.display()
    );
}

#[test]
fn secrets_are_never_serialized_or_debug_printed() {
    let c = demo();
    let json = serde_json::to_string(&c).unwrap_or_default();
    assert!(json.contains("\"alertmanager\""), "integration id is there");
    assert!(!json.contains("\"key\""), "no key field in {json}");
    let debug = format!("{:?}", c.integrations["ledger-batch-heartbeat"]);
    assert!(!debug.contains("demo-ledger-heartbeat"), "{debug}");
    assert!(debug.contains("key: Secret(***)"), "{debug}");
    // The core's one `Secret`, the type the outgoing channels take as well.
    let key: &muster_core::Secret = &c.integrations["ledger-batch-heartbeat"].key;
    assert_eq!(key.expose(), "demo-ledger-heartbeat");
}
