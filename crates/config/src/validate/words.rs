//! The wording of diagnostics and the small checks behind them: lists joined in prose, "did
//! you mean" suggestions by edit distance, phone numbers in E.164.

use std::collections::BTreeSet;

pub(super) fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

pub(super) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    one_of_str(&quoted, "or")
}

/// `a`, `a or b`, `a, b or c`.
pub(super) fn one_of_str(names: &[String], conj: &str) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {conj} {last}", rest.join(", ")),
    }
}

/// The closest candidate within a small edit distance, if any.
pub(super) fn suggest<'a>(name: &str, candidates: &'a BTreeSet<String>) -> Option<&'a str> {
    let max = match name.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names: BTreeSet<String> = ["alice", "bob", "ops_lead"].map(String::from).into();
        assert_eq!(suggest("alic", &names), Some("alice"));
        assert_eq!(suggest("opslead", &names), Some("ops_lead"));
        assert_eq!(suggest("zed", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn phones_and_lists() {
        assert!(is_e164("+442071838750"));
        assert!(!is_e164("442071838750"));
        assert!(!is_e164("+44 20 7183"));
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
        assert_eq!(one_of(&["a"]), "a");
    }
}
