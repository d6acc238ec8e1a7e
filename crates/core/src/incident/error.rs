//! Why a command was refused, by kind: the shells map each kind to one answer (422, 409, 403).

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value the configuration does not know (422).
    #[error("unknown {field} `{value}`; expected one of: {expected}")]
    Unknown {
        field: String,
        value: String,
        expected: String,
    },
    /// A value that is malformed (422).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The command does not fit the incident's current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The actor may not give this command on this incident (403).
    #[error("{0}")]
    Forbidden(String),
}

impl DomainError {
    pub fn unknown(field: &str, value: &str, expected: &str) -> Self {
        DomainError::Unknown {
            field: field.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            DomainError::Unknown { field, .. } | DomainError::Invalid { field, .. } => Some(field),
            DomainError::Conflict(_) | DomainError::Forbidden(_) => None,
        }
    }
}
