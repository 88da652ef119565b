//! Diagnostics: every problem found in a spec, with where it is and what to do about it.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The operation or spec was skipped on purpose (e.g. no documentation); not a failure.
    Note,
    /// Something was generated, but not everything the spec asked for.
    Warning,
    /// The build cannot produce a correct registry.
    Error,
}

/// One problem in one spec file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Stable machine-readable code, e.g. `openapi::missing-documentation`.
    pub code: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// The spec file, relative to the specs directory.
    pub file: String,
    /// JSON pointer to the offending node.
    pub pointer: String,
    /// 1-based line of the node in the file, where it could be found.
    pub line: Option<usize>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// Creates a diagnostic without line or help.
    pub fn new(
        code: &'static str,
        severity: Severity,
        file: &str,
        pointer: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            file: file.to_owned(),
            pointer: pointer.to_owned(),
            line: None,
            help: None,
        }
    }

    /// Adds help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{severity}[{}]: {}", self.code, self.message)?;
        write!(f, "\n  --> {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, " at {}", display_pointer(&self.pointer))?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Finds the 1-based line of the node a JSON pointer names, by walking the pointer's keys
/// through the source text in order. Works for both YAML and pretty-printed JSON; returns
/// `None` when a key cannot be found (e.g. minified JSON with repeated keys is still found,
/// but only approximately).
pub fn locate(source: &str, pointer: &str) -> Option<usize> {
    let json = source.trim_start().starts_with('{');
    let mut offset = 0;
    for raw in pointer.split('/').skip(1) {
        let key = raw.replace("~1", "/").replace("~0", "~");
        if key.parse::<usize>().is_ok() {
            continue;
        }
        let rest = &source[offset..];
        // JSON has one way to write a key; YAML has three. Searching only what the format can
        // contain keeps this linear on a 60 MB JSON spec.
        let candidates = if json {
            vec![format!("\"{key}\":")]
        } else {
            vec![
                format!("\"{key}\":"),
                format!("'{key}':"),
                format!("{key}:"),
            ]
        };
        // Past the whole key, so the next search starts on a character boundary.
        let (found, length) = candidates
            .iter()
            .filter_map(|needle| rest.find(needle.as_str()).map(|at| (at, needle.len())))
            .min()?;
        offset += found + length;
    }
    if pointer.is_empty() {
        return Some(1);
    }
    Some(source[..offset].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_pointer_and_help() {
        let mut d = Diagnostic::new(
            "openapi::missing-documentation",
            Severity::Note,
            "acme/openapi.yaml",
            "/paths/~1orders/get",
            "GET /orders has no summary or description",
        )
        .with_help("add a summary");
        d.line = Some(7);
        assert_eq!(
            d.to_string(),
            "note[openapi::missing-documentation]: GET /orders has no summary or description\n  --> acme/openapi.yaml:7 at /paths/~1orders/get\n  help: add a summary"
        );
    }

    #[test]
    fn locate_walks_keys_in_order() {
        let yaml = "paths:\n  /a:\n    get:\n      summary: x\n  /orders:\n    get:\n      x: 1\n";
        assert_eq!(locate(yaml, "/paths/~1orders/get"), Some(6));
        assert_eq!(locate(yaml, "/paths/~1missing"), None);
    }

    #[test]
    fn locate_survives_keys_that_start_with_multibyte_characters() {
        let yaml = "Über:
  Ärger:
    x: 1
";
        assert_eq!(locate(yaml, "/Über/Ärger/x"), Some(3));
        assert_eq!(locate(r#"{"Über": {"Ä": 1}}"#, "/Über/Ä"), Some(1));
    }
}
