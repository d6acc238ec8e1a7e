//! A digest of two runs is the digest of both: the law the store's stored blocks rest on.

use super::*;

/// The SEV1 fixture (a deadline missed at expiry, its milestone arriving later, pages, a
/// hand-off) plus what makes combining runs hard: more pages than a brief lists, people who
/// join twice, a late acknowledgement of a second deadline and an older second outcome record.
fn busy() -> Fx {
    let mut fx = sev1();
    for n in 0..14 {
        fx.push(
            44 + n,
            "policy:esc",
            vec![
                Change::EscalationStep {
                    escalation_policy: "platform-escalation".into(),
                    pass: n as u32 / 3,
                    step: n as u32 % 3,
                    paged: vec![format!("p{n}")],
                    reason: "not acknowledged".into(),
                    late_by_ms: None,
                },
                Change::ResponderJoined {
                    person: format!("p{}", n % 4),
                },
                Change::NoteAdded {
                    text: format!("note {n} <@U{n}>"),
                },
            ],
        );
    }
    fx.push(
        60,
        "policy:legal-ack-1h",
        vec![Change::DeadlineOutcome {
            policy: "legal-ack-1h".into(),
            instance: 1,
            met: false,
            expect: "acknowledged_by:alias:legal".into(),
            at: t(60),
            due_at: t(60),
            margin_secs: 0,
            by: None,
        }],
    );
    fx.push(
        75,
        "ken",
        vec![Change::NotificationAcknowledged {
            key: "sev1-tell-legal:event:1:0".into(),
            by: "ken".into(),
            audience: "alias:legal".into(),
            delay_secs: 4500,
            channel: None,
        }],
    );
    fx.push(
        76,
        "bob",
        vec![Change::DeadlineOutcome {
            policy: "blast-radius-20m".into(),
            instance: 1,
            met: false,
            expect: "blast_radius_validated".into(),
            at: t(23),
            due_at: t(20),
            margin_secs: -180,
            by: Some("bob".into()),
        }],
    );
    fx
}

fn in_chunks(events: &[TimelineEvent], size: usize) -> Digest {
    events
        .chunks(size)
        .fold(Digest::default(), |d, c| d.then(&Digest::of(c)))
}

#[test]
fn two_runs_combined_are_the_run_of_both_at_every_split() {
    let fx = busy();
    let whole = Digest::of(&fx.events);
    assert!(whole.paged_total > 10, "more pages than a brief lists");
    assert!(
        whole.outcomes.iter().any(|o| o.result.margin_secs < 0),
        "a deadline made late by a later arrival"
    );
    for split in 0..=fx.events.len() {
        let (a, b) = fx.events.split_at(split);
        assert_eq!(
            Digest::of(a).then(&Digest::of(b)),
            whole,
            "split at {split}"
        );
    }
    for size in 1..=7 {
        assert_eq!(in_chunks(&fx.events, size), whole, "chunks of {size}");
    }
}

#[test]
fn a_brief_from_combined_digests_reads_as_the_brief_from_the_events() {
    let fx = busy();
    let pending = sev1_pending();
    let facts = fx.facts(&pending, 90);
    for since in [-10, 18, 21, 45, 75, 80] {
        let from = fx.events.partition_point(|e| e.at < t(since));
        let digest = in_chunks(&fx.events[from..], 4);
        assert_eq!(
            brief_of(&facts, t(since), &digest),
            brief(&facts, t(since)),
            "since {since}"
        );
    }
    let b = brief(&facts, t(40));
    assert_eq!((b.paged.len(), b.paged_total), (10, 14));
    assert_eq!(b.joined, ["p0", "p1", "p2", "p3"]);
    assert_eq!(b.notes_since, 14);
    let legal = b.deadlines.iter().find(|d| d.policy == "legal-ack-1h");
    assert_eq!(legal.map(|d| (d.met, d.margin_secs)), Some((false, -900)));
}

#[test]
fn a_digest_survives_being_stored_as_json() {
    let whole = Digest::of(&busy().events);
    let stored = serde_json::to_string(&whole).unwrap();
    assert_eq!(serde_json::from_str::<Digest>(&stored).unwrap(), whole);
}

#[test]
fn a_plan_covers_each_event_once_in_order_with_only_full_aligned_blocks() {
    let b = DIGEST_BLOCK;
    for (start, last) in [
        (1, 0),
        (1, 1),
        (1, b - 1),
        (1, b),
        (1, b + 1),
        (2, b),
        (b, 3 * b),
        (b + 1, 3 * b),
        (b + 2, 3 * b + 5),
        (5000, 10_001),
        (10_002, 10_001),
    ] {
        let plan = Plan::new(start, last);
        let mut covered = Vec::new();
        if let Some((a, z)) = plan.head {
            covered.extend(a..=z);
        }
        if let Some((first, end)) = plan.blocks {
            for k in first..=end {
                let (a, z) = Plan::block_seqs(k);
                assert_eq!(z - a + 1, b);
                covered.extend(a..=z);
            }
        }
        if let Some((a, z)) = plan.tail {
            covered.extend(a..=z);
        }
        assert_eq!(
            covered,
            (start..=last).collect::<Vec<_>>(),
            "{start}..={last}"
        );
    }
    let long = Plan::new(5000, 10_001);
    assert_eq!(long.blocks, Some((20, 38)), "every full block in between");
}
