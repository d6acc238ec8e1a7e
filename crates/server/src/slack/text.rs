//! Slack's text escapes, the one place of that rule. Slack reads `<!channel>`, `<!here>`,
//! `<@U123>` and `<https://…|label>` in message text as mentions and links, so every text
//! Muster builds from incident or alert data is escaped (`&` `<` `>` as `&amp;` `&lt;` `&gt;`,
//! which Slack shows as the characters again) before it is sent: an alert summary reading
//! `<!channel>` cannot ping a channel. Text Slack sends us (a slash command's) arrives escaped
//! the same way and is unescaped once, so what is stored is what the person typed.

/// `a < b & <!channel>` → `a &lt; b &amp; &lt;!channel&gt;`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

/// The inverse of [`escape`], for text that came from Slack.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_links_become_text() {
        assert_eq!(
            escape("<!channel> p99 > 2s & <https://x|y>"),
            "&lt;!channel&gt; p99 &gt; 2s &amp; &lt;https://x|y&gt;"
        );
        for s in ["<!here> & &amp; &lt;", "plain", ""] {
            assert_eq!(unescape(&escape(s)), s);
        }
    }
}
