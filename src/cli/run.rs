//! `tcpcheck run FILE|DIR...`: runs scripts (packetdrill's, or tcpcheck's own as JSON) against
//! a stack, judged twice: by the script's own expectations and by the table's oracle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};
use tcpcheck::conform::{Oracle, Params, Run, Script, Stack, Verdict};
use tcpcheck::export::ladder;
use tcpcheck::model::{Kind, Problem, Problems, Source, Span};
use tcpcheck::packetdrill::judge::{self, Tolerance};
use tcpcheck::packetdrill::{self, Outcome};
use tcpcheck::wire::Family;

use super::fuzz::{make_stack, Families, Judged};
use super::{bad_input, finding, render, write_file, CliError, OK};

/// Run test scripts against a stack and judge each twice.
///
/// Each FILE is a packetdrill script (`*.pkt`, or any name not ending in `.json`) or a tcpcheck
/// script (`*.json`: the steps of a fuzz script, as in a finding's `script`, or a whole finding).
/// A DIR is searched for `*.pkt` and `*.json` files, recursively, in name order.
///
/// A packetdrill script is judged as packetdrill judges it (the stack's packets against the `>`
/// lines, with sequence numbers relative to the ISNs, `read` results, `tcpi_state`
/// assertions; times exactly on a virtual clock, within `--tolerance_usecs` on a real one),
/// and the table's oracle judges the same run (row file:line, RFC section). A tcpcheck script
/// has the oracle alone. A construct the harness cannot play (a shell command, python, UDP,
/// options other than MSS on an inbound packet, a socket option it cannot set, ...) skips the
/// script, naming the construct and its file:line:col.
///
/// `--family` chooses the IP version: 4 (the default, as packetdrill's own), 6, or both, which
/// runs every script in each, as packetdrill's `run_all.py` does: a script whose name ends in
/// `v4.pkt` runs only in IPv4 and one ending in `v6.pkt` only in IPv6 (asked for the other
/// family alone, it is skipped, saying so). Each run is then one line, `FILE (ipv6)`.
///
/// Exit 0 if every script passes both judges (or is skipped), 1 if any fails either, 2 if any
/// file cannot be read or parsed (each reported with file:line:col and a hint).
#[derive(clap::Args)]
pub struct Args {
    /// Script files or directories of them
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    judged: Judged,
    /// Seed of the stack's choices (its ISNs)
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// On a real-time stack, how far a packet may be from its time, in microseconds
    /// [default: the script's --tolerance_usecs, else packetdrill's 4000]
    #[arg(long, value_name = "USECS")]
    tolerance_usecs: Option<u64>,
    /// The stack's timestamp clock tick, in microseconds: `>` lines' TS vals are then checked,
    /// as packetdrill's option of the same name checks them [default: the script's
    /// --tcp_ts_tick_usecs, else not checked]
    #[arg(long, value_name = "USECS")]
    tcp_ts_tick_usecs: Option<u64>,
    /// Play packetdrill scripts without the shell commands the harness cannot carry out
    /// instead of skipping them: commands other than sysctl settings, and settings the stack
    /// cannot take (Linux takes every `net.*` sysctl its namespace has; the other stacks none)
    #[arg(long)]
    ignore_shell: bool,
    /// Print one JSON document instead of lines
    #[arg(long)]
    json: bool,
    /// Draw each run as an SVG ladder diagram (the oracle's verdict step in red): into PATH
    /// for one script, into PATH/NAME.svg for each script NAME when there are several
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
}

