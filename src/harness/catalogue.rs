//! The project's rule catalogue (`catalogue/rules.toml`): every rule ID the features may cite,
//! with its level, a one-line summary and its source. It drives the report's rules × verdict
//! table and shows which rules have no scenario yet.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub area: String,
    pub level: String,
    pub role: String,
    pub testable: bool,
    pub summary: String,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Catalogue {
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
}

const EMBEDDED: &str = include_str!("../../catalogue/rules.toml");

impl Catalogue {
    pub fn embedded() -> Result<Catalogue, String> {
        toml::from_str(EMBEDDED).map_err(|e| format!("catalogue/rules.toml: {e}"))
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// The embedded catalogue's entry for rule `id`, if it has one (parsed once per process; the
/// catalogue's own test proves it parses).
pub fn rule(id: &str) -> Option<&'static Rule> {
    static EMBEDDED_CATALOGUE: std::sync::OnceLock<Option<Catalogue>> = std::sync::OnceLock::new();
    EMBEDDED_CATALOGUE
        .get_or_init(|| Catalogue::embedded().ok())
        .as_ref()?
        .get(id)
}

impl Rule {
    /// A definition of what the recipient sends (R8936-10 `ack`, R8936-12 `setErrs`): it binds
    /// the TPP, so a bank is never charged with it.
    pub fn is_recipient_definition(&self) -> bool {
        self.role == "TPP" && self.level == "definition"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_tag_of_the_features_is_in_the_catalogue() {
        let cat = Catalogue::embedded().unwrap();
        assert!(cat.rules.len() > 100);
        for f in crate::harness::features::embedded_all().unwrap() {
            for s in &f.scenarios {
                for t in f
                    .tags
                    .iter()
                    .chain(s.tags.iter())
                    .filter(|t| crate::harness::features::is_rule_id(t))
                {
                    assert!(
                        cat.get(t).is_some(),
                        "{}: @{t} is not in catalogue/rules.toml",
                        s.name
                    );
                }
            }
        }
    }
}
