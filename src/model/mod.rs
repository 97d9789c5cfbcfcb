//! Wire types shared by the sandbox and the harness, named as the OBIE specification names them.
//!
//! Only shapes live here (serde derives and tiny constructors); validation rules live with the
//! code that enforces them (`sandbox::dialects::obie::validate`) or checks them (`harness`).

pub mod bank;
pub mod dialect;
pub mod error;
pub mod event_type;
pub mod resources;
pub mod schemas;
pub mod set;
pub mod verdict;

pub use dialect::Dialect;
pub use error::{ObError1, ObErrorResponse1};

/// "a string", "an object", … — how error messages name the JSON type a value has.
pub fn json_type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
pub use event_type::EventType;
