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
//! To add a dialect API (Yapily, Tatra …): give its module a `routes() -> Routes` built with
//! `add`, describe each operation with an `OpDoc` (in `openapi::ops` or beside the handler),
//! and merge it in `http::router`.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use super::openapi::ops::OpDoc;
use crate::sandbox::state::AppState;

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

/// A router under construction together with the operations added to it.
pub struct Routes {
    router: Router<AppState>,
    ops: Vec<Op>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            ops: Vec::new(),
        }
    }

    /// Serves `verb path` with `handler` and records it with its description. Adding a second
    /// method to a path merges with the first (axum panics at start on a duplicate method).
    pub fn add<H, T>(mut self, verb: Verb, path: &str, doc: &'static OpDoc, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, on(verb.filter(), handler));
        self.ops.push(Op {
            verb,
            path: path.to_string(),
            doc,
        });
        self
    }

    /// Both tables' routes.
    pub fn include(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self
    }

    /// `other`'s routes under `prefix` (e.g. `/open-banking/v3.1`).
    pub fn mount(mut self, prefix: &str, other: Routes) -> Routes {
        self.router = self.router.nest(prefix, other.router);
        self.ops.extend(other.ops.into_iter().map(|op| Op {
            path: format!("{prefix}{}", op.path),
            ..op
        }));
        self
    }

    /// Applies `f` to the router (layers, fallbacks, state) without touching the table:
    /// anything that adds routes must go through [`Routes::add`].
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Routes {
        self.router = f(self.router);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<Op>) {
        (self.router, self.ops)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every route of the sandbox enters through `Routes::add`: no other file under
    /// `src/sandbox/http` may call axum's `route`/`nest` family directly, or its routes would
    /// be served without being described in `/openapi.json`.
    #[test]
    fn no_route_bypasses_the_table() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sandbox/http");
        let mut stack = vec![root];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src/sandbox/http") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.file_name().is_some_and(|n| n == "routes.rs") {
                    continue;
                }
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