/// What became of one file.
enum Result_ {
    /// It ran: the script's verdict (packetdrill scripts) and the oracle's.
    Judged {
        script: Option<Outcome>,
        oracle: Option<Verdict>,
        disagreement: Option<&'static str>,
    },
    Skipped {
        construct: String,
        at: String,
    },
    /// It could not be read or parsed.
    Error(String),
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files)?;
    }
    let models = args.judged.models()?;
    let families = args.judged.subject.family.map_or(vec![Family::V4], Families::list);
    // A stack per family, each with its oracle: a stack's packets are of one family.
    let mut stacks = Vec::new();
    for &family in &families {
        stacks.push(make_stack(&args.judged.subject.kind(), &models, args.seed, family)?);
    }
    let params = stacks[0].params().clone();
    let profile = args.judged.profile(stacks[0].as_ref())?;
    let judge = profile.as_ref().map_or(&models.oracle, |p| &p.model);
    let oracles: Vec<Oracle> =
        stacks.iter().map(|stack| Oracle::new(judge, stack.params().clone()).to_the_end()).collect();
    let several = files.len() * families.len() > 1;
    if let Some(dir) = args.svg.as_ref().filter(|_| several) {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError(format!(
                "error: failed to create {}: {e}\n  help: with several scripts, --svg names a directory\n",
                dir.display()
            ))
        })?;
    }
    let mut results = Vec::new();
    for file in &files {
        for ((family, oracle), stack) in families.iter().zip(&oracles).zip(&mut stacks) {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let label = match families.len() {
                1 => file.display().to_string(),
                _ => format!("{} ({})", file.display(), family.name()),
            };
            let result = match only_family(&name) {
                // As run_all.py: in both families, the other one is not run at all.
                Some(only) if only != *family && families.len() > 1 => continue,
                Some(only) if only != *family => Result_::Skipped {
                    construct: format!(
                        "an {only}-only script (its name ends in {}.pkt, as packetdrill's run_all.py reads it)",
                        only.name().trim_start_matches("ip")
                    ),
                    at: file.display().to_string(),
                },
                _ => {
                    let svg = args.svg.as_ref().map(|path| match (several, families.len()) {
                        (false, _) => path.clone(),
                        (true, 1) => path.join(format!("{name}.svg")),
                        (true, _) => path.join(format!("{name}.{}.svg", family.name())),
                    });
                    run_file(file, oracle, stack.as_mut(), &args, svg.as_deref())
                }
            };
            if !args.json {
                print!("{}", show(&label, &result));
            }
            results.push((label, *family, result));
        }
    }
    let summary = Summary::of(&results);
    if args.json {
        let scripts: Vec<Value> = results.iter().map(|(label, family, r)| to_json(label, *family, r)).collect();
        let value = json!({"format": "tcpcheck-run/1", "stack": params.name, "oracle": judge.name(), "scripts": scripts, "summary": summary.to_json()});
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print!("{}", summary.text(&params.name, judge.name(), &families));
    }
    Ok(if summary.errors > 0 {
        bad_input()
    } else if summary.failed > 0 || summary.oracle_verdicts > 0 {
        finding()
    } else {
        OK
    })
}

/// The one family a packetdrill script runs in, by its name, as `run_all.py` reads it: a name
/// ending in `v4.pkt` is IPv4's, one ending in `v6.pkt` IPv6's; any other runs in both.
fn only_family(name: &str) -> Option<Family> {
    if name.ends_with("v4.pkt") {
        Some(Family::V4)
    } else if name.ends_with("v6.pkt") {
        Some(Family::V6)
    } else {
        None
    }
}

/// Why a script does not run in `family`, and where it says so: its own `--ip_version` names
/// the other one (packetdrill's names: `ipv4`, `ipv4-mapped-ipv6`, `ipv6`), or one we do not
/// know. `ipv4-mapped-ipv6` is IPv4 on the wire (an `AF_INET6` socket with a mapped address,
/// which the harness's user does not model): it runs in IPv4.
fn other_family(script: &packetdrill::PdScript, family: Family) -> Option<(String, Span)> {
    let option = script.options.iter().rev().find(|o| o.name == "ip_version")?;
    let value = option.value.as_deref().unwrap_or("");
    let its = match value {
        "ipv4" | "ipv4-mapped-ipv6" => Family::V4,
        "ipv6" => Family::V6,
        _ => {
            let what = format!("--ip_version={value} (packetdrill's are ipv4, ipv4-mapped-ipv6 and ipv6)");
            return Some((what, option.span));
        }
    };
    (its != family).then(|| (format!("--ip_version={value}: the script runs in {its} only"), option.span))
}

/// The script files under `path`, sorted.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    if !path.is_dir() {
        if !path.exists() {
            return Err(CliError(format!("error: {} does not exist\n", path.display())));
        }
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| CliError(format!("error: failed to read {}: {e}\n", path.display())))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let script = p.extension().is_some_and(|e| e == "pkt" || e == "json");
        if p.is_dir() {
            collect(&p, out)?;
        } else if script {
            out.push(p);
        }
    }
    Ok(())
}

/// Draws `run` as a ladder into `svg`, if asked; an error to write it is the file's error.
fn draw(svg: Option<&Path>, name: &str, run: &Run, oracle: &Oracle, params: &Params) -> Result<(), String> {
    let Some(path) = svg else { return Ok(()) };
    let title = format!("run {name}");
    let ladder = ladder::from_run(&title, &run.trace, oracle.model(), params, run.stack_iss, run.verdict.as_ref());
    write_file(path, ladder::svg::write(&ladder).as_bytes()).map_err(|e| e.0)
}

