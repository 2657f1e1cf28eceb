//! JSON Schema validation of the payload (draft 2020-12, the `jsonschema` crate).

use std::fmt;

use serde_json::Value;

use super::RuleError;

/// How many schema errors a 422 lists: enough to fix a payload, bounded in size.
pub const MAX_REPORTED_ERRORS: usize = 5;

/// A compiled JSON Schema (draft 2020-12, whatever `$schema` says). Compiled once at load;
/// references to other documents are not fetched (no network, no file access at request
/// time), so a schema must be self-contained.
pub struct PayloadSchema {
    validator: jsonschema::Validator,
}

impl fmt::Debug for PayloadSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadSchema").finish_non_exhaustive()
    }
}

/// One way a payload fails its schema: where (a JSON pointer into the payload) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// JSON pointer to the offending value (`""` for the whole payload).
    pub pointer: String,
    /// What is wrong. Payload values are masked, so the message is bounded and never echoes
    /// data back.
    pub message: String,
}

impl PayloadSchema {
    /// Compiles `schema`; an invalid schema is an error that says why.
    pub fn compile(schema: &Value) -> Result<Self, RuleError> {
        jsonschema::draft202012::options()
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|e| {
                RuleError::new(
                    format!(
                        "not a valid JSON Schema (draft 2020-12): {} at {}",
                        e.masked(),
                        pointer_or_root(e.instance_path().as_str())
                    ),
                    "a self-contained draft 2020-12 JSON Schema",
                )
            })
    }

    /// Reads and compiles the schema in a JSON file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, RuleError> {
        let expected = "a readable JSON file holding a draft 2020-12 JSON Schema";
        let text = std::fs::read_to_string(path).map_err(|e| {
            RuleError::new(format!("cannot read {}: {e}", path.display()), expected)
        })?;
        let schema: Value = serde_json::from_str(&text).map_err(|e| {
            RuleError::new(
                format!(
                    "{}:{}:{}: not JSON: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ),
                expected,
            )
        })?;
        Self::compile(&schema)
            .map_err(|e| RuleError::new(format!("{}: {}", path.display(), e.problem), e.expected))
    }

    /// `Ok` when `payload` matches, else its first [`MAX_REPORTED_ERRORS`] violations.
    pub fn check(&self, payload: &Value) -> Result<(), Vec<SchemaViolation>> {
        // The fast boolean check first: a valid payload never builds error values.
        if self.validator.is_valid(payload) {
            return Ok(());
        }
        let violations: Vec<SchemaViolation> = self
            .validator
            .iter_errors(payload)
            .take(MAX_REPORTED_ERRORS)
            .map(|e| SchemaViolation {
                pointer: e.instance_path().as_str().to_owned(),
                message: e.masked().to_string(),
            })
            .collect();
        Err(violations)
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the root"
    } else {
        pointer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> PayloadSchema {
        PayloadSchema::compile(&json!({
            "type": "object",
            "required": ["id", "amount"],
            "properties": {
                "id": { "type": "string" },
                "amount": { "type": "integer", "minimum": 0 },
                "items": { "type": "array", "items": { "type": "string" } }
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_matching_payload_passes() {
        assert_eq!(
            order_schema().check(&json!({ "id": "o1", "amount": 3 })),
            Ok(())
        );
    }

    #[test]
    fn violations_name_the_pointer_and_mask_the_value() {
        let errors = order_schema()
            .check(&json!({ "id": "o1", "amount": "secret-value", "items": ["a", 2] }))
            .unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/amount"), "{errors:?}");
        assert!(pointers.contains(&"/items/1"), "{errors:?}");
        assert!(
            errors.iter().all(|e| !e.message.contains("secret-value")),
            "{errors:?}"
        );
    }

    #[test]
    fn at_most_a_few_errors_are_reported() {
        let schema = PayloadSchema::compile(&json!({ "items": { "type": "string" } })).unwrap();
        let errors = schema
            .check(&json!([1, 2, 3, 4, 5, 6, 7, 8, 9]))
            .unwrap_err();
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS);
    }

    #[test]
    fn an_invalid_schema_is_an_error() {
        let err = PayloadSchema::compile(&json!({ "type": "no-such-type" })).unwrap_err();
        assert!(err.problem.contains("not a valid JSON Schema"), "{err}");
    }

    #[test]
    fn a_schema_file_that_is_not_json_names_line_and_column() {
        let dir = std::env::temp_dir().join(format!("hookguard-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.json");
        std::fs::write(&file, "{\n  \"type\": \"object\",\n  oops\n}").unwrap();
        let err = PayloadSchema::from_file(&file).unwrap_err();
        assert!(err.problem.contains("bad.json:3:3: not JSON"), "{err}");
        let missing = PayloadSchema::from_file(&dir.join("missing.json")).unwrap_err();
        assert!(missing.problem.contains("cannot read"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
