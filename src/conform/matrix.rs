//! The conformance matrix: one fixed corpus of scripts run on every stack, tabulated by the
//! table rows the stacks deviate from.
//!
//! A fuzz run answers "what is wrong with this stack?" one (check, row) at a time, in an order
//! that depends on the search. The matrix asks the same question of every stack at once, with
//! the same scripts (the seed scripts and every committed finding of every stack), so that the
//! columns can be compared: which stack deviates from which RFC rule, which does not, and which
//! the corpus never brings there. A cell that deviates says how a person triaged it, where the
//! stack's own committed findings record that (bug, RFC-permitted, a gap of our oracle or
//! harness).
//!
//! This module is the bookkeeping: running one script on one stack ([`judge`]), and turning
//! each stack's outcomes into the table ([`Matrix::new`]) and its Markdown. Starting stacks,
//! reading files and running columns in parallel is the command's (`src/cli/matrix.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use super::finding::{Finding, Triage};
use super::probe::TimeWait;
use super::script::SEEDS;
use super::{Check, Clock, Oracle, Script, Stack, Verdict};
use crate::model::Model;

/// A script of the corpus, named as the matrix cites it.
#[derive(Clone, Debug)]
pub struct Case {
    /// `seed:active-time-wait`, or a finding's path under the corpus directory.
    pub name: String,
    /// The seed of the stack's own choices the script was saved with.
    pub seed: u64,
    pub script: Script,
}

impl Case {
    /// The seed scripts, run with seed 1 as `fuzz` starts from them.
    pub fn seeds() -> Vec<Case> {
        SEEDS.iter().map(|s| Case { name: format!("seed:{}", s.name), seed: 1, script: s.script() }).collect()
    }

    pub fn from_finding(name: String, finding: &Finding) -> Case {
        Case { name, seed: finding.seed, script: finding.script.clone() }
    }
}

/// What one script did on one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Option<Verdict>,
    /// Indices of the oracle's rows that fired before the run ended.
    pub fired: BTreeSet<usize>,
}

impl Outcome {
    /// Two runs of one script on a real-time stack, as one: the verdict only if both drew it
    /// (the same check at the same row), and every row either fired. A verdict only one run
    /// drew depends on timing; it is returned apart, to be reported as such.
    pub fn agreed(self, other: Outcome) -> (Outcome, Option<Verdict>) {
        let mut fired = self.fired;
        fired.extend(other.fired);
        match (self.verdict, other.verdict) {
            (Some(a), Some(b)) if a.key() == b.key() => (Outcome { verdict: Some(a), fired }, None),
            (a, b) => (Outcome { verdict: None, fired }, a.or(b)),
        }
    }
}

/// Runs `script` on `stack` under `oracle`.
pub fn judge(oracle: &Oracle, stack: &mut dyn Stack, script: &Script) -> Outcome {
    let run = oracle.run(stack, script, false);
    let rows = oracle.model().rows().len();
    let fired = run.features.iter().map(|&f| f as usize).filter(|&f| f < rows).collect();
    Outcome { verdict: run.verdict, fired }
}

/// One stack's column, as the command gathered it.
pub struct Column {
    /// As `--stack` names it: `lwip`.
    pub stack: String,
    /// What ran, or why it could not.
    pub ran: Result<Ran, String>,
}

/// A column whose stack ran.
pub struct Ran {
    /// What the stack says it is: `lwip 2.1.3`.
    pub about: String,
    pub clock: Clock,
    /// One per case, in the corpus's order.
    pub outcomes: Vec<Outcome>,
    /// The triage of the stack's own committed findings, by (check, row).
    pub triage: HashMap<(Check, String), Triage>,
    /// `tcpcheck probe time-wait` on the stack, or why it could not be measured.
    pub time_wait: Result<TimeWait, String>,
}

