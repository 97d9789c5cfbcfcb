//! The bench's figures: each measure with the limit measured in the same run, the ratio to it
//! and the target, printed as a table and written as JSON (`--json FILE`, from which the
//! README's performance table is made). A ratio is what a target is set on: the absolute
//! figures move with the machine's other load, the ratio to a limit measured interleaved with
//! the measure much less.

use serde::Serialize;
use tabled::settings::Style;
use tabled::{Table, Tabled};

/// The columns of the printed table, and of the README's performance table.
pub const COLUMNS: [&str; 6] = ["measure", "value", "limit", "ratio", "target", "verdict"];

/// A limit a measure is bounded by, measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Limit {
    /// What was measured, e.g. `GET /healthz`.
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable key (the same in every run), e.g. `empty_poll`.
    pub id: &'static str,
    pub measure: String,
    pub value: f64,
    pub unit: String,
    pub limit: Option<Limit>,
    /// `value / limit.value`, when there is a limit.
    pub ratio: Option<f64>,
    pub target: String,
    /// Whether the target was met; `None` for a figure without a target.
    pub met: Option<bool>,
    /// Percentiles, counts and the like.
    pub detail: String,
}

impl Figure {
    /// A figure bounded by `limit`, met when the ratio reaches `min_ratio`.
    pub fn ratio(
        id: &'static str,
        measure: &str,
        (value, unit): (f64, &str),
        limit: Limit,
        min_ratio: f64,
    ) -> Figure {
        let ratio = if limit.value > 0.0 {
            value / limit.value
        } else {
            0.0
        };
        Figure {
            id,
            measure: measure.into(),
            value,
            unit: unit.into(),
            target: format!(">= {:.0} % of {}", min_ratio * 100.0, limit.name),
            limit: Some(limit),
            ratio: Some(ratio),
            met: Some(ratio >= min_ratio),
            detail: String::new(),
        }
    }

    /// A figure without a limit, with a target of its own (`met` says whether it holds).
    pub fn plain(
        id: &'static str,
        measure: &str,
        (value, unit): (f64, &str),
        target: &str,
        met: Option<bool>,
    ) -> Figure {
        Figure {
            id,
            measure: measure.into(),
            value,
            unit: unit.into(),
            limit: None,
            ratio: None,
            target: target.into(),
            met,
            detail: String::new(),
        }
    }

    pub fn detail(mut self, detail: String) -> Figure {
        self.detail = detail;
        self
    }
}

/// A whole run: where it ran and every figure.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: String,
    pub engine: String,
    pub cores: usize,
    /// `/proc/loadavg`'s first three numbers at the start and at the end of the run.
    pub load_before: String,
    pub load_after: String,
    pub figures: Vec<Figure>,
}

#[derive(Tabled)]
struct Row {
    measure: String,
    value: String,
    limit: String,
    ratio: String,
    target: String,
    verdict: String,
}

fn number(v: f64, unit: &str) -> String {
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

fn row(f: &Figure) -> Row {
    let mut value = number(f.value, &f.unit);
    if !f.detail.is_empty() {
        value = format!("{value} ({})", f.detail);
    }
    Row {
        measure: f.measure.clone(),
        value,
        limit: f
            .limit
            .as_ref()
            .map(|l| format!("{}: {}", l.name, number(l.value, &l.unit)))
            .unwrap_or_else(|| "-".into()),
        ratio: f
            .ratio
            .map(|r| format!("{:.0} %", r * 100.0))
            .unwrap_or_else(|| "-".into()),
        target: f.target.clone(),
        verdict: match f.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "-",
        }
        .into(),
    }
}

/// The table `obevents bench` prints.
pub fn table(figures: &[Figure]) -> String {
    let rows: Vec<Row> = figures.iter().map(row).collect();
    Table::new(&rows).with(Style::rounded()).to_string()
}

/// The same table in Markdown (what the README's performance table is pasted from).
pub fn markdown(figures: &[Figure]) -> String {
    let mut out = format!("| {} |\n", COLUMNS.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(COLUMNS.len())));
    for f in figures {
        let r = row(f);
        let cells = [r.measure, r.value, r.limit, r.ratio, r.target, r.verdict];
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// `/proc/loadavg`'s first three numbers (empty where there is none).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_figure_is_judged_on_its_ratio() {
        let limit = Limit {
            name: "GET /healthz".into(),
            value: 1000.0,
            unit: "req/s".into(),
        };
        let f = Figure::ratio("x", "poll", (850.0, "req/s"), limit.clone(), 0.8);
        assert_eq!(f.met, Some(true));
        assert!((f.ratio.unwrap_or_default() - 0.85).abs() < 1e-9);
        let f = Figure::ratio("x", "poll", (700.0, "req/s"), limit, 0.8);
        assert_eq!(f.met, Some(false));
        let md = markdown(&[f]);
        assert!(md.starts_with("| measure | value | limit | ratio | target | verdict |"));
        assert!(
            md.contains("| 70 % | >= 80 % of GET /healthz | MISSED |"),
            "{md}"
        );
    }
}
