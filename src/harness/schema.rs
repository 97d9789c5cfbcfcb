//! JSON Schema validation of every body the harness sees. The schemas in `schemas/` (derived
//! from the official OpenAPI files, see each file's `$comment`) are embedded in the binary and
//! compiled once per run with format assertions on — `jsonschema` leaves formats as annotations
//! for draft 2020-12 unless told otherwise.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::model::bank::SpecVersion;

/// The schema files themselves are shared with the sandbox's OpenAPI document.
pub use crate::model::schemas::SCHEMAS;

/// Compiled validators for one spec version (SET schemas always from v3.1.11).
#[derive(Clone)]
pub struct Schemas {
    validators: Arc<HashMap<String, jsonschema::Validator>>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("count", &self.validators.len())
            .finish()
    }
}

/// Compiles one schema with format assertions switched on.
pub fn compile(text: &str) -> Result<jsonschema::Validator, String> {
    let schema: Value =
        serde_json::from_str(text).map_err(|e| format!("schema is not JSON: {e}"))?;
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("schema does not compile: {e}"))
}

impl Schemas {
    pub fn for_version(v: SpecVersion) -> Result<Schemas, String> {
        let dir = match v {
            SpecVersion::V3_1_11 => "v3.1.11",
            SpecVersion::V3_1_2 => "v3.1.2",
        };
        let mut validators = HashMap::new();
        for (d, name, text) in SCHEMAS {
            let wanted = *d == dir
                || (*d == "v3.1.11" && matches!(*name, "OBEventNotification2" | "OBSetJoseHeader"));
            if wanted {
                validators.insert(
                    name.to_string(),
                    compile(text).map_err(|e| format!("{d}/{name}: {e}"))?,
                );
            }
        }
        Ok(Schemas {
            validators: Arc::new(validators),
        })
    }

    /// Every violation of schema `name` by `instance`, as `path: message` lines.
    pub fn problems(&self, name: &str, instance: &Value) -> Vec<String> {
        match self.validators.get(name) {
            None => vec![format!("no schema named {name}")],
            Some(v) => v
                .iter_errors(instance)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    if path.is_empty() {
                        e.to_string()
                    } else {
                        format!("{path}: {e}")
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every schema accepts the official examples kept in `fixtures/schema-examples` and
    /// rejects each deliberately broken variant (issue 4 §4).
    #[test]
    fn schemas_accept_examples_and_reject_broken_variants() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schema-examples");
        let mut checked = 0;
        for (dir, name, text) in SCHEMAS {
            let validator = compile(text).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"));
            let folder = root.join(dir).join(name);
            let mut valid = 0;
            let mut invalid = 0;
            for entry in
                std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
            {
                let path = entry.unwrap().path();
                let file = path.file_name().unwrap().to_string_lossy().to_string();
                let instance: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let ok = validator.is_valid(&instance);
                if file.starts_with("valid-") {
                    assert!(
                        ok,
                        "{dir}/{name}/{file} should be valid: {:?}",
                        validator
                            .iter_errors(&instance)
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                    );
                    valid += 1;
                } else if file.starts_with("invalid-") {
                    assert!(!ok, "{dir}/{name}/{file} should be rejected");
                    invalid += 1;
                }
                checked += 1;
            }
            assert!(
                valid >= 1 && invalid >= 1,
                "{dir}/{name} needs a valid and a broken example"
            );
        }
        assert!(checked > 100);
    }

    #[test]
    fn formats_are_asserted() {
        let s = Schemas::for_version(SpecVersion::V3_1_11).unwrap();
        let bad = serde_json::json!({"Data": {"Version": "3.1", "CallbackUrl": "not a uri"}});
        assert!(!s.problems("OBEventSubscription1", &bad).is_empty());
    }
}
