//! A small mutation fuzzer for the parsers that take outside input (config files, Slack
//! commands and payloads, templates, status-page text, SQL parameter rewriting). Coverage-guided
//! fuzzing needs a nightly compiler and sanitizers this project does not build with; mutating a
//! corpus of real inputs finds the panics that matter here (slicing at a byte that is not a
//! char boundary, an unchecked index, an overflow) on the stable toolchain, inside the
//! ordinary test binaries.
//!
//! Each target runs [`DEFAULT_CASES`] cases with a fixed seed in the normal test run, so a
//! failure replays. `scripts/fuzz.sh` runs every target for `MUSTER_FUZZ_SECS` seconds with a
//! fresh seed (`MUSTER_FUZZ_SEED` replays one). A failing input is written to
//! `$TMPDIR/muster-fuzz/<target>-<seed>-<case>` and named in the panic message.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Cases per target in the ordinary test run.
pub const DEFAULT_CASES: u64 = 300;

/// Fragments that tend to reach the interesting branches of YAML, templates, Slack text and SQL.
const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    ": ",
    "- ",
    "\n  ",
    "'",
    "\"",
    "\\",
    "\0",
    "\u{1}",
    "\u{7f}",
    "\u{fffe}",
    "é",
    "𝄞",
    "<!channel>",
    "<",
    ">",
    "&",
    "$1",
    "$99999999999",
    "?",
    "--",
    "*",
    "&a",
    "!!binary",
    "~",
    "null",
    "-1",
    "99999999999999999999",
    "1e400",
    "NaN",
    "9999-99-99",
    "25:61",
    "1w1d1h1m1s",
    "0s",
    "SEV0",
    "INC-",
    "INC-99999999999999999999",
    "@U0",
    "#",
    "x10000",
];

/// Runs `check` on mutations of `corpus` and fails with the input that panicked.
pub fn run(target: &str, corpus: &[&[u8]], mut check: impl FnMut(&[u8])) {
    assert!(!corpus.is_empty(), "fuzz target `{target}` has no corpus");
    let seed = std::env::var("MUSTER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| match secs() {
            Some(_) => rand::random(),
            None => 0x6d75_7374_6572,
        });
    let mut rng = StdRng::seed_from_u64(seed);
    let until = secs().map(|s| Instant::now() + Duration::from_secs(s));
    let mut case = 0u64;
    while match until {
        Some(t) => Instant::now() < t,
        None => case < DEFAULT_CASES,
    } {
        let base = corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, base, corpus);
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let dir = std::env::temp_dir().join("muster-fuzz");
            let file = dir.join(format!("{target}-{seed}-{case}"));
            let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, &input));
            panic!(
                "fuzz target `{target}` panicked on case {case} (MUSTER_FUZZ_SEED={seed}); \
                 input saved to {}:\n{:?}",
                file.display(),
                String::from_utf8_lossy(&input)
            );
        }
        case += 1;
    }
    if until.is_some() {
        eprintln!("fuzz target `{target}`: {case} cases, seed {seed}, no failure");
    }
}

fn secs() -> Option<u64> {
    std::env::var("MUSTER_FUZZ_SECS").ok()?.parse().ok()
}

/// One to four edits of `base`: flips, deletions, duplications, tokens, splices.
fn mutate(rng: &mut StdRng, base: &[u8], corpus: &[&[u8]]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=v.len());
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let end = (at + rng.random_range(1..16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let end = (at + rng.random_range(1..32)).min(v.len());
                let chunk = v[at.min(end)..end].to_vec();
                v.splice(at..at, chunk);
            }
            3 => {
                let other = corpus[rng.random_range(0..corpus.len())];
                let from = rng.random_range(0..=other.len());
                let end = (from + rng.random_range(1..64)).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                v.splice(at..at, token.iter().copied());
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_target_is_reported_with_its_input() {
        let caught = catch_unwind(|| {
            run("always-fails-on-braces", &[b"plain text"], |input| {
                assert!(!input.windows(2).any(|w| w == b"{{"), "braces");
            });
        });
        let message = caught
            .err()
            .and_then(|e| e.downcast::<String>().ok())
            .map(|s| *s)
            .unwrap_or_default();
        assert!(
            message.contains("fuzz target `always-fails-on-braces` panicked on case"),
            "{message}"
        );
        assert!(message.contains("{{"), "the input is shown: {message}");
    }

    #[test]
    fn mutations_stay_near_their_corpus_and_vary() {
        let mut rng = StdRng::seed_from_u64(1);
        let base: &[u8] = b"policies:\n  - id: a\n";
        let outs: std::collections::BTreeSet<Vec<u8>> =
            (0..200).map(|_| mutate(&mut rng, base, &[base])).collect();
        assert!(outs.len() > 150, "only {} distinct mutations", outs.len());
        assert!(outs.iter().all(|o| o.len() < base.len() + 4 * 100));
    }
}
