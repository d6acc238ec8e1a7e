//! Planning, pure: a decision's recipients (people, aliases, teams, the on-call of
//! schedules, Slack channels, email lists) resolved into deliveries — who, over which chain of
//! channels, after which delay — by the people's notification rules and the providers
//! configured. Every chain ends in the built-in inbox, so a notification no provider can
//! carry still lands somewhere a person will look.

use jiff::{SignedDuration, Timestamp};
use muster_config::{Channel, Config, Person};

use crate::effect::{Hop, Via};

use crate::oncall::{self, RuntimeOverrides};

/// Who, over which chain, after which delay.
pub type Planned = (String, Vec<Hop>, SignedDuration);

/// Resolves targets into deliveries.
pub struct Planner<'a> {
    pub config: &'a Config,
    pub overrides: &'a RuntimeOverrides,
    /// Whether a provider is configured for a channel.
    pub has: &'a dyn Fn(Channel) -> bool,
    pub now: Timestamp,
    /// Pages follow every step of the people's notification rules; other messages use the
    /// immediate steps only.
    pub paging: bool,
}

impl Planner<'_> {
    pub fn plan(&self, targets: &[String]) -> Vec<Planned> {
        let mut people: Vec<String> = Vec::new();
        let mut out: Vec<Planned> = Vec::new();
        for t in targets {
            if let Some(alias) = t.strip_prefix("alias:") {
                self.alias(alias, &mut people, &mut out);
            } else if self.config.people.contains_key(t) {
                people.push(t.clone());
            } else if t.starts_with('#') {
                self.direct(t, Channel::Slack, &mut out);
            } else if !t.starts_with("escalation:") {
                out.push((t.clone(), vec![Hop::inbox(t)], SignedDuration::ZERO));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in people {
            if seen.insert(p.clone())
                && let Some(person) = self.config.people.get(&p)
            {
                out.extend(self.person(person));
            }
        }
        dedup(out)
    }

    /// Each target once, in the inbox only: a drill's messages.
    pub fn inbox_only(targets: &[String]) -> Vec<Planned> {
        let mut seen = std::collections::BTreeSet::new();
        targets
            .iter()
            // A bare id is a person's: addressed as `person:<id>`, as every other plan does,
            // so the entry is theirs (`/inbox?person=`, "my" inbox).
            .map(|t| match t.contains(':') || t.starts_with('#') {
                true => t.clone(),
                false => format!("person:{t}"),
            })
            .filter(|t| seen.insert(t.clone()))
            .map(|t| (t.clone(), vec![Hop::inbox(&t)], SignedDuration::ZERO))
            .collect()
    }

    /// One inbox copy per recipient and time of the planned deliveries that do not already
    /// go only to the inbox (a person told by Slack and email at once gets one copy).
    pub fn copies(planned: &[Planned]) -> Vec<Planned> {
        let mut seen = std::collections::BTreeSet::new();
        planned
            .iter()
            .filter(|(_, chain, _)| chain.first().is_some_and(|h| h.channel != Via::Inbox))
            .filter(|(who, _, delay)| seen.insert((who.clone(), delay.as_millis())))
            .map(|(who, _, delay)| (who.clone(), vec![Hop::inbox(who)], *delay))
            .collect()
    }

    fn alias(&self, id: &str, people: &mut Vec<String>, out: &mut Vec<Planned>) {
        let Some(a) = self.config.aliases.get(id) else {
            let who = format!("alias:{id}");
            out.push((who.clone(), vec![Hop::inbox(&who)], SignedDuration::ZERO));
            return;
        };
        people.extend(a.people.iter().cloned());
        for team in &a.teams {
            if let Some(t) = self.config.teams.get(team) {
                people.extend(t.members.iter().cloned());
            }
        }
        for s in &a.schedules {
            people.extend(oncall::on_call(self.config, self.overrides, s, self.now));
        }
        for c in &a.slack_channels {
            self.direct(c, Channel::Slack, out);
        }
        for e in &a.emails {
            self.direct(e, Channel::Email, out);
        }
    }

    fn direct(&self, address: &str, channel: Channel, out: &mut Vec<Planned>) {
        let mut chain = Vec::new();
        if (self.has)(channel) {
            chain.push(Hop {
                channel: channel.into(),
                address: address.into(),
            });
        }
        chain.push(Hop::inbox(address));
        out.push((address.to_string(), chain, SignedDuration::ZERO));
    }

    /// One delivery per notification-rule step (only the immediate ones unless paging), each
    /// with the person's other channels, then the inbox, as its fallback.
    fn person(&self, p: &Person) -> Vec<Planned> {
        let mut rules: Vec<(Channel, SignedDuration)> = p
            .notification_rules
            .iter()
            .map(|r| (self.call_or_text(r.channel), r.after.to_signed()))
            .filter(|(_, after)| self.paging || after.is_zero())
            .collect();
        if rules.is_empty() {
            rules.push((Channel::Slack, SignedDuration::ZERO));
        }
        let who = format!("person:{}", p.id);
        let mut out: Vec<Planned> = rules
            .iter()
            .map(|&(first, after)| {
                // Channels another step already uses at the same time are no fallback.
                let busy: Vec<Channel> = rules
                    .iter()
                    .filter(|(c, a)| *a == after && *c != first)
                    .map(|(c, _)| *c)
                    .collect();
                let mut chain = self.chain(p, first, &busy);
                chain.push(Hop::inbox(&who));
                (who.clone(), chain, after)
            })
            .collect();
        // Steps whose channels are all missing would each land in the inbox: once is enough.
        let mut inbox_only = false;
        out.retain(|(_, chain, _)| {
            let only = chain.len() == 1;
            let keep = !only || !inbox_only;
            inbox_only |= only;
            keep
        });
        out
    }

    /// A `phone` step is a call when a voice provider is configured, else an SMS.
    fn call_or_text(&self, c: Channel) -> Channel {
        match c {
            Channel::Phone if (self.has)(Channel::Voice) => Channel::Voice,
            Channel::Phone => Channel::Sms,
            c => c,
        }
    }

    /// `first`, then the person's other channels in the order slack, email, push, sms,
    /// webhook, keeping those the person has an address for and Muster a provider for. A
    /// call is never a fallback: nobody is rung for a step their rules did not make a call.
    fn chain(&self, p: &Person, first: Channel, busy: &[Channel]) -> Vec<Hop> {
        let order = [
            first,
            Channel::Slack,
            Channel::Email,
            Channel::Push,
            Channel::Sms,
            Channel::Webhook,
        ];
        let mut chain: Vec<Hop> = Vec::new();
        for (i, c) in order.into_iter().enumerate() {
            if i > 0 && busy.contains(&c) {
                continue;
            }
            let address = match c {
                Channel::Slack => p.contact.slack_user.clone(),
                Channel::Email => p.contact.email.clone(),
                Channel::Sms | Channel::Phone | Channel::Voice => p.contact.phone.clone(),
                Channel::Push => p.contact.push_topic.clone(),
                Channel::Webhook => p.contact.webhook.clone(),
            };
            let via = Via::from(c);
            if let Some(address) = address
                && (self.has)(c)
                && !chain.iter().any(|h| h.channel == via)
            {
                chain.push(Hop {
                    channel: via,
                    address,
                });
            }
        }
        chain
    }
}

/// Drops repeated (who, first channel, delay) deliveries: one person in two aliases, or
/// two rules naming the same channel at the same time, gets one message.
fn dedup(list: Vec<Planned>) -> Vec<Planned> {
    let mut seen = std::collections::BTreeSet::new();
    list.into_iter()
        .filter(|(who, chain, delay)| {
            let first = chain.first().map(|h| h.channel.name()).unwrap_or("none");
            seen.insert((who.clone(), first, delay.as_millis()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::Delivery;

    fn config() -> Config {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        match muster_config::load(&dir) {
            Ok(c) => c,
            Err(d) => panic!("demo config: {d:?}"),
        }
    }

    fn plan(config: &Config, has: &dyn Fn(Channel) -> bool, targets: &[&str]) -> Vec<Planned> {
        let overrides = RuntimeOverrides::new();
        let planner = Planner {
            config,
            overrides: &overrides,
            has,
            now: Timestamp::UNIX_EPOCH,
            paging: true,
        };
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        planner.plan(&targets)
    }

    fn vias(p: &Planned) -> Vec<Via> {
        p.1.iter().map(|h| h.channel).collect()
    }

    #[test]
    fn with_no_provider_every_recipient_lands_in_the_inbox_once() {
        let config = config();
        let person = config.people.keys().next().cloned().unwrap_or_default();
        let planned = plan(&config, &|_| false, &[&person, "#ops", "nobody-known"]);
        let who: Vec<(&str, Vec<Via>)> = planned.iter().map(|p| (p.0.as_str(), vias(p))).collect();
        assert_eq!(
            who,
            vec![
                ("#ops", vec![Via::Inbox]),
                ("nobody-known", vec![Via::Inbox]),
                (format!("person:{person}").as_str(), vec![Via::Inbox]),
            ]
        );
    }

    #[test]
    fn providers_come_first_and_the_inbox_last() {
        let config = config();
        let Some(person) = config
            .people
            .values()
            .find(|p| p.contact.email.is_some() && p.contact.slack_user.is_some())
        else {
            panic!("the demo has a person with Slack and email");
        };
        let planned = plan(&config, &|_| true, &[person.id.as_str()]);
        assert!(!planned.is_empty());
        for p in &planned {
            assert_eq!(p.1.last().map(|h| h.channel), Some(Via::Inbox), "{p:?}");
            assert!(p.1.len() > 1, "a provider before the inbox: {p:?}");
        }
        let copies = Planner::copies(&planned);
        assert_eq!(copies.len(), planned.len());
        assert!(copies.iter().all(|c| vias(c) == vec![Via::Inbox]));
        // Only-inbox deliveries are not copied again.
        assert!(Planner::copies(&plan(&config, &|_| false, &["#ops"])).is_empty());
    }

    #[test]
    fn a_drills_bare_ids_are_people_in_its_inbox_plan() {
        let targets: Vec<String> = [
            "dave",
            "alias:pr",
            "#ops",
            "schedule:payments-primary",
            "dave",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let who: Vec<String> = Planner::inbox_only(&targets)
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(
            who,
            vec![
                "person:dave",
                "alias:pr",
                "#ops",
                "schedule:payments-primary"
            ]
        );
    }

    #[test]
    fn an_inbox_delivery_says_why_it_is_there() {
        let mut d = Delivery {
            parent: "INC-1/p".into(),
            to: "person:alice".into(),
            chain: vec![Hop::inbox("person:alice")],
            step: 0,
            subject: String::new(),
            text: String::new(),
            queued_at: 0,
            not_before: None,
            blocks: None,
            copy: false,
            last_error: None,
            link: None,
        };
        assert_eq!(d.inbox_reason(), "no configured provider reaches them");
        assert_eq!(d.key(), "INC-1/p/person:alice/inbox");
        d.last_error = Some("smtp down".into());
        assert_eq!(
            d.inbox_reason(),
            "every configured channel failed; the last said: smtp down"
        );
        d.copy = true;
        assert!(d.inbox_reason().starts_with("copy of every notification"));
    }
}
