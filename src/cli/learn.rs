//! `tcpcheck learn`: the stack's machine, learned, and where it differs from the table's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;

use tcpcheck::conform::diagram;
use tcpcheck::conform::finding::{self, Finding, FORMAT};
use tcpcheck::conform::{Clock, Script};
use tcpcheck::export::dot;
use tcpcheck::export::learned::overlay;
use tcpcheck::learn::diff::{explain, Explained};
use tcpcheck::learn::{self, project, Alphabet, Counts, Machine, Outputs, StackSul, Stop, Testing};
use tcpcheck::simulate::columns::Width;
use tcpcheck::wire::Family;

use super::fuzz::{make_stack, Models, StackArg};
use super::{finding as differs, incomplete, CliError, OK};

/// Learn a stack's state machine and diff it against the table.
///
/// Active automata learning (L#): tcpcheck plays the stack's user and peer through an alphabet
/// of script steps (user calls, segments at the numbers the stack expects, waits), resetting
/// the stack before every query, and learns the Mealy machine it implements: outputs are the
/// segments it sends (flags, payload, numbers classed against the peer's view: isn, nxt, old,
/// new) and the state it reports. Each hypothesis is tested by the Wp-method to --depth, seeded
/// random walks and the scripts of --corpus. The table's own machine on the same alphabet is
/// derived from the table (the reference endpoint's configurations, searched breadth-first);
/// the shortest words on which the two differ are replayed through the oracle and shown as
/// sequence diagrams with the table's rows and RFC sections.
///
/// Alphabets: core (default), small, no-wait (for real-time stacks), full, or a
/// comma-separated list of letters. Exit 0 if the machine equals the table's, 1 if it differs,
/// 2 on bad input, 3 if learning stopped early (Ctrl-C, --max-states).
#[derive(clap::Args)]
pub struct Args {
    /// The stack: reference, smoltcp, linux, lwip, gvisor or exec:COMMAND
    #[arg(long, value_parser = StackArg::parse, default_value = "reference")]
    stack: StackArg,
    /// The table the reference stack executes [default: rfc9293]
    #[arg(long, short)]
    model: Option<String>,
    /// The table the stack is compared with [default: rfc9293]
    #[arg(long)]
    oracle: Option<String>,
    /// The inputs: an alphabet's name or a comma-separated list of letters
    #[arg(long, default_value = "core", value_parser = Alphabet::parse)]
    alphabet: Alphabet,
    /// Seed of the random walks and of the stack's choices (its ISNs)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// States the Wp-method allows the stack beyond the hypothesis' (each one multiplies its
    /// tests by the number of inputs; 0 for large machines and real-time stacks)
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Random walks per hypothesis
    #[arg(long, default_value_t = 300)]
    walks: usize,
    /// Letters per random walk, at most
    #[arg(long, default_value_t = 12)]
    walk_len: usize,
    /// Directories of scripts to try as counterexamples first (a fuzz corpus, tests/findings)
    #[arg(long, value_name = "DIR")]
    corpus: Vec<PathBuf>,
    /// Stop if the machine grows beyond this many states (smoltcp's on `core` has 288)
    #[arg(long, default_value_t = 1000)]
    max_states: usize,
    /// Stop after this many queries (for real-time stacks)
    #[arg(long)]
    max_queries: Option<u64>,
    /// Stacks answering queries at once, each from a reset (for Linux each in a network
    /// namespace of its own, for lwIP and gVisor each a child process): the same seed learns
    /// the same machine with any number [default: 1 in process; for a child process's stack
    /// 2 per core; on a real-time stack 32 per core, as its queries mostly wait]
    #[arg(long, value_parser = |s: &str| super::parse_count(s, MAX_JOBS))]
    jobs: Option<usize>,
    /// Differences to replay and show (all are counted)
    #[arg(long, default_value_t = 5)]
    show: usize,
    /// Write the learned machine as Graphviz DOT, differing transitions in red
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
    /// Draw the learned machine as SVG on the table's one-page layout: each learned state in the
    /// box of the state the stack reported, differing transitions in red, what only the table
    /// does dashed
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Save each shown difference that draws a verdict as a finding in DIR (`tcpcheck replay`)
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
    /// Draw the differences' diagrams one line per event, however wide
    #[arg(long)]
    wide: bool,
    /// Print the result as one JSON object (docs/json.md)
    #[arg(long)]
    json: bool,
}

/// The table's projection may count this many configurations before it gives up.
const MAX_CONFIGURATIONS: usize = 50_000;

/// The most stacks `--jobs` takes (for Linux, network namespaces).
const MAX_JOBS: usize = 1024;

/// A child process's query is mostly round trips to it: while one job waits for its child,
/// another's child computes. This many jobs per core (measured on lwIP, docs/findings/learned.md).
const CHILD_JOBS_PER_CORE: usize = 2;

/// A real-time stack's query is mostly waiting for its timers: this many jobs per core.
const REAL_TIME_JOBS_PER_CORE: usize = 32;

