//! `tcpcheck matrix`: one fixed corpus on every stack, one table of who deviates from which row.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tcpcheck::conform::finding::{self, Finding, Input};
use tcpcheck::conform::matrix::{judge, Case, Cell, Column, Matrix, Outcome, Ran};
use tcpcheck::conform::{probe, Clock, Oracle, Stack};
use tcpcheck::time::Duration;
use tcpcheck::wire::Family;

use super::fuzz::{make_stack, Models, StackArg};
use super::{finding as exit_finding, CliError, OK};

/// Run one corpus on every stack and tabulate which table rows each deviates from.
///
/// The corpus is fixed and named: the seed scripts and every finding file under DIR (committed
/// findings of every stack, `tests/findings/STACK/*.json`, `fixed/` included). Each runs on
/// each stack, judged by the oracle table; the table has a row per table rule that any stack
/// deviates from (file:line, RFC section) and a column per stack: `ok` (the row fired and
/// nothing deviated), the checks that deviated (with the triage the stack's own committed
/// findings give them: bug, permitted, oracle, harness; `?` if none does), `·` (no script
/// reached the row), or `not run` (the stack cannot run here: the summary says why). Each
/// stack's TIME-WAIT probe (`tcpcheck probe time-wait`) is summarised beside it. The output is
/// deterministic for virtual-time stacks; it carries no timings (those go to stderr). Exit 1
/// if any stack deviates, 0 if none, 2 on bad input.
#[derive(clap::Args)]
pub struct Args {
    /// Directory of finding files, searched recursively
    #[arg(default_value = "tests/findings")]
    corpus: PathBuf,
    /// The stacks, in column order (comma-separated)
    #[arg(long, value_delimiter = ',', value_parser = StackArg::parse,
          default_value = DEFAULT_STACKS)]
    stacks: Vec<StackArg>,
    /// The table that judges every stack, and that the reference stack executes [default: rfc9293]
    #[arg(long)]
    oracle: Option<String>,
    /// On a real-time stack, end each run before a wait that would pass this much time
    #[arg(long, value_parser = Duration::parse, default_value_t = DEFAULT_HORIZON)]
    horizon: Duration,
    /// Print JSON instead of Markdown
    #[arg(long)]
    json: bool,
    /// Also write the Markdown document to FILE (with --json: both from one run)
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
}

const DEFAULT_STACKS: &str = "reference,smoltcp,lwip,gvisor,linux";

/// Long enough for Linux's retransmissions, an MSL wait (its declared MSL is 120 s) and its
/// 60 s TIME-WAIT within one run; the TIME-WAIT probe, which runs beside the scripts, takes
/// about as long.
const DEFAULT_HORIZON: Duration = Duration::from_secs(150);

/// Every finding file under `dir`, sorted by path.
fn finding_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError(format!(
            "error: cannot read the corpus directory {}: {e}\n  help: run from the repository's root, or name \
             the directory of finding files (tests/findings)\n",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(finding_files(&path)?);
        } else if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The corpus, and each stack's triage of its own findings.
fn corpus(dir: &Path) -> Result<(Vec<Case>, Vec<Finding>), CliError> {
    let mut cases = Case::seeds();
    let mut findings = Vec::new();
    for path in finding_files(dir)? {
        let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
        let bytes =
            std::fs::read(&path).map_err(|e| CliError(format!("error: failed to read {}: {e}\n", path.display())))?;
        match finding::read(&path.display().to_string(), &bytes)? {
            Input::Finding(f) => {
                cases.push(Case::from_finding(name, &f));
                findings.push(*f);
            }
            Input::Artifact(_) => {
                return Err(CliError(format!(
                    "error: {} is not a finding file\n  help: the corpus holds what `tcpcheck fuzz` saves under \
                     DIR/findings/\n",
                    path.display()
                )))
            }
        }
    }
    Ok((cases, findings))
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let models = Models::load(args.oracle.as_deref(), args.oracle.as_deref())?;
    let (cases, findings) = corpus(&args.corpus)?;
    let waiting = super::spinner(format!(
        "running {} scripts on {} (a real-time stack takes minutes)",
        cases.len(),
        args.stacks.iter().map(StackArg::name).collect::<Vec<_>>().join(", ")
    ));
    let columns: Vec<Column> = std::thread::scope(|scope| {
        let running: Vec<_> = args
            .stacks
            .iter()
            .map(|kind| {
                let (models, cases, findings) = (&models, &cases, &findings);
                scope.spawn(move || column(kind, models, cases, findings, args.horizon))
            })
            .collect();
        running.into_iter().zip(&args.stacks).map(|(r, kind)| joined(r.join(), kind)).collect()
    });
    if let Some(bar) = waiting {
        bar.finish_and_clear();
    }
    let described = format!(
        "the {} seed scripts and the {} finding files under {}",
        Case::seeds().len(),
        cases.len() - Case::seeds().len(),
        args.corpus.display()
    );
    let matrix = Matrix::new(&models.oracle, described, &cases, &columns);
    let markdown = matrix.markdown(&command_line(&args));
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown)
            .map_err(|e| CliError(format!("error: failed to write {}: {e}\n", path.display())))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&matrix).unwrap_or_default());
    } else {
        print!("{markdown}");
    }
    let deviates = matrix.rows.iter().any(|r| r.cells.iter().any(|c| matches!(c, Cell::Deviates { .. })));
    Ok(if deviates { exit_finding() } else { OK })
}

