//! `ArgReader`: how a generated request parser reads its flat arguments. Each read is one call
//! with no branch in the generated code; the reader keeps the first error and skips the reads
//! after it. Parsers are then straight-line code, which keeps a Microsoft Graph-sized crate
//! (eleven thousand parsers) small for the compiler, and the error is the one the parser would
//! have stopped at: unknown arguments first, then each argument in order, then the constraints.

use crate::args::{ArgError, ArgErrorKind, Args, FromArg};
use crate::request::QueryValue;
use crate::rules::{Rule, check_arguments};

/// Reads a tool's flat arguments, keeping the first error.
#[derive(Debug)]
pub struct ArgReader<'a> {
    args: &'a Args,
    error: Option<ArgError>,
}

impl<'a> ArgReader<'a> {
    /// A reader of `args`, which refuses any argument not in `known`.
    pub fn new(args: &'a Args, known: &[&str]) -> Self {
        Self {
            args,
            error: crate::args::only_known(args, known).err(),
        }
    }

    fn keep<T>(&mut self, read: impl FnOnce(&Args) -> Result<Option<T>, ArgError>) -> Option<T> {
        if self.error.is_some() {
            return None;
        }
        read(self.args).unwrap_or_else(|error| {
            self.error = Some(error);
            None
        })
    }

    /// A required argument; `None` only after an error was recorded.
    #[inline(never)] // one shared copy per type keeps generated crates small
    pub fn required<T: FromArg>(&mut self, field: &str) -> Option<T> {
        self.keep(|args| crate::args::required(args, field).map(Some))
    }

    /// An optional argument.
    #[inline(never)]
    pub fn optional<T: FromArg>(&mut self, field: &str) -> Option<T> {
        self.keep(|args| crate::args::optional(args, field))
    }

    /// An optional argument whose explicit `null` is kept (the inner `None`).
    #[inline(never)]
    pub fn nullable<T: FromArg>(&mut self, field: &str) -> Option<Option<T>> {
        self.keep(|args| crate::args::nullable(args, field))
    }

    /// The uniform `limit` of a list tool.
    pub fn page_limit(&mut self, field: &str) -> Option<i64> {
        self.keep(|args| crate::args::page_limit(args, field))
    }

    /// A path parameter: required, and its text must stay one segment of the vendor's path.
    #[inline(never)]
    pub fn path<T: FromArg + QueryValue>(&mut self, field: &str) -> Option<T> {
        self.keep(|args| {
            let value: T = crate::args::required(args, field)?;
            crate::request::path_segment(field, &value.to_query())?;
            Ok(Some(value))
        })
    }

    /// A multi-segment path parameter (`{+name}` in the spec's template): required, and its
    /// segments must stay where the template puts them.
    #[inline(never)]
    pub fn path_segments(&mut self, field: &str) -> Option<String> {
        self.keep(|args| {
            let value: String = crate::args::required(args, field)?;
            crate::request::path_segments(field, &value)?;
            Ok(Some(value))
        })
    }

    /// The first error, after checking the schema's constraints (`rules`) if there was none.
    pub fn finish(self, rules: Option<&Rule>) -> Result<(), ArgError> {
        match (self.error, rules) {
            (Some(error), _) => Err(error),
            (None, Some(rules)) => check_arguments(rules, self.args),
            (None, None) => Ok(()),
        }
    }

    /// The error of a parser whose required argument is absent: [`Self::finish`]'s, which a
    /// reader always holds then.
    pub fn failure(finished: Result<(), ArgError>, field: &str) -> ArgError {
        finished
            .err()
            .unwrap_or_else(|| ArgError::new(field, ArgErrorKind::Missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: serde_json::Value) -> Args {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_first_error_wins_and_later_reads_are_skipped() {
        let args = args(json!({"a": 1, "b": "x"}));
        let mut reader = ArgReader::new(&args, &["a", "b", "c"]);
        assert_eq!(reader.required::<String>("a"), None);
        assert_eq!(
            reader.optional::<String>("b"),
            None,
            "skipped after an error"
        );
        let error = reader.finish(None).unwrap_err();
        assert_eq!(error.field, "a");
        assert!(matches!(error.kind, ArgErrorKind::WrongType { .. }));
    }

    #[test]
    fn unknown_arguments_come_first_and_paths_stay_one_segment() {
        let unknown = args(json!({"id": "..", "zz": 1}));
        let mut reader = ArgReader::new(&unknown, &["id"]);
        assert_eq!(reader.path::<String>("id"), None);
        assert_eq!(reader.finish(None).unwrap_err().field, "zz");

        let dots = args(json!({"id": "%2e%2E"}));
        let mut reader = ArgReader::new(&dots, &["id"]);
        assert_eq!(reader.path::<String>("id"), None);
        assert_eq!(
            reader.finish(None).unwrap_err().kind,
            ArgErrorKind::NotASegment
        );
    }

    #[test]
    fn a_clean_read_checks_the_constraints_last() {
        let args = args(json!({"n": 7, "limit": 5}));
        let mut reader = ArgReader::new(&args, &["n", "limit", "gone"]);
        assert_eq!(reader.required::<i64>("n"), Some(7));
        assert_eq!(reader.page_limit("limit"), Some(5));
        assert_eq!(reader.nullable::<i64>("gone"), None);
        assert_eq!(reader.finish(None), Ok(()));
        let missing = ArgReader::failure(Ok(()), "n");
        assert_eq!(missing.kind, ArgErrorKind::Missing);
    }
}