/// What a stack did at one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cell", rename_all = "kebab-case")]
pub enum Cell {
    /// The stack could not be run here.
    NotRun,
    /// No script brought the stack to this row.
    NotReached,
    /// The row fired and no script drew a verdict at it.
    Conforms,
    /// Scripts drew verdicts at the row: each check, with the triage the stack's committed
    /// findings give it (none: not triaged) and the first case that draws it.
    Deviates { checks: Vec<Deviation> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deviation {
    pub check: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
    /// The first case of the corpus that draws it, and how many do.
    pub case: String,
    pub cases: usize,
}

/// A table row some stack deviates from.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `models/rfc9293.tcp:284`.
    pub row: String,
    pub line: usize,
    /// `TIME-WAIT TIMEOUT-2MSL -> CLOSED`.
    pub rule: String,
    /// `RFC 9293 3.10.8, RFC 9293 3.6.1`.
    pub cite: String,
    /// One per stack, in the columns' order.
    pub cells: Vec<Cell>,
}

/// A stack's line in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub stack: String,
    /// What the stack says it is, or why it did not run.
    pub about: String,
    pub ran: bool,
    pub clock: Option<String>,
    /// Cases that ended in a verdict.
    pub verdicts: usize,
    /// Oracle rows fired.
    pub rows_fired: usize,
    /// Rows with a verdict, by triage (`untriaged` for none).
    pub deviations: BTreeMap<String, usize>,
    /// The TIME-WAIT probe's line.
    pub time_wait: String,
}

/// The whole table.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    pub format: &'static str,
    pub oracle: String,
    /// What the corpus is, in words: `the 12 seed scripts and the 81 finding files under tests/findings`.
    pub corpus: String,
    pub cases: usize,
    pub stacks: Vec<Summary>,
    pub rows: Vec<Row>,
}

/// Bumped when the JSON changes shape.
pub const FORMAT: &str = "tcpcheck-matrix/1";

impl Matrix {
    pub fn new(model: &Model, corpus: String, cases: &[Case], columns: &[Column]) -> Matrix {
        let table = model.table();
        let location: Vec<String> = model.rows().iter().map(|r| table.row_location(r)).collect();

        // Per column: the rows fired, and per row the checks drawn with their cases. Rows are
        // keyed by the verdict's `file:line`: a verdict before any row fired names none.
        type Drawn<'c> = BTreeMap<&'c str, BTreeMap<Check, Vec<&'c str>>>;
        let mut about: BTreeMap<&str, &Verdict> = BTreeMap::new();
        let per_column: Vec<Option<(BTreeSet<&str>, Drawn)>> = columns
            .iter()
            .map(|c| {
                let ran = c.ran.as_ref().ok()?;
                let mut fired = BTreeSet::new();
                let mut drawn = Drawn::new();
                for (case, outcome) in cases.iter().zip(&ran.outcomes) {
                    fired.extend(outcome.fired.iter().map(|&i| location[i].as_str()));
                    if let Some(v) = &outcome.verdict {
                        about.entry(&v.row).or_insert(v);
                        drawn.entry(&v.row).or_default().entry(v.check).or_default().push(&case.name);
                    }
                }
                Some((fired, drawn))
            })
            .collect();

        let mut rows: Vec<Row> = about
            .into_iter()
            .map(|(at, v)| {
                let cells = columns
                    .iter()
                    .zip(&per_column)
                    .map(|(column, seen)| {
                        let Some((fired, drawn)) = seen else { return Cell::NotRun };
                        let triage = column.ran.as_ref().map(|r| &r.triage).ok();
                        match drawn.get(at) {
                            Some(checks) => Cell::Deviates {
                                checks: checks
                                    .iter()
                                    .map(|(&check, cases)| Deviation {
                                        check,
                                        triage: triage.and_then(|t| t.get(&(check, at.to_string())).copied()),
                                        case: cases[0].to_string(),
                                        cases: cases.len(),
                                    })
                                    .collect(),
                            },
                            None if fired.contains(at) => Cell::Conforms,
                            None => Cell::NotReached,
                        }
                    })
                    .collect();
                let line = at.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(0);
                Row { row: at.to_string(), line, rule: v.rule.clone(), cite: v.cite.clone(), cells }
            })
            .collect();
        // In table order: a variant's rows come from several files, so lines alone do not order them.
        rows.sort_by_key(|r| (location.iter().position(|l| *l == r.row).unwrap_or(usize::MAX), r.line));

        let stacks = columns.iter().enumerate().map(|(k, column)| summary(column, &rows, k)).collect();
        Matrix { format: FORMAT, oracle: model.name().to_string(), corpus, cases: cases.len(), stacks, rows }
    }

