//! The public page's security headers, on every `/status…` answer (errors included): a
//! Content-Security-Policy that allows no script, no frame, no form and no plugin — only the
//! page's own inline stylesheet, by its SHA-256 — `X-Content-Type-Options: nosniff` and a
//! referrer policy that sends no path to other sites.

use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, HeaderName, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

/// The page's template; its one `<style>` element is the only thing the policy allows in.
const STATUS_HTML: &str = include_str!("../../templates/status.html");

/// The policy: `default-src 'none'` plus the stylesheet's hash; nothing may frame the page.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let style = inline_style(STATUS_HTML)
            .map(|css| format!(" style-src 'sha256-{}';", base64(&Sha256::digest(css))))
            .unwrap_or_default();
        format!(
            "default-src 'none';{style} base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    })
}

/// The text of the first `<style>` element, as the browser hashes it.
fn inline_style(html: &str) -> Option<&str> {
    let start = html.find("<style>")? + "<style>".len();
    let len = html[start..].find("</style>")?;
    Some(&html[start..start + len])
}

/// Standard base64 with padding (RFC 4648), as CSP hash sources are written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Adds the headers to the answer.
pub async fn secure(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    if let Ok(csp) = HeaderValue::from_str(content_security_policy()) {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    set(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, REFERRER_POLICY, "strict-origin-when-cross-origin");
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn the_policy_allows_the_pages_own_stylesheet_and_nothing_else() {
        let css = inline_style(STATUS_HTML).expect("the page has a <style> element");
        assert!(css.contains("font-family"), "{css}");
        let csp = content_security_policy();
        let hash = base64(&Sha256::digest(css));
        assert_eq!(
            csp,
            format!(
                "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            )
        );
        assert!(
            !csp.contains("script-src") && !csp.contains("unsafe"),
            "{csp}"
        );
    }
}
