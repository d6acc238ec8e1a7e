//! The optional language model: an OpenAI-compatible chat-completions endpoint that rewrites a
//! deterministic draft into prose.
//!
//! It is never required. Every call has a strict timeout; after [`LanguageModelConfig::
//! failures_to_open`] failures in a row the circuit opens and the model is skipped for a
//! cool-down measured on the injected clock; any failure, timeout or malformed answer gives
//! `None` and the caller keeps the deterministic text. The answer is untrusted text: the caller
//! escapes it before handing it on (`brief::text::untrusted_markdown`), never as HTML.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use muster_core::Clock;
use serde_json::{Value, json};

/// Where the model is and how patient to be with it.
#[derive(Clone)]
pub struct LanguageModelConfig {
    /// Base URL; requests go to `{url}/chat/completions`.
    pub url: String,
    pub model: String,
    /// Sent as a bearer token when set. Never logged.
    pub api_key: Option<String>,
    pub timeout: Duration,
    /// Consecutive failures that open the circuit.
    pub failures_to_open: u32,
    /// How long an open circuit skips the model.
    pub cool_down: SignedDuration,
}

impl std::fmt::Debug for LanguageModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageModelConfig")
            .field("url", &muster_core::secret::redact_url(&self.url))
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Default per-call timeout: a brief must come back fast, with or without prose.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

impl LanguageModelConfig {
    pub fn new(url: &str, model: &str, api_key: Option<String>) -> Self {
        LanguageModelConfig {
            url: url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key,
            timeout: DEFAULT_TIMEOUT,
            failures_to_open: 3,
            cool_down: SignedDuration::from_mins(5),
        }
    }

    /// From `MUSTER_LLM_URL`, `MUSTER_LLM_MODEL`, `MUSTER_LLM_API_KEY` and optionally
    /// `MUSTER_LLM_TIMEOUT_MS`; `None` unless both URL and model are set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut cfg = Self::new(
            &var("MUSTER_LLM_URL")?,
            &var("MUSTER_LLM_MODEL")?,
            var("MUSTER_LLM_API_KEY"),
        );
        if let Some(ms) = var("MUSTER_LLM_TIMEOUT_MS").and_then(|v| v.parse::<u64>().ok()) {
            cfg.timeout = Duration::from_millis(ms.clamp(100, 30_000));
        }
        Some(cfg)
    }
}

/// Closed while calls succeed; open (skipping the model) for a cool-down after too many
/// failures in a row; after the cool-down one call is let through to try again.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Breaker {
    failures: u32,
    open_until: Option<Timestamp>,
}

impl Breaker {
    pub fn allows(&self, now: Timestamp) -> bool {
        self.open_until.is_none_or(|until| now >= until)
    }

    pub fn succeeded(&mut self) {
        *self = Breaker::default();
    }

    pub fn failed(&mut self, now: Timestamp, threshold: u32, cool_down: SignedDuration) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= threshold.max(1) {
            self.open_until = Some(now + cool_down);
        }
    }

    pub fn is_open(&self, now: Timestamp) -> bool {
        !self.allows(now)
    }
}

/// A configured model with its HTTP client and circuit breaker.
pub struct LanguageModel {
    config: LanguageModelConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    breaker: Mutex<Breaker>,
}

/// Why a rewrite did not happen (logged; the caller only sees `None`).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("circuit open")]
    Open,
    #[error("request failed: {0}")]
    Request(String),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("unusable answer: {0}")]
    Answer(&'static str),
}

impl LanguageModel {
    pub fn new(config: LanguageModelConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()?;
        Ok(LanguageModel {
            config,
            http,
            clock,
            breaker: Mutex::new(Breaker::default()),
        })
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the circuit is open now (the model is being skipped).
    pub fn is_open(&self) -> bool {
        self.breaker().is_open(self.clock.now())
    }

    /// The draft rewritten as prose by the model, or `None` (circuit open, timeout, error,
    /// garbage): the caller keeps the deterministic draft. `check` rejects answers that do not
    /// fit where they go (e.g. too many lines for a brief); a rejection counts as a failure.
    pub async fn rewrite(
        &self,
        instruction: &str,
        draft: &str,
        check: impl Fn(&str) -> bool,
    ) -> Option<String> {
        if !self.breaker().allows(self.clock.now()) {
            tracing::debug!(error = %Failure::Open, "language model skipped");
            return None;
        }
        let result = self.call(instruction, draft).await.and_then(|text| {
            check(&text)
                .then_some(text)
                .ok_or(Failure::Answer("rejected"))
        });
        let now = self.clock.now();
        match result {
            Ok(text) => {
                self.breaker().succeeded();
                Some(text)
            }
            Err(e) => {
                tracing::warn!(error = %e, model = %self.config.model, "language model failed; using the deterministic draft");
                self.breaker()
                    .failed(now, self.config.failures_to_open, self.config.cool_down);
                None
            }
        }
    }

    async fn call(&self, instruction: &str, draft: &str) -> Result<String, Failure> {
        let body = json!({
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": instruction},
                {"role": "user", "content": draft},
            ],
        });
        let mut req = self
            .http
            .post(format!("{}/chat/completions", self.config.url))
            .json(&body);
        if let Some(key) = &self.config.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::Request(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(Failure::Status(resp.status().as_u16()));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::Request(e.without_url().to_string()))?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|_| Failure::Answer("not JSON"))?;
        let text = value["choices"][0]["message"]["content"]
            .as_str()
            .ok_or(Failure::Answer("no choices[0].message.content"))?
            .trim();
        if text.is_empty() {
            return Err(Failure::Answer("empty content"));
        }
        Ok(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_repeated_failures_and_retries_after_the_cool_down() {
        let t0: Timestamp = "2026-03-29T03:12:00Z".parse().unwrap();
        let cool = SignedDuration::from_mins(5);
        let mut b = Breaker::default();
        b.failed(t0, 3, cool);
        b.failed(t0, 3, cool);
        assert!(b.allows(t0), "two failures of three");
        b.failed(t0, 3, cool);
        assert!(!b.allows(t0 + SignedDuration::from_mins(4)));
        assert!(b.allows(t0 + cool), "half-open after the cool-down");
        b.failed(t0 + cool, 3, cool);
        assert!(
            !b.allows(t0 + cool + SignedDuration::from_secs(1)),
            "one more failure re-opens"
        );
        b.succeeded();
        assert!(b.allows(t0 + cool));
        assert_eq!(b, Breaker::default());
    }
}
