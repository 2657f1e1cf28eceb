//! The mapping: a JSON template rendered against the verified payload.
//!
//! A template is any JSON value. Objects, arrays, numbers, booleans and null are copied as
//! they are; a string is
//! - a JSONPath (RFC 9535) when it starts with `$`: `"$.pull_request.id"` is replaced by
//!   the value it selects — the value itself when it selects one node, an array of them
//!   when it selects several, and per [`OnMissing`] when it selects none;
//! - otherwise text, where `{{ route }}`, `{{ delivery_id }}`, `{{ received_at }}` and
//!   `{{ client_ip }}` are replaced by the delivery's metadata. A string that is only one
//!   placeholder whose value is unknown (a delivery without id) becomes `null`. A literal
//!   starting with `$` is written `$$…`.
//!
//! Rendering is bounded twice: the body holds at most `max_values` values
//! ([`MAX_OUTPUT_VALUES`] unless lowered), and the work (paths with `..` charged their
//! worst case before they run, every copied value one) stays within the payload's budget
//! (see [`cost`](super::cost)).

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::cost::{PathCost, Shape, WORK_FLOOR, WORK_PER_VALUE};
use super::event::parse_path;
use super::{Metadata, RuleError};

/// At most this many JSON values in a rendered body (objects, arrays and scalars alike):
/// a path such as `$..*` over a large payload copies every subtree, and the copies of
/// nested subtrees add up; past this the mapping fails instead of filling memory.
pub const MAX_OUTPUT_VALUES: usize = 1_000_000;

/// What a JSONPath that selects nothing becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissing {
    /// `null`.
    #[default]
    Null,
    /// The delivery is refused (422, `transform_failed`).
    Error,
    /// The app receives the original body, untransformed.
    Original,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Node,
    max_values: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Literal(Value),
    Path(Box<JsonPath>, String, PathCost),
    Text(Vec<Part>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Placeholder(Placeholder),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Placeholder {
    Route,
    DeliveryId,
    ReceivedAt,
    ClientIp,
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A path selected nothing and the rule says that is an error.
    #[error("{0} selects nothing in this payload")]
    Missing(String),
    /// A path selected nothing and the rule says to send the original body.
    #[error("{0} selects nothing in this payload; the original body is sent")]
    SendOriginal(String),
    /// The rendered body would hold more than the allowed number of values.
    #[error("the mapped body would hold more than {0} JSON values")]
    TooLarge(usize),
    /// Rendering would do more work than the payload's budget allows (a path with `..`
    /// whose worst case does not fit is not evaluated).
    #[error(
        "the mapping would do more work than a payload of {values} values nested {depth} \
         deep allows ({limit} units: {per} per value + {floor}; a path with `..` is charged \
         values × depth per `..` before it runs, and each value copied into the body one)",
        per = WORK_PER_VALUE,
        floor = WORK_FLOOR
    )]
    TooCostly {
        /// Values in the payload.
        values: u64,
        /// The most containers above a value of the payload.
        depth: u64,
        /// The work budget of this payload.
        limit: u64,
    },
}

impl Template {
    /// Compiles a template. An error names where in the template it is (`at`: object keys
    /// and array indices from the root).
    pub fn compile(template: &Value) -> Result<Self, TemplateError> {
        Ok(Self {
            root: compile(template, &mut Vec::new())?,
            max_values: MAX_OUTPUT_VALUES,
        })
    }

    /// Lowers the output bound (tests, fuzzing).
    pub fn max_values(mut self, max: usize) -> Self {
        self.max_values = max;
        self
    }

    /// Renders against `payload` with the delivery's metadata.
    pub fn render(
        &self,
        payload: &Value,
        meta: &Metadata<'_>,
        on_missing: OnMissing,
    ) -> Result<Value, RenderError> {
        let mut budget = Budget {
            left: self.max_values,
            max: self.max_values,
            work_left: WORK_FLOOR,
            payload,
            shape: None,
        };
        render(&self.root, payload, meta, on_missing, &mut budget)
    }
}

/// A template error and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at_display}: {error}", at_display = display_at(.at))]
pub struct TemplateError {
    /// Object keys and array indices from the template's root.
    pub at: Vec<TemplateKey>,
    /// What is wrong.
    pub error: RuleError,
}

/// A step into a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateKey {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

