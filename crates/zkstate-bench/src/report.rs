//! The results table: one row per comparison, rendered as markdown.

use crate::stats::{format_bytes, format_nanos, format_rate, format_ratio, Summary};

/// What was measured on one side of a row.
#[derive(Clone, Debug)]
pub enum Measure {
    /// Latency percentiles, nanoseconds.
    Latency(Summary),
    /// Memory held per instance, bytes.
    Bytes(f64),
    /// Any other amount: its value (for the ratio) and how it is shown.
    Amount(f64, String),
    /// Not measured, and why.
    Missing(String),
    /// Nothing to show (a throughput-only row).
    Blank,
}

impl Measure {
    pub fn latency(summary: Option<Summary>, what: &str) -> Measure {
        match summary {
            Some(s) => Measure::Latency(s),
            None => Measure::Missing(format!("no samples of {what}")),
        }
    }

    /// Bytes per `what` (a change, a state).
    pub fn bytes_per(bytes: f64, what: &str) -> Measure {
        Measure::Amount(bytes, format!("{} / {what}", format_bytes(bytes)))
    }

    /// A count per `what`, to one decimal.
    pub fn count_per(count: f64, unit: &str, what: &str) -> Measure {
        Measure::Amount(count, format!("{count:.1} {unit} / {what}"))
    }

    pub fn summary(&self) -> Option<&Summary> {
        match self {
            Measure::Latency(s) => Some(s),
            _ => None,
        }
    }

    fn cells(&self) -> [String; 3] {
        match self {
            Measure::Latency(s) => [
                format_nanos(s.p50),
                format_nanos(s.p90),
                format_nanos(s.p99),
            ],
            Measure::Bytes(b) => [
                format!("{} / instance", format_bytes(*b)),
                "—".into(),
                "—".into(),
            ],
            Measure::Amount(_, text) => [text.clone(), "—".into(), "—".into()],
            Measure::Missing(why) => [format!("not measured: {why}"), "—".into(), "—".into()],
            Measure::Blank => ["—".into(), "—".into(), "—".into()],
        }
    }
}

/// The target a row is held to (BENCHMARKS.md's "target" column): reported, never asserted.
#[derive(Clone, Debug)]
pub struct Target {
    pub text: String,
    /// `None` when it could not be judged (a side was not measured).
    pub met: Option<bool>,
}

impl Target {
    pub fn new(text: impl Into<String>, met: Option<bool>) -> Target {
        Target {
            text: text.into(),
            met,
        }
    }
}

/// One comparison: zkstate doing some work, and a baseline doing the same work.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub work: String,
    pub zk: Measure,
    pub zk_rate: Option<f64>,
    pub baseline: String,
    pub base: Measure,
    pub base_rate: Option<f64>,
    pub targets: Vec<Target>,
}

impl Row {
    pub fn new(
        id: &str,
        work: impl Into<String>,
        zk: Measure,
        baseline: impl Into<String>,
        base: Measure,
    ) -> Row {
        Row {
            id: id.to_string(),
            work: work.into(),
            zk,
            zk_rate: None,
            baseline: baseline.into(),
            base,
            base_rate: None,
            targets: Vec::new(),
        }
    }

    /// A row where neither side could be measured.
    pub fn missing(
        id: &str,
        work: impl Into<String>,
        baseline: impl Into<String>,
        why: &str,
    ) -> Row {
        Row::new(
            id,
            work,
            Measure::Missing(why.to_string()),
            baseline,
            Measure::Missing(why.to_string()),
        )
    }

    pub fn with_rates(mut self, zk: Option<f64>, base: Option<f64>) -> Row {
        self.zk_rate = zk;
        self.base_rate = base;
        self
    }

    pub fn with_target(mut self, target: Target) -> Row {
        self.targets.push(target);
        self
    }

    /// zkstate's p50 over the baseline's.
    pub fn ratio_p50(&self) -> Option<f64> {
        match (&self.zk, &self.base) {
            (Measure::Latency(a), Measure::Latency(b)) => Some(a.p50 / b.p50),
            (Measure::Bytes(a), Measure::Bytes(b)) => Some(a / b),
            (Measure::Amount(a, _), Measure::Amount(b, _)) if *b != 0.0 => Some(a / b),
            _ => None,
        }
    }

    /// zkstate's p99 over the baseline's.
    pub fn ratio_p99(&self) -> Option<f64> {
        match (&self.zk, &self.base) {
            (Measure::Latency(a), Measure::Latency(b)) => Some(a.p99 / b.p99),
            _ => None,
        }
    }

    /// A target on the p50 ratio: met when zkstate's p50 is at most `max` × the baseline's.
    pub fn target_p50_ratio(self, text: &str, max: f64) -> Row {
        let met = self.ratio_p50().map(|r| r <= max);
        self.with_target(Target::new(text, met))
    }

    /// A target on the p99 ratio.
    pub fn target_p99_ratio(self, text: &str, max: f64) -> Row {
        let met = self.ratio_p99().map(|r| r <= max);
        self.with_target(Target::new(text, met))
    }

    /// A target on the throughput ratio: met when zkstate's rate is at least `min` × the
    /// baseline's.
    pub fn target_rate_ratio(self, text: &str, min: f64) -> Row {
        let met = match (self.zk_rate, self.base_rate) {
            (Some(zk), Some(base)) if base > 0.0 => Some(zk / base >= min),
            _ => None,
        };
        self.with_target(Target::new(text, met))
    }
}

/// Everything one run found.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Counts and remarks printed under the table.
    pub notes: Vec<String>,
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| # | zkstate | p50 | p90 | p99 | baseline (same work) | p50 | p90 | p99 | ratio p50 | ratio p99 | ops/s zkstate / baseline | target | met |\n");
        out.push_str("|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|---|---|\n");
        for row in &self.rows {
            let zk = row.zk.cells();
            let base = row.base.cells();
            let ratio = |r: Option<f64>| r.map(format_ratio).unwrap_or_else(|| "—".into());
            let rates = match (row.zk_rate, row.base_rate) {
                (None, None) => "—".to_string(),
                (a, b) => format!(
                    "{} / {}",
                    a.map(format_rate).unwrap_or_else(|| "—".into()),
                    b.map(format_rate).unwrap_or_else(|| "—".into())
                ),
            };
            let targets = if row.targets.is_empty() {
                "—".to_string()
            } else {
                row.targets
                    .iter()
                    .map(|t| t.text.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let met = if row.targets.is_empty() {
                "—".to_string()
            } else {
                row.targets
                    .iter()
                    .map(|t| match t.met {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "not judged",
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                row.id,
                cell(&row.work),
                cell(&zk[0]),
                zk[1],
                zk[2],
                cell(&row.baseline),
                cell(&base[0]),
                base[1],
                base[2],
                ratio(row.ratio_p50()),
                ratio(row.ratio_p99()),
                rates,
                cell(&targets),
                met,
            ));
        }
        out
    }

    /// The targets, one line each, with their verdict.
    pub fn targets(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            for t in &row.targets {
                let verdict = match t.met {
                    Some(true) => "met",
                    Some(false) => "**missed**",
                    None => "not judged",
                };
                out.push_str(&format!("- {} {}: {}\n", row.id, t.text, verdict));
            }
        }
        out
    }

    pub fn notes(&self) -> String {
        self.notes.iter().map(|n| format!("- {n}\n")).collect()
    }
}
