//! The `integrations` section: each integration's type, key, routes, severity map, grouping
//! and heartbeat. A key is the only secret of its intake endpoint, so one equal to its
//! integration's id is an error and one shorter than [`MIN_KEY_CHARS`] a warning.

use super::{Kind, S, V, loc};
use crate::diagnostic::Loc;
use crate::model::*;
use crate::raw;

/// Integration keys shorter than this are warned about.
pub(crate) const MIN_KEY_CHARS: usize = 24;

impl V<'_> {
    pub(super) fn integration(&mut self, f: usize, x: raw::Integration) -> Integration {
        let kind = self.word(
            f,
            &x.kind,
            "integration type",
            &[
                ("alertmanager", IntegrationType::Alertmanager),
                ("pagerduty_events_v2", IntegrationType::PagerdutyEventsV2),
                ("generic", IntegrationType::Generic),
                ("heartbeat", IntegrationType::Heartbeat),
            ],
        );
        let key = self.integration_key(f, &x.key, &x.id.value);
        let service = x
            .service
            .as_ref()
            .map(|s| self.reference(Kind::Service, f, s));
        if x.service.is_none() && x.routes.is_empty() {
            self.d.error(
                loc(f, &x.id),
                format!(
                    "integration `{}` needs a `service` or `routes` (where would its alerts go?)",
                    x.id.value
                ),
            );
        }
        let routes = x
            .routes
            .iter()
            .map(|r| {
                if r.matches.value.is_empty() {
                    self.d.error(
                        loc(f, &r.matches),
                        "route has an empty `match` (it would catch every alert; use the integration's `service` instead)",
                    );
                }
                Route {
                    matches: r.matches.value.clone(),
                    service: self.reference(Kind::Service, f, &r.service),
                }
            })
            .collect();
        let severity_map = x
            .severity_map
            .iter()
            .filter_map(|(k, s)| self.parse::<Severity>(f, s).map(|sev| (k.clone(), sev)))
            .collect();
        let group_window = x.group_window.as_ref().map(|g| self.duration(f, g));
        let heartbeat = x.heartbeat.as_ref().map(|h| Heartbeat {
            interval: self.positive_duration(f, &h.value.interval, "heartbeat.interval"),
            grace: h
                .value
                .grace
                .as_ref()
                .map(|g| self.duration(f, g))
                .unwrap_or_default(),
        });
        match (kind, &x.heartbeat) {
            (Some(IntegrationType::Heartbeat), None) => self.d.error(
                loc(f, &x.kind),
                "a heartbeat integration needs `heartbeat: { interval, grace }`",
            ),
            (Some(k), Some(h)) if k != IntegrationType::Heartbeat => self.d.error(
                loc(f, h),
                "`heartbeat` is only for integrations of type heartbeat",
            ),
            _ => {}
        }
        Integration {
            id: x.id.value,
            kind: kind.unwrap_or(IntegrationType::Generic),
            key,
            service,
            routes,
            severity_map,
            group_by: x.group_by,
            group_window,
            auto_resolve: x.auto_resolve.unwrap_or(true),
            heartbeat,
        }
    }

    /// Resolve `${env:VAR}`, check the key can sit in a URL and is unique. Never prints the key.
    fn integration_key(&mut self, f: usize, s: &S, id: &str) -> Secret {
        let l = loc(f, s);
        let raw = s.value.trim();
        let Some(value) = self.secret_text(l, raw, "this integration key") else {
            return Secret::new("");
        };
        if value.is_empty() {
            self.d.error(l, "integration key is empty");
            return Secret::new("");
        }
        let url_safe = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if !url_safe {
            self.d.error(
                l,
                "integration key may only contain letters, digits, `-`, `_`, `.` and `~` (it is part of a URL)",
            );
        } else if let Some(other) = self.keys.get(&value) {
            let other = other.clone();
            self.d.error(
                l,
                format!("integration key is already used by integration `{other}`"),
            );
        } else if value == id {
            self.d.error(
                l,
                format!(
                    "integration key equals the integration's id `{id}`: an id is not a secret (use a long random key)"
                ),
            );
        } else if value.chars().count() < MIN_KEY_CHARS {
            self.d.warning(
                l,
                format!(
                    "integration key is shorter than {MIN_KEY_CHARS} characters: it is the only secret of its endpoint (use a long random key, e.g. `openssl rand -hex 16`)"
                ),
            );
        }
        if url_safe {
            self.keys
                .entry(value.clone())
                .or_insert_with(|| id.to_string());
        }
        Secret::new(value)
    }

    /// A secret's text: a literal, or `${env:NAME}` read from the environment. `None` (with
    /// an error at `l`) for a malformed reference or an unset variable; `needed_for` names
    /// what the variable is for. Never prints the value.
    pub(super) fn secret_text(&mut self, l: Loc, raw: &str, needed_for: &str) -> Option<String> {
        if let Some(rest) = raw.strip_prefix("${env:") {
            let name = rest.strip_suffix('}').unwrap_or("");
            let valid_name =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_name {
                self.d.error(
                    l,
                    format!("invalid environment reference `{raw}` (expected `${{env:NAME}}`)"),
                );
                return None;
            }
            let value = (self.env)(name);
            if value.is_none() {
                self.d.error(
                    l,
                    format!("environment variable `{name}` is not set (needed for {needed_for})"),
                );
            }
            value
        } else if raw.contains("${") {
            self.d.error(
                l,
                "an environment reference must be the whole value: `${env:NAME}`",
            );
            None
        } else {
            Some(raw.to_string())
        }
    }
}
