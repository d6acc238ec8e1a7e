//! What an outbox item asks for, typed. Reactions build [`Effect`]s, the store keeps them as
//! `(effect, payload)` (the tag and its content), and the deliverer decodes and matches them
//! exhaustively. The payload shapes are those the outbox has always held, so rows written
//! before this type existed still decode; one that does not is dead-lettered with the reason.

use muster_config::Channel;
use muster_core::IncidentNumber;
use muster_core::engine::Action;
use muster_core::escalation::EscalationTarget;
use muster_store::{ClaimedOutbox, OutboxItem};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Every effect an outbox item can carry. The serde tag is the store's `effect` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", content = "payload", rename_all = "snake_case")]
pub enum Effect {
    /// Wake people: notification rules' later steps apply.
    Page(Message),
    /// Tell an audience (an alias, a template): immediate steps only.
    Notify(Message),
    /// Remind a role holder; also posted in the incident's channel with buttons.
    Nudge(Message),
    /// Done in the transaction that queued it; kept for the record.
    AssignRole(Message),
    CreateTask(Message),
    DraftStatusUpdate(Message),
    /// One message to one recipient over a chain of channels.
    Delivery(Delivery),
    /// Create the incident's channel, invite the people working it, post the header.
    SlackChannel(SlackChannel),
    /// Refresh the header (rendered when sent).
    SlackHeader(Empty),
    /// Post a message (text and blocks) in the incident's channel.
    SlackPost(SlackPost),
    /// Answer through a slash command's or button's `response_url`.
    SlackResponse(SlackResponse),
    /// Invite people into the incident's channel.
    SlackInvite(SlackInvite),
    /// Open a modal (`views.open`); the payload is Slack's own.
    SlackView(Value),
    /// Put a pinned message on the timeline.
    SlackCapture(SlackCapture),
}

/// An empty payload (`{}`), which older rows may also hold as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Empty {}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|_| Empty {})
    }
}

/// A decision to message somebody, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `INC-7`; `None` for a page that belongs to no incident (`/muster page`).
    #[serde(default)]
    pub incident: Option<String>,
    /// People ids, `alias:<id>`, `#channel`, as the reaction resolved them.
    #[serde(default)]
    pub to: Vec<String>,
    /// From a drill's incident: delivered to the inbox only, whoever it names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exercise: bool,
    #[serde(flatten)]
    pub origin: Origin,
}

/// What made the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Origin {
    /// A step of an escalation policy.
    Escalation {
        escalation_policy: String,
        pass: u32,
        step: u32,
        target: EscalationTarget,
    },
    /// A policy's action, a playbook (`policy: playbook:<id>`) or a person (`slack:page`).
    Policy {
        policy: String,
        #[serde(default)]
        reason: String,
        /// `None` when a stored action is not one this version knows: the message still goes.
        #[serde(default, deserialize_with = "lenient")]
        action: Option<Action>,
        #[serde(default)]
        depth: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        playbook: Option<String>,
    },
}

fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Action>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

impl Message {
    /// A notification its recipients may acknowledge (a policy's notify or page to an
    /// audience, a playbook's notify): not a drill's, not an escalation step's.
    pub fn acknowledgeable(&self) -> bool {
        !self.exercise
            && self.incident.is_some()
            && matches!(&self.origin, Origin::Policy { action: Some(a), .. } if a.audience().is_some())
    }

