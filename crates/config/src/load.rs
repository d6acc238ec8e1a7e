//! Reading a config directory: which files are config, which are templates, and parsing YAML.

use std::fs;
use std::path::{Path, PathBuf};

use serde_saphyr::MessageFormatter;

use crate::diagnostic::{Diags, Level};
use crate::{drills_raw, raw};

/// Everything read from a directory, before semantic checks.
#[derive(Default)]
pub(crate) struct Sources {
    /// Parsed config files (index into `Diags::files`, content), in path order.
    pub files: Vec<(usize, raw::File)>,
    pub templates: Vec<TemplateFile>,
    /// `drills/*.yaml`: exercise scenarios.
    pub scenarios: Vec<(usize, drills_raw::Scenario)>,
    /// `drills/profiles/*.yaml`: scripted participants for headless drills.
    pub profiles: Vec<(usize, drills_raw::Profile)>,
}

pub(crate) struct TemplateFile {
    pub file: usize,
    pub name: String,
    pub text: String,
}

pub(crate) fn read_dir(dir: &Path, diags: &mut Diags) -> Sources {
    let mut sources = Sources::default();
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            diags.at_path(
                Path::new(""),
                0,
                0,
                Level::Error,
                "not a directory (expected a config directory)".into(),
            );
            return sources;
        }
        Err(e) => {
            diags.at_path(
                Path::new(""),
                0,
                0,
                Level::Error,
                format!("cannot read config directory: {e}"),
            );
            return sources;
        }
    }
    let mut paths = Vec::new();
    walk(dir, Path::new(""), &mut paths, diags);
    paths.sort();
    for rel in paths {
        let is_yaml = matches!(
            rel.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        let in_templates = rel
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == "templates");
        let mut parts = rel.components().map(|c| c.as_os_str());
        let in_drills = parts.next().is_some_and(|c| c == "drills");
        let in_profiles = in_drills && parts.next().is_some_and(|c| c == "profiles");
        if is_yaml && in_profiles {
            let file = diags.add_file(rel);
            if let Some(Some(parsed)) = parse_file(dir, file, diags) {
                sources.profiles.push((file, parsed));
            }
        } else if is_yaml && in_drills {
            let file = diags.add_file(rel);
            if let Some(Some(parsed)) = parse_file(dir, file, diags) {
                sources.scenarios.push((file, parsed));
            }
        } else if is_yaml {
            let file = diags.add_file(rel);
            if let Some(parsed) = parse_file::<raw::File>(dir, file, diags) {
                sources.files.push((file, parsed.unwrap_or_default()));
            }
        } else if in_templates {
            let file = diags.add_file(rel.clone());
            let name = rel
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .unwrap_or_default()
                .to_string();
            match fs::read(dir.join(&rel)).map(String::from_utf8) {
                Ok(Ok(text)) => sources.templates.push(TemplateFile { file, name, text }),
                Ok(Err(_)) => diags.at_path(
                    &rel,
                    0,
                    0,
                    Level::Error,
                    "template is not valid utf-8".into(),
                ),
                Err(e) => diags.at_path(
                    &rel,
                    0,
                    0,
                    Level::Error,
                    format!("cannot read template: {e}"),
                ),
            }
        }
        // other files (README.md, ...) are not config
    }
    sources
}

/// Collect files under `dir/rel`, skipping hidden entries and `tests` directories (policy tests).
/// Symlinked directories are not followed (no loops); symlinked files are.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>, diags: &mut Diags) {
    let entries = match fs::read_dir(dir.join(rel)) {
        Ok(e) => e,
        Err(e) => {
            diags.at_path(
                rel,
                0,
                0,
                Level::Error,
                format!("cannot read directory: {e}"),
            );
            return;
        }
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if name_str.starts_with('.') {
            continue;
        }
        let child = rel.join(&name);
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if name_str != "tests" {
                walk(dir, &child, out, diags);
            }
        } else if file_type.is_file()
            || (file_type.is_symlink() && fs::metadata(dir.join(&child)).is_ok_and(|m| m.is_file()))
        {
            out.push(child);
        }
    }
}

/// Parse one YAML file of the directory; an empty file is `Some(None)`.
pub(crate) fn parse_file<T: serde::de::DeserializeOwned>(
    dir: &Path,
    file: usize,
    diags: &mut Diags,
) -> Option<Option<T>> {
    let rel = diags.rel_path(file);
    let bytes = match fs::read(dir.join(&rel)) {
        Ok(b) => b,
        Err(e) => {
            diags.at_path(&rel, 0, 0, Level::Error, format!("cannot read file: {e}"));
            return None;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        diags.at_path(&rel, 0, 0, Level::Error, "file is not valid utf-8".into());
        return None;
    };
    match serde_saphyr::from_str::<Option<T>>(&text) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            let (line, col) = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((0, 0));
            let msg = serde_saphyr::UserMessageFormatter.format_message(e.without_snippet());
            diags.at_path(&rel, line, col, Level::Error, yaml_message(&msg));
            None
        }
    }
}

/// Reword the YAML library's messages where its wording is about Rust types, not config.
fn yaml_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let reworded = match first {
        "expected sequence start" => "expected a list",
        "expected mapping start" => "expected a mapping (key: value pairs)",
        "expected string scalar" => "expected a single value, not a list or a mapping",
        "only single YAML document expected but multiple found" => {
            "only one YAML document per file (remove the `---` separator)"
        }
        m if m.starts_with("invalid u32") || m.starts_with("invalid u64") => {
            "expected a whole number (0 or more)"
        }
        m if m.starts_with("invalid bool") => "expected true or false",
        m => m,
    };
    reworded.to_string()
}
