//! Problems found in a configuration: what is wrong, where, and what was expected.

use std::fmt;

use crate::path::{FieldPath, Location, SourceMap};

/// One problem in a configuration.
///
/// Its `Display` reads `FILE:LINE:COL: PATH: WHAT; expected WHAT`. It never contains a
/// secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is; `None` for a configuration built in code.
    pub location: Option<Location>,
    /// The value at fault, such as `routes[1].secrets[0].env`.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
    /// What would be accepted, when that can be said.
    pub expected: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if !self.path.segments().is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, "; expected {expected}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading or validating a configuration (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    pub(crate) fn new(mut problems: Vec<Problem>) -> Self {
        debug_assert!(!problems.is_empty());
        problems.sort_by_key(sort_key);
        problems.dedup();
        Self { problems }
    }

    /// The problems, in file order (environment overrides and whole-file problems first).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn sort_key(p: &Problem) -> (u8, String, usize, usize, String) {
    match &p.location {
        Some(Location::File { line, column, .. }) => {
            (2, String::new(), *line, *column, p.message.clone())
        }
        Some(Location::Env { variable }) => (1, variable.clone(), 0, 0, p.message.clone()),
        Some(Location::Whole { .. }) => (0, String::new(), 0, 0, p.message.clone()),
        None => (3, p.path.to_string(), 0, 0, p.message.clone()),
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// A problem found before it is given a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) path: FieldPath,
    pub(crate) message: String,
    pub(crate) expected: Option<String>,
    /// Point at the key rather than the value (unknown or misplaced keys).
    pub(crate) at_key: bool,
    /// The environment variable at fault, when the problem is the variable itself.
    pub(crate) variable: Option<String>,
}

impl Issue {
    pub(crate) fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
            expected: None,
            at_key: false,
            variable: None,
        }
    }

    pub(crate) fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub(crate) fn at_key(mut self) -> Self {
        self.at_key = true;
        self
    }

    pub(crate) fn in_variable(mut self, variable: String) -> Self {
        self.variable = Some(variable);
        self
    }

    pub(crate) fn locate(self, map: Option<&SourceMap>) -> Problem {
        let location = match self.variable {
            Some(variable) => Some(Location::Env { variable }),
            None => map.map(|m| m.locate(&self.path, self.at_key)),
        };
        Problem {
            location,
            path: self.path,
            message: self.message,
            expected: self.expected,
        }
    }
}

/// Collects issues while validating.
#[derive(Debug, Default)]
pub(crate) struct Issues(pub(crate) Vec<Issue>);

impl Issues {
    pub(crate) fn push(&mut self, issue: Issue) {
        self.0.push(issue);
    }

    /// Records `message` at `path` with what was expected.
    pub(crate) fn add(
        &mut self,
        path: FieldPath,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.0.push(Issue::new(path, message).expected(expected));
    }
}
