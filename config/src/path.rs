//! Where a value sits in the file (`routes[1].secrets[0].env`), and where that is on disk.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One step into the file: a key of a table or an index into a list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A key of a table (mapping).
    Key(String),
    /// A position in a list (sequence), from 0.
    Index(usize),
}

/// The path of a value in the file, such as `routes[1].secrets[0].env`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The top of the file.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path followed by a key.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.into()));
        p
    }

    /// This path followed by a list index.
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(index));
        p
    }

    /// The steps, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The enclosing value's path (the root's parent is the root).
    pub fn parent(&self) -> Self {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// Whether `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    pub(crate) fn from_segments(segments: Vec<Segment>) -> Self {
        Self(segments)
    }

    pub(crate) fn push(&mut self, segment: Segment) {
        self.0.push(segment);
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where a problem is: a place in the file, or the environment variable that set the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line and column (both from 1) in a file.
    File {
        /// The file as it was named when loaded.
        file: Arc<Path>,
        /// Line, from 1.
        line: usize,
        /// Column in characters, from 1.
        column: usize,
    },
    /// The value came from an environment override.
    Env {
        /// The variable's name.
        variable: String,
    },
    /// The file as a whole (reading it failed, or the value has no position).
    Whole {
        /// The file as it was named when loaded.
        file: Arc<Path>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { file, line, column } => {
                write!(f, "{}:{line}:{column}", file.display())
            }
            Location::Env { variable } => write!(f, "environment variable {variable}"),
            Location::Whole { file } => write!(f, "{}", file.display()),
        }
    }
}

/// A position in a source text: line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Where the key and the value of one entry are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spot {
    pub(crate) key: Option<Pos>,
    pub(crate) value: Pos,
}

/// The positions of every value of a loaded file, and which values the environment set.
#[derive(Debug, Clone)]
pub struct SourceMap {
    file: Arc<Path>,
    /// By the path's 64-bit fingerprint, not the path itself: a file with 100,000 keys has
    /// 300,000 values, and their paths (a vector of strings each) were the largest part of
    /// a loaded configuration. Two paths sharing a fingerprint (odds about 1 in 10^8 for
    /// such a file) could only point an error message at the other one's position.
    spots: HashMap<u64, Spot>,
    env: HashMap<FieldPath, String>,
}

/// The fingerprint [`SourceMap`] keeps positions under.
fn fingerprint(path: &FieldPath) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same path always has the same fingerprint.
    let mut hasher = std::hash::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

impl SourceMap {
    pub(crate) fn new(file: &Path) -> Self {
        Self {
            file: file.into(),
            spots: HashMap::new(),
            env: HashMap::new(),
        }
    }

    /// The file this map describes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The directory relative paths in the file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    pub(crate) fn record(&mut self, path: &FieldPath, spot: Spot) {
        self.spots.insert(fingerprint(path), spot);
    }

    pub(crate) fn record_env(&mut self, path: FieldPath, variable: String) {
        self.env.insert(path, variable);
    }

    /// Where `path` is: its own position if it has one, else its nearest enclosing value's.
    /// `at_key` points at the key rather than the value (for unknown or misplaced keys).
    pub fn locate(&self, path: &FieldPath, at_key: bool) -> Location {
        let mut p = path.clone();
        loop {
            if let Some(variable) = self.env.get(&p) {
                return Location::Env {
                    variable: variable.clone(),
                };
            }
            if let Some(spot) = self.spots.get(&fingerprint(&p)) {
                let pos = if at_key {
                    spot.key.unwrap_or(spot.value)
                } else {
                    spot.value
                };
                return Location::File {
                    file: self.file.clone(),
                    line: pos.line,
                    column: pos.column,
                };
            }
            if p.0.is_empty() {
                return Location::Whole {
                    file: self.file.clone(),
                };
            }
            p.0.pop();
        }
    }
}

/// Turns byte offsets of a text into lines and columns.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Pos {
            line: line + 1,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_the_file_reads() {
        let p = FieldPath::root()
            .key("routes")
            .index(1)
            .key("secrets")
            .index(0)
            .key("env");
        assert_eq!(p.to_string(), "routes[1].secrets[0].env");
        assert_eq!(FieldPath::root().to_string(), "(top level)");
        assert!(p.starts_with(&FieldPath::root().key("routes").index(1)));
        assert!(!p.starts_with(&FieldPath::root().key("routes").index(0)));
    }

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let index = LineIndex::new("a = 1\nbé = 2\n");
        assert_eq!(index.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(index.pos(6), Pos { line: 2, column: 1 });
        // `é` is two bytes but one column.
        assert_eq!(index.pos(10), Pos { line: 2, column: 4 });
    }

    #[test]
    fn locate_falls_back_to_the_enclosing_value_and_prefers_env() {
        let mut map = SourceMap::new(Path::new("hookguard.toml"));
        let route = FieldPath::root().key("routes").index(0);
        map.record(
            &route,
            Spot {
                key: None,
                value: Pos { line: 3, column: 1 },
            },
        );
        let missing = route.key("tolerance");
        assert_eq!(
            map.locate(&missing, false).to_string(),
            "hookguard.toml:3:1"
        );
        map.record_env(missing.clone(), "HOOKGUARD__ROUTES__0__TOLERANCE".into());
        assert_eq!(
            map.locate(&missing, false).to_string(),
            "environment variable HOOKGUARD__ROUTES__0__TOLERANCE"
        );
        assert_eq!(
            map.locate(&FieldPath::root().key("listen"), false)
                .to_string(),
            "hookguard.toml"
        );
    }
}
