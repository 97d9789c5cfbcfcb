//! Wire types shared by the sandbox and the harness, named as the OBIE specification names them.
//!
//! Only shapes live here (serde derives and tiny constructors); validation rules live with the
//! code that enforces them (`sandbox::validate`) or checks them (`harness`).

pub mod error;
pub mod event_type;
pub mod set;

pub use error::{ObError1, ObErrorResponse1};
pub use event_type::EventType;
