//! Reading TOML or YAML text into one neutral tree, remembering where every value was.
//!
//! Both formats become the same `serde_json::Value` tree, which the schema is then read
//! from: the two formats cannot drift apart, and every value's position (and whether an
//! environment override set it) is kept in a [`SourceMap`] for error messages.

use std::path::Path;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{Issue, Problem};
use crate::path::{FieldPath, LineIndex, Location, Pos, SourceMap, Spot};

/// The file formats, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.toml`
    Toml,
    /// `.yaml` or `.yml`, with the same schema as TOML.
    Yaml,
}

impl Format {
    /// The format a file name's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// A parsed file: its tree and where each value came from.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) tree: Value,
    pub(crate) map: SourceMap,
}

/// Parses `text`, naming `file` in positions. A syntax error is one problem.
pub(crate) fn parse(text: &str, format: Format, file: &Path) -> Result<Document, Vec<Problem>> {
    let mut map = SourceMap::new(file);
    let index = LineIndex::new(text);
    let result = match format {
        Format::Toml => parse_toml(text, &index, &mut map),
        Format::Yaml => parse_yaml(text, &mut map),
    };
    match result {
        Ok(tree) => Ok(Document { tree, map }),
        Err(Failure::Syntax { pos, message }) => Err(vec![Problem {
            location: Some(match pos {
                Some(pos) => Location::File {
                    file: file.into(),
                    line: pos.line,
                    column: pos.column,
                },
                None => Location::Whole { file: file.into() },
            }),
            path: FieldPath::root(),
            message,
            expected: Some(
                match format {
                    Format::Toml => "valid TOML (https://toml.io)",
                    Format::Yaml => "valid YAML 1.2",
                }
                .into(),
            ),
        }]),
        Err(Failure::Value(issues)) => {
            Err(issues.into_iter().map(|i| i.locate(Some(&map))).collect())
        }
    }
}

enum Failure {
    Syntax { pos: Option<Pos>, message: String },
    Value(Vec<Issue>),
}

fn parse_toml(text: &str, index: &LineIndex<'_>, map: &mut SourceMap) -> Result<Value, Failure> {
    let table = DeTable::parse(text).map_err(|e| Failure::Syntax {
        pos: e.span().map(|s| index.pos(s.start)),
        message: first_line(e.message()),
    })?;
    let mut issues = Vec::new();
    let root = FieldPath::root();
    let tree = toml_table(table.get_ref(), &root, &mut Some((index, map)), &mut issues);
    if issues.is_empty() {
        Ok(tree)
    } else {
        Err(Failure::Value(issues))
    }
}

type Recorder<'a, 'b> = Option<(&'a LineIndex<'b>, &'a mut SourceMap)>;

fn toml_table(
    table: &DeTable<'_>,
    path: &FieldPath,
    rec: &mut Recorder<'_, '_>,
    issues: &mut Vec<Issue>,
) -> Value {
    let mut out = Map::new();
    for (key, value) in table.iter() {
        let child = path.key(key.get_ref().as_ref());
        if let Some((index, map)) = rec {
            map.record(
                &child,
                Spot {
                    key: Some(index.pos(key.span().start)),
                    value: index.pos(value.span().start),
                },
            );
        }
        let v = toml_value(value, &child, rec, issues);
        out.insert(key.get_ref().to_string(), v);
    }
    Value::Object(out)
}

fn toml_value(
    value: &Spanned<DeValue<'_>>,
    path: &FieldPath,
    rec: &mut Recorder<'_, '_>,
    issues: &mut Vec<Issue>,
) -> Value {
    match value.get_ref() {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let n = i64::from_str_radix(i.as_str(), i.radix())
                .map(Number::from)
                .or_else(|_| u64::from_str_radix(i.as_str(), i.radix()).map(Number::from));
            match n {
                Ok(n) => Value::Number(n),
                Err(_) => {
                    issues.push(
                        Issue::new(path.clone(), format!("the integer {i} is too large"))
                            .expected("an integer that fits in 64 bits"),
                    );
                    Value::Null
                }
            }
        }
        DeValue::Float(f) => match f.as_str().parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => {
                issues.push(
                    Issue::new(path.clone(), format!("the number {f} is not finite"))
                        .expected("a finite number"),
                );
                Value::Null
            }
        },
        DeValue::Boolean(b) => Value::Bool(*b),
        // Datetimes (`rotated_at = 2026-01-31T12:00:00Z`) are read as their RFC 3339 text.
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let child = path.index(i);
                    if let Some((index, map)) = rec {
                        map.record(
                            &child,
                            Spot {
                                key: None,
                                value: index.pos(item.span().start),
                            },
                        );
                    }
                    toml_value(item, &child, rec, issues)
                })
                .collect(),
        ),
        DeValue::Table(t) => toml_table(t, path, rec, issues),
    }
}

/// Reads one TOML value (an environment override's text), without positions.
pub(crate) fn toml_scalar(text: &str) -> Option<Value> {
    let value = DeValue::parse(text).ok()?;
    let mut issues = Vec::new();
    let v = toml_value(&value, &FieldPath::root(), &mut None, &mut issues);
    issues.is_empty().then_some(v)
}

fn parse_yaml(text: &str, map: &mut SourceMap) -> Result<Value, Failure> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| Failure::Syntax {
        pos: Some(Pos {
            line: e.marker().line(),
            column: e.marker().col() + 1,
        }),
        message: e.info().to_string(),
    })?;
    let doc = match docs.as_slice() {
        [] => return Ok(Value::Object(Map::new())),
        [doc] => doc,
        [_, second, ..] => {
            return Err(Failure::Syntax {
                pos: Some(marker_pos(second)),
                message: "the file holds more than one YAML document".into(),
            })
        }
    };
    // An empty document (a file of comments) is an empty configuration.
    if matches!(doc.data, YamlData::BadValue | YamlData::Value(Scalar::Null)) {
        return Ok(Value::Object(Map::new()));
    }
    let mut issues = Vec::new();
    let tree = yaml_value(doc, &FieldPath::root(), map, &mut issues);
    if issues.is_empty() {
        Ok(tree)
    } else {
        Err(Failure::Value(issues))
    }
}

