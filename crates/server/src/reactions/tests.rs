//! The pure reactions on the demo configuration: what follows a declaration, a change and a
//! reload, with no database. The same for every opener except what only an alert does.

use std::collections::BTreeSet;

use jiff::Timestamp;
use muster_core::{Change, Command, Incident, IncidentNumber, Severity, TimelineEvent, decide};
use serde_json::Value;

use super::{Followup, Opener, Reactions};
use crate::LoadedConfig;
use crate::effect::{Effect, Origin};
use crate::oncall::RuntimeOverrides;

fn t0() -> Timestamp {
    "2026-03-29T03:12:00Z".parse().expect("t0")
}

fn demo(slack: bool) -> LoadedConfig {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
    let tmp = tempfile::tempdir().expect("tempdir");
    muster_testkit::copy_dir(&dir, tmp.path());
    if slack {
        std::fs::write(
            tmp.path().join("slack.yaml"),
            "slack:\n  command: /muster\n",
        )
        .expect("slack.yaml");
    }
    match muster_config::load(tmp.path()) {
        Ok(c) => LoadedConfig::new(c),
        Err(d) => panic!("demo config: {d:?}"),
    }
}

/// A SEV1 on payments-api declared at t0 by `actor`, as the store would build it.
fn declared(cfg: &LoadedConfig, actor: &str) -> (Incident, Vec<Change>) {
    let changes = muster_core::declare_typed(
        "Payments failing",
        Severity::Sev1,
        &["payments-api".to_string()],
        None,
        &cfg.vocab,
    )
    .expect("declare");
    let events: Vec<TimelineEvent> = changes
        .iter()
        .zip(1..)
        .map(|(c, seq)| TimelineEvent {
            seq,
            at: t0(),
            actor: actor.into(),
            change: c.clone(),
        })
        .collect();
    let mut incident = Incident::from_declared(IncidentNumber(1), &events[0]).expect("incident");
    for e in &events[1..] {
        incident.apply(e);
    }
    (incident, changes)
}

fn react(cfg: &LoadedConfig, opener: Opener) -> (Followup, Value) {
    let overrides = RuntimeOverrides::new();
    let ctx = Reactions {
        cfg,
        overrides: &overrides,
        now: t0(),
    };
    let (incident, changes) = declared(cfg, "alice");
    let mut state = Value::Null;
    let out = ctx.declared(&incident, &mut state, &changes, "alice", opener);
    (out, state)
}

fn effects(out: &Followup) -> BTreeSet<String> {
    out.effects()
        .outbox
        .iter()
        .map(|o| o.effect.clone())
        .collect()
}

/// What is the same for every opener: not the escalation an alert starts.
fn shared(out: &Followup) -> (Vec<String>, BTreeSet<String>) {
    let outbox = out
        .effects()
        .outbox
        .iter()
        .filter(|o| !o.idempotency_key.contains("/alert:"))
        .map(|o| o.idempotency_key.clone())
        .collect();
    let changes = out
        .changes()
        .iter()
        .filter(|c| !matches!(c, Change::EscalationStep { .. }))
        .map(|c| c.kind().to_string())
        .collect();
    (changes, outbox)
}

#[test]
fn every_opener_gets_the_same_reactions_and_an_alert_also_pages_the_service() {
    let cfg = demo(true);
    let (person, _) = react(&cfg, Opener::Person);
    let (alert, state) = react(&cfg, Opener::Alert);
    assert_eq!(shared(&person), shared(&alert));
    // The Slack channel and the header's refresh, for both.
    for out in [&person, &alert] {
        assert!(effects(out).contains("slack_channel"), "{:?}", effects(out));
        assert!(
            out.effects()
                .timers
                .iter()
                .any(|t| t.key() == "INC-1/slack:header"),
            "{:?}",
            out.effects().timers
        );
    }
    // Only the alert starts the service's escalation: step 1 paged at once, a timer for 2.
    let step1: Vec<&muster_store::OutboxItem> = alert
        .effects()
        .outbox
        .iter()
        .filter(|o| {
            o.idempotency_key
                .contains("/alert:payments-escalation/esc:0:0")
        })
        .collect();
    assert_eq!(step1.len(), 1, "{:?}", alert.effects().outbox);
    let Ok(Effect::Page(page)) = Effect::decode(&claimed(step1[0])) else {
        panic!("a typed page: {:?}", step1[0]);
    };
    assert!(matches!(page.origin, Origin::Escalation { step: 0, .. }));
    assert!(
        !person
            .changes()
            .iter()
            .any(|c| matches!(c, Change::EscalationStep { .. }))
    );
    assert!(
        state["escalations"]["alert:payments-escalation"].is_object(),
        "{state}"
    );
}

#[test]
fn without_a_slack_section_nothing_goes_to_slack() {
    let cfg = demo(false);
    let (out, _) = react(&cfg, Opener::Alert);
    assert!(
        effects(&out).iter().all(|e| !e.starts_with("slack_")),
        "{:?}",
        effects(&out)
    );
    assert!(
        out.effects()
            .timers
            .iter()
            .all(|t| !t.key().contains("slack"))
    );
}

#[test]
fn what_policies_and_playbooks_do_is_theirs_on_the_timeline() {
    let cfg = demo(false);
    let (out, _) = react(&cfg, Opener::Person);
    let (changes, effects) = out.after(vec![]);
    let actor = |i: usize| effects.acted_by.get(&i).map(String::as_str);
    for (i, c) in changes.iter().enumerate() {
        match c {
            Change::RoleAssigned { .. } | Change::PolicyFired { .. } => {
                assert!(actor(i).is_some_and(|a| a.starts_with("policy:")), "{c:?}")
            }
            Change::TaskAdded { .. } => assert!(
                actor(i).is_some_and(|a| a.starts_with("policy:") || a.starts_with("playbook:")),
                "{c:?}"
            ),
            _ => {}
        }
    }
    // `after` shifts the actors past the caller's own changes.
    let (_, own) = declared(&cfg, "alice");
    let n = own.len();
    let (out, _) = react(&cfg, Opener::Person);
    let (all, shifted) = out.after(own);
    assert!(shifted.acted_by.keys().all(|i| *i >= n));
    assert_eq!(all.len(), n + changes.len());
}

#[test]
fn a_change_refreshes_the_header_and_invites_the_new_role_holder() {
    let cfg = demo(true);
    let overrides = RuntimeOverrides::new();
    let ctx = Reactions {
        cfg: &cfg,
        overrides: &overrides,
        now: t0(),
    };
    let (incident, _) = declared(&cfg, "alice");
    let command = Command::AssignRole {
        role: "scribe".into(),
        person: "bob".into(),
    };
    let changes = decide(&incident, &command, &cfg.vocab).expect("assign");
    let mut state = Value::Null;
    let out = ctx.changed(&incident, &mut state, &changes, "alice");
    let keys: Vec<&str> = out
        .effects()
        .outbox
        .iter()
        .map(|o| o.idempotency_key.as_str())
        .collect();
    let seq = incident.last_seq + 1;
    assert!(
        keys.contains(&format!("INC-1/slack:header:seq:{seq}").as_str()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("INC-1/slack:invite:bob:{seq}").as_str()),
        "{keys:?}"
    );
}

fn claimed(item: &muster_store::OutboxItem) -> muster_store::ClaimedOutbox {
    muster_store::ClaimedOutbox {
        id: 1,
        idempotency_key: item.idempotency_key.clone(),
        incident: item.incident,
        effect: item.effect.clone(),
        payload: item.payload.clone(),
        attempts: 1,
        created_at: t0(),
    }
}