    pub fn policy(&self) -> Option<&str> {
        match &self.origin {
            Origin::Policy { policy, .. } => Some(policy),
            Origin::Escalation { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.origin {
            Origin::Policy { reason, .. } => Some(reason),
            Origin::Escalation { .. } => None,
        }
    }

    pub fn playbook(&self) -> Option<&str> {
        match &self.origin {
            Origin::Policy { playbook, .. } => playbook.as_deref(),
            Origin::Escalation { .. } => None,
        }
    }

    /// The template a decision names (`notify` always, `nudge` optionally).
    pub fn template(&self) -> Option<&str> {
        match &self.origin {
            Origin::Policy {
                action: Some(Action::Notify { template, .. }),
                ..
            } => Some(template),
            Origin::Policy {
                action:
                    Some(Action::Nudge {
                        template: Some(t), ..
                    }),
                ..
            } => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackChannel {
    /// `inc-42-checkout-errors`; derived from the incident when absent.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackPost {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub blocks: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackResponse {
    pub url: String,
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackInvite {
    #[serde(default)]
    pub people: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackCapture {
    pub channel: String,
    pub ts: String,
}

// ------------------------------------------------------------ delivery

/// The way one message goes: a provider, or the built-in inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Slack,
    Email,
    Sms,
    Webhook,
    /// Written by planners before voice calls existed (they sent an SMS): still sent as one.
    Phone,
    /// A call through the voice provider; the call's keypresses answer the page.
    Voice,
    /// A push notification through ntfy, with an Acknowledge action.
    Push,
    Inbox,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Slack => "slack",
            Via::Email => "email",
            Via::Sms => "sms",
            Via::Webhook => "webhook",
            Via::Phone => "phone",
            Via::Voice => "voice",
            Via::Push => "push",
            Via::Inbox => "inbox",
        }
    }

    /// The provider channel (`None`: the inbox, which needs none).
    pub fn provider(self) -> Option<Channel> {
        Some(match self {
            Via::Slack => Channel::Slack,
            Via::Email => Channel::Email,
            Via::Sms => Channel::Sms,
            Via::Webhook => Channel::Webhook,
            Via::Phone => Channel::Sms,
            Via::Voice => Channel::Voice,
            Via::Push => Channel::Push,
            Via::Inbox => return None,
        })
    }
}

impl From<Channel> for Via {
    fn from(c: Channel) -> Via {
        match c {
            Channel::Slack => Via::Slack,
            Channel::Email => Via::Email,
            Channel::Sms => Via::Sms,
            Channel::Webhook => Via::Webhook,
            // A `phone` step is a call; the planner makes it an SMS without a voice provider.
            Channel::Phone | Channel::Voice => Via::Voice,
            Channel::Push => Via::Push,
        }
    }
}

/// One step of a recipient's channel chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub channel: Via,
    pub address: String,
}

impl Hop {
    /// The inbox of `who` (`person:alice`, `#payments`, `alias:pr`).
    pub fn inbox(who: &str) -> Hop {
        Hop {
            channel: Via::Inbox,
            address: who.into(),
        }
    }
}

/// The payload of a `delivery` item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The decision item this came from.
    pub parent: String,
    /// `person:alice`, `#payments`, `legal@example.com`: who, for the timeline.
    pub to: String,
    /// The channels to try, in order; `step` is the one this item tries.
    pub chain: Vec<Hop>,
    pub step: usize,
    pub subject: String,
    pub text: String,
    /// When the decision was queued (ms): latency is measured from here.
    pub queued_at: i64,
    /// Not before this time (ms): a later notification-rule step.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// Slack Block Kit blocks (buttons) sent with the text on Slack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    /// A copy for the inbox (`notifications.inbox: all`), besides the real delivery.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copy: bool,
    /// Why the previous channel of the chain gave up, for the inbox to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The recipient's one-tap answer: in the message, the push action and the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<PageLink>,
}

/// A delivery's answer link: the token (`/ack/{token}`, the call's webhooks) and, when the
/// chain has SMS, the code a reply may name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLink {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Delivery {
    pub fn hop(&self) -> Option<&Hop> {
        self.chain.get(self.step)
    }

    /// `<parent>/<to>/<first channel>`, plus `/fallback:<channel>` past the first step: the
    /// fallback of one rule step never collides with another step naming that channel.
    pub fn key(&self) -> String {
        let name = |h: Option<&Hop>| h.map(|h| h.channel.name()).unwrap_or("none");
        let base = format!("{}/{}/{}", self.parent, self.to, name(self.chain.first()));
        match self.step {
            0 => base,
            _ => format!("{base}/fallback:{}", name(self.hop())),
        }
    }

    /// Why a delivery reached the inbox, as the inbox shows it.
    pub fn inbox_reason(&self) -> String {
        match (&self.last_error, self.copy) {
            (_, true) => "copy of every notification (notifications.inbox: all)".into(),
            (Some(e), false) => format!("every configured channel failed; the last said: {e}"),
            (None, false) => "no configured provider reaches them".into(),
        }
    }

    /// The outbox item that delivers this.
    pub fn item(&self, incident: Option<IncidentNumber>) -> OutboxItem {
        Effect::Delivery(self.clone()).item(self.key(), incident)
    }
}

impl Effect {
    /// The store's `effect` column: the serde tag.
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Page(_) => "page",
            Effect::Notify(_) => "notify",
            Effect::Nudge(_) => "nudge",
            Effect::AssignRole(_) => "assign_role",
            Effect::CreateTask(_) => "create_task",
            Effect::DraftStatusUpdate(_) => "draft_status_update",
            Effect::Delivery(_) => "delivery",
            Effect::SlackChannel(_) => "slack_channel",
            Effect::SlackHeader(_) => "slack_header",
            Effect::SlackPost(_) => "slack_post",
            Effect::SlackResponse(_) => "slack_response",
            Effect::SlackInvite(_) => "slack_invite",
            Effect::SlackView(_) => "slack_view",
            Effect::SlackCapture(_) => "slack_capture",
        }
    }

    /// The message decision of a policy action: `page`, `notify`, `nudge` or one of the
    /// actions carried out in the transaction.
    pub fn of_action(action: &Action, message: Message) -> Effect {
        match action {
            Action::Page { .. } => Effect::Page(message),
            Action::Notify { .. } => Effect::Notify(message),
            Action::Nudge { .. } => Effect::Nudge(message),
            Action::AssignRole { .. } => Effect::AssignRole(message),
            Action::CreateTask { .. } => Effect::CreateTask(message),
            Action::DraftStatusUpdate { .. } => Effect::DraftStatusUpdate(message),
        }
    }

    /// The outbox item that carries this effect under `key`.
    pub fn item(&self, key: String, incident: Option<IncidentNumber>) -> OutboxItem {
        // Serializing plain data cannot fail; an empty object would only dead-letter it.
        let payload = match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => m.remove("payload").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        OutboxItem {
            idempotency_key: key,
            incident,
            effect: self.name().into(),
            payload,
        }
    }

    /// Reads a claimed item; the error names the effect and what is wrong with it.
    pub fn decode(item: &ClaimedOutbox) -> Result<Effect, String> {
        let tagged = serde_json::json!({"effect": item.effect, "payload": item.payload});
        serde_json::from_value(tagged)
            .map_err(|e| format!("undecodable `{}` effect: {e}", item.effect))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_core::Timestamp;
    use serde_json::json;

    fn claimed(effect: &str, payload: Value) -> ClaimedOutbox {
        ClaimedOutbox {
            id: 1,
            idempotency_key: "INC-1/x".into(),
            incident: Some(IncidentNumber(1)),
            effect: effect.into(),
            payload,
            attempts: 1,
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn rows_written_before_the_type_still_decode() {
        let policy = claimed(
            "nudge",
            json!({"incident": "INC-1", "policy": "p", "reason": "r", "depth": 0,
                "action": {"nudge": {"role": "ops_lead", "template": "t"}}, "to": ["alice"]}),
        );
        let Ok(Effect::Nudge(m)) = Effect::decode(&policy) else {
            panic!("{:?}", Effect::decode(&policy));
        };
        assert_eq!((m.policy(), m.template()), (Some("p"), Some("t")));
        let escalation = claimed(
            "page",
            json!({"incident": "INC-1", "escalation_policy": "ep", "pass": 0, "step": 1,
                "target": {"schedule": "primary"}, "to": ["bob"]}),
        );
        assert!(matches!(
            Effect::decode(&escalation),
            Ok(Effect::Page(Message {
                origin: Origin::Escalation { step: 1, .. },
                ..
            }))
        ));
        // `/muster page` once wrote its target as a bare string.
        let slack_page = claimed(
            "page",
            json!({"incident": null, "policy": "slack:page", "reason": "r",
                "action": {"page": {"target": "primary"}}, "to": ["bob"]}),
        );
        let Ok(Effect::Page(m)) = Effect::decode(&slack_page) else {
            panic!("{:?}", Effect::decode(&slack_page));
        };
        assert_eq!((m.incident, m.to), (None, vec!["bob".to_string()]));
        assert!(matches!(
            Effect::decode(&claimed("slack_header", json!({}))),
            Ok(Effect::SlackHeader(_))
        ));
        assert!(matches!(
            Effect::decode(&claimed("slack_channel", json!({"name": "inc-1-x"}))),
            Ok(Effect::SlackChannel(SlackChannel { name: Some(n) })) if n == "inc-1-x"
        ));
    }

    #[test]
    fn an_item_round_trips_through_the_store_columns() {
        let effect = Effect::SlackCapture(SlackCapture {
            channel: "C1".into(),
            ts: "1.2".into(),
        });
        let item = effect.item("INC-1/slack:pin:1.2".into(), Some(IncidentNumber(1)));
        assert_eq!(item.effect, "slack_capture");
        assert_eq!(item.payload, json!({"channel": "C1", "ts": "1.2"}));
        let back = Effect::decode(&claimed(&item.effect, item.payload)).map_err(|e| e.to_string());
        assert_eq!(back, Ok(effect));
    }

    #[test]
    fn an_unknown_or_malformed_effect_names_what_is_wrong() {
        let unknown = Effect::decode(&claimed("fax", json!({})));
        assert!(
            matches!(&unknown, Err(e) if e.starts_with("undecodable `fax` effect: unknown variant")),
            "{unknown:?}"
        );
        let broken = Effect::decode(&claimed("slack_response", json!({"url": 3})));
        assert!(
            matches!(&broken, Err(e) if e.starts_with("undecodable `slack_response` effect")),
            "{broken:?}"
        );
    }
}
