//! Slack request verification (v0 signatures).
//!
//! Slack signs each request with the app's signing secret: `X-Slack-Signature: v0=<hex of
//! HMAC-SHA256(secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")>`. A request is accepted
//! when the signature matches (compared in constant time), its timestamp is within five
//! minutes of the server's clock, and the same signature was not seen before within that
//! window (a captured request cannot be replayed; the store remembers signatures, so this
//! holds across nodes).

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// How far a request's timestamp may be from now, either way.
pub const MAX_AGE_SECS: i64 = 5 * 60;
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Why a request was refused (logged, never told to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    NotConfigured,
    Missing,
    Stale,
    Forged,
    Replayed,
}

/// `v0=<hex>`: the signature Slack sends for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    muster_notify::slack::request_signature(secret, timestamp, body)
}

/// Checks a request's signature headers against `body` at `now` (Unix seconds); answers the
/// signature, for the caller's replay check.
pub fn check(
    secret: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<String, Rejection> {
    let secret = secret.ok_or(Rejection::NotConfigured)?;
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts_text), Some(sig)) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER)) else {
        return Err(Rejection::Missing);
    };
    let ts: i64 = ts_text.trim().parse().map_err(|_| Rejection::Missing)?;
    if (now - ts).abs() > MAX_AGE_SECS {
        return Err(Rejection::Stale);
    }
    let expected = signature(secret.as_bytes(), ts_text, body);
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return Err(Rejection::Forged);
    }
    Ok(sig.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's worked example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, ts.parse().expect("ts"));
        h.insert(SIGNATURE_HEADER, sig.parse().expect("sig"));
        h
    }

    #[test]
    fn slacks_published_vector() {
        assert_eq!(signature(SECRET.as_bytes(), TS, BODY.as_bytes()), EXPECTED);
        let now = 1531420618 + 60;
        assert_eq!(
            check(Some(SECRET), &headers(TS, EXPECTED), BODY.as_bytes(), now),
            Ok(EXPECTED.to_string())
        );
    }

    #[test]
    fn forged_stale_and_missing() {
        let now = 1531420618;
        let tampered = BODY.replace("text=", "text=declare");
        assert_eq!(
            check(
                Some(SECRET),
                &headers(TS, EXPECTED),
                tampered.as_bytes(),
                now
            ),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(
                Some(SECRET),
                &headers(TS, EXPECTED),
                BODY.as_bytes(),
                now + 301
            ),
            Err(Rejection::Stale)
        );
        assert_eq!(
            check(Some("other"), &headers(TS, EXPECTED), BODY.as_bytes(), now),
            Err(Rejection::Forged)
        );
        assert_eq!(
            check(Some(SECRET), &HeaderMap::new(), BODY.as_bytes(), now),
            Err(Rejection::Missing)
        );
        assert_eq!(
            check(None, &headers(TS, EXPECTED), BODY.as_bytes(), now),
            Err(Rejection::NotConfigured)
        );
    }
}
