//! The README is the product's manual, so what it counts and where it says things live must
//! stay true: every count it states (faults, scenarios, feature files, rules with scenarios) is
//! computed here from the code and compared, so is the table of faults a TPP may choose, and every path of its Layout section must exist
//! while every entry of the main source folders must be named there. (The total of tests is
//! checked by `.ci/run` against the run's own closing line.)
// Tests assert with unwrap/expect: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use obevents::harness::catalogue::Catalogue;
use obevents::harness::features;
use obevents::sandbox::Fault;

const README: &str = include_str!("../README.md");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README's prose with every run of white space (line breaks included) as one space.
fn prose() -> String {
    README.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every number standing right before `words` in the README (e.g. `66 faults`).
fn numbers_before(words: &str) -> Vec<usize> {
    let text = prose();
    let mut out = Vec::new();
    for (i, _) in text.match_indices(words) {
        let head = text[..i].trim_end_matches(' ');
        let digits: String = head
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .filter(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            out.push(n);
        }
    }
    out
}

/// The scenarios of the embedded bank features (with `tpp`, the TPP features), outlines
/// expanded into their example rows.
fn scenario_names_of(tpp: bool) -> Vec<(String, BTreeSet<String>)> {
    let suite = if tpp {
        features::embedded_tpp()
    } else {
        features::embedded()
    };
    let mut out = Vec::new();
    for f in suite.unwrap() {
        let scenarios = f
            .scenarios
            .iter()
            .chain(f.rules.iter().flat_map(|r| r.scenarios.iter()));
        for s in scenarios {
            let tags: BTreeSet<String> = f.tags.iter().chain(&s.tags).cloned().collect();
            let rows = s
                .examples
                .iter()
                .map(|e| {
                    e.table
                        .as_ref()
                        .map_or(0, |t| t.rows.len().saturating_sub(1))
                })
                .sum::<usize>();
            for _ in 0..rows.max(1) {
                out.push((s.name.clone(), tags.clone()));
            }
        }
    }
    out
}

fn scenario_names() -> Vec<(String, BTreeSet<String>)> {
    scenario_names_of(false)
}

#[test]
fn fault_counts_are_the_fault_list() {
    let n = Fault::ALL.len();
    let stated: Vec<usize> = numbers_before(" switchable faults")
        .into_iter()
        .chain(numbers_before(" faults, "))
        .collect();
    assert!(
        !stated.is_empty(),
        "the README states how many faults there are"
    );
    assert!(
        stated.iter().all(|&s| s == n),
        "README says {stated:?} faults; there are {n}"
    );
    let caught = format!("{n}/{n}");
    assert!(
        prose().contains(&caught),
        "README says every fault is caught ({caught})"
    );
    let tatra = Fault::ALL
        .iter()
        .filter(|f| f.name().starts_with("tatra-"))
        .count();
    assert_eq!(numbers_before(" `tatra-*` faults"), [tatra]);
    let tpp = obevents::tpp::TppFault::ALL.len();
    let stated = numbers_before(" TPP faults");
    assert!(
        !stated.is_empty() && stated.iter().all(|&s| s == tpp),
        "README says {stated:?} TPP faults; there are {tpp}"
    );
    let caught = format!("faults detected: {tpp}/{tpp}");
    assert!(
        prose().contains(&caught),
        "README says every TPP fault is caught ({caught})"
    );
}

/// The README's per-TPP fault table is `Fault::per_tpp`: every fault once, in the column the
/// code puts it in, and the count stated under the table.
#[test]
fn per_tpp_fault_table_is_the_code() {
    let section = README
        .split("#### Per-TPP faults")
        .nth(1)
        .expect("a Per-TPP faults section");
    let rows: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| area | chosen per TPP |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(!rows.is_empty(), "the per-TPP fault table");
    let names = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let (mut per_tpp, mut global) = (Vec::new(), Vec::new());
    for row in rows {
        let cells: Vec<&str> = row.split('|').collect();
        assert_eq!(cells.len(), 5, "three columns: {row}");
        per_tpp.extend(names(cells[2]));
        global.extend(names(cells[3]));
    }
    let of = |per: bool| -> Vec<String> {
        Fault::ALL
            .iter()
            .filter(|f| f.per_tpp() == per)
            .map(|f| f.name().to_string())
            .collect()
    };
    assert_eq!(per_tpp, of(true), "the \"chosen per TPP\" column");
    assert_eq!(global, of(false), "the \"--fault only\" column");
    assert_eq!(
        numbers_before(" of the faults can be chosen per TPP"),
        [per_tpp.len()]
    );
}

#[test]
fn scenario_feature_and_rule_counts_are_the_features() {
    let scenarios = scenario_names();
    let files = features::embedded().unwrap().len();
    for n in numbers_before(" Gherkin scenarios")
        .into_iter()
        .chain(numbers_before(" scenarios in "))
    {
        assert_eq!(n, scenarios.len(), "README's scenario count");
    }
    assert_eq!(numbers_before(" feature files"), [files]);
    let tpp = scenario_names_of(true);
    let stated = numbers_before(" TPP scenarios");
    assert!(
        !stated.is_empty(),
        "the README states how many TPP scenarios there are"
    );
    assert!(
        stated.iter().all(|&n| n == tpp.len()),
        "README says {stated:?} TPP scenarios; there are {}",
        tpp.len()
    );
    let catalogue = Catalogue::embedded().unwrap();
    let tagged: BTreeSet<&str> = scenarios
        .iter()
        .chain(tpp.iter())
        .flat_map(|(_, tags)| tags.iter().map(String::as_str))
        .collect();
    let with_scenarios = catalogue
        .rules
        .iter()
        .filter(|r| tagged.contains(r.id.as_str()))
        .count();
    let claim = format!(
        "{with_scenarios} of the {} catalogue rules have scenarios",
        catalogue.rules.len()
    );
    assert!(prose().contains(&claim), "README should say: {claim}");
}

/// The paths of the Layout block: the first word of every line that starts with one.
fn layout_paths() -> Vec<String> {
    let section = README
        .split("\n## Layout\n")
        .nth(1)
        .expect("a Layout section");
    let block = section.split("```").nth(1).expect("a code block in Layout");
    block
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn every_layout_path_exists_and_every_module_is_named() {
    let paths = layout_paths();
    for p in &paths {
        assert!(
            root().join(p).exists(),
            "README Layout names {p}, which does not exist"
        );
    }
    for dir in ["src", "src/sandbox", "src/sandbox/dialects", "src/harness"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let full = if entry.path().is_dir() {
                format!("{dir}/{name}/")
            } else {
                format!("{dir}/{name}")
            };
            let named = paths.iter().any(|p| p == &full || p.starts_with(&full));
            assert!(named, "{full} is not named in the README's Layout section");
        }
    }
}

/// Every repository path the README quotes (`` `src/…` ``, `` `tests/…` `` …) exists; `NAME`
/// stands for a dialect's name in the "Adding a dialect" list.
#[test]
fn every_quoted_path_exists() {
    let roots = [
        "src/",
        "tests/",
        "fixtures/",
        "features/",
        "schemas/",
        "examples/",
        "catalogue/",
        ".ci/",
    ];
    let mut missing = Vec::new();
    for quoted in README.split('`').skip(1).step_by(2) {
        if !roots.iter().any(|r| quoted.starts_with(r)) || quoted.contains("NAME") {
            continue;
        }
        let path = quoted.split_whitespace().next().unwrap_or(quoted);
        if !root().join(path).exists() {
            missing.push(path.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "the README quotes paths that do not exist: {missing:?}"
    );
}

/// The README's performance table (the first table of the "Performance" section): its header
/// cells and the measure of each row.
fn performance_table() -> (Vec<String>, BTreeSet<String>) {
    let section = README
        .split("\n## Performance")
        .nth(1)
        .expect("a Performance section");
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().replace("\\|", "|"))
            .collect()
    };
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with("| measure |"));
    let header = cells(lines.next().expect("the table's header"));
    let rows = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| cells(l)[0].clone())
        .collect();
    (header, rows)
}

/// The README's performance table has the columns `bench --markdown` prints and one row per
/// measure `bench --json` writes (a short run: the numbers are not compared).
#[test]
fn performance_table_rows_and_columns_are_what_bench_json_writes() {
    let dir = std::env::temp_dir().join(format!("obevents-readme-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_obevents"))
        .args([
            "--log",
            "warn",
            "bench",
            "--seconds",
            "1",
            "--connections",
            "4",
        ])
        .args([
            "--store-sizes",
            "100,200",
            "--held-polls",
            "50",
            "--wake-rounds",
            "5",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let measures: BTreeSet<String> = report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["measure"].as_str().unwrap().to_string())
        .collect();
    let (header, rows) = performance_table();
    assert_eq!(header, obevents::bench::report::COLUMNS);
    assert_eq!(rows, measures);
}