fn run_file(file: &Path, oracle: &Oracle, stack: &mut dyn Stack, args: &Args, svg: Option<&Path>) -> Result_ {
    let params = stack.params().clone();
    let clock = params.clock;
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => return Result_::Error(format!("error: failed to read {name}: {e}\n")),
    };
    let source = Source::new(name.as_str(), text.as_str());
    if file.extension().is_some_and(|e| e == "json") {
        // The last packetdrill script's settings are put back: a tcpcheck script sets none.
        let _ = stack.sysctls(&[]);
        return match native(&source) {
            Ok(script) => {
                let run = oracle.run(stack, &script, false);
                if let Err(e) = draw(svg, &name, &run, oracle, &params) {
                    return Result_::Error(e);
                }
                Result_::Judged { script: None, oracle: run.verdict, disagreement: None }
            }
            Err(problems) => Result_::Error(render(&problems)),
        };
    }
    let parsed = match packetdrill::parse(&source) {
        Ok(parsed) => parsed,
        Err(problems) => return Result_::Error(render(&problems)),
    };
    let at = |span: Span| {
        let (line, col) = source.locate(span.offset);
        format!("{name}:{line}:{col}")
    };
    if let Some(skip) = other_family(&parsed, params.hosts.family()) {
        return Result_::Skipped { construct: skip.0, at: at(skip.1) };
    }
    let plan = match packetdrill::plan(&parsed, args.ignore_shell) {
        Ok(plan) => plan,
        Err(skip) => return Result_::Skipped { construct: skip.what, at: at(skip.span) },
    };
    if let Some((its, span)) = plan.family.filter(|(its, _)| *its != params.hosts.family()) {
        let socket = match its {
            Family::V4 => "AF_INET",
            Family::V6 => "AF_INET6",
        };
        return Result_::Skipped {
            construct: format!("an {socket} socket: the script runs in {its} only"),
            at: at(span),
        };
    }
    // The sysctls the script sets, as the stack's own parameters where it has them.
    if let Err(why) = stack.sysctls(&plan.settings) {
        let _ = stack.sysctls(&[]);
        if !args.ignore_shell {
            return Result_::Skipped {
                construct: format!("{why} (run --ignore-shell plays the script without them)"),
                at: at(plan.settings_at),
            };
        }
    }
    let tolerance = Tolerance {
        usecs: args
            .tolerance_usecs
            .or_else(|| parsed.option("tolerance_usecs").and_then(|v| v.parse().ok()))
            .unwrap_or(Tolerance::default().usecs),
        percent: parsed
            .option("tolerance_percent")
            .and_then(|v| v.parse().ok())
            .unwrap_or(Tolerance::default().percent),
        ts_tick_usecs: args
            .tcp_ts_tick_usecs
            .or_else(|| parsed.option("tcp_ts_tick_usecs").and_then(|v| v.parse().ok()))
            .unwrap_or(0),
        strict_segments: parsed.flag("strict_segments"),
    };
    // The settings may change what the stack declares (Linux: its SYN retries): the oracle's
    // shadow then takes the parameters as they are for this script.
    let params = stack.params().clone();
    let redeclared;
    let oracle = if &params == oracle.params() {
        oracle
    } else {
        redeclared = Oracle::new(oracle.model(), params.clone()).to_the_end();
        &redeclared
    };
    let run = oracle.run(stack, &plan.script, true);
    if let Err(e) = draw(svg, &name, &run, oracle, &params) {
        return Result_::Error(e);
    }
    let judged = judge::judge(&plan, &run, clock, tolerance);
    let disagreement = judged.disagreement();
    match judged.script {
        Outcome::Skipped(skip) => Result_::Skipped { construct: skip.what, at: at(skip.span) },
        Outcome::Fail { span, expected, actual } => Result_::Judged {
            script: Some(Outcome::Fail { span, expected: format!("{} {expected}", at(span)), actual }),
            oracle: judged.oracle,
            disagreement,
        },
        Outcome::Pass => Result_::Judged { script: Some(Outcome::Pass), oracle: judged.oracle, disagreement },
    }
}

/// A tcpcheck script: the steps as JSON, bare or as a finding's `script`.
fn native(source: &Source) -> Result<Script, Problems> {
    let problem = |e: serde_json::Error| {
        let offset = source.offset(e.line(), e.column());
        Problems::new(
            source,
            vec![Problem::new(Kind::BadFile, Span::new(offset, 1), format!("not a tcpcheck script: {e}"), "here").help(
                "a tcpcheck script is a JSON list of steps, e.g. [{\"user\":\"listen\"},{\"wait\":{\"ms\":10}}], or a finding file",
            )],
        )
    };
    let value: Value = serde_json::from_str(&source.text).map_err(problem)?;
    let steps = match value {
        Value::Object(mut finding) => finding.remove("script").unwrap_or(Value::Null),
        other => other,
    };
    serde_json::from_value(steps).map_err(problem)
}