fn marker_pos(node: &MarkedYaml<'_>) -> Pos {
    Pos {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

fn yaml_value(
    node: &MarkedYaml<'_>,
    path: &FieldPath,
    map: &mut SourceMap,
    issues: &mut Vec<Issue>,
) -> Value {
    match &node.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Number((*i).into()),
            Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
                Some(n) => Value::Number(n),
                None => {
                    issues.push(
                        Issue::new(path.clone(), "the number is not finite")
                            .expected("a finite number"),
                    );
                    Value::Null
                }
            },
            Scalar::String(s) => Value::String(s.to_string()),
        },
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let child = path.index(i);
                    map.record(
                        &child,
                        Spot {
                            key: None,
                            value: marker_pos(item),
                        },
                    );
                    yaml_value(item, &child, map, issues)
                })
                .collect(),
        ),
        YamlData::Mapping(entries) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let name = match &key.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    _ => {
                        map.record(
                            &path.key("?"),
                            Spot {
                                key: None,
                                value: marker_pos(key),
                            },
                        );
                        issues.push(
                            Issue::new(path.key("?"), "a key is not a plain string")
                                .expected("keys that are names, such as `scheme`"),
                        );
                        continue;
                    }
                };
                let child = path.key(name.as_str());
                map.record(
                    &child,
                    Spot {
                        key: Some(marker_pos(key)),
                        value: marker_pos(value),
                    },
                );
                let v = yaml_value(value, &child, map, issues);
                out.insert(name, v);
            }
            Value::Object(out)
        }
        YamlData::Tagged(tag, _) => {
            issues.push(
                Issue::new(path.clone(), format!("the YAML tag {tag} is not supported"))
                    .expected("plain values without tags"),
            );
            Value::Null
        }
        YamlData::Alias(_) | YamlData::BadValue | YamlData::Representation(..) => {
            issues.push(
                Issue::new(path.clone(), "this value cannot be read")
                    .expected("a string, number, boolean, list or mapping"),
            );
            Value::Null
        }
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(doc: &Document, path: &FieldPath) -> String {
        doc.map.locate(path, false).to_string()
    }

    #[test]
    fn toml_values_keep_their_positions() {
        let text = "listen = \"0.0.0.0:8080\"\n\n[[routes]]\nid = \"github\"\nrotated = 2026-01-31T12:00:00Z\n";
        let doc = parse(text, Format::Toml, Path::new("h.toml")).unwrap();
        assert_eq!(doc.tree["routes"][0]["id"], "github");
        assert_eq!(doc.tree["routes"][0]["rotated"], "2026-01-31T12:00:00Z");
        let id = FieldPath::root().key("routes").index(0).key("id");
        assert_eq!(at(&doc, &id), "h.toml:4:6");
        assert_eq!(doc.map.locate(&id, true).to_string(), "h.toml:4:1");
    }

    #[test]
    fn yaml_reads_into_the_same_tree_as_toml() {
        let toml = "listen = \"0.0.0.0:8080\"\n[[routes]]\nid = \"github\"\ntolerance = \"off\"\nkeys = [1, 2]\n";
        let yaml =
            "listen: 0.0.0.0:8080\nroutes:\n  - id: github\n    tolerance: off\n    keys: [1, 2]\n";
        let a = parse(toml, Format::Toml, Path::new("h.toml")).unwrap();
        let b = parse(yaml, Format::Yaml, Path::new("h.yaml")).unwrap();
        // YAML 1.2: `off` stays a string (YAML 1.1 made it `false`).
        assert_eq!(a.tree, b.tree);
        let id = FieldPath::root().key("routes").index(0).key("id");
        assert_eq!(at(&b, &id), "h.yaml:3:9");
        assert_eq!(b.map.locate(&id, true).to_string(), "h.yaml:3:5");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a = \"1\"\nb = = 2\n", Format::Toml, Path::new("h.toml")).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].to_string().starts_with("h.toml:2:"), "{}", err[0]);
        let err = parse("a: 1\n  b: 2\n", Format::Yaml, Path::new("h.yaml")).unwrap_err();
        assert!(err[0].to_string().starts_with("h.yaml:2:"), "{}", err[0]);
        let err = parse("a: 1\na: 2\n", Format::Yaml, Path::new("h.yaml")).unwrap_err();
        assert!(err[0].message.contains("duplicated key"), "{}", err[0]);
        let err = parse("a = 1\na = 2\n", Format::Toml, Path::new("h.toml")).unwrap_err();
        assert!(err[0].to_string().starts_with("h.toml:2:"), "{}", err[0]);
    }

    #[test]
    fn yaml_anchors_are_resolved_and_tags_refused() {
        let yaml = "base: &b {x: 1}\nother: *b\n";
        let doc = parse(yaml, Format::Yaml, Path::new("h.yaml")).unwrap();
        assert_eq!(doc.tree["other"]["x"], 1);
        let err = parse("a: !custom 1\n", Format::Yaml, Path::new("h.yaml")).unwrap_err();
        assert!(err[0].message.contains("tag"), "{}", err[0]);
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.toml")), Some(Format::Toml));
        assert_eq!(Format::from_path(Path::new("b.YML")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.json")), None);
    }
}