fn display_at(at: &[TemplateKey]) -> String {
    let mut out = String::from("transform");
    for key in at {
        match key {
            TemplateKey::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            TemplateKey::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn compile(value: &Value, at: &mut Vec<TemplateKey>) -> Result<Node, TemplateError> {
    let fail = |error: RuleError, at: &Vec<TemplateKey>| TemplateError {
        at: at.clone(),
        error,
    };
    Ok(match value {
        Value::String(s) if s.starts_with("$$") => Node::Literal(Value::String(s[1..].to_owned())),
        Value::String(s) if s.starts_with('$') => {
            let path = parse_path(s).map_err(|e| fail(e, at))?;
            Node::Path(Box::new(path), s.clone(), PathCost::of(s))
        }
        Value::String(s) => {
            let parts = parse_text(s).map_err(|e| fail(e, at))?;
            match parts.as_slice() {
                [] => Node::Literal(Value::String(String::new())),
                [Part::Text(t)] => Node::Literal(Value::String(t.clone())),
                _ => Node::Text(parts),
            }
        }
        Value::Array(items) => {
            let mut nodes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                at.push(TemplateKey::Index(i));
                nodes.push(compile(item, at)?);
                at.pop();
            }
            Node::Array(nodes)
        }
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (key, item) in map {
                at.push(TemplateKey::Key(key.clone()));
                fields.push((key.clone(), compile(item, at)?));
                at.pop();
            }
            Node::Object(fields)
        }
        other => Node::Literal(other.clone()),
    })
}

fn parse_text(text: &str) -> Result<Vec<Part>, RuleError> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            RuleError::new(
                format!("{text:?} opens a placeholder with {{{{ and does not close it"),
                "{{ route }}, {{ delivery_id }}, {{ received_at }} or {{ client_ip }}",
            )
        })?;
        let placeholder = match after[..end].trim() {
            "route" => Placeholder::Route,
            "delivery_id" => Placeholder::DeliveryId,
            "received_at" => Placeholder::ReceivedAt,
            "client_ip" => Placeholder::ClientIp,
            other => {
                return Err(RuleError::new(
                    format!("unknown placeholder {{{{ {other} }}}}"),
                    "{{ route }}, {{ delivery_id }}, {{ received_at }} or {{ client_ip }}",
                ))
            }
        };
        parts.push(Part::Placeholder(placeholder));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

struct Budget<'p> {
    /// Values the body may still hold, of `max`.
    left: usize,
    max: usize,
    /// Work left of the payload's budget: [`WORK_FLOOR`] until the payload is measured.
    work_left: u64,
    payload: &'p Value,
    /// Measured only when a path has `..` or the floor runs out: an ordinary mapping of a
    /// few fields does not walk the whole payload.
    shape: Option<Shape>,
}

impl Budget<'_> {
    fn shape(&mut self) -> Shape {
        if let Some(shape) = self.shape {
            return shape;
        }
        let shape = Shape::of(self.payload);
        self.work_left += shape.budget() - WORK_FLOOR;
        self.shape = Some(shape);
        shape
    }

    fn spend(&mut self, n: usize) -> Result<(), RenderError> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or(RenderError::TooLarge(self.max))?;
        self.work(n as u64)
    }

    fn work(&mut self, units: u64) -> Result<(), RenderError> {
        if units > self.work_left {
            // The floor ran out: the payload's share comes in (measured once).
            let shape = self.shape();
            if units > self.work_left {
                return Err(RenderError::TooCostly {
                    values: shape.values,
                    depth: shape.depth,
                    limit: shape.budget(),
                });
            }
        }
        self.work_left -= units;
        Ok(())
    }

    /// Spends one per value in `value`, stopping as soon as the budget runs out (so
    /// counting a huge selection costs no more than the budget).
    fn spend_on(&mut self, value: &Value) -> Result<(), RenderError> {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            self.spend(1)?;
            match v {
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
        Ok(())
    }
}

fn render(
    node: &Node,
    payload: &Value,
    meta: &Metadata<'_>,
    on_missing: OnMissing,
    budget: &mut Budget<'_>,
) -> Result<Value, RenderError> {
    Ok(match node {
        Node::Literal(v) => {
            budget.spend_on(v)?;
            v.clone()
        }
        Node::Path(path, text, cost) => {
            // Charged before the query runs: it cannot be stopped half-way.
            if cost.has_descendants() {
                let shape = budget.shape();
                budget.work(cost.worst_case(shape))?;
            }
            let nodes = path.query(payload);
            match nodes.len() {
                0 => match on_missing {
                    OnMissing::Null => {
                        budget.spend(1)?;
                        Value::Null
                    }
                    OnMissing::Error => return Err(RenderError::Missing(text.clone())),
                    OnMissing::Original => return Err(RenderError::SendOriginal(text.clone())),
                },
                1 => {
                    let v = nodes.all()[0];
                    budget.spend_on(v)?;
                    v.clone()
                }
                _ => {
                    budget.spend(1)?;
                    let mut items = Vec::with_capacity(nodes.len());
                    for v in nodes {
                        budget.spend_on(v)?;
                        items.push(v.clone());
                    }
                    Value::Array(items)
                }
            }
        }
        Node::Text(parts) => {
            budget.spend(1)?;
            if let [Part::Placeholder(p)] = parts.as_slice() {
                return Ok(meta.value(*p).map_or(Value::Null, Value::String));
            }
            let mut out = String::new();
            for part in parts {
                match part {
                    Part::Text(t) => out.push_str(t),
                    Part::Placeholder(p) => out.push_str(&meta.value(*p).unwrap_or_default()),
                }
            }
            Value::String(out)
        }
        Node::Array(items) => {
            budget.spend(1)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(render(item, payload, meta, on_missing, budget)?);
            }
            Value::Array(out)
        }
        Node::Object(fields) => {
            budget.spend(1)?;
            let mut out = Map::with_capacity(fields.len());
            for (key, item) in fields {
                out.insert(
                    key.clone(),
                    render(item, payload, meta, on_missing, budget)?,
                );
            }
            Value::Object(out)
        }
    })
}

impl Metadata<'_> {
    fn value(&self, placeholder: Placeholder) -> Option<String> {
        match placeholder {
            Placeholder::Route => Some(self.route.to_owned()),
            Placeholder::DeliveryId => self.delivery_id.map(str::to_owned),
            Placeholder::ReceivedAt => Some(self.received_at.clone()),
            Placeholder::ClientIp => self.client_ip.map(|ip| ip.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
