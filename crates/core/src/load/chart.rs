//! The load report's two charts as standalone SVG, deterministic (same report, same bytes):
//! pages by hour of week as a 7×24 heatmap (each page in the paged person's own zone), and
//! the interruptions each person carried as bars stacked by bucket. Every mark has a
//! `<title>` so a browser shows its numbers on hover.

use super::{Buckets, LoadReport};
use crate::drill::esc;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const CELL: i64 = 30;
const LEFT: i64 = 60;
const TOP: i64 = 60;
/// Business, off-hours, sleep.
const COLOURS: [&str; 3] = ["#1f6feb", "#bf8700", "#d1242f"];
const BUCKETS: [&str; 3] = ["business", "off-hours", "sleep"];

/// Pages by hour of week: one cell per (weekday, local hour), darker for more pages.
pub fn heatmap_svg(r: &LoadReport) -> String {
    let width = LEFT + CELL * 24 + 20;
    let height = TOP + CELL * 7 + 50;
    let max = r
        .pages_by_hour_of_week
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0);
    let mut out = header(
        width,
        height,
        "Pages by hour of week (in each paged person's own time)",
    );
    for h in (0..24).step_by(3) {
        out += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666666\">{h:02}:00</text>\n",
            LEFT + CELL * h,
            TOP - 8
        );
    }
    for (d, day) in DAYS.iter().enumerate() {
        let y = TOP + CELL * d as i64;
        out += &format!("<text x=\"10\" y=\"{}\">{day}</text>\n", y + CELL / 2 + 4);
        for h in 0..24 {
            let n = r
                .pages_by_hour_of_week
                .get(d)
                .and_then(|row| row.get(h))
                .copied()
                .unwrap_or(0);
            let plural = if n == 1 { "" } else { "s" };
            out += &format!(
                "<rect class=\"cell\" x=\"{}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{}\" stroke=\"#ffffff\"><title>{day} {h:02}:00–{:02}:00: {n} page{plural}</title></rect>\n",
                LEFT + CELL * h as i64,
                shade(n, max),
                (h + 1) % 24
            );
        }
    }
    out += &format!(
        "<text x=\"{LEFT}\" y=\"{}\" fill=\"#666666\">{} pages in all; darkest: {max} in one hour</text>\n",
        TOP + CELL * 7 + 30,
        r.people.iter().map(|p| p.pages.total).sum::<u32>()
    );
    out + "</svg>\n"
}

/// Interruptions per person, one bar each, stacked business / off-hours / sleep.
pub fn people_svg(r: &LoadReport) -> String {
    const ROW: i64 = 28;
    const BAR_LEFT: i64 = 140;
    const BAR_WIDTH: i64 = 600;
    let width = BAR_LEFT + BAR_WIDTH + 80;
    let height = TOP + ROW * r.people.len().max(1) as i64 + 40;
    let max = i64::from(
        r.people
            .iter()
            .map(|p| p.interruptions.total)
            .max()
            .unwrap_or(0)
            .max(1),
    );
    let mut out = header(
        width,
        height,
        "Interruptions per person (pages and nudges, in their own time)",
    );
    for (i, name) in BUCKETS.iter().enumerate() {
        let x = BAR_LEFT + 120 * i as i64;
        out += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            TOP - 24,
            COLOURS[i],
            x + 18,
            TOP - 14
        );
    }
    if r.people.is_empty() {
        out += &format!(
            "<text x=\"{BAR_LEFT}\" y=\"{}\" fill=\"#666666\">Nobody was interrupted.</text>\n",
            TOP + ROW / 2
        );
    }
    for (row, p) in r.people.iter().enumerate() {
        let y = TOP + ROW * row as i64;
        out += &format!(
            "<g class=\"bar\"><text x=\"10\" y=\"{}\">{}</text>\n",
            y + ROW / 2 + 4,
            esc(&p.person)
        );
        let mut x = BAR_LEFT;
        for (i, n) in parts(&p.interruptions).into_iter().enumerate() {
            if n == 0 {
                continue;
            }
            let w = (i64::from(n) * BAR_WIDTH / max).max(1);
            out += &format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{}\" fill=\"{}\"><title>{}: {n} {}</title></rect>\n",
                y + 4,
                ROW - 8,
                COLOURS[i],
                esc(&p.person),
                BUCKETS[i]
            );
            x += w;
        }
        out += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"#666666\">{}</text></g>\n",
            x + 6,
            y + ROW / 2 + 4,
            p.interruptions.total
        );
    }
    out + "</svg>\n"
}

fn parts(b: &Buckets) -> [u32; 3] {
    [b.business, b.off_hours, b.sleep]
}

fn header(width: i64, height: i64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        esc(title)
    )
}

/// White for none, then lighter to darker red by share of the busiest hour.
fn shade(n: u32, max: u32) -> String {
    if n == 0 || max == 0 {
        return "#f6f8fa".into();
    }
    // From #ffd8d3 (one page) to #a40e26 (the busiest hour).
    let t = f64::from(n) / f64::from(max);
    let mix = |lo: u8, hi: u8| (f64::from(lo) + (f64::from(hi) - f64::from(lo)) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(0xff, 0xa4),
        mix(0xd8, 0x0e),
        mix(0xd3, 0x26)
    )
}
