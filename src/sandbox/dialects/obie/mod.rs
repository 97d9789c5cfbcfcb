//! The OBIE Read/Write v3.1.x event APIs, served by every personality: event subscriptions
//! ([`subscriptions`], ES-*), the legacy callback URLs ([`callback_urls`], CB-*), aggregated
//! polling ([`polling`], AP-*, RFC 8936), account-access-consents ([`consents`]), raising
//! events as signed SETs ([`events`], N-*, J-*), their push format ([`push`], R-*), the
//! OBIE-shaped sandbox triggers ([`helpers`]) and the routes of all of them ([`routes`]).
//! Request bodies are parsed at the edge into typed commands ([`requests`], with every problem
//! reported at once by [`validate`]); operations answer domain records or an [`error::ObError`],
//! the one error type of this dialect; [`render`] makes the specification's bodies of them and
//! [`set`] the SET of each event.

pub mod callback_urls;
pub mod consents;
pub mod error;
pub mod events;
pub mod extract;
pub mod helpers;
pub mod openapi;
pub mod polling;
pub mod push;
pub mod render;
pub mod requests;
pub mod routes;
pub mod set;
pub mod subscriptions;
pub mod validate;

pub use routes::routes;
