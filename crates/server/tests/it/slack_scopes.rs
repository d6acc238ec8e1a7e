//! `slack.writes: own_teams`: in Slack a person changes what their teams own, and an incident
//! that brought them in (a role on it, or responding); anything else is refused with the
//! reason, and nothing is written.

use muster_testkit::fakes::Recorded;
use serde_json::Value;

use crate::slack::{Rig, declare_checkout_in_slack, rig_in};
use crate::support::{Backend, copy_dir, demo_dir};

const OWN_TEAMS: &str = "slack:\n  command: /muster\n  writes: own_teams\n";

async fn rig(backend: Backend) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), OWN_TEAMS).expect("slack.yaml");
    rig_in(backend, dir).await
}

fn answered(rig: &Rig, text: &str) -> bool {
    rig.calls("response.hook")
        .iter()
        .map(Recorded::json)
        .any(|a| a["text"].as_str().unwrap_or_default().contains(text))
}

fn by(timeline: &[Value], person: &str) -> usize {
    timeline.iter().filter(|e| e["actor"] == person).count()
}

async fn people_work_their_teams_incidents_and_those_that_brought_them_in(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    // alice is in payments, which owns checkout.
    let incident = declare_checkout_in_slack(&rig).await;
    assert_eq!(incident["services"][0], "checkout");

    // uma (identity) is refused, and told why.
    let (_, v) = rig.command("U0UMA", "C0NEWCHAN", "sev 2").await;
    assert_eq!(v["response_type"], "ephemeral");
    rig.deliver().await;
    assert!(
        answered(
            &rig,
            "uma is in team identity; INC-1 belongs to payments (slack.writes: own_teams)"
        ),
        "{:?}",
        rig.calls("response.hook")
    );
    let timeline = rig.timeline("INC-1").await;
    assert_eq!(by(&timeline, "uma"), 0, "nothing written by uma");
    assert!(timeline.iter().all(|e| e["kind"] != "severity_changed"));

    // quinn (platform) was made incident commander by a policy: the incident brought him in.
    let (_, _) = rig.command("U0QUINN", "C0NEWCHAN", "sev 2").await;
    rig.deliver().await;
    let timeline = rig.timeline("INC-1").await;
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "severity_changed" && e["actor"] == "quinn"),
        "{timeline:?}"
    );

    // Declaring for another team's service is refused too.
    let (_, v) = rig
        .command("U0UMA", "C0GENERAL", "declare sev2 checkout is slow")
        .await;
    assert_eq!(v["response_type"], "ephemeral");
    rig.deliver().await;
    assert!(answered(
        &rig,
        "uma is in team identity; those services belong to payments"
    ));
    assert_eq!(rig.incidents().await.len(), 1, "nothing declared");

    // Once the commander brings uma in (a role), she may work it.
    let _ = rig
        .command("U0QUINN", "C0NEWCHAN", "role scribe <@U0UMA|uma>")
        .await;
    let _ = rig
        .command("U0UMA", "C0NEWCHAN", "status investigating")
        .await;
    rig.deliver().await;
    let timeline = rig.timeline("INC-1").await;
    assert!(by(&timeline, "uma") > 0, "{timeline:?}");
}

mod people_work_their_teams_incidents_and_those_that_brought_them_in {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::people_work_their_teams_incidents_and_those_that_brought_them_in(Backend::Sqlite)
            .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::people_work_their_teams_incidents_and_those_that_brought_them_in(Backend::Postgres)
            .await
    }
}
