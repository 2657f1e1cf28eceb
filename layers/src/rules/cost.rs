//! The work bound of JSONPaths with descendant segments (`..`) over attacker-shaped bodies.
//!
//! serde_json_path evaluates a query to completion before anything can bound it, and a
//! descendant segment is not linear in the body: `$..*` copies each result once per
//! container above it (values × depth), each further `..` (also inside a filter,
//! `$..[?@..id]`) multiplies by the depth again, and a `..` query from the root inside a
//! filter (`$..[?count($..*) > 1]`) is evaluated again for every candidate (values ×
//! values). A 1 MiB body of 127 nested arrays took 4.1 s under `$..*..*` and 1.0 s under
//! `$..[?@..id]` (release build; bench/README.md). The crate exposes neither its syntax
//! tree nor a budget, so the cost is estimated here from the path's text and the body's
//! [`Shape`] before the query runs, and a query whose worst case does not fit is not run.
//!
//! The budget is proportional to the body: [`WORK_PER_VALUE`] units per value of the
//! payload plus [`WORK_FLOOR`], so the rules cost at most a fixed multiple of parsing it.

use serde_json::Value;

/// Units of work the payload rules may spend per value (object, array or scalar) of the
/// payload, on top of [`WORK_FLOOR`].
pub const WORK_PER_VALUE: u64 = 16;

/// Units of work any payload may use, however small (templates with literals and several
/// paths over a tiny payload).
pub const WORK_FLOOR: u64 = 10_000;

/// How many values a payload holds and how deeply they nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Values: objects, arrays and scalars, the root included.
    pub values: u64,
    /// The most containers (objects and arrays) on the way from the root to a value.
    pub depth: u64,
}

impl Shape {
    /// Measures `payload` in one walk (its depth is bounded by serde_json's 128 levels, and
    /// the walk uses a heap stack anyway).
    pub fn of(payload: &Value) -> Self {
        let mut shape = Shape {
            values: 0,
            depth: 0,
        };
        let mut stack = vec![(payload, 0u64)];
        while let Some((value, above)) = stack.pop() {
            shape.values += 1;
            match value {
                Value::Array(items) => stack.extend(items.iter().map(|c| (c, above + 1))),
                Value::Object(map) => stack.extend(map.values().map(|c| (c, above + 1))),
                _ => continue,
            }
            shape.depth = shape.depth.max(above + 1);
        }
        shape
    }

    /// The work the rules may spend on this payload.
    pub fn budget(&self) -> u64 {
        self.values
            .saturating_mul(WORK_PER_VALUE)
            .saturating_add(WORK_FLOOR)
    }
}

/// What a compiled JSONPath may cost, from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathCost {
    /// Descendant segments (`..`) anywhere in the path, filters included.
    descendants: u32,
    /// Of those, the ones in a query from the root (`$`) inside a filter: such a query is
    /// evaluated again for every candidate the filter tests.
    rooted_in_filters: u32,
}

impl PathCost {
    /// Reads the cost of `path`, which already parsed as an RFC 9535 JSONPath: outside
    /// string literals, `..` is only ever a descendant segment and `$` only ever the root
    /// identifier (member-name shorthands cannot contain `$`). Hand-written because
    /// serde_json_path keeps its syntax tree private and its `Display` does not escape
    /// names.
    pub fn of(path: &str) -> Self {
        let mut cost = Self::default();
        let bytes = path.as_bytes();
        let mut quote = None;
        let mut in_rooted_query = false;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == b'\\' {
                        i += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => match b {
                    b'\'' | b'"' => quote = Some(b),
                    // The first `$` is the path's own root; a later one starts a query from
                    // the root inside a filter. Conservatively, every `..` after it counts.
                    b'$' if i > 0 => in_rooted_query = true,
                    b'.' if bytes.get(i + 1) == Some(&b'.') => {
                        cost.descendants += 1;
                        cost.rooted_in_filters += u32::from(in_rooted_query);
                        i += 1;
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        cost
    }

    /// Whether the path has a descendant segment (`..`), whose cost depends on the body.
    pub fn has_descendants(&self) -> bool {
        self.descendants > 0
    }

    /// The worst-case work of evaluating the path on a payload of this shape, in values
    /// visited or copied: none up front for a path without `..` (it visits each value at
    /// most once per selector and its results are charged as they are copied);
    /// values × depth per `..`; values × depth again per `..` of a rooted query in a
    /// filter.
    pub fn worst_case(&self, shape: Shape) -> u64 {
        if self.descendants == 0 {
            return 0;
        }
        let depth = shape.depth.max(1);
        let mut work = shape.values;
        for _ in self.rooted_in_filters..self.descendants {
            work = work.saturating_mul(depth);
        }
        for _ in 0..self.rooted_in_filters {
            work = work.saturating_mul(shape.values.saturating_mul(depth));
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shape_counts_values_and_containers_above_the_deepest() {
        assert_eq!(
            Shape::of(&json!(1)),
            Shape {
                values: 1,
                depth: 0
            }
        );
        assert_eq!(
            Shape::of(&json!({ "a": [1, { "b": null }], "c": "x" })),
            Shape {
                values: 6,
                depth: 3
            }
        );
        assert_eq!(Shape::of(&json!([])).budget(), 16 + 10_000);
    }

    #[test]
    fn descendants_are_counted_outside_string_literals_only() {
        let cost = |p: &str| {
            let c = PathCost::of(p);
            (c.descendants, c.rooted_in_filters)
        };
        assert_eq!(cost("$.a.b[*]"), (0, 0));
        assert_eq!(cost("$..*"), (1, 0));
        assert_eq!(cost("$..a..b"), (2, 0));
        assert_eq!(cost("$['a..b', \"..\"]"), (0, 0));
        assert_eq!(cost(r#"$['it\'s..'].x"#), (0, 0));
        assert_eq!(cost("$..[?@..id]"), (2, 0));
        assert_eq!(cost("$.items[?@.id == $.wanted]"), (0, 0));
        assert_eq!(cost("$..[?count($..*) > 1]"), (2, 1));
        assert_eq!(cost("$[?@.name == '$..x']"), (0, 0));
    }

    #[test]
    fn worst_case_multiplies_by_depth_per_descendant_and_by_values_per_rooted_one() {
        let shape = Shape {
            values: 1_000,
            depth: 10,
        };
        assert_eq!(PathCost::of("$.a[*]").worst_case(shape), 0);
        assert_eq!(PathCost::of("$..*").worst_case(shape), 10_000);
        assert_eq!(PathCost::of("$..*..*").worst_case(shape), 100_000);
        assert_eq!(
            PathCost::of("$..[?count($..*) > 1]").worst_case(shape),
            100_000_000
        );
        let huge = Shape {
            values: u64::MAX / 2,
            depth: 128,
        };
        assert_eq!(PathCost::of("$..*..*").worst_case(huge), u64::MAX);
    }
}
