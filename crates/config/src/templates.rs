//! Message templates (minijinja): checking them at load time and rendering them.
//!
//! A template sees these variables (and nothing else, so a typo is a `muster check` error
//! rather than a blank in a page at 3 a.m.):
//! - `incident`: `id`, `title`, `severity`, `status`, `services`, `type`, `declared_at`,
//!   `declared_by`, `elapsed` ("12 min"), `url`, `last_update`, `responders`, `milestones`,
//!   `tasks`, `resolved_at`;
//! - `roles`: role id → person id (e.g. `roles.incident_commander`);
//! - `deadlines`: open policy deadlines, each `{policy, expect, due_at, remaining}`;
//! - `policy`: the policy that caused the message, `{id, description, reason, deadline_in}`
//!   (`deadline_in`: time left to its deadline, e.g. "5 min");
//! - `summary`: `{what_we_know, next_steps}` for status updates;
//! - `links`: the playbook's links, each `{title, url}`;
//! - `now`: when the message is rendered.
//!
//! Rendering is bounded by fuel, so a template with a runaway loop fails instead of hanging.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};

use crate::model::Template;

/// Top-level variables a template may use.
pub const VARIABLES: &[&str] = &[
    "incident",
    "roles",
    "deadlines",
    "policy",
    "links",
    "summary",
    "now",
];
/// Fields of `incident`.
pub const INCIDENT_FIELDS: &[&str] = &[
    "id",
    "title",
    "severity",
    "status",
    "services",
    "type",
    "declared_at",
    "declared_by",
    "elapsed",
    "url",
    "last_update",
    "responders",
    "milestones",
    "tasks",
    "resolved_at",
];
/// Fields of `policy`.
pub const POLICY_FIELDS: &[&str] = &["id", "description", "reason", "deadline_in"];
/// Fields of `summary` (the deterministic summariser's status-update parts).
pub const SUMMARY_FIELDS: &[&str] = &["what_we_know", "next_steps"];
/// Instructions one rendering may execute at most.
pub const FUEL: u64 = 50_000;

/// A template problem at a 1-based line (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub line: usize,
    pub message: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Strict: printing an undefined value is an error, not an empty string; `default` and
    // `is defined` still work for optional values such as a role nobody holds yet.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Syntax errors and unknown variables of one template.
pub fn check(t: &Template) -> Vec<TemplateProblem> {
    let mut env = environment();
    if let Err(e) = env.add_template_owned(t.name.clone(), t.text.clone()) {
        return vec![TemplateProblem {
            line: e.line().unwrap_or(0),
            message: format!("template syntax: {}", e.detail().unwrap_or("invalid")),
        }];
    }
    let Ok(tmpl) = env.get_template(&t.name) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for var in tmpl.undeclared_variables(true) {
        if let Some(message) = unknown(&var) {
            problems.push(TemplateProblem {
                line: line_of(&t.text, &var),
                message,
            });
        }
    }
    problems.sort_by(|a, b| (a.line, &a.message).cmp(&(b.line, &b.message)));
    problems
}

/// Why `var` (`incident.title`, `roles`, …) is not a known variable, if it is not.
fn unknown(var: &str) -> Option<String> {
    let mut parts = var.split('.');
    let top = parts.next().unwrap_or_default();
    if !VARIABLES.contains(&top) {
        return Some(format!(
            "unknown variable `{top}` (known: {})",
            VARIABLES.join(", ")
        ));
    }
    let field = parts.next()?;
    let fields = match top {
        "incident" => INCIDENT_FIELDS,
        "policy" => POLICY_FIELDS,
        "summary" => SUMMARY_FIELDS,
        _ => return None,
    };
    (!fields.contains(&field)).then(|| {
        format!(
            "unknown variable `{top}.{field}` (known fields: {})",
            fields.join(", ")
        )
    })
}

