//! The report's timeline chart as a standalone SVG: one lane each for the scenario's injects,
//! the participants' steps, what the policies sent, and the deadlines with their verdicts.
//! Every mark has a `<title>` (its line of the timeline) so a browser shows it on hover.

use super::report::Report;
use super::run::MessageKind;
use super::score::Verdict;
use crate::words::duration_secs;

const WIDTH: i64 = 960;
const LEFT: i64 = 130;
const RIGHT: i64 = 30;
const LANE: i64 = 44;
const TOP: i64 = 56;
const LANES: [&str; 4] = ["Injects", "Participants", "Policies sent", "Deadlines"];

/// The chart of `r`, deterministic (same report, same bytes).
pub fn svg(r: &Report) -> String {
    let p = &r.played;
    let length = p.length_s.max(60);
    let x = |at_s: i64| LEFT + (at_s.clamp(0, length) * (WIDTH - LEFT - RIGHT)) / length;
    let height = TOP + LANE * LANES.len() as i64 + 40;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"15\" font-weight=\"bold\">{} — score {} %</text>\n",
        esc(&r.title),
        r.score.totals.percent
    );
    for (i, name) in LANES.iter().enumerate() {
        let y = lane_y(i);
        out += &format!(
            "<text x=\"10\" y=\"{}\">{name}</text><line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#dddddd\"/>\n",
            y + 4,
            WIDTH - RIGHT
        );
    }
    let bottom = TOP + LANE * LANES.len() as i64;
    let step = tick_step(length);
    let mut tick = 0;
    while tick <= length {
        let tx = x(tick);
        out += &format!(
            "<line x1=\"{tx}\" y1=\"{}\" x2=\"{tx}\" y2=\"{bottom}\" stroke=\"#eeeeee\"/><text x=\"{tx}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666666\">T+{}</text>\n",
            TOP - 10,
            bottom + 16,
            duration_secs(tick)
        );
        tick += step;
    }
    for inject in &p.injects {
        let fill = if inject.fired { "#555555" } else { "none" };
        out += &mark(
            x(inject.at_s),
            lane_y(0),
            "rect",
            fill,
            "#555555",
            &inject.what,
        );
    }
    for (at, by, act, taken) in &p.steps {
        let fill = if *taken { "#1f6feb" } else { "none" };
        out += &mark(
            x(*at),
            lane_y(1),
            "circle",
            fill,
            "#1f6feb",
            &format!("{by} {act}"),
        );
    }
    for m in &p.messages {
        let colour = match m.kind {
            MessageKind::Page => "#d1242f",
            MessageKind::Notify | MessageKind::Nudge => "#bf8700",
            MessageKind::Persona | MessageKind::Alert => continue,
        };
        out += &mark(
            x(m.at_s),
            lane_y(2),
            "circle",
            colour,
            colour,
            &format!("{} to {}: {}", m.from, m.to, m.text),
        );
    }
    for row in &r.score.policies {
        let Some(due) = row.due_s else { continue };
        let colour = verdict_colour(row.verdict);
        let (dx, y) = (x(due), lane_y(3));
        out += &format!(
            "<line x1=\"{dx}\" y1=\"{}\" x2=\"{dx}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"4 2\"><title>{} due at T+{}</title></line>\n",
            y - 12,
            y + 12,
            esc(&row.policy),
            duration_secs(due)
        );
        if let Some(at) = row.at_s {
            out += &format!(
                "<line x1=\"{dx}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"3\"/>\n",
                x(at)
            );
        }
        let label = format!("{} {}", row.policy, row.verdict);
        out += &mark(
            x(row.at_s.unwrap_or(due)),
            y,
            "circle",
            colour,
            colour,
            &label,
        );
    }
    out += "</svg>\n";
    out
}

fn lane_y(i: usize) -> i64 {
    TOP + LANE / 2 + LANE * i as i64
}

/// A tick every 5, 15, 30 or 60 minutes, whichever gives at most 12 ticks.
fn tick_step(length: i64) -> i64 {
    [300, 900, 1_800, 3_600, 7_200]
        .into_iter()
        .find(|s| length / s <= 12)
        .unwrap_or(14_400)
}

fn mark(x: i64, y: i64, shape: &str, fill: &str, stroke: &str, title: &str) -> String {
    let title = esc(title);
    match shape {
        "rect" => format!(
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"2\"><title>{title}</title></rect>\n",
            x - 5,
            y - 5
        ),
        _ => format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"2\"><title>{title}</title></circle>\n"
        ),
    }
}

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Met | Verdict::Kept => "#1a7f37",
        Verdict::Late | Verdict::NotKept => "#bf8700",
        Verdict::Missed => "#d1242f",
        Verdict::NotApplied | Verdict::Fired => "#888888",
    }
}

/// XML text escaping (titles and labels come from scenario files).
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