fn show(name: &str, result: &Result_) -> String {
    match result {
        Result_::Error(text) => format!("ERROR {name}\n{text}"),
        Result_::Skipped { construct, at } => format!("SKIP  {name}\n      {at}: {construct}\n"),
        Result_::Judged { script, oracle, disagreement } => {
            let failed = matches!(script, Some(Outcome::Fail { .. })) || oracle.is_some();
            let mut out = format!("{} {name}\n", if failed { "FAIL " } else { "PASS " });
            if let Some(Outcome::Fail { expected, actual, .. }) = script {
                out += &format!("      script: expected {expected}\n              actual   {actual}\n");
            }
            match oracle {
                Some(v) => {
                    out += "      oracle: ";
                    out += &v.to_string().replace('\n', "\n              ");
                    out.push('\n');
                }
                None if script.is_some() => out += "      oracle: no verdict\n",
                None => {}
            }
            if let Some(d) = disagreement {
                out += &format!("      they disagree: {d}\n");
            }
            out
        }
    }
}

fn to_json(name: &str, family: Family, result: &Result_) -> Value {
    let family = family.name();
    match result {
        Result_::Error(text) => json!({"file": name, "family": family, "outcome": "error", "error": text}),
        Result_::Skipped { construct, at } => {
            json!({"file": name, "family": family, "outcome": "skipped", "construct": construct, "at": at})
        }
        Result_::Judged { script, oracle, disagreement } => {
            let script_json = match script {
                None => Value::Null,
                Some(Outcome::Pass) => json!({"outcome": "pass"}),
                Some(Outcome::Fail { expected, actual, .. }) => {
                    json!({"outcome": "fail", "expected": expected, "actual": actual})
                }
                Some(Outcome::Skipped(_)) => Value::Null,
            };
            let failed = matches!(script, Some(Outcome::Fail { .. })) || oracle.is_some();
            json!({
                "file": name,
                "family": family,
                "outcome": if failed { "fail" } else { "pass" },
                "script": script_json,
                "oracle": oracle,
                "disagreement": disagreement,
            })
        }
    }
}

/// Counts, as packetdrill's `run_all.py` gives them, and the skips by construct.
#[derive(Default)]
struct Summary {
    total: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
    errors: usize,
    script_failures: usize,
    oracle_verdicts: usize,
    disagreements: usize,
    skipped_by: BTreeMap<String, usize>,
}

impl Summary {
    fn of(results: &[(String, Family, Result_)]) -> Summary {
        let mut s = Summary { total: results.len(), ..Summary::default() };
        for (_, _, r) in results {
            match r {
                Result_::Error(_) => s.errors += 1,
                Result_::Skipped { construct, .. } => {
                    s.skipped += 1;
                    *s.skipped_by.entry(construct.clone()).or_default() += 1;
                }
                Result_::Judged { script, oracle, disagreement } => {
                    let script_failed = matches!(script, Some(Outcome::Fail { .. }));
                    s.script_failures += usize::from(script_failed);
                    s.oracle_verdicts += usize::from(oracle.is_some());
                    s.disagreements += usize::from(disagreement.is_some());
                    if script_failed || oracle.is_some() {
                        s.failed += 1;
                    } else {
                        s.passed += 1;
                    }
                }
            }
        }
        s
    }

    fn text(&self, stack: &str, oracle: &str, families: &[Family]) -> String {
        // IPv4 alone, the default, goes without saying.
        let over = match families {
            [Family::V4] => String::new(),
            _ => format!(" in {}", families.iter().map(Family::to_string).collect::<Vec<_>>().join(" and ")),
        };
        let mut out = format!(
            "\n{} scripts on {stack}{over}: {} passed, {} failed, {} skipped, {} unreadable\n",
            self.total, self.passed, self.failed, self.skipped, self.errors
        );
        out += &format!(
            "  judged by the script: {} failed; by the table ({oracle}): {} verdicts; they disagree on {}\n",
            self.script_failures, self.oracle_verdicts, self.disagreements
        );
        if !self.skipped_by.is_empty() {
            out += "  skipped by construct:\n";
            let mut by: Vec<(&String, &usize)> = self.skipped_by.iter().collect();
            by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (what, n) in by {
                out += &format!("    {n:>4}  {what}\n");
            }
        }
        out
    }

    fn to_json(&self) -> Value {
        json!({
            "total": self.total, "passed": self.passed, "failed": self.failed, "skipped": self.skipped,
            "unreadable": self.errors, "script_failures": self.script_failures,
            "oracle_verdicts": self.oracle_verdicts, "disagreements": self.disagreements,
            "skipped_by": self.skipped_by,
        })
    }
}
