//! Past incidents for `muster staffing simulate --history FILE | --from-db URL`.
//!
//! A history file is JSON lines (one object per line) or CSV with a header line (by the
//! `.csv` extension), with these fields:
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `declared_at` | yes | RFC 3339 instant |
//! | `severity` | yes | `SEV1` … `SEV4` |
//! | `service` | no | a service id of the configuration (where it landed) |
//! | `acknowledged_at` | no | RFC 3339 instant |
//! | `resolved_at` | no | RFC 3339 instant (hands-on time is resolution − acknowledgement) |
//!
//! Blank lines and lines starting with `#` are skipped. A malformed line is an error naming
//! `FILE:LINE`.

use std::path::Path;

use anyhow::{Context, anyhow};
use jiff::Timestamp;
use muster_core::Severity;
use muster_core::staffing::history::PastIncident;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    declared_at: String,
    severity: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    acknowledged_at: Option<String>,
    #[serde(default)]
    resolved_at: Option<String>,
}

/// Reads a history file (JSON lines, or CSV for a `.csv` file).
pub fn read(path: &Path) -> anyhow::Result<Vec<PastIncident>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read history file {}", path.display()))?;
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let at = |n: usize, msg: String| anyhow!("{}:{}: {msg}", path.display(), n + 1);
    let mut header: Option<Vec<String>> = None;
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = if csv {
            match &header {
                None => {
                    header = Some(csv_header(line).map_err(|m| at(n, m))?);
                    continue;
                }
                Some(h) => csv_line(h, line),
            }
        } else {
            serde_json::from_str::<Line>(line).map_err(|e| format!("not a history record: {e}"))
        };
        let record = parsed.and_then(incident).map_err(|m| at(n, m))?;
        out.push(record);
    }
    Ok(out)
}

const FIELDS: [&str; 5] = [
    "declared_at",
    "severity",
    "service",
    "acknowledged_at",
    "resolved_at",
];

fn csv_header(line: &str) -> Result<Vec<String>, String> {
    let cols: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
    for c in &cols {
        if !FIELDS.contains(&c.as_str()) {
            return Err(format!(
                "unknown column `{c}` (expected {})",
                FIELDS.join(", ")
            ));
        }
    }
    for required in ["declared_at", "severity"] {
        if !cols.iter().any(|c| c == required) {
            return Err(format!("the header has no `{required}` column"));
        }
    }
    Ok(cols)
}

fn csv_line(header: &[String], line: &str) -> Result<Line, String> {
    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
    if cells.len() != header.len() {
        return Err(format!(
            "{} fields where the header has {}",
            cells.len(),
            header.len()
        ));
    }
    let get = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .map(|i| cells[i])
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(Line {
        declared_at: get("declared_at").unwrap_or_default(),
        severity: get("severity").unwrap_or_default(),
        service: get("service"),
        acknowledged_at: get("acknowledged_at"),
        resolved_at: get("resolved_at"),
    })
}

fn instant(field: &str, value: &str) -> Result<Timestamp, String> {
    value.parse().map_err(|_| {
        format!("{field} `{value}` is not an RFC 3339 instant such as 2026-01-05T10:00:00Z")
    })
}

fn incident(l: Line) -> Result<PastIncident, String> {
    let declared_at = instant("declared_at", &l.declared_at)?;
    let severity: Severity = l.severity.parse().map_err(|_| {
        format!(
            "unknown severity `{}` (expected SEV1, SEV2, SEV3 or SEV4)",
            l.severity
        )
    })?;
    let acknowledged_at = l
        .acknowledged_at
        .as_deref()
        .map(|v| instant("acknowledged_at", v))
        .transpose()?;
    let resolved_at = l
        .resolved_at
        .as_deref()
        .map(|v| instant("resolved_at", v))
        .transpose()?;
    for (name, t) in [
        ("acknowledged_at", acknowledged_at),
        ("resolved_at", resolved_at),
    ] {
        if t.is_some_and(|t| t < declared_at) {
            return Err(format!("{name} is before declared_at"));
        }
    }
    Ok(PastIncident {
        declared_at,
        severity,
        service: l.service,
        acknowledged_at,
        resolved_at,
    })
}

/// The real incidents (drills left out) of a Muster database. Hands-on time is measured from
/// declaration, since acknowledgements of pages are not kept per incident.
pub async fn from_db(url: &str) -> anyhow::Result<Vec<PastIncident>> {
    let store = muster_store::Store::connect(url)
        .await
        .context("cannot open the database")?;
    let out = store
        .every_incident()
        .await?
        .into_iter()
        .filter(|i| !i.exercise)
        .map(|i| PastIncident {
            declared_at: i.declared_at,
            severity: i.severity,
            service: i.services.first().cloned(),
            acknowledged_at: None,
            resolved_at: i.resolved_at,
        })
        .collect();
    store.close().await;
    Ok(out)
}