/// The command as a user would type it again.
fn command_line(args: &Args) -> String {
    let mut line = format!("tcpcheck matrix {}", args.corpus.display());
    let stacks: Vec<String> = args.stacks.iter().map(StackArg::name).collect();
    if stacks.join(",") != DEFAULT_STACKS {
        line += &format!(" --stacks {}", stacks.join(","));
    }
    if let Some(oracle) = &args.oracle {
        line += &format!(" --oracle {oracle}");
    }
    if args.horizon != DEFAULT_HORIZON {
        line += &format!(" --horizon {}", args.horizon);
    }
    line
}

/// A column whose thread panicked is a column that did not run, not a lost table.
fn joined(result: std::thread::Result<Column>, kind: &StackArg) -> Column {
    result.unwrap_or_else(|_| Column { stack: kind.name(), ran: Err("the harness failed (a panic)".into()) })
}

/// One stack's column: every case, then its TIME-WAIT probe.
// Timings of columns go to stderr, never into the table.
#[allow(clippy::disallowed_methods)]
fn column(kind: &StackArg, models: &Models, cases: &[Case], findings: &[Finding], horizon: Duration) -> Column {
    let started = std::time::Instant::now();
    let stack_name = kind.name();
    let ran = ran(kind, models, cases, findings, horizon);
    match &ran {
        Ok(_) => eprintln!("matrix: {stack_name}: {} scripts in {:.1?}", cases.len(), started.elapsed()),
        Err(why) => eprintln!("matrix: {stack_name}: not run: {why}"),
    }
    Column { stack: stack_name, ran }
}

fn ran(
    kind: &StackArg,
    models: &Models,
    cases: &[Case],
    findings: &[Finding],
    horizon: Duration,
) -> Result<Ran, String> {
    // The table says why a stack did not run in a line: the error's first.
    let fresh = |seed| {
        // The matrix's cases and committed findings are IPv4 runs.
        make_stack(kind, models, seed, Family::V4)
            .map_err(|e| e.0.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string())
    };
    let mut first = fresh(1)?;
    let params = first.params().clone();
    let real = params.clock == Clock::Real;
    let oracle = Oracle::new(&models.oracle, params.clone()).with_horizon(real.then_some(horizon));
    let resolution = Duration::from_micros(if real { 10_000 } else { 1_000 });
    let limit = params.msl.times(5);
    let measure = |stack: &mut dyn Stack| probe::time_wait(stack, resolution, limit).map_err(|e| e.to_string());

    let (outcomes, time_wait) = if real {
        // Every run mostly waits: each case twice, each run on a stack of its own, all at once,
        // beside the probe.
        drop(first);
        std::thread::scope(|scope| {
            let probe = scope.spawn(|| fresh(1).and_then(|mut stack| measure(stack.as_mut())));
            let runs: Vec<_> = cases
                .iter()
                .map(|case| {
                    let (oracle, fresh) = (&oracle, &fresh);
                    let twice = [(); 2].map(|()| {
                        scope.spawn(move || fresh(case.seed).map(|mut s| judge(oracle, s.as_mut(), &case.script)))
                    });
                    (case, twice)
                })
                .collect();
            let outcomes = runs
                .into_iter()
                .map(|(case, [a, b])| {
                    let joined = |r: std::thread::ScopedJoinHandle<'_, Result<Outcome, String>>| {
                        r.join().unwrap_or_else(|_| Err("the harness failed (a panic)".into()))
                    };
                    let (outcome, odd) = joined(a)?.agreed(joined(b)?);
                    if let Some(v) = odd {
                        eprintln!(
                            "matrix: {}: {}: one of two runs drew {} at {}: timing, not counted",
                            kind.name(),
                            case.name,
                            v.check,
                            v.row
                        );
                    }
                    Ok(outcome)
                })
                .collect::<Result<Vec<Outcome>, String>>();
            let time_wait = probe.join().unwrap_or_else(|_| Err("the probe failed (a panic)".into()));
            (outcomes, time_wait)
        })
    } else {
        // One stack per seed, reset between runs as the fuzz loop does.
        let mut stacks: HashMap<u64, Box<dyn Stack + '_>> = HashMap::new();
        let time_wait = measure(first.as_mut());
        stacks.insert(1, first);
        let outcomes = cases
            .iter()
            .map(|case| {
                let stack = match stacks.entry(case.seed) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(fresh(case.seed)?),
                };
                Ok(judge(&oracle, stack.as_mut(), &case.script))
            })
            .collect::<Result<Vec<Outcome>, String>>();
        (outcomes, time_wait)
    };
    let name = kind.name();
    let triage = findings
        .iter()
        .filter(|f| f.stack == name)
        .filter_map(|f| Some(((f.verdict.check, f.verdict.row.clone()), f.triage?)))
        .collect();
    Ok(Ran { about: params.name, clock: params.clock, outcomes: outcomes?, triage, time_wait })
}
