//! Text hygiene for briefings: Slack markup turned into plain words, Markdown and HTML
//! escaped, times and durations written the way responders read them.
//!
//! Everything a person typed (titles, notes, task titles) goes through [`plain`] before it is
//! stored in a summary, and through [`md`] when it is written into Markdown, so a title such
//! as `<script>` or a note full of `*` never changes the document's structure.

use jiff::{SignedDuration, Timestamp, tz::Offset};

/// Longest piece of free text quoted in a summary, in characters.
pub const QUOTE_CHARS: usize = 160;

/// Slack markup and control characters out, whitespace collapsed to single spaces, cut to
/// `max` characters (an ellipsis marks the cut).
pub fn plain(raw: &str, max: usize) -> String {
    let unslacked = unslack(raw);
    let mut out = String::with_capacity(unslacked.len());
    for word in unslacked.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() <= max {
        return out;
    }
    let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Slack's `<…>` forms as a reader would say them: `<@U1>` → `@U1`, `<#C1|ops>` → `#ops`,
/// `<!here>` → `@here`, `<https://x|docs>` → `docs (https://x)`. A `<` that starts none
/// of these stays as it is (and is escaped later).
fn unslack(raw: &str) -> String {
    if !raw.contains('<') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) if is_slack_token(&after[..close]) => {
                out.push_str(&slack_token(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_slack_token(inner: &str) -> bool {
    let head = inner.split('|').next().unwrap_or("");
    !inner.contains('<')
        && (head.starts_with('@')
            || head.starts_with('#')
            || head.starts_with('!')
            || head.starts_with("http://")
            || head.starts_with("https://")
            || head.starts_with("mailto:"))
}

fn slack_token(inner: &str) -> String {
    let (head, label) = match inner.split_once('|') {
        Some((h, l)) => (h, Some(l)),
        None => (inner, None),
    };
    match (head.chars().next(), label) {
        (Some('@'), Some(l)) => format!("@{l}"),
        (Some('#'), Some(l)) => format!("#{l}"),
        (Some('!'), _) => format!("@{}", head.trim_start_matches('!')),
        (Some('@' | '#'), None) => head.to_string(),
        (_, Some(l)) if !l.is_empty() => format!("{l} ({})", head.trim_start_matches("mailto:")),
        _ => head.trim_start_matches("mailto:").to_string(),
    }
}

/// Escapes text for Markdown: the characters that would start emphasis, links, code or
/// table cells are backslash-escaped (`_` only where it could start emphasis, `#` only where
/// it could start a heading, so ids stay readable). Markdown is read raw too (a terminal, a
/// diff), so `p99 > 2s` stays as typed: only a `<` that could open an HTML tag, a `&` that
/// could start an entity and a leading `>` (a quote) are backslash-escaped, which is enough
/// for no renderer ever to pass HTML through. HTML output escapes on its own.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        match c {
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || "/!?".contains(n)) => {
                out.push_str("\\<")
            }
            '>' if prev.is_none() => out.push_str("\\>"),
            '&' if starts_entity(&text[i..]) => out.push_str("\\&"),
            '_' if prev.is_some_and(char::is_alphanumeric)
                && next.is_some_and(char::is_alphanumeric) =>
            {
                out.push('_')
            }
            '#' if prev.is_some() || next.is_some_and(|n| !n.is_whitespace()) => out.push('#'),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
        prev = Some(c);
    }
    out
}

/// Whether `rest` (starting at a `&`) is a character reference a renderer would decode:
/// `&amp;`, `&#62;`, `&#x3e;`.
fn starts_entity(rest: &str) -> bool {
    let body = &rest[1..];
    let Some(end) = body.find(';') else {
        return false;
    };
    let name = &body[..end];
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.chars().all(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
    };
    match name.strip_prefix('#') {
        Some(n) => match n.strip_prefix(['x', 'X']) {
            Some(h) => digits(h, true),
            None => digits(n, false),
        },
        None => {
            name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric())
        }
    }
}

/// Text that came from outside the summariser (a language model's answer) made safe to hand
/// on as Markdown: HTML is neutralised (a `<` that could open a tag, a character reference),
/// structure (lists, emphasis, quotes) is kept, and `p99 > 2s` stays as written.
pub fn untrusted_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        match c {
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || "/!?".contains(n)) => {
                out.push_str("\\<")
            }
            '&' if starts_entity(&text[i..]) => out.push_str("\\&"),
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

/// `blast_radius_validated` → `blast radius validated`.
pub fn words(id: &str) -> String {
    id.replace(['_', '-'], " ")
}

