//! A page answered from where it landed: a one-tap link (email, push), an SMS reply, a
//! keypress on the call. Every channel comes here with the page's link: the link answers
//! once (used before anything changes, so two racing answers cannot both act), then the
//! answer goes through the reactions like any other change — an acknowledgement through
//! [`acknowledge`] (escalation stops, response-time policies see it), "escalate now"
//! through the escalation runs of the incident's policy state.

use muster_core::{DomainError, Status};
use muster_store::{AckLink, Effects, LinkState, StoreError};

use super::acknowledge::{AckOutcome, Acknowledgement, Answer, acknowledge};
use super::commit::Inputs;
use super::{drill, policy};
use crate::AppState;

/// What the recipient asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAction {
    Acknowledge,
    /// Page the next step of the incident's escalations now.
    Escalate,
}

impl PageAction {
    pub fn name(self) -> &'static str {
        match self {
            PageAction::Acknowledge => "acknowledge",
            PageAction::Escalate => "escalate",
        }
    }
}

/// What answering came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAnswer {
    Acknowledged(Acknowledgement),
    /// Acknowledged before (by this person or another): the first record.
    Already(Acknowledgement),
    /// The next steps paged these.
    Escalated(Vec<String>),
    /// No escalation had a step left (or the link is not a page's).
    NothingToEscalate,
    /// The link cannot answer.
    Refused(LinkState),
    /// The link's notification is not the incident's (a link made by an older version).
    UnknownNotification,
}

/// Answers the page of `link` with `action`, as the link's person, from `channel`.
pub async fn answer(
    state: &AppState,
    link: &AckLink,
    action: PageAction,
    channel: &str,
) -> Result<PageAnswer, StoreError> {
    let now = state.clock.now();
    match link.state(now) {
        LinkState::Usable => {}
        refused => return Ok(PageAnswer::Refused(refused)),
    }
    if !state
        .store
        .use_ack_link(&link.id, now, action.name())
        .await?
    {
        return Ok(PageAnswer::Refused(LinkState::Used));
    }
    let answered = act(state, link, action, channel).await;
    if let Err(StoreError::Unavailable(_)) = &answered {
        // Nothing was recorded: the link may answer again once the database is back.
        if let Err(e) = state.store.release_ack_link(&link.id, action.name()).await {
            tracing::warn!(error = %e, "a page link stays used after a failed answer");
        }
    }
    answered
}

async fn act(
    state: &AppState,
    link: &AckLink,
    action: PageAction,
    channel: &str,
) -> Result<PageAnswer, StoreError> {
    let is_page = link.kind.as_deref() == Some("page");
    match action {
        PageAction::Acknowledge => {
            let a = Answer {
                person: &link.person,
                id: link.incident,
                key: &link.notification,
                channel: Some(channel),
                page: is_page.then_some(link.created_at),
            };
            Ok(match acknowledge(state, &a).await? {
                AckOutcome::Acknowledged(a) => PageAnswer::Acknowledged(a),
                AckOutcome::Already(a) => PageAnswer::Already(a),
                AckOutcome::UnknownNotification => PageAnswer::UnknownNotification,
            })
        }
        PageAction::Escalate if is_page => escalate(state, link, channel).await,
        PageAction::Escalate => Ok(PageAnswer::NothingToEscalate),
    }
}

async fn escalate(
    state: &AppState,
    link: &AckLink,
    channel: &str,
) -> Result<PageAnswer, StoreError> {
    let inputs = Inputs::read(state, state.clock.now()).await?;
    let (ctx, now) = (inputs.reactions(), inputs.now);
    let by = format!("{} (by {channel})", link.person);
    let mut paged = Vec::new();
    let id = link.incident;
    state
        .store
        .update_with_policy(id, &link.person, now, |inc, policy_state| {
            if inc.status == Status::Resolved {
                return Err(DomainError::Conflict(format!(
                    "{id} is resolved: nothing to escalate"
                )));
            }
            let drill_now = drill::drill_now(policy_state, now);
            let ctx = ctx.at(drill_now.unwrap_or(now));
            let (out, p) = policy::escalate_now(&ctx, inc, policy_state, &by);
            paged = p;
            if paged.is_empty() {
                return Ok((Vec::new(), Effects::default()));
            }
            let (changes, mut effects) = out.into_parts();
            effects.at = drill_now;
            Ok((changes, effects))
        })
        .await?;
    state.changes.publish(Some(id));
    Ok(match paged.is_empty() {
        true => PageAnswer::NothingToEscalate,
        false => PageAnswer::Escalated(paged),
    })
}
