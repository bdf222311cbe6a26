//! The error a configuration section reports, and the checks every section shares. Each
//! section is parsed by the module that owns it; `config` only composes them.

use std::fmt;

/// Longest free-text value (an audience, a claim name) accepted in configuration.
pub const MAX_STRING_LEN: usize = 1024;

/// A number's default and the range it must lie in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

/// A refused configuration: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path with indexes, e.g. `rules[2].match.path`; empty for the document itself.
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "configuration: {}", self.problem)
        } else {
            write!(f, "configuration field {:?}: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The value of a numeric field, or its default; refused outside its bounds.
pub(crate) fn bounded(field: &str, value: Option<u64>, bounds: Bounds) -> Result<u64, ConfigError> {
    let Bounds { default, min, max } = bounds;
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::new(
            field,
            format!("must be from {min} to {max}, not {v}"),
        ));
    }
    Ok(v)
}

/// A non-empty string of bounded length without control characters.
pub(crate) fn check_text(field: &str, s: &str) -> Result<(), ConfigError> {
    if s.is_empty() {
        return Err(ConfigError::new(field, "must not be empty"));
    }
    if s.len() > MAX_STRING_LEN {
        return Err(ConfigError::new(
            field,
            format!("must not be longer than {MAX_STRING_LEN} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ConfigError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}
