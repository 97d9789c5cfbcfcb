//! The OBIE Read/Write v3.1.x event APIs, served by every personality: event subscriptions
//! ([`subscriptions`], ES-*), the legacy callback URLs ([`callback_urls`], CB-*), aggregated
//! polling ([`polling`], AP-*, RFC 8936), account-access-consents ([`consents`]), raising
//! events as signed SETs ([`events`], N-*, J-*), their push format ([`push`], R-*), the
//! OBIE-shaped sandbox triggers ([`helpers`]) and the routes of all of them ([`routes`]).
//! Request bodies are validated with every problem reported at once ([`validate`]).

pub mod callback_urls;
pub mod consents;
pub mod events;
pub mod helpers;
pub mod openapi;
pub mod polling;
pub mod push;
pub mod routes;
pub mod subscriptions;
pub mod validate;

pub use routes::routes;
