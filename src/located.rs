//! Errors located in the operator's input: `file:line:col: message`, for rules files, the
//! config and saved facts documents (YAML through serde-saphyr, which reports where a value
//! is). A leaf: rules, config and facts all report their parse errors with it.

/// A rules, config or facts file problem, located in its source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {message}")]
pub struct LocatedError {
    /// The file as named to the operator (`/etc/wa-preflight/config.yaml`,
    /// `<embedded>/rules/onprem.yaml`).
    pub source_name: String,
    /// Line, from 1 (0 when the parser gave no location).
    pub line: u64,
    /// Column, from 1 (0 when the parser gave no location).
    pub column: u64,
    /// What is wrong, in words.
    pub message: String,
}

impl LocatedError {
    /// Builds an error from a serde-saphyr parse failure.
    pub fn from_yaml(source_name: &str, err: &serde_saphyr::Error) -> LocatedError {
        let (line, column) = err
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        LocatedError {
            source_name: source_name.to_string(),
            line,
            column,
            message: yaml_message(err),
        }
    }

    /// Builds an error at a known location.
    pub fn at(source_name: &str, loc: &serde_saphyr::Location, message: impl Into<String>) -> Self {
        LocatedError {
            source_name: source_name.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }
}

/// serde-saphyr's Display renders a source snippet over several lines; the first line is the
/// message an operator needs next to our own `file:line:col`.
pub fn yaml_message(err: &serde_saphyr::Error) -> String {
    let text = err.to_string();
    let mut msg = text.lines().next().unwrap_or("invalid YAML").trim();
    msg = msg.strip_prefix("error:").map_or(msg, str::trim_start);
    // Drop the library's own "line X column Y:" — ours is in front already.
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
    {
        msg = after;
    }
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
