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
    /// The source line it points at, where it could be found.
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

/// A source line with the part a diagnostic is about, which [`Diagnostic`]'s display
/// underlines with carets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The line's text, cut to a window around the span on a long line (minified JSON).
    pub text: String,
    /// 1-based column of the span in the file's line, in characters.
    pub column: usize,
    /// Where the span starts in `text`, in characters.
    start: usize,
    /// The span's length in characters, at least 1.
    width: usize,
}

/// The widest snippet shown; a longer line is cut around its span.
const SNIPPET_CHARS: usize = 100;

impl Snippet {
    /// The span of `width` characters at `column` (1-based) of `line` (1-based) in `source`.
    pub fn at(source: &str, line: usize, column: usize, width: usize) -> Option<Self> {
        let index = line.checked_sub(1)?;
        // A parser that stops at the end of a file ending in a newline names the empty line
        // after the last.
        let text = match source.lines().nth(index) {
            Some(text) => text,
            None if index == source.lines().count() => "",
            None => return None,
        };
        let chars: Vec<char> = text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let column = column.clamp(1, chars.len().max(1));
        let start = column - 1;
        let width = width.clamp(1, SNIPPET_CHARS / 2);
        let from = if chars.len() > SNIPPET_CHARS {
            start.saturating_sub(SNIPPET_CHARS / 4)
        } else {
            0
        };
        let to = (from + SNIPPET_CHARS).min(chars.len());
        Some(Self {
            text: chars[from..to].iter().collect(),
            column,
            start: start - from,
            width,
        })
    }
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
            snippet: None,
        }
    }

    /// Finds the node its pointer names in `source`: its line, and the key under carets.
    pub fn locate_in(&mut self, source: &str) {
        if self.pointer.is_empty() {
            // The whole file: no one key to underline.
            self.line = Some(1);
            return;
        }
        if let Some(span) = locate(source, &self.pointer) {
            self.line = Some(span.line);
            self.snippet = Snippet::at(source, span.line, span.column, span.width);
        }
    }

    /// Points at `line` and `column` (both 1-based) of `source`: where a parser stopped.
    pub fn at_position(&mut self, source: &str, line: usize, column: usize) {
        self.line = Some(line);
        self.snippet = Snippet::at(source, line, column, 1);
    }

    /// The diagnostic on one line, without its snippet: for `cargo:warning`.
    pub fn one_line(&self) -> String {
        let mut plain = self.clone();
        plain.snippet = None;
        plain.to_string().replace('\n', " ")
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
            if let Some(snippet) = &self.snippet {
                write!(f, ":{}", snippet.column)?;
            }
        }
        write!(f, " at {}", display_pointer(&self.pointer))?;
        if let (Some(line), Some(snippet)) = (self.line, &self.snippet) {
            let gutter = " ".repeat(line.to_string().len());
            write!(
                f,
                "\n{gutter} |\n{line} | {}\n{gutter} | {}{}",
                snippet.text.trim_end(),
                " ".repeat(snippet.start),
                "^".repeat(snippet.width)
            )?;
        }
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

/// Where a node is in its source file: the key that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column of the key, in characters.
    pub column: usize,
    /// The key's length in characters.
    pub width: usize,
}

/// Finds the node a JSON pointer names, by walking the pointer's keys through the source text
/// in order. Works for both YAML and pretty-printed JSON; returns `None` when a key cannot be
/// found (e.g. minified JSON with repeated keys is still found, but only approximately).
pub fn locate(source: &str, pointer: &str) -> Option<Span> {
    let json = source.trim_start().starts_with('{');
    let mut offset = 0;
    // The last key found: its start in `source` and its length in characters.
    let mut last = None;
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
        // The key without its colon: quotes included, as it is written.
        last = Some((
            offset + found,
            source[offset + found..offset + found + length - 1]
                .chars()
                .count(),
        ));
        offset += found + length;
    }
    let Some((start, width)) = last else {
        return Some(Span {
            line: 1,
            column: 1,
            width: 1,
        });
    };
    let line_start = source[..start].rfind('\n').map_or(0, |at| at + 1);
    Some(Span {
        line: source[..start].matches('\n').count() + 1,
        column: source[line_start..start].chars().count() + 1,
        width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_underlines_the_key_on_its_source_line() {
        let yaml = "paths:\n  /orders:\n    get:\n      x: 1\n";
        let mut d = Diagnostic::new(
            "openapi::duplicate-operation-id",
            Severity::Warning,
            "acme/openapi.yaml",
            "/paths/~1orders/get",
            "twice",
        );
        d.locate_in(yaml);
        assert_eq!(
            d.to_string(),
            "warning[openapi::duplicate-operation-id]: twice\n  --> acme/openapi.yaml:3:5 at /paths/~1orders/get\n  |\n3 |     get:\n  |     ^^^"
        );
        assert_eq!(
            d.one_line(),
            "warning[openapi::duplicate-operation-id]: twice   --> acme/openapi.yaml:3 at /paths/~1orders/get"
        );
    }

    #[test]
    fn a_long_line_is_cut_around_its_span() {
        let minified = format!("{{{}\"target\": 1}}", "\"k\": 0, ".repeat(100));
        let mut d = Diagnostic::new("x::y", Severity::Error, "f.json", "/target", "here");
        d.locate_in(&minified);
        let snippet = d.snippet.as_ref().unwrap();
        assert!(snippet.text.chars().count() <= SNIPPET_CHARS);
        assert_eq!(snippet.column, 802);
        let shown = d.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        let caret = lines[4].find('^').unwrap();
        assert_eq!(&lines[3][caret..caret + 8], "\"target\"", "{shown}");
    }

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
        let line = |pointer| locate(yaml, pointer).map(|span| span.line);
        assert_eq!(line("/paths/~1orders/get"), Some(6));
        assert_eq!(line("/paths/~1missing"), None);
    }

    #[test]
    fn locate_survives_keys_that_start_with_multibyte_characters() {
        let yaml = "Über:
  Ärger:
    x: 1
";
        assert_eq!(locate(yaml, "/Über/Ärger/x").map(|s| s.line), Some(3));
        assert_eq!(
            locate(r#"{"Über": {"Ä": 1}}"#, "/Über/Ä"),
            Some(Span {
                line: 1,
                column: 11,
                width: 3
            })
        );
    }
}