    /// The table as a Markdown document: what it is, a summary per stack, then a row per
    /// deviating table row. `command` is how it was made, for the reader who wants it again.
    pub fn markdown(&self, command: &str) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "# Conformance matrix\n\n\
             Made by `{command}`; do not edit. Corpus: {}, {} scripts, each run on every stack and judged by \
             the `{}` table. A row for every table rule that some stack deviates from; a column per stack.\n\n\
             - `ok`: the row fired on that stack and no script deviated there.\n\
             - a check (`output`, `state`, ...): scripts drew that verdict at the row. **Bold**: a bug, as the \
             stack's report (`docs/findings/STACK.md`) triages its committed finding; **bold?**: no committed \
             finding of that stack triages it yet; `(permitted)`: RFC-permitted or a documented choice; \
             `(oracle)`, `(harness)`: a gap of tcpcheck's own table or harness, not the stack's.\n\
             - `·`: no script of the corpus brought the stack to the row.\n\
             - `not run`: the stack cannot run here; the summary says why.\n\n\
             Real-time stacks (Linux) run each script twice at once, and a verdict counts only where both \
             runs draw it (`tcpcheck matrix` names the others on stderr: they depend on timing). They run \
             each script up to a horizon, so rows behind long waits (TIME-WAIT) may show `·` there; the \
             TIME-WAIT probe (`tcpcheck probe time-wait`) measures them instead.\n\n",
            self.corpus, self.cases, self.oracle
        );
        let _ = writeln!(
            out,
            "| stack | clock | scripts with a verdict | rows fired | rows deviated from | TIME-WAIT probe |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---|---|");
        for s in &self.stacks {
            if !s.ran {
                let _ = writeln!(out, "| {} | | | | not run: {} | |", s.stack, escape(&s.about));
                continue;
            }
            let deviations =
                s.deviations.iter().map(|(triage, n)| format!("{n} {triage}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                out,
                "| {} | {} | {} of {} | {} | {} | {} |",
                escape(&s.about),
                s.clock.as_deref().unwrap_or(""),
                s.verdicts,
                self.cases,
                s.rows_fired,
                if deviations.is_empty() { "none".into() } else { deviations },
                escape(&s.time_wait),
            );
        }
        let _ = writeln!(out);
        let header: Vec<&str> = self.stacks.iter().map(|s| s.stack.as_str()).collect();
        let _ = writeln!(out, "| row | rule | RFC | {} |", header.join(" | "));
        let _ = writeln!(out, "|---|---|---|{}", "---|".repeat(header.len()));
        for row in &self.rows {
            let cells: Vec<String> = row.cells.iter().map(cell_markdown).collect();
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                row_link(&row.row),
                escape(&row.rule),
                escape(&row.cite),
                cells.join(" | ")
            );
        }
        out
    }
}

fn summary(column: &Column, rows: &[Row], k: usize) -> Summary {
    let ran = match &column.ran {
        Ok(ran) => ran,
        Err(why) => {
            return Summary {
                stack: column.stack.clone(),
                about: why.clone(),
                ran: false,
                clock: None,
                verdicts: 0,
                rows_fired: 0,
                deviations: BTreeMap::new(),
                time_wait: String::new(),
            }
        }
    };
    let mut deviations = BTreeMap::new();
    for row in rows {
        if let Cell::Deviates { checks } = &row.cells[k] {
            // A row counts once, under its worst triage: untriaged, then bug, and so on.
            let worst = checks.iter().map(|d| d.triage).min_by_key(|t| t.map_or(0, |t| t as usize + 1)).flatten();
            *deviations.entry(triage_name(worst).to_string()).or_insert(0) += 1;
        }
    }
    let fired: BTreeSet<usize> = ran.outcomes.iter().flat_map(|o| o.fired.iter().copied()).collect();
    Summary {
        stack: column.stack.clone(),
        about: ran.about.clone(),
        ran: true,
        clock: Some(ran.clock.to_string()),
        verdicts: ran.outcomes.iter().filter(|o| o.verdict.is_some()).count(),
        rows_fired: fired.len(),
        deviations,
        time_wait: match &ran.time_wait {
            Ok(tw) => time_wait_line(tw, ran.clock),
            Err(why) => format!("not measured: {why}"),
        },
    }
}

