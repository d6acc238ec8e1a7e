//! People, teams, aliases and the Slack section: contacts and notification rules, members,
//! an alias's audiences, Slack channel names, checked and converted.

use super::*;

/// ntfy's own limit on a topic name.
const MAX_PUSH_TOPIC_CHARS: usize = 64;
/// Below this a topic is guessable; ntfy's public server has no other access control.
const MIN_PUSH_TOPIC_CHARS: usize = 12;

impl V<'_> {
    pub(super) fn person(&mut self, f: usize, x: raw::Person) -> Person {
        let time_zone = self.time_zone(f, &x.time_zone);
        let c = &x.contact;
        if let Some(e) = &c.email {
            self.email(f, e);
        }
        if let Some(p) = &c.phone
            && !is_e164(&p.value)
        {
            self.d.error(
                loc(f, p),
                format!(
                    "invalid phone number `{}` (expected E.164, like +442071838750)",
                    p.value
                ),
            );
        }
        if let Some(w) = &c.webhook {
            self.url(f, w);
        }
        if let Some(s) = &c.slack_user
            && s.value.trim().is_empty()
        {
            self.d.error(loc(f, s), "slack_user is empty");
        }
        if let Some(t) = &c.push_topic {
            self.push_topic(f, t);
        }
        let contact = Contact {
            email: c.email.as_ref().map(|s| s.value.clone()),
            slack_user: c.slack_user.as_ref().map(|s| s.value.clone()),
            phone: c.phone.as_ref().map(|s| s.value.clone()),
            webhook: c.webhook.as_ref().map(|s| s.value.clone()),
            push_topic: c.push_topic.as_ref().map(|s| s.value.clone()),
        };
        let mut rules = Vec::new();
        for r in &x.notification_rules {
            let channel = self.word(
                f,
                &r.channel,
                "channel",
                &[
                    ("slack", Channel::Slack),
                    ("email", Channel::Email),
                    ("sms", Channel::Sms),
                    ("webhook", Channel::Webhook),
                    ("phone", Channel::Phone),
                    ("voice", Channel::Voice),
                    ("push", Channel::Push),
                ],
            );
            let after = r
                .after
                .as_ref()
                .map(|a| self.duration(f, a))
                .unwrap_or_default();
            if let Some(channel) = channel {
                let (needs, present) = match channel {
                    Channel::Slack => ("slack_user", c.slack_user.is_some()),
                    Channel::Email => ("email", c.email.is_some()),
                    Channel::Sms | Channel::Phone | Channel::Voice => {
                        ("phone (E.164)", c.phone.is_some())
                    }
                    Channel::Webhook => ("webhook", c.webhook.is_some()),
                    Channel::Push => (
                        "push_topic (the person's ntfy topic)",
                        c.push_topic.is_some(),
                    ),
                };
                if !present {
                    self.d.error(
                        loc(f, &r.channel),
                        format!(
                            "notification rule `{}` of person `{}` needs contact.{needs}",
                            r.channel.value, x.id.value
                        ),
                    );
                }
                rules.push(NotificationRule { channel, after });
            }
        }
        Person {
            id: x.id.value,
            name: x.name,
            time_zone,
            contact,
            notification_rules: rules,
        }
    }

    /// An ntfy topic: ntfy itself refuses anything but 1–64 of `[-_A-Za-z0-9]`. The value is
    /// never printed: on a public server the topic is the only thing guarding the pages.
    fn push_topic(&mut self, f: usize, s: &S) {
        let v = &s.value;
        let valid = (1..=MAX_PUSH_TOPIC_CHARS).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            self.d.error(
                loc(f, s),
                format!(
                    "invalid push topic (ntfy topics are 1 to {MAX_PUSH_TOPIC_CHARS} letters, \
                     digits, `-` or `_`)"
                ),
            );
        } else if v.len() < MIN_PUSH_TOPIC_CHARS {
            self.d.warning(
                loc(f, s),
                format!(
                    "push topic is shorter than {MIN_PUSH_TOPIC_CHARS} characters: anyone who \
                     guesses a push topic reads its pages (use a long random one, e.g. \
                     `openssl rand -hex 12`)"
                ),
            );
        }
    }

    pub(super) fn email(&mut self, f: usize, s: &S) {
        let ok = s
            .value
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !s.value.contains(' '));
        if !ok {
            self.d
                .error(loc(f, s), format!("invalid email address `{}`", s.value));
        }
    }

    pub(super) fn url(&mut self, f: usize, s: &S) {
        let v = &s.value;
        let ok = (v.starts_with("https://") || v.starts_with("http://"))
            && !v.contains(char::is_whitespace)
            && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
        if !ok {
            self.d.error(
                loc(f, s),
                format!(
                    "invalid url `{}` (expected http:// or https://)",
                    muster_core::secret::redact_url(v)
                ),
            );
        }
    }

    pub(super) fn team(&mut self, f: usize, x: raw::Team) -> Team {
        let members = self.references(Kind::Person, f, &x.members);
        Team {
            name: x.name.unwrap_or_else(|| x.id.value.clone()),
            id: x.id.value,
            description: x.description,
            members,
        }
    }

    pub(super) fn alias(&mut self, f: usize, x: raw::Alias) -> Alias {
        if x.people.is_empty()
            && x.teams.is_empty()
            && x.schedules.is_empty()
            && x.slack_channels.is_empty()
            && x.emails.is_empty()
        {
            self.d.error(
                loc(f, &x.id),
                format!(
                    "alias `{}` has no targets (give people, teams, schedules, slack_channels or emails)",
                    x.id.value
                ),
            );
        }
        let people = self.references(Kind::Person, f, &x.people);
        let teams = self.references(Kind::Team, f, &x.teams);
        let schedules = self.references(Kind::Schedule, f, &x.schedules);
        for c in &x.slack_channels {
            self.slack_channel(f, c);
        }
        for e in &x.emails {
            self.email(f, e);
        }
        Alias {
            id: x.id.value,
            description: x.description,
            people,
            teams,
            schedules,
            slack_channels: x.slack_channels.into_iter().map(|s| s.value).collect(),
            emails: x.emails.into_iter().map(|s| s.value).collect(),
        }
    }

    pub(super) fn slack_channel(&mut self, f: usize, s: &S) {
        let v = &s.value;
        let named = v.len() > 1 && v.starts_with('#') && !v.contains(char::is_whitespace);
        let channel_id = v.len() > 1
            && (v.starts_with('C') || v.starts_with('G'))
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !named && !channel_id {
            self.d.error(
                loc(f, s),
                format!(
                    "invalid slack channel `{v}` (expected `#name` or a channel id like C0123ABC)"
                ),
            );
        }
    }

    // ------------------------------------------------------------ slack

    pub(super) fn slack(&mut self, f: usize, x: raw::Slack) -> SlackConfig {
        let mut out = SlackConfig::default();
        if let Some(c) = &x.command {
            let name = c.value.strip_prefix('/').unwrap_or("");
            // Slack: lower case, at most 32 characters, no spaces.
            let ok = !name.is_empty()
                && c.value.len() <= 32
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if ok {
                out.command = c.value.clone();
            } else {
                self.d.error(
                    loc(f, c),
                    format!(
                        "invalid slack command `{}` (expected `/` then lower-case letters, \
                         digits, `-` or `_`, at most 32 characters, e.g. `/muster`)",
                        c.value
                    ),
                );
            }
        }
        if let Some(t) = &x.timeline {
            match t.value.as_str() {
                "all" => out.timeline = TimelineCapture::All,
                "reaction" => out.timeline = TimelineCapture::Reaction,
                "off" => out.timeline = TimelineCapture::Off,
                other => self.d.error(
                    loc(f, t),
                    format!("unknown slack timeline `{other}` (expected all, reaction or off)"),
                ),
            }
        }
        if let Some(w) = &x.writes {
            match w.value.as_str() {
                "all" => out.writes = SlackWrites::All,
                "own_teams" => out.writes = SlackWrites::OwnTeams,
                other => self.d.error(
                    loc(f, w),
                    format!("unknown slack writes `{other}` (expected all or own_teams)"),
                ),
            }
        }
        if let Some(r) = &x.reaction {
            let name = r.value.trim_matches(':');
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_+'".contains(&b));
            if ok {
                out.reaction = name.to_string();
            } else {
                self.d.error(
                    loc(f, r),
                    format!(
                        "invalid slack reaction `{}` (expected an emoji name such as pushpin)",
                        r.value
                    ),
                );
            }
        }
        out
    }
}
