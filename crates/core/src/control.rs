//! The one rule for control characters in stored text, the same on both backends.
//!
//! NUL and the other C0 controls except tab, newline and carriage return — and U+FFFE and
//! U+FFFF — are what PostgreSQL cannot store (NUL) or XML 1.0 cannot carry (all of them, so
//! the Atom feed would break). Machine input (alerts: labels, annotations, summaries, dedup
//! keys, payload strings and keys) has each one replaced with U+FFFD at intake, so a sibling
//! alert is never lost with it; what people type through the API (titles, notes, task titles,
//! public names and update bodies, reasons) is refused with the field named (422).

use std::borrow::Cow;

use crate::DomainError;

/// What replaces a forbidden character in machine input.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` may not appear in stored text.
pub fn is_forbidden(c: char) -> bool {
    matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Whether `s` holds a forbidden character. A pass over the bytes comes first: each forbidden
/// character's encoding starts with a byte below 0x20 or with 0xEF, and intake asks this of
/// every label, annotation and payload string of every alert.
pub fn has_forbidden(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0xef) && s.chars().any(is_forbidden)
}

/// `s` with each forbidden character replaced with U+FFFD (borrowed when there is none).
pub fn replace(s: &str) -> Cow<'_, str> {
    if !has_forbidden(s) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_forbidden(c) { REPLACEMENT } else { c })
            .collect(),
    )
}

/// [`replace`] in place.
pub fn replace_in(s: &mut String) {
    if let Cow::Owned(clean) = replace(s) {
        *s = clean;
    }
}

/// [`replace`] on every string of a JSON value, object keys included.
pub fn replace_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => replace_in(s),
        Value::Array(items) => items.iter_mut().for_each(replace_json),
        Value::Object(map) => {
            if map.keys().any(|k| has_forbidden(k)) {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    replace_json(&mut v);
                    map.insert(replace(&k).into_owned(), v);
                }
            } else {
                map.values_mut().for_each(replace_json);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `s` as HTML or XML text or attribute value: `& < > " '` escaped, and the characters this
/// rule forbids replaced, so stored text from before the rule can never break a document (an
/// XML parser such as a telephony provider's refuses the whole of it).
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_forbidden(c) => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
    out
}

/// Refuses text a person typed that holds a forbidden character, naming the field, the
/// character and where it is (counted in characters from 1).
pub fn check(field: &str, s: &str) -> Result<(), DomainError> {
    match s.chars().enumerate().find(|(_, c)| is_forbidden(*c)) {
        None => Ok(()),
        Some((i, c)) => Err(DomainError::invalid(
            field,
            format!(
                "contains the control character U+{:04X} at character {}; only tab, newline \
                 and carriage return are allowed",
                u32::from(c),
                i + 1
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn the_byte_pass_agrees_with_the_rule(chars in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::arbitrary::any::<char>(),
                // Neighbours of U+FFFE and U+FFFF in UTF-8 (EF BF xx, EF xx xx) and the controls
                // allowed and refused.
                proptest::sample::select(vec!['\u{fffe}', '\u{ffff}', '\u{fffd}', '\u{ffbe}',
                    '\u{f000}', '\u{efff}', '\t', '\n', '\r', '\0', '\u{1f}', '\u{7f}']),
            ],
            0..12,
        )) {
            let s: String = chars.into_iter().collect();
            proptest::prop_assert_eq!(has_forbidden(&s), s.chars().any(is_forbidden));
        }
    }

    #[test]
    fn markup_is_escaped_and_forbidden_characters_replaced() {
        assert_eq!(
            escape_markup("<a href=\"x\">Tom & Jerry's</a>\u{1}\n"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;\u{FFFD}\n"
        );
    }

    #[test]
    fn the_rule() {
        for c in [
            '\0', '\u{1}', '\u{7}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}',
        ] {
            assert!(is_forbidden(c), "{c:?}");
        }
        for c in [
            '\t', '\n', '\r', ' ', 'a', '\u{7f}', '\u{85}', 'é', '\u{fffd}',
        ] {
            assert!(!is_forbidden(c), "{c:?}");
        }
        assert!(is_forbidden('\u{ffff}') && is_forbidden('\u{fffe}'));
        assert_eq!(replace("a\0b\tc\u{1b}"), "a\u{fffd}b\tc\u{fffd}");
        assert!(matches!(replace("plain\ttext\n"), Cow::Borrowed(_)));
        let mut v = serde_json::json!({"k\u{0}": ["x\u{7}", 1, {"n": "ok\u{1}"}]});
        replace_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"k\u{fffd}": ["x\u{fffd}", 1, {"n": "ok\u{fffd}"}]})
        );
        assert_eq!(check("body", "fine\r\n\tok"), Ok(()));
        let err = check("body", "ab\u{7}").expect_err("refused");
        assert_eq!(
            err.to_string(),
            "invalid body: contains the control character U+0007 at character 3; only tab, \
             newline and carriage return are allowed"
        );
    }
}