fn triage_name(triage: Option<Triage>) -> &'static str {
    match triage {
        None => "untriaged",
        Some(Triage::Bug) => "bug",
        Some(Triage::Permitted) => "permitted",
        Some(Triage::Oracle) => "oracle",
        Some(Triage::Harness) => "harness",
    }
}

/// The probe's three answers in one line. A real-time stack's length is given in whole seconds
/// (its timers fire late by a different amount in every run; the figure must read the same in
/// every regeneration of the table).
pub fn time_wait_line(tw: &TimeWait, clock: Clock) -> String {
    if tw.lasts.as_micros() == 0 {
        return "no TIME-WAIT".into();
    }
    if tw.outlasts_limit() {
        return format!("lasts at least {} (the probe's limit)", tw.limit);
    }
    let lasts = match clock {
        Clock::Virtual => format!("{:.3}s", tw.lasts.as_micros() as f64 / 1e6),
        Clock::Real => {
            let secs = tw.lasts.as_micros() / 1_000_000;
            format!("{secs}-{}s", secs + 1)
        }
    };
    format!(
        "lasts {lasts}; a FIN {}; a RST {}",
        if tw.restarts() { "restarts it" } else { "does not restart it" },
        if tw.survives_rst { "is ignored" } else { "ends it" },
    )
}

