use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a [`Diagnostic`] is: errors make the configuration unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Error,
    Warning,
}

/// A named lint: a warning about how the organisation is set up (rotations, experts) rather than
/// about the files' syntax or references. Its id ends the printed line, like `[-Wname]` in a C
/// compiler, so findings can be filtered (`muster staffing lint` prints only these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lint {
    /// Two teams' policies each fall back to the other team's primary.
    CircularSecondary,
    /// The step after the primary pages a team that neither owns the service nor knows it.
    OutsiderSecondary,
    /// One person primary on two rotations at the same time.
    DoublePrimary,
    /// A layer keeps one person on call for more than 12 hours at a stretch.
    LongShift,
    /// A 24/7 primary+secondary rotation with fewer people than the SRE book's minimum.
    ThinRotation,
    /// A service with a single expert.
    SingleExpert,
    /// One person is the only expert of many services.
    ExpertBottleneck,
    /// A functional response-time SLO (PR, legal…) whose audience has no schedule: nobody is
    /// on call for it.
    FunctionalSloWithoutSchedule,
}

impl Lint {
    /// Every lint, in the order the config README documents them.
    pub const ALL: [Lint; 8] = [
        Lint::CircularSecondary,
        Lint::OutsiderSecondary,
        Lint::DoublePrimary,
        Lint::LongShift,
        Lint::ThinRotation,
        Lint::SingleExpert,
        Lint::ExpertBottleneck,
        Lint::FunctionalSloWithoutSchedule,
    ];

    /// The id printed and matched: `circular-secondary`, …
    pub fn id(self) -> &'static str {
        match self {
            Lint::CircularSecondary => "circular-secondary",
            Lint::OutsiderSecondary => "outsider-secondary",
            Lint::DoublePrimary => "double-primary",
            Lint::LongShift => "long-shift",
            Lint::ThinRotation => "thin-rotation",
            Lint::SingleExpert => "single-expert",
            Lint::ExpertBottleneck => "expert-bottleneck",
            Lint::FunctionalSloWithoutSchedule => "functional-slo-without-schedule",
        }
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One problem in a config directory, printed like a compiler's: `path:LINE:COL: error: message`.
///
/// `path` is the config dir as given joined with the file's relative path. `line` and `col` are
/// 1-based and point at the offending value; both are 0 when the problem has no position (e.g. an
/// unreadable file), and `Display` then prints `path: error: message`. A lint finding (a warning)
/// carries its [`Lint`] and prints it last: `path:LINE:COL: warning: message [lint-id]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub level: Level,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<Lint>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {level}: {}", self.path.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {level}: {}",
                self.path.display(),
                self.line,
                self.col,
                self.message
            )?;
        }
        match self.lint {
            Some(lint) => write!(f, " [{lint}]"),
            None => Ok(()),
        }
    }
}

/// A scalar of a file with its location. Numbers and booleans arrive as their text.
pub(crate) type S = serde_saphyr::Spanned<String>;

/// A position in one of the loaded files (index into `Diags::files`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Loc {
    pub file: usize,
    pub line: usize,
    pub col: usize,
}

/// Collects diagnostics while loading.
pub(crate) struct Diags {
    dir: PathBuf,
    /// Relative paths of the files read, indexed by `Loc::file`.
    pub files: Vec<PathBuf>,
    list: Vec<Diagnostic>,
}

impl Diags {
    pub fn new(dir: &Path) -> Diags {
        Diags {
            dir: dir.to_path_buf(),
            files: Vec::new(),
            list: Vec::new(),
        }
    }

    pub fn add_file(&mut self, rel: PathBuf) -> usize {
        self.files.push(rel);
        self.files.len() - 1
    }

    pub fn rel_path(&self, file: usize) -> PathBuf {
        self.files.get(file).cloned().unwrap_or_default()
    }

    /// `services.yaml:3:7`, relative to the config dir (for "first defined at" notes).
    pub fn short(&self, loc: Loc) -> String {
        format!(
            "{}:{}:{}",
            self.rel_path(loc.file).display(),
            loc.line,
            loc.col
        )
    }

    pub fn at_path(&mut self, rel: &Path, line: usize, col: usize, level: Level, msg: String) {
        let path = if rel.as_os_str().is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(rel)
        };
        self.list.push(Diagnostic {
            path,
            line,
            col,
            level,
            message: msg,
            lint: None,
        });
    }

    pub fn error(&mut self, loc: Loc, msg: impl Into<String>) {
        let rel = self.rel_path(loc.file);
        self.at_path(&rel, loc.line, loc.col, Level::Error, msg.into());
    }

    pub fn warning(&mut self, loc: Loc, msg: impl Into<String>) {
        let rel = self.rel_path(loc.file);
        self.at_path(&rel, loc.line, loc.col, Level::Warning, msg.into());
    }

    /// A [`Lint`] finding: a warning that names its lint.
    pub fn lint(&mut self, loc: Loc, lint: Lint, msg: impl Into<String>) {
        self.warning(loc, msg);
        if let Some(last) = self.list.last_mut() {
            last.lint = Some(lint);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.level == Level::Error)
    }

    pub fn into_sorted(self) -> Vec<Diagnostic> {
        let mut list = self.list;
        list.sort_by(|a, b| {
            (&a.path, a.line, a.col, a.level, &a.message)
                .cmp(&(&b.path, b.line, b.col, b.level, &b.message))
        });
        list
    }
}
