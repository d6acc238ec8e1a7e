//! Rendering, pure: a decision's subject and text from its template (or the built-in text
//! when none is named or it fails), with the incident, its pending deadlines, the policy and
//! the playbook's links in the template's context.

use jiff::Timestamp;
use muster_config::Config;
use muster_core::words::remaining_secs;
use muster_core::{Change, Incident};
use serde_json::{Value, json};

use crate::effect::{Message, Origin};
use crate::views::clock::PolicyTimerView;
use crate::views::incident::IncidentView;

/// What a message is made from.
pub struct Draft<'a> {
    pub config: &'a Config,
    /// `page`, `notify` or `nudge`.
    pub kind: &'a str,
    pub message: &'a Message,
    /// The decision item's key, named by a template failure on the timeline.
    pub key: &'a str,
    pub incident: Option<&'a Incident>,
    /// The incident's pending deadlines, earliest first.
    pub deadlines: &'a [&'a PolicyTimerView],
    pub now: Timestamp,
    pub base_url: &'a str,
}

impl Draft<'_> {
    /// Subject and text; a template that fails to render is a timeline error (returned) and
    /// the built-in text is sent instead: never a silent loss.
    pub fn render(&self) -> (String, String, Option<Change>) {
        let ctx = self.context();
        let inc = &ctx["incident"];
        let subject = format!(
            "[{}] {} {}",
            inc["id"].as_str().unwrap_or("muster"),
            inc["severity"].as_str().unwrap_or(""),
            inc["title"].as_str().unwrap_or(self.kind)
        );
        let fallback = self.default_text(&ctx);
        let Some(template) = self.message.template() else {
            return (subject, fallback, None);
        };
        match muster_config::templates::render(&self.config.templates, template, &ctx) {
            Ok(text) => (subject, text, None),
            Err(e) => {
                let failed = Change::NotificationFailed {
                    key: self.key.into(),
                    channel: "template".into(),
                    to: template.into(),
                    error: e,
                    retry_in_ms: None,
                    fallback: Some("built-in text".into()),
                };
                (subject, fallback, Some(failed))
            }
        }
    }

    fn context(&self) -> Value {
        let view = self
            .incident
            .map(|i| serde_json::to_value(IncidentView::from(i.clone())).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        let mut ctx = muster_config::templates::context(&view, self.now, self.base_url);
        ctx["policy"] = self.policy_vars();
        let policy = self.message.policy();
        if let Some(d) = self
            .deadlines
            .iter()
            .find(|d| Some(d.policy.as_str()) == policy)
        {
            ctx["policy"]["deadline_in"] = json!(remaining_secs(d.seconds_remaining));
        }
        ctx["deadlines"] = json!(
            self.deadlines
                .iter()
                .map(|d| json!({
                    "policy": d.policy,
                    "expect": d.expect,
                    "due_at": d.due_at.to_string(),
                    "remaining": remaining_secs(d.seconds_remaining),
                }))
                .collect::<Vec<_>>()
        );
        if let Some(pb) = self.message.playbook()
            && let Some(pb) = self.config.playbooks.get(pb)
        {
            ctx["links"] = json!(
                pb.links
                    .iter()
                    .map(|l| json!({"title": l.title, "url": l.url}))
                    .collect::<Vec<_>>()
            );
        }
        ctx
    }

    fn policy_vars(&self) -> Value {
        let id = self.message.policy().unwrap_or("");
        let description = self
            .config
            .policies
            .get(id)
            .and_then(|p| p.description.clone())
            .unwrap_or_else(|| id.to_string());
        json!({
            "id": id,
            "description": description,
            "reason": self.message.reason(),
            "deadline_in": "",
        })
    }

    /// The text when no template is named (or it failed): what, which incident, why, where.
    fn default_text(&self, ctx: &Value) -> String {
        let inc = &ctx["incident"];
        let what = match self.kind {
            "page" => "You are paged",
            "nudge" => "Reminder",
            _ => "For your information",
        };
        let why = match &self.message.origin {
            Origin::Escalation {
                escalation_policy,
                step,
                ..
            } => format!("step {} of escalation policy {escalation_policy}", step + 1),
            Origin::Policy { .. } => self.message.reason().unwrap_or("policy").to_string(),
        };
        format!(
            "{what}: {} {} ({}).\nWhy: {why}\n{}",
            inc["severity"].as_str().unwrap_or(""),
            inc["title"].as_str().unwrap_or(""),
            inc["id"].as_str().unwrap_or(""),
            inc["url"].as_str().unwrap_or("")
        )
    }
}
