//! Muster's configuration: a directory of YAML files kept in git, loaded and checked.
//!
//! - [`check`] reports every problem at once (as `path:LINE:COL: error: message` lines);
//! - [`load`] returns the [`Config`] when there is no error.
//!
//! Loading is two steps: each file is deserialized into `raw` types that keep the source
//! location of every value (`serde_saphyr::Spanned`), then `validate` checks ids, references,
//! times and durations across all files and builds the plain [`Config`] types of `model`.
//! See `README.md` in this crate for the file format.

mod diagnostic;
mod drills_raw;
mod duration;
mod limits;
mod load;
mod model;
mod notifications;
pub mod policy_tests;
mod policy_to_core;
mod raw;
pub mod staffing;
mod staffing_raw;
mod staffing_to_core;
pub mod templates;
mod to_core;
mod validate;

use std::path::Path;

pub use diagnostic::{Diagnostic, Level, Lint};
pub use duration::{Duration, DurationError};
pub use limits::{
    DEFAULT_ALERTS_PER_REQUEST, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_CONNECTIONS_PER_ADDRESS,
    DEFAULT_INTAKE_BODY, DEFAULT_MAX_SILENCE, DEFAULT_RETENTION, InFlightBudgets, Limits,
};
pub use model::*;
pub use notifications::{InboxMode, Notifications, Rate, RateLimits};
pub use policy_to_core::to_core as policy_to_core;

/// Load a drill profile file (`muster drill run --profile FILE`), checked against `config`;
/// every problem as `file:line:col`.
pub fn load_drill_profile(
    path: &Path,
    config: &Config,
) -> Result<muster_core::drill::Profile, Vec<Diagnostic>> {
    validate::profile_file(path, config)
}

/// The outcome of [`check`]: the config when it has no errors, and every diagnostic
/// (errors and warnings) sorted by path, line and column.
#[derive(Clone, Debug)]
pub struct Report {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.level == Level::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// Load the configuration in `dir`; on failure, the errors (warnings are in `Config::warnings`).
pub fn load(dir: &Path) -> Result<Config, Vec<Diagnostic>> {
    let report = check(dir);
    match report.config {
        Some(config) => Ok(config),
        None => Err(report
            .diagnostics
            .into_iter()
            .filter(|d| d.level == Level::Error)
            .collect()),
    }
}

/// The rotation lint of the configuration in `dir`: only the findings that name a [`Lint`], sorted
/// by path, line and column. `Err` holds the errors of a configuration that does not load (the
/// lint runs only on a valid one).
pub fn lint(dir: &Path) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    let report = check(dir);
    if report.has_errors() {
        return Err(report.errors().cloned().collect());
    }
    Ok(report
        .diagnostics
        .into_iter()
        .filter(|d| d.lint.is_some())
        .collect())
}

/// Check the configuration in `dir`, reading `${env:VAR}` references from the process environment.
/// Time-dependent lints (coverage gaps in the next 8 weeks) look ahead from the current time.
pub fn check(dir: &Path) -> Report {
    check_at(dir, jiff::Timestamp::now())
}

/// [`check`] as if the current time were `now` (for coverage lints).
pub fn check_at(dir: &Path, now: jiff::Timestamp) -> Report {
    check_with_env_at(dir, |name| std::env::var(name).ok(), now)
}

/// [`check`] with `${env:VAR}` references resolved by `env` (for tests and embedding).
pub fn check_with_env(dir: &Path, env: impl Fn(&str) -> Option<String>) -> Report {
    check_with_env_at(dir, env, jiff::Timestamp::now())
}

/// [`check_with_env`] as if the current time were `now`.
pub fn check_with_env_at(
    dir: &Path,
    env: impl Fn(&str) -> Option<String>,
    now: jiff::Timestamp,
) -> Report {
    let mut diags = diagnostic::Diags::new(dir);
    let sources = load::read_dir(dir, &mut diags);
    let config = validate::validate(sources, &env, now, &mut diags);
    let mut diagnostics = diags.into_sorted();
    diagnostics.dedup();
    let has_errors = diagnostics.iter().any(|d| d.level == Level::Error);
    let config = match config {
        Some(mut config) if !has_errors => {
            config.warnings = diagnostics.clone();
            Some(config)
        }
        _ => None,
    };
    Report {
        config,
        diagnostics,
    }
}