fn cell_markdown(cell: &Cell) -> String {
    match cell {
        Cell::NotRun => "not run".into(),
        Cell::NotReached => "·".into(),
        Cell::Conforms => "ok".into(),
        Cell::Deviates { checks } => checks
            .iter()
            .map(|d| match d.triage {
                None => format!("**{}**?", d.check),
                Some(Triage::Bug) => format!("**{}**", d.check),
                Some(t) => format!("{} ({})", d.check, triage_name(Some(t))),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A shipped table's row as a link from `docs/findings/`, where the matrix is kept; any other
/// as its `file:line`.
fn row_link(location: &str) -> String {
    match location.strip_prefix("models/").and_then(|l| l.split_once(':')) {
        Some((file, line)) => format!("[{file}:{line}](../../models/{file}#L{line})"),
        None => escape(location),
    }
}

/// A Markdown table cell cannot hold a `|`.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::model::shipped::Shipped;

    fn model(name: &str) -> Model {
        Shipped::find(name).unwrap().load().unwrap()
    }

    /// The seeds on the reference stack executing `stack_model`, judged by rfc9293.
    fn column(name: &str, oracle_model: &Model, stack_model: &str, triage: Option<Triage>) -> Column {
        let stack_model = model(stack_model);
        let mut stack = Reference::new(&stack_model, 1);
        let oracle = Oracle::new(oracle_model, stack.params().clone());
        let outcomes: Vec<Outcome> = Case::seeds().iter().map(|c| judge(&oracle, &mut stack, &c.script)).collect();
        let triage = outcomes
            .iter()
            .filter_map(|o| o.verdict.as_ref())
            .filter_map(|v| Some(((v.check, v.row.clone()), triage?)))
            .collect();
        let time_wait = crate::conform::probe::time_wait(
            &mut stack,
            crate::time::Duration::from_secs(1),
            stack_model.table().msl.times(5),
        )
        .map_err(|e| e.to_string());
        Column {
            stack: name.into(),
            ran: Ok(Ran { about: name.into(), clock: Clock::Virtual, outcomes, triage, time_wait }),
        }
    }

    #[test]
    fn a_mutant_deviates_at_its_rows_and_the_table_conforms_everywhere() {
        let rfc9293 = model("rfc9293");
        let columns = vec![
            column("table", &rfc9293, "rfc9293", None),
            column("mutant", &rfc9293, "no-time-wait", Some(Triage::Bug)),
            Column { stack: "absent".into(), ran: Err("not built".into()) },
        ];
        let cases = Case::seeds();
        let matrix = Matrix::new(&rfc9293, "the seeds".into(), &cases, &columns);
        assert!(!matrix.rows.is_empty(), "no-time-wait deviates somewhere");
        for row in &matrix.rows {
            assert_eq!(row.cells[0], Cell::Conforms, "the table's own stack at {}", row.row);
            assert_eq!(row.cells[2], Cell::NotRun);
            let Cell::Deviates { checks } = &row.cells[1] else { panic!("{}: {:?}", row.row, row.cells[1]) };
            assert!(checks.iter().all(|d| d.triage == Some(Triage::Bug) && d.case.starts_with("seed:")));
        }
        // The mutant skips TIME-WAIT: the row entering it is among the deviations.
        assert!(matrix.rows.iter().any(|r| r.rule.ends_with("-> TIME-WAIT")), "{:?}", matrix.rows);
        assert_eq!(matrix.stacks[0].deviations.len(), 0);
        assert_eq!(matrix.stacks[1].deviations.get("bug"), Some(&matrix.rows.len()));
        assert!(matrix.stacks[1].time_wait.contains("no TIME-WAIT"), "{}", matrix.stacks[1].time_wait);
        assert!(!matrix.stacks[2].ran);

        let md = matrix.markdown("tcpcheck matrix");
        assert!(md.contains("| absent | | | | not run: not built | |"), "{md}");
        let table_rows = md.lines().filter(|l| l.starts_with("| [rfc9293.tcp:")).count();
        assert_eq!(table_rows, matrix.rows.len(), "{md}");
        assert!(md.contains("](../../models/rfc9293.tcp#L"), "{md}");
    }

    #[test]
    fn two_runs_agree_on_a_verdict_only_if_both_draw_it() {
        let rfc9293 = model("rfc9293");
        let mutant = model("no-time-wait");
        let seed = Case::seeds().into_iter().find(|c| c.name == "seed:active-time-wait").unwrap();
        let run = |m: &Model| {
            let mut stack = Reference::new(m, 1);
            judge(&Oracle::new(&rfc9293, stack.params().clone()), &mut stack, &seed.script)
        };
        let (bad, good) = (run(&mutant), run(&rfc9293));
        assert!(bad.verdict.is_some() && good.verdict.is_none());
        let (both, odd) = bad.clone().agreed(bad.clone());
        assert_eq!((both.verdict, odd), (bad.verdict.clone(), None));
        let (one, odd) = bad.clone().agreed(good.clone());
        assert_eq!((one.verdict, odd), (None, bad.verdict.clone()));
        assert_eq!(one.fired, bad.fired.union(&good.fired).copied().collect());
    }

    #[test]
    fn a_row_nobody_reached_is_not_reached_and_untriaged_deviations_say_so() {
        let rfc9293 = model("rfc9293");
        let mut columns = vec![column("mutant", &rfc9293, "no-time-wait", None)];
        // A column that ran no script reaches no row.
        let empty = Ran {
            about: "idle".into(),
            clock: Clock::Virtual,
            outcomes: vec![],
            triage: HashMap::new(),
            time_wait: Err("skipped".into()),
        };
        columns.push(Column { stack: "idle".into(), ran: Ok(empty) });
        let cases = Case::seeds();
        let matrix = Matrix::new(&rfc9293, String::new(), &cases, &columns);
        for row in &matrix.rows {
            assert_eq!(row.cells[1], Cell::NotReached);
            let Cell::Deviates { checks } = &row.cells[0] else { panic!() };
            assert!(checks.iter().all(|d| d.triage.is_none()));
        }
        assert_eq!(matrix.stacks[0].deviations.get("untriaged"), Some(&matrix.rows.len()));
        assert_eq!(matrix.stacks[1].time_wait, "not measured: skipped");
        assert!(matrix.markdown("m").contains("**?"));
    }
}