/// The first line mentioning `var`; 0 when it cannot be found.
fn line_of(text: &str, var: &str) -> usize {
    text.lines()
        .position(|l| l.contains(var))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// Renders the template `name` with `context` (a JSON-like value holding [`VARIABLES`]).
pub fn render(
    templates: &BTreeMap<String, Template>,
    name: &str,
    context: &serde_json::Value,
) -> Result<String, String> {
    let t = templates
        .get(name)
        .ok_or_else(|| format!("template `{name}` is not configured"))?;
    let mut env = environment();
    env.add_template_owned(t.name.clone(), t.text.clone())
        .map_err(|e| describe(t, &e))?;
    let tmpl = env.get_template(&t.name).map_err(|e| describe(t, &e))?;
    tmpl.render(minijinja::Value::from(minijinja::value::Serde(context)))
        .map(|s| s.trim_end().to_string())
        .map_err(|e| describe(t, &e))
}

fn describe(t: &Template, e: &minijinja::Error) -> String {
    let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
    format!(
        "{}{line}: {}",
        t.path.display(),
        e.detail()
            .map(String::from)
            .unwrap_or_else(|| e.to_string())
    )
}

/// The variables for an incident, from its API form (`GET /api/v1/incidents/{id}`, which is
/// also what `muster template render --incident FILE` reads). `policy`, `deadlines`, `links`
/// and `summary` start empty; the caller fills what it knows.
pub fn context(
    incident: &serde_json::Value,
    now: jiff::Timestamp,
    base_url: &str,
) -> serde_json::Value {
    use serde_json::{Value, json};
    let str_of = |k: &str| incident.get(k).cloned().unwrap_or(Value::Null);
    let id = incident.get("id").and_then(Value::as_str).unwrap_or("");
    let declared_at = incident
        .get("declared_at")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let elapsed = declared_at
        .map(|d| minutes(now.duration_since(d)))
        .unwrap_or_default();
    let roles: serde_json::Map<String, Value> = incident
        .get("roles")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(role, holder)| {
                    let person = holder.get("person").cloned().unwrap_or(holder.clone());
                    (role.clone(), person)
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "incident": {
            "id": id,
            "title": str_of("title"),
            "severity": str_of("severity"),
            "status": str_of("status"),
            "services": incident.get("services").cloned().unwrap_or(json!([])),
            "type": str_of("incident_type"),
            "declared_at": str_of("declared_at"),
            "declared_by": str_of("declared_by"),
            "elapsed": elapsed,
            "url": format!("{}/incidents/{id}", base_url.trim_end_matches('/')),
            "last_update": str_of("updated_at"),
            "responders": incident.get("responders").cloned().unwrap_or(json!([])),
            "milestones": incident.get("milestones").cloned().unwrap_or(json!([])),
            "tasks": incident.get("tasks").cloned().unwrap_or(json!([])),
            "resolved_at": str_of("resolved_at"),
        },
        "roles": roles,
        "deadlines": [],
        "policy": {},
        "links": [],
        "summary": {},
        "now": now.to_string(),
    })
}

/// How people say elapsed time (`42 min`, `1 h 05 min`, `30 s`): [`muster_core::words`].
pub fn minutes(d: jiff::SignedDuration) -> String {
    muster_core::words::duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Template {
        Template {
            name: "t".into(),
            path: "templates/t.txt".into(),
            text: text.into(),
        }
    }

    #[test]
    fn finds_unknown_variables_and_syntax_errors_with_lines() {
        assert!(check(&t("{{ incident.title }} {{ roles.ic | default('x') }}")).is_empty());
        let p = check(&t("ok\n{{ incident.titel }}\n{{ nope }}"));
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].line, 2);
        assert!(p[0].message.contains("incident.titel"));
        assert_eq!(p[1].line, 3);
        let p = check(&t("line\n{% if %}"));
        assert_eq!(p[0].line, 2, "{p:?}");
        assert!(p[0].message.starts_with("template syntax"));
    }

    #[test]
    fn renders_with_defaults_and_bounded_fuel() {
        let mut all = BTreeMap::new();
        all.insert(
            "t".to_string(),
            t("{{ incident.title }}: {{ roles.ic | default('nobody') }}"),
        );
        all.insert(
            "loop".to_string(),
            Template {
                name: "loop".into(),
                ..t("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
            },
        );
        let ctx = serde_json::json!({"incident": {"title": "Down"}, "roles": {}});
        assert_eq!(render(&all, "t", &ctx).unwrap(), "Down: nobody");
        assert!(render(&all, "loop", &ctx).is_err());
        assert!(render(&all, "missing", &ctx).is_err());
    }
}
