//! The tables of `muster report load`, from the server's JSON.

use serde_json::Value;

use crate::table;

/// `business/off-hours/sleep` of a bucket object.
fn buckets(b: &Value) -> String {
    let n = |k: &str| b[k].as_u64().unwrap_or(0);
    format!("{}/{}/{}", n("business"), n("off_hours"), n("sleep"))
}

fn secs(v: &Value) -> String {
    v.as_i64()
        .map_or("-".into(), muster_core::words::duration_secs)
}

/// `median / p90 / mean (count)` of a stats object.
fn stats(s: &Value) -> String {
    if s["count"].as_u64().unwrap_or(0) == 0 {
        return "-".into();
    }
    format!(
        "{} / {} / {} ({})",
        secs(&s["median_s"]),
        secs(&s["p90_s"]),
        secs(&s["mean_s"]),
        s["count"]
    )
}

fn people(report: &Value) -> String {
    let empty = Vec::new();
    let rows: Vec<Vec<String>> = report["people"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|p| {
            vec![
                p["person"].as_str().unwrap_or("").to_string(),
                p["time_zone"].as_str().unwrap_or("").to_string(),
                buckets(&p["pages"]),
                buckets(&p["nudges"]),
                buckets(&p["trailing_21d"]),
                p["incidents"].to_string(),
                format!("{}/{}", p["shifts_over_2_incidents"], p["shifts"]),
            ]
        })
        .collect();
    table::render(
        &[
            "PERSON",
            "ZONE",
            "PAGES",
            "NUDGES",
            "LAST 21 DAYS",
            "INCIDENTS",
            "SHIFTS OVER 2",
        ],
        &rows,
    )
}

fn response(report: &Value) -> String {
    let r = &report["response"];
    let row = |group: String, t: &Value| {
        vec![
            group,
            t["incidents"].to_string(),
            stats(&t["acknowledged"]),
            stats(&t["mitigated"]),
            stats(&t["resolved"]),
        ]
    };
    let mut rows = vec![row("all".into(), &r["all"])];
    for (key, prefix) in [
        ("by_severity", ""),
        ("by_service", "service "),
        ("by_team", "team "),
    ] {
        if let Some(groups) = r[key].as_object() {
            rows.extend(groups.iter().map(|(k, t)| row(format!("{prefix}{k}"), t)));
        }
    }
    table::render(
        &["GROUP", "INCIDENTS", "TO ACK", "TO MITIGATE", "TO RESOLVE"],
        &rows,
    )
}

/// The people table (counts business/off-hours/sleep in each person's own zone) and the
/// response-time table (median / p90 / mean (count) from declaration).
pub fn render(report: &Value) -> String {
    format!(
        "{} real incidents ({} drills left out); as of {}\n\
         pages, nudges and the last 21 days as business/off-hours/sleep\n\n{}\n\
         time from declaration: median / p90 / mean (count)\n\n{}",
        report["real_incidents"],
        report["drills"],
        report["now"].as_str().unwrap_or(""),
        people(report),
        response(report)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn tables_read_the_json() {
        let report = json!({
            "now": "2026-04-05T00:00:00Z", "real_incidents": 1, "drills": 1,
            "people": [{"person": "priya", "time_zone": "Asia/Kolkata",
                "pages": {"business": 0, "off_hours": 1, "sleep": 1, "total": 2},
                "nudges": {"business": 0, "off_hours": 0, "sleep": 0, "total": 0},
                "trailing_21d": {"business": 0, "off_hours": 1, "sleep": 1, "total": 2},
                "incidents": 2, "shifts": 2, "shifts_over_2_incidents": 0}],
            "response": {"all": {"incidents": 1,
                "acknowledged": {"count": 1, "median_s": 720, "p90_s": 720, "mean_s": 720},
                "mitigated": {"count": 0, "median_s": null, "p90_s": null, "mean_s": null},
                "resolved": {"count": 1, "median_s": 3600, "p90_s": 3600, "mean_s": 3600}},
                "by_severity": {}, "by_service": {}, "by_team": {}}
        });
        let text = super::render(&report);
        assert!(
            text.contains("priya   Asia/Kolkata  0/1/1  0/0/0   0/1/1         2          0/2"),
            "{text}"
        );
        assert!(
            text.contains(
                "all    1          12 min / 12 min / 12 min (1)  -            1 h 00 min / 1 h 00 min / 1 h 00 min (1)"
            ),
            "{text}"
        );
    }
}
