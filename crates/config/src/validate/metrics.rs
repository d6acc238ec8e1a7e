//! The `metrics` section: the bearer token `GET /metrics` requires, when one is set.
//!
//! ```yaml
//! metrics:
//!   token: "${env:MUSTER_METRICS_TOKEN}"   # or a literal; without it /metrics is open
//! ```

use serde_saphyr::Spanned;

use super::integrations::MIN_KEY_CHARS;
use super::{V, loc};
use crate::model::{Config, Secret};
use crate::raw;

impl V<'_> {
    /// Validates one `metrics` section into `config`; a second one anywhere is an error.
    pub(super) fn metrics_section(
        &mut self,
        f: usize,
        x: Spanned<raw::Metrics>,
        seen: &mut Option<crate::diagnostic::Loc>,
        config: &mut Config,
    ) {
        let here = loc(f, &x);
        if let Some(first) = *seen {
            let first = self.d.short(first);
            self.d.error(
                here,
                format!("`metrics` is defined once (first defined at {first})"),
            );
            return;
        }
        *seen = Some(here);
        let Some(token) = &x.value.token else {
            return;
        };
        let l = loc(f, token);
        let Some(value) = self.secret_text(l, token.value.trim(), "the metrics token") else {
            return;
        };
        if value.is_empty() {
            self.d.error(l, "the metrics token is empty");
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.d.error(
                l,
                "the metrics token may not contain spaces or control characters",
            );
        } else {
            if value.chars().count() < MIN_KEY_CHARS {
                self.d.warning(
                    l,
                    format!("the metrics token is shorter than {MIN_KEY_CHARS} characters (use a long random one, e.g. `openssl rand -hex 16`)"),
                );
            }
            config.metrics.token = Some(Secret::new(value));
        }
    }
}