/// What a deadline expects, from its key: `blast radius validated`, `comms lead held`
/// (`role:comms_lead`), `acknowledged by legal` (`acknowledged_by:alias:legal`).
pub fn expectation(key: &str) -> String {
    if let Some(role) = key.strip_prefix("role:") {
        return format!("{} held", words(role));
    }
    match key
        .strip_prefix("acknowledged_by:")
        .map(|a| a.split_once(':'))
    {
        Some(Some(("schedule", id))) => format!("acknowledged by schedule {id}"),
        Some(Some((_, id))) => format!("acknowledged by {id}"),
        _ => words(key),
    }
}

/// `03:12 UTC` when `at` falls on the same UTC day as `now`, `2026-03-28 23:50 UTC` otherwise.
pub fn clock_time(at: Timestamp, now: Timestamp) -> String {
    let a = Offset::UTC.to_datetime(at);
    let n = Offset::UTC.to_datetime(now);
    if a.date() == n.date() {
        format!("{:02}:{:02} UTC", a.hour(), a.minute())
    } else {
        full_time(at)
    }
}

/// `2026-03-29 03:12 UTC`.
pub fn full_time(at: Timestamp) -> String {
    let a = Offset::UTC.to_datetime(at);
    format!("{} {:02}:{:02} UTC", a.date(), a.hour(), a.minute())
}

/// A span as people say it (see [`crate::words`]); negative spans as their magnitude.
pub fn duration(secs: i64) -> String {
    crate::words::duration_secs(secs)
}

/// Whole seconds from `from` to `to` (negative when `to` is earlier).
pub fn secs_between(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs()
}

/// `due in 7 min` / `overdue by 2 min`.
pub fn due_in(secs: i64) -> String {
    if secs >= 0 {
        format!("due in {}", duration(secs))
    } else {
        format!("overdue by {}", duration(secs))
    }
}

/// `met with 1 min to spare` / `missed by 3 min`.
pub fn margin(met: bool, margin_secs: i64) -> String {
    match (met, margin_secs) {
        (true, m) => format!("met with {} to spare", duration(m)),
        (false, 0) => "missed".to_string(),
        (false, m) => format!("missed by {}", duration(m)),
    }
}

/// A `SignedDuration` of whole seconds.
pub fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `shown` joined by `sep`, then `+N more` for the `total` items not shown.
pub fn capped_of(shown: &[String], total: usize, sep: &str, word: &str) -> String {
    let mut out = shown.join(sep);
    if total > shown.len() {
        out.push_str(&format!("{sep}+{} {word}", total - shown.len()));
    }
    out
}

/// The first `max` items joined by `sep`, then `+N more`.
pub fn capped(items: &[String], max: usize, sep: &str) -> String {
    let mut out = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > max {
        out.push_str(&format!("{sep}+{} more", items.len() - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_markup_reads_as_words() {
        assert_eq!(
            plain(
                "ping <@U123|alice> in <#C9|ops> <!here> see <https://x.io/a|runbook>",
                200
            ),
            "ping @alice in #ops @here see runbook (https://x.io/a)"
        );
        assert_eq!(plain("<@U1> and <mailto:a@b.c>", 200), "@U1 and a@b.c");
        assert_eq!(plain("a < b > c", 200), "a < b > c");
    }

    #[test]
    fn plain_collapses_whitespace_and_cuts_on_characters() {
        assert_eq!(plain("  a\n\n b\t\u{7}c  ", 50), "a b c");
        let long = "é".repeat(300);
        let cut = plain(&long, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
        assert_eq!(plain("ok 🔥 日本", 50), "ok 🔥 日本");
    }

    #[test]
    fn markdown_is_escaped_without_html_entities() {
        assert_eq!(
            md("# <b>*x*</b> | [a](b) & #1_ a_b"),
            "\\# \\<b>\\*x\\*\\</b> \\| \\[a\\](b) & #1\\_ a_b"
        );
        // What people type reads as typed: comparisons, ampersands, arrows.
        assert_eq!(
            md("p99 > 2s & p50 < 1s -> AT&T"),
            "p99 > 2s & p50 < 1s -> AT&T"
        );
        // Only what a renderer would turn into markup is escaped.
        assert_eq!(md("> quoted"), "\\> quoted");
        assert_eq!(md("&amp; &#62; &#x3E; &x"), "\\&amp; \\&#62; \\&#x3E; &x");
        assert_eq!(md("<!-- x --> <?php"), "\\<!-- x --> \\<?php");
        assert_eq!(
            untrusted_markdown("**Hi** <img src=x onerror=alert(1)>\r\n- ok p99 > 2s &lt;"),
            "**Hi** \\<img src=x onerror=alert(1)>\n- ok p99 > 2s \\&lt;"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(-180), "3 min");
        assert_eq!(duration(3_900), "1 h 05 min");
        assert_eq!(duration(2 * 86_400 + 3 * 3_600), "2 d 3 h");
        assert_eq!(margin(true, 60), "met with 1 min to spare");
        assert_eq!(margin(false, -180), "missed by 3 min");
        assert_eq!(due_in(-120), "overdue by 2 min");
    }
}
