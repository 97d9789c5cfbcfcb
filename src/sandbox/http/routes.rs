//! The route table: every route the sandbox serves enters the router through [`Routes::add`],
//! which records the method, the full path and the operation's description ([`OpDoc`]) beside
//! the handler. The axum router and `GET /openapi.json` are both built from that one table, so
//! a route cannot be served without appearing in the published API description.
//!
//! Why a table rather than a test that probes the router: axum does not list a `Router`'s
//! routes, so a probing test could only try the paths someone already thought of and would
//! miss exactly the route a newcomer forgot to document. Two tests keep the table honest
//! instead: a unit test here fails when axum's `.route(`/`.nest(`/`.merge(` is called anywhere in
//! `src/sandbox/http` outside this file (so nobody bypasses the table), and
//! `tests/sandbox/openapi.rs` calls every documented operation of every personality and checks
//! that the router answers it (not 404) and answers 405 for every method the document leaves
//! out of a path.
//!
//! A dialect (`sandbox::dialects::*`) gives its folder a `routes() -> Routes` built with `add`,
//! describes each operation with an `OpDoc` beside it, names its error shape for unknown paths
//! under its prefixes (`refuse_with`) and its extra component schemas (`with_schemas`); the
//! dialect list includes it, and `http::router` serves the whole table.

use axum::Router;
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use serde_json::Value;

use super::extract::InteractionId;
use super::openapi::ops::OpDoc;
use crate::sandbox::state::AppState;

/// How a dialect words a refusal given outside its handlers (an unknown path or method under
/// one of its prefixes): the request's headers and interaction id, the status and a message.
pub type RefusalFn = fn(&HeaderMap, &InteractionId, StatusCode, String) -> Response;

/// Path prefixes a dialect's own error shape answers under.
#[derive(Clone, Copy)]
pub struct Refusals {
    pub prefixes: &'static [&'static str],
    pub render: RefusalFn,
}

/// The HTTP methods the sandbox uses (GET routes answer HEAD too, as axum does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// The key of the operation in an OpenAPI path item.
    pub fn key(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }
}

/// One served operation: method, full path (axum and OpenAPI share the `{Name}` syntax) and
/// its description.
#[derive(Debug, Clone)]
pub struct Op {
    pub verb: Verb,
    pub path: String,
    pub doc: &'static OpDoc,
}

/// A router under construction together with the operations added to it, the refusal shapes
/// of the dialects it holds and their extra OpenAPI component schemas.
pub struct Routes {
    router: Router<AppState>,
    /// Put before every path [`Routes::add`] is given (see [`Routes::under`]).
    prefix: &'static str,
    ops: Vec<Op>,
    refusals: Vec<Refusals>,
    schemas: Vec<fn() -> Value>,
}

/// What the router is assembled from ([`Routes::into_parts`]).
pub struct Parts {
    pub router: Router<AppState>,
    pub ops: Vec<Op>,
    pub refusals: Vec<Refusals>,
    pub schemas: Vec<fn() -> Value>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes::under("")
    }

    /// A table whose paths all start with `prefix` (e.g. `/open-banking/v3.1`). The routes are
    /// added with their full paths rather than nested under the prefix: axum serves a nested
    /// router through a second routing step (strip the prefix, match again, clone the inner
    /// route), measured at about 3 % of an empty poll's server CPU. Layers applied with
    /// [`Routes::map_router`] still wrap only this table's routes.
    pub fn under(prefix: &'static str) -> Routes {
        Routes {
            router: Router::new(),
            prefix,
            ops: Vec::new(),
            refusals: Vec::new(),
            schemas: Vec::new(),
        }
    }

    /// Serves `verb path` with `handler` and records it with its description. Adding a second
    /// method to a path merges with the first (axum panics at start on a duplicate method).
    pub fn add<H, T>(mut self, verb: Verb, path: &str, doc: &'static OpDoc, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let path = format!("{}{path}", self.prefix);
        self.router = self.router.route(&path, on(verb.filter(), handler));
        self.ops.push(Op { verb, path, doc });
        self
    }

    /// Serves `verb path` with `handler` as a browser page of the sandbox portal
    /// (`sandbox::portal`), which is not part of any API: it is left out of `/openapi.json` on
    /// purpose (HTML forms, a session cookie and CSRF tokens are not an API a client generator
    /// should see). Only paths under `/portal/` may enter this way.
    pub fn add_page<H, T>(mut self, verb: Verb, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        debug_assert!(path == "/portal" || path.starts_with("/portal/"));
        self.router = self.router.route(path, on(verb.filter(), handler));
        self
    }

    /// Both tables' routes.
    pub fn include(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self.refusals.extend(other.refusals);
        self.schemas.extend(other.schemas);
        self
    }

    /// Refusals under `prefixes` (unknown paths and methods) take `render`'s shape instead
    /// of the OBIE error body.
    pub fn refuse_with(mut self, prefixes: &'static [&'static str], render: RefusalFn) -> Routes {
        self.refusals.push(Refusals { prefixes, render });
        self
    }

    /// Component schemas the table's operations name beyond the shared ones.
    pub fn with_schemas(mut self, schemas: fn() -> Value) -> Routes {
        self.schemas.push(schemas);
        self
    }

    /// Applies `f` to the router (layers, fallbacks, state) without touching the table:
    /// anything that adds routes must go through [`Routes::add`].
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Routes {
        self.router = f(self.router);
        self
    }

    pub fn into_parts(self) -> Parts {
        Parts {
            router: self.router,
            ops: self.ops,
            refusals: self.refusals,
            schemas: self.schemas,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every route of the sandbox enters through `Routes::add`: no other file under
    /// `src/sandbox` may call axum's `route`/`nest` family directly, or its routes would be
    /// served without being described in `/openapi.json`.
    #[test]
    fn no_route_bypasses_the_table() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sandbox");
        let table = src.join("http").join("routes.rs");
        let mut stack = vec![src.clone()];
        let mut offenders = Vec::new();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("read a source folder") {
                    stack.push(entry.expect("dir entry").path());
                }
                continue;
            }
            if path == table || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            {
                let text = std::fs::read_to_string(&path).expect("read source");
                for needle in [
                    ".route(",
                    ".route_service(",
                    ".nest(",
                    ".nest_service(",
                    ".merge(",
                ] {
                    if text.contains(needle) {
                        offenders.push(format!("{} calls {needle}", path.display()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
