//! Fuzz targets for what Slack sends: slash-command text and interaction payloads. Parsing
//! answers a command or a usage message, never a panic; Slack's escapes round-trip.

use muster_testkit::fuzz;
use serde_json::Value;

#[test]
fn fuzz_slack_commands() {
    let corpus: &[&[u8]] = &[
        b"declare sev1 checkout errors",
        b"ack",
        b"milestone blast_radius_validated",
        b"role ic <@U0ALICE>",
        b"note p99 &gt; 2s &amp; rising",
        b"drill start sev1-3am-blast-radius x60 incident_commander=dave",
        b"page payments-secondary",
        b"brief",
    ];
    fuzz::run("slack-commands", corpus, |input| {
        let text = String::from_utf8_lossy(input);
        if let Err(usage) = super::commands::parse(&text) {
            assert!(!usage.is_empty());
        }
        assert_eq!(super::text::unescape(&super::text::escape(&text)), text);
    });
}

#[test]
fn fuzz_slack_interactions() {
    let corpus: &[&[u8]] = &[
        br#"{"type":"block_actions","user":{"id":"U0ALICE"},"actions":[{"action_id":"muster_ack","value":"{\"incident\":\"INC-1\"}"}]}"#,
        br#"{"type":"block_actions","user":{"id":"U0ALICE"},"actions":[{"action_id":"muster_milestone:mitigated","value":"{\"incident\":\"INC-2\",\"milestone\":\"mitigated\"}"}]}"#,
        br#"{"type":"block_actions","user":{"id":"U0BOB"},"actions":[{"action_id":"muster_claim","value":"{\"incident\":\"INC-3\",\"role\":\"comms_lead\"}"}]}"#,
        br#"{"type":"block_actions","user":{"id":"U0BOB"},"actions":[{"action_id":"muster_nudge_ack","value":"{\"incident\":\"INC-3\",\"key\":\"INC-3/p/1\"}"}]}"#,
    ];
    fuzz::run("slack-interactions", corpus, |input| {
        let Ok(payload) = serde_json::from_slice::<Value>(input) else {
            return;
        };
        for action in payload["actions"].as_array().into_iter().flatten() {
            let id = action["action_id"].as_str().unwrap_or("");
            let value = super::interactions::value_of(action);
            let _ = super::interactions::command_of(id, &value, "alice");
        }
    });
}