// The wall clock measures how long learning took, for the report; the stack's time is virtual
// (or the Linux adapter's own).
#[allow(clippy::disallowed_methods)]
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let models = Models::for_stack(&args.stack, args.model.as_deref(), args.oracle.as_deref())?;
    let alphabet = &args.alphabet;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            #[cfg(target_os = "linux")]
            tcpcheck::adapter::linux::cleanup_all();
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping after the query under way (Ctrl-C again to quit at once)");
    });
    let mut candidates = Vec::new();
    for dir in &args.corpus {
        read_words(dir, alphabet, &mut candidates)?;
    }
    let mut stack = make_stack(&args.stack, &models, args.seed, Family::V4)?;
    let params = stack.params().clone();
    let oracle = learn::oracle(&models.oracle, params.clone());

    let mut table_outputs = Outputs::default();
    let started = std::time::Instant::now();
    let table = match project(&models.oracle, alphabet, &mut table_outputs, MAX_CONFIGURATIONS) {
        Ok(table) => table,
        Err(Stop::Limit(why) | Stop::Failed(why)) => return Err(CliError(format!("error: {why}\n"))),
        Err(Stop::Interrupted) => return Ok(incomplete()),
    };
    let project_time = started.elapsed();
    let testing = Testing {
        depth: args.depth,
        walks: args.walks,
        walk_len: args.walk_len,
        seed: args.seed,
        candidates,
        reference: Some(table.machine.clone()),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(match args.stack {
        _ if params.clock == Clock::Real => REAL_TIME_JOBS_PER_CORE * cores,
        StackArg::Child(_) | StackArg::Exec(_) => CHILD_JOBS_PER_CORE * cores,
        _ => 1,
    });
    let bar = (params.clock == Clock::Real || jobs > 1)
        .then(|| super::spinner(format!("learning {} with {jobs} jobs", params.name)))
        .flatten();
    // Worker k's stack: made as the first was, with the same seed, so every stack answers a
    // word alike.
    let make = |_: usize| make_stack(&args.stack, &models, args.seed, Family::V4).map_err(|e| e.0);
    let started = std::time::Instant::now();
    let (learned, counts, outputs, learn_time) = std::thread::scope(|scope| {
        let workers = (jobs > 1).then(|| learn::Workers::start(scope, jobs - 1, &oracle, alphabet, Some(&stop), &make));
        if let Some(workers) = &workers {
            for why in &workers.failed {
                eprint!("learn: {why}");
            }
            if !workers.failed.is_empty() {
                eprintln!("learn: learning with {} jobs of {jobs}", workers.running + 1);
            }
        }
        let mut sul = StackSul::new(&oracle, stack.as_mut(), alphabet, table_outputs)
            .stop_on(&stop)
            .max_queries(args.max_queries)
            .on_progress(|n| {
                if let Some(bar) = &bar {
                    bar.set_message(format!("learning {} with {jobs} jobs: {n} queries", params.name));
                }
            });
        if let Some(workers) = &workers {
            sul = sul.with_workers(workers);
        }
        let (learned, counts) = learn::learn(&mut sul, alphabet.len(), &testing, args.max_states);
        let outputs = std::mem::take(&mut sul.outputs);
        drop(sul);
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let learn_time = started.elapsed();
        // Replayed before the workers' stacks are removed (see `learn::workers`).
        let learned = learned.map(|machine| {
            let differences = machine.differences(&table.machine);
            let shown = explain(&oracle, stack.as_mut(), alphabet, &outputs, &differences, args.show);
            (machine, differences, shown)
        });
        (learned, counts, outputs, learn_time)
    });
    let (learned, differences, shown) = match learned {
        Ok(learned) => learned,
        Err(why) => return Ok(stopped(&why, &counts, &params.name)),
    };
    let machine = Machine::new(&learned, alphabet, &outputs, &differences);
    let oracle_name = models.oracle.name().to_string();
    if let Some(path) = &args.dot {
        let title = format!("{} learned", params.name);
        write(path, dot::learned(&title, &machine).as_bytes())?;
    }
    if let Some(path) = &args.svg {
        let projection = Machine::new(&table.machine, alphabet, &outputs, &[]);
        let title = format!("{} learned, against {oracle_name}", params.name);
        write(path, overlay(&title, &machine, Some(&projection)).svg("learned").as_bytes())?;
    }
    let mut saved = Vec::new();
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).map_err(|e| CliError(format!("error: cannot create {}: {e}\n", dir.display())))?;
        for (k, found) in shown.iter().enumerate() {
            let Some(verdict) = &found.run.verdict else { continue };
            let finding = Finding {
                format: FORMAT.to_string(),
                stack: args.stack.name(),
                model: args.model.clone().filter(|_| args.stack == StackArg::Reference),
                oracle: args.oracle.clone().unwrap_or_else(|| oracle_name.clone()),
                seed: args.seed,
                family: Family::V4,
                verdict: verdict.clone(),
                script: alphabet.script(&differences[k].word),
                triage: None,
            };
            let path = dir.join(format!("learn-{}.json", k + 1));
            write(&path, finding.to_json().as_bytes())?;
            saved.push(path);
        }
    }
    let secs = |d: std::time::Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
    if args.json {
        let value = json!({
            "format": "tcpcheck-learn/1",
            "stack": params.name,
            "oracle": oracle_name,
            "alphabet": alphabet.names().collect::<Vec<_>>(),
            "seed": args.seed,
            "jobs": jobs,
            "states": learned.states(),
            "queries": counts.queries,
            "unused": counts.unused,
            "symbols": counts.symbols,
            "cached": counts.cached,
            "rounds": counts.rounds,
            "seconds": secs(learn_time),
            "table": {"states": table.machine.states(), "configurations": table.configurations,
                      "queries": table.queries, "seconds": secs(project_time)},
            "machine": machine,
            "differences": differences.len(),
            "shown": shown.iter().map(|e| shown_json(e, &models, &params)).collect::<Vec<_>>(),
            "saved": saved.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        println!(
            "learned {} in {:.1}s: {} states on {} inputs; {} queries ({} inputs sent, {} answered from the cache), {} hypotheses",
            params.name,
            learn_time.as_secs_f64(),
            learned.states(),
            alphabet.len(),
            counts.queries,
            counts.symbols,
            counts.cached,
            counts.rounds,
        );
        if jobs > 1 {
            println!(
                "{jobs} jobs answered them, and {} more asked ahead beside a counterexample, not used",
                counts.unused
            );
        }
        println!(
            "table {oracle_name} in {:.1}s: {} states on the same inputs ({} configurations of the reference endpoint)",
            project_time.as_secs_f64(),
            table.machine.states(),
            table.configurations,
        );
        if differences.is_empty() {
            println!("no differences: the stack's machine is the table's on this alphabet");
        } else {
            println!("{} differences; the {} shortest:", differences.len(), shown.len());
        }
        for (k, found) in shown.iter().enumerate() {
            println!();
            println!("difference {}: {}", k + 1, found.word.join(" "));
            println!("  table: {}", found.expected);
            println!("  stack: {}", found.actual);
            println!("  rows:  {}", found.rows.join(", "));
            let verdict = found.run.verdict.as_ref();
            if verdict.is_none() {
                println!("  (the oracle excuses this difference: one of its tolerances, see src/conform/oracle.rs)");
            }
            let width = Width::from_wide(args.wide);
            print!(
                "{}",
                diagram::render(&found.run.trace, &models.oracle, &params, found.run.stack_iss, verdict, width)
            );
        }
        for path in &saved {
            println!("saved {} (tcpcheck replay {})", path.display(), path.display());
        }
        for path in args.dot.iter().chain(&args.svg) {
            println!("wrote {}", path.display());
        }
    }
    Ok(if differences.is_empty() { OK } else { differs() })
}

fn shown_json(found: &Explained, models: &Models, params: &tcpcheck::conform::Params) -> serde_json::Value {
    let verdict = found.run.verdict.as_ref();
    json!({
        "inputs": found.word,
        "expected": found.expected,
        "actual": found.actual,
        "rows": found.rows,
        "verdict": verdict,
        "run": diagram::to_json(&found.run.trace, &models.oracle, params, found.run.stack_iss, verdict),
    })
}

fn stopped(why: &Stop, counts: &Counts, stack: &str) -> ExitCode {
    let why = match why {
        Stop::Interrupted => "interrupted".to_string(),
        Stop::Limit(limit) | Stop::Failed(limit) => limit.clone(),
    };
    eprintln!(
        "learn: stopped learning {stack} after {} queries and {} hypotheses (the last of {} states): {why}",
        counts.queries, counts.rounds, counts.states
    );
    incomplete()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| CliError(format!("error: failed to write {}: {e}\n", path.display())))
}

/// The scripts under `dir` (finding files and fuzz corpus entries, recursively), each as the
/// longest prefix the alphabet can say.
fn read_words(dir: &Path, alphabet: &Alphabet, out: &mut Vec<Vec<learn::Input>>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError(format!(
            "error: cannot read --corpus {}: {e}\n  help: give a directory of scripts (a fuzz corpus, tests/findings)\n",
            dir.display()
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            read_words(&path, alphabet, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let bytes =
                std::fs::read(&path).map_err(|e| CliError(format!("error: cannot read {}: {e}\n", path.display())))?;
            // A corpus entry is a script, a finding an object holding one; any other JSON (a
            // report, a profile) is no candidate.
            let script = match serde_json::from_slice::<Script>(&bytes) {
                Ok(script) => Some(script),
                Err(_) => finding::read(&path.display().to_string(), &bytes).ok().map(|i| i.script().clone()),
            };
            let word = script.map(|s| alphabet.word(&s)).unwrap_or_default();
            if !word.is_empty() && !out.contains(&word) {
                out.push(word);
            }
        }
    }
    Ok(())
}
