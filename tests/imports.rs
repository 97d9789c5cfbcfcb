//! No import cycles between the modules of `src/sandbox` and `src/harness`: each folds into its
//! area module (`sandbox::x`, `harness::x`), an edge is any `use crate::…`/`super::…`/`self::…`
//! or inline `crate::…`/`super::…` path outside `#[cfg(test)]` (doc comments included: a
//! doc link is a dependency a reader follows), and the graph of areas must have no cycle. The
//! sandbox's layers (`src/sandbox/mod.rs`) rely on it: a cycle would let a lower layer reach up.
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/sandbox/http/mod.rs` → `sandbox::http`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts.join("::")
}

/// `a::{b, c::{d}}` → `a::b`, `a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let (head, body) = (&tree[..open], &tree[open + 1..close]);
    let mut items = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for ch in body.chars() {
        match ch {
            ',' if depth == 0 => items.push(std::mem::take(&mut cur)),
            '{' => {
                depth += 1;
                cur.push(ch)
            }
            '}' => {
                depth -= 1;
                cur.push(ch)
            }
            _ => cur.push(ch),
        }
    }
    items.push(cur);
    items
        .iter()
        .filter(|i| !i.is_empty())
        .flat_map(|i| expand(i).into_iter().map(move |x| format!("{head}{x}")))
        .collect()
}

/// Every path a file names that starts at `crate`, `super` or `self`.
fn paths_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let ok_start = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &rest[i + 4..];
        if ok_start
            && ["crate::", "super::", "self::"]
                .iter()
                .any(|p| after.starts_with(p))
            && let Some(end) = after.find(';')
        {
            out.extend(expand(&after[..end]));
        }
        rest = after;
    }
    let bytes = text.as_bytes();
    for start in ["crate::", "super::"] {
        for (i, _) in text.match_indices(start) {
            let prev = if i == 0 { b' ' } else { bytes[i - 1] };
            if prev.is_ascii_alphanumeric() || prev == b'_' || prev == b':' {
                continue;
            }
            let path: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path names: the longest prefix that is a module of the crate.
fn resolve(path: &str, here: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let mut base: Vec<&str> = here.split("::").collect();
    match parts.first() {
        Some(&"crate") => {
            base.clear();
            parts.remove(0);
        }
        Some(&"self") => {
            parts.remove(0);
        }
        _ => {
            while parts.first() == Some(&"super") {
                base.pop();
                parts.remove(0);
            }
        }
    }
    (1..=parts.len()).rev().find_map(|k| {
        let candidate = base.iter().chain(&parts[..k]).copied().collect::<Vec<_>>();
        let candidate = candidate.join("::");
        modules.contains(&candidate).then_some(candidate)
    })
}

/// `sandbox::dialects::obie::events` → `sandbox::dialects`.
fn area(module: &str) -> String {
    let parts: Vec<&str> = module.split("::").collect();
    if matches!(parts.first(), Some(&"sandbox") | Some(&"harness")) {
        parts.iter().take(2).copied().collect::<Vec<_>>().join("::")
    } else {
        parts[0].to_string()
    }
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let lw = s.low[w.as_str()];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w.as_str()) {
                let iw = s.index[w.as_str()];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_import_cycle_between_sandbox_or_harness_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<String> = all.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let here = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for path in paths_in(text) {
            let Some(target) = resolve(&path, &here, &modules) else {
                continue;
            };
            let (from, to) = (area(&here), area(&target));
            if from != to {
                graph.entry(from).or_default().insert(to);
            }
        }
    }
    let found: Vec<Vec<String>> = cycles(&graph)
        .into_iter()
        .filter(|c| {
            c.iter()
                .any(|m| m.starts_with("sandbox") || m.starts_with("harness"))
        })
        .collect();
    assert!(
        graph.contains_key("sandbox::dialects") && graph.contains_key("harness::runner"),
        "the scan found the modules: {:?}",
        graph.keys().collect::<Vec<_>>()
    );
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn expansion_and_resolution() {
    assert_eq!(expand("a::{b, c::{d, e}}"), ["a::b", "a::c::d", "a::c::e"]);
    let modules: BTreeSet<String> = ["sandbox", "sandbox::http", "sandbox::http::error"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        resolve(
            "super::error::EdgeError",
            "sandbox::http::extract",
            &modules
        )
        .as_deref(),
        Some("sandbox::http::error")
    );
    assert_eq!(
        resolve("crate::sandbox::http::Thing", "x", &modules).as_deref(),
        Some("sandbox::http")
    );
}
