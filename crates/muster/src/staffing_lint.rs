//! `muster staffing lint DIR [--json] [--deny]`: a configuration's rotations and experts
//! against SRE practice (the rules are `muster_config`'s rotation lint).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct LintArgs {
    /// The configuration directory.
    pub dir: PathBuf,
    /// A JSON list of `{path, line, col, lint, message}` instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when there is any finding (a CI gate).
    #[arg(long)]
    pub deny: bool,
}

/// Exit 0 when the lint ran (findings are advice, like a compiler's warnings), 1 when the
/// configuration has errors or, with `--deny`, when there is a finding.
pub fn lint(args: &LintArgs) -> ExitCode {
    let findings = match muster_config::lint(&args.dir) {
        Ok(findings) => findings,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{}: {}", args.dir.display(), count(errors.len(), "error"));
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", json(&findings));
    } else {
        for f in &findings {
            println!("{f}");
        }
        eprintln!("{}", summary(&args.dir, findings.len()));
    }
    if args.deny && !findings.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn json(findings: &[muster_config::Diagnostic]) -> serde_json::Value {
    findings
        .iter()
        .map(|d| {
            serde_json::json!({
                "path": d.path,
                "line": d.line,
                "col": d.col,
                "lint": d.lint,
                "message": d.message,
            })
        })
        .collect()
}

fn summary(dir: &Path, n: usize) -> String {
    match n {
        0 => format!("{}: no rotation findings", dir.display()),
        n => format!("{}: {}", dir.display(), count(n, "rotation finding")),
    }
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
