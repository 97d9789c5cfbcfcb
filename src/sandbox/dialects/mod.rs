//! The API styles the sandbox speaks, one folder each, and the list that puts them together.
//!
//! Every folder owns its whole style: its routes and their OpenAPI descriptions, the parsing of
//! its requests into typed commands, its operations over the shared state, its error type
//! (mapped to its wire error in one place), its rendering, and — for a style that pushes — the
//! wire format of its deliveries:
//!
//! - [`obie`]: OBIE v3.1.x subscriptions, callback URLs, polling, consents, SETs, OBIE push,
//!   and the OBIE-shaped sandbox triggers; served by every personality;
//! - [`wso2`]: the WSO2 accelerator's Event Creation API (`--bank wso2`);
//! - [`yapily`]: Yapily-style subscriptions and signed webhooks (`--bank yapily`);
//! - [`tatra`]: Tatra-banka-style webhook settings, consents, refresh and webhooks
//!   (`--bank tatra`).
//!
//! ## Adding a dialect
//! 1. a variant of [`crate::model::Dialect`] (its name in configs, profiles and delivery rows)
//!    and a `Bank` personality that serves it (`sandbox::personality`);
//! 2. a folder here: `mod.rs` (operations), `routes.rs` (`routes() -> Routes` with its
//!    refusal shape), `openapi.rs` (one `OpDoc` per route, component schemas), `wire.rs` (the
//!    push body, if it pushes), its error type;
//! 3. one arm in [`routes`] and, if it pushes, one in [`render`] — the dialect list.
//!
//! Its tables, if any, go in `store/` (one file per engine) with a migration of the same
//! number on both engines.

pub mod obie;
pub mod tatra;
pub mod wso2;
pub mod yapily;

use super::domain::{Dialect, DueDelivery, Wire};
use super::faults::Faults;
use super::http::routes::Routes;
use super::state::AppState;

/// The routes of every dialect the personality serves (OBIE's always).
pub fn routes(state: &AppState) -> Routes {
    Dialect::ALL
        .into_iter()
        .filter(|d| state.cfg.personality.serves(*d))
        .fold(Routes::new(), |table, d| {
            table.include(match d {
                Dialect::Obie => obie::routes(state),
                Dialect::Wso2 => wso2::routes(),
                Dialect::Yapily => yapily::routes::routes(),
                Dialect::Tatra => tatra::routes::routes(),
            })
        })
}

/// The request of one push attempt of `d`, in its dialect's wire format, or why nothing can be
/// sent; `faults` are those in effect for the delivery's TPP.
pub async fn render(
    state: &AppState,
    faults: &Faults,
    d: &DueDelivery,
    interaction_id: &str,
) -> Result<Wire, String> {
    match d.format {
        // Events raised through WSO2's API are OBIE SETs and are pushed as such.
        Dialect::Obie | Dialect::Wso2 => obie::push::render(state, faults, d, interaction_id),
        Dialect::Yapily => yapily::wire::render(state, faults, d),
        // Async: the Authorization header is the settings' at the time of the attempt.
        Dialect::Tatra => tatra::wire::render(state, faults, d).await,
    }
}
