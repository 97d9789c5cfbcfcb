//! `OBErrorResponse1` / `OBError1` (G-12): the error body of every OBIE API error except 401.

use serde::{Deserialize, Serialize};

/// The OBIE error envelope. `Errors` always has at least one item (G-12).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ObErrorResponse1 {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub message: String,
    pub errors: Vec<ObError1>,
}

/// One detailed error: a namespaced `ErrorCode`, a message and, where a field is at fault, its `Path`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ObError1 {
    pub error_code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
