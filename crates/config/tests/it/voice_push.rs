//! Voice calls and push messages: the `voice` and `push` channels, `contact.push_topic`, and
//! their rate limits, on configs that load (the broken shapes are in
//! `tests/fixtures/broken/voice-push-errors`).

use std::fs;
use std::path::Path;

use muster_config::{Channel, Level, check};

fn config_dir(people: &str, notifications: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("people.yaml", people);
    write(
        "policies.yaml",
        "\
escalation_policies:
  - { id: ep, repeat: 1, steps: [ { targets: [ { person: alice } ], delay: 5m } ] }
services:
  - { id: checkout, escalation_policy: ep }
",
    );
    if !notifications.is_empty() {
        write("notifications.yaml", notifications);
    }
    dir
}

const PEOPLE: &str = "\
people:
  - id: alice
    name: Alice
    time_zone: Europe/London
    contact: { phone: \"+442079460001\", push_topic: muster-alice-7f3c9a1e5b }
    notification_rules:
      - { channel: push, after: 0m }
      - { channel: voice, after: 5m }
      - { channel: phone, after: 10m }
";

#[test]
fn voice_and_push_steps_load() {
    let dir = config_dir(PEOPLE, "");
    let report = check(dir.path());
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let config = report.config.unwrap_or_else(|| panic!("no config"));
    let alice = &config.people["alice"];
    assert_eq!(
        alice.contact.push_topic.as_deref(),
        Some("muster-alice-7f3c9a1e5b")
    );
    let channels: Vec<Channel> = alice.notification_rules.iter().map(|r| r.channel).collect();
    assert_eq!(channels, [Channel::Push, Channel::Voice, Channel::Phone]);
    let afters: Vec<u64> = alice
        .notification_rules
        .iter()
        .map(|r| r.after.to_std().as_secs())
        .collect();
    assert_eq!(afters, [0, 300, 600]);
}

#[test]
fn a_short_push_topic_loads_with_a_warning() {
    let people = PEOPLE.replace("muster-alice-7f3c9a1e5b", "alice-push");
    let dir = config_dir(&people, "");
    let report = check(dir.path());
    let config = report
        .config
        .unwrap_or_else(|| panic!("{:?}", report.diagnostics));
    let lines: Vec<String> = config.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        lines,
        [format!(
            "{}:5:52: warning: push topic is shorter than 12 characters: anyone who guesses a \
             push topic reads its pages (use a long random one, e.g. `openssl rand -hex 12`)",
            dir.path().join("people.yaml").display()
        )]
    );
    assert_eq!(config.warnings[0].level, Level::Warning);
    assert_eq!(
        config.people["alice"].contact.push_topic.as_deref(),
        Some("alice-push")
    );
}

#[test]
fn topics_at_the_length_limits() {
    for (topic, ok) in [
        ("a".repeat(12), true),
        ("A-_z".repeat(16), true),
        ("a".repeat(65), false),
        ("tópico-de-alice".into(), false),
        ("alice/pager-0123".into(), false),
    ] {
        let people = PEOPLE.replace("muster-alice-7f3c9a1e5b", &format!("\"{topic}\""));
        let dir = config_dir(&people, "");
        let report = check(dir.path());
        assert_eq!(
            report.config.is_some(),
            ok,
            "{topic}: {:?}",
            report.diagnostics
        );
        if !ok {
            let messages: Vec<&str> = report.errors().map(|d| d.message.as_str()).collect();
            assert_eq!(
                messages,
                ["invalid push topic (ntfy topics are 1 to 64 letters, digits, `-` or `_`)"],
                "{topic}"
            );
        }
    }
}

#[test]
fn voice_and_push_rate_limits_parse_like_sms() {
    let dir = config_dir(
        PEOPLE,
        "\
notifications:
  rate_limits:
    sms: { rate: 10/s }
    voice: { rate: 30/m, burst: 3 }
    push: { rate: 20/10s }
",
    );
    let report = check(dir.path());
    let config = report
        .config
        .unwrap_or_else(|| panic!("{:?}", report.diagnostics));
    let limits = &config.notifications.rate_limits;
    let voice = limits.voice.unwrap_or_else(|| panic!("no voice limit"));
    assert_eq!(
        (voice.count, voice.per.to_std().as_secs(), voice.burst),
        (30, 60, 3)
    );
    let push = limits.push.unwrap_or_else(|| panic!("no push limit"));
    assert_eq!(
        (push.count, push.per.to_std().as_secs(), push.burst),
        (20, 10, 1)
    );
    assert!(limits.sms.is_some() && limits.email.is_none());
}

#[test]
fn unknown_rate_limit_keys_are_still_refused() {
    let dir = config_dir(
        PEOPLE,
        "notifications:\n  rate_limits:\n    calls: { rate: 1/s }\n",
    );
    let report = check(dir.path());
    assert!(report.config.is_none());
    let path = Path::new("notifications.yaml");
    let errors: Vec<String> = report
        .errors()
        .map(|d| {
            assert!(d.path.ends_with(path), "{d}");
            format!("{}:{}: {}", d.line, d.col, d.message)
        })
        .collect();
    assert_eq!(
        errors,
        [
            "3:5: unknown field `calls`, expected one of slack_channel, slack_workspace, sms, \
          voice, push, email, webhook_host"
        ]
    );
}
