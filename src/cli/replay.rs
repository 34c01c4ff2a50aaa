//! `tcpcheck replay FILE`: re-runs a finding (or a libFuzzer artifact) to its verdict.

use std::path::PathBuf;
use std::process::ExitCode;

use tcpcheck::conform::diagram;
use tcpcheck::conform::finding::{self, Input};
use tcpcheck::conform::oracle::MAX_STEPS;
use tcpcheck::conform::{Check, Clock, Oracle, Verdict};
use tcpcheck::export::{ladder, packetdrill, pcap};
use tcpcheck::simulate::columns::Width;

use super::fuzz::{make_stack, Judged, Models, StackArg};
use super::{finding as exit_finding, write_file, CliError, OK};

/// Re-run a saved finding deterministically and show it.
///
/// FILE is a finding that `tcpcheck fuzz` saved (JSON: stack, models, seed, verdict, script) or
/// a libFuzzer artifact from `cargo fuzz run reference` (raw bytes, decoded as the fuzz target
/// decodes them). The run is printed as a sequence diagram (peer | network | stack, each
/// expected row with its file:line and RFC section) ending in the verdict. Flags override what
/// the file says; an artifact takes them from the flags (defaults: the reference stack on
/// rfc9293, seed 7, as the fuzz target runs it). Exit 1 if the run draws a verdict, 0 if not,
/// 2 on a malformed file.
#[derive(clap::Args)]
pub struct Args {
    /// A finding file or a libFuzzer artifact
    file: PathBuf,
    #[command(flatten)]
    judged: Judged,
    /// Seed of the stack's choices (its ISNs)
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the packets as a pcap file (read it with `tcpdump -r`)
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Also write the run as a packetdrill script
    #[arg(long, value_name = "FILE")]
    packetdrill: Option<PathBuf>,
    /// Print the run as JSON instead of a diagram
    #[arg(long)]
    json: bool,
    /// Draw the text diagram one line per event, however wide (default: within 120 columns)
    #[arg(long)]
    wide: bool,
    /// Also draw the run as an SVG ladder diagram into FILE (the verdict's step in red)
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// The seed the cargo fuzz target gives the reference stack.
const ARTIFACT_SEED: u64 = 7;

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| CliError(format!("error: failed to read {name}: {e}\n")))?;
    let input = finding::read(&name, &bytes)?;
    let (saved, file_stack, file_model, file_oracle, file_seed, file_family) = match &input {
        Input::Finding(f) => (
            Some(&f.verdict),
            Some(f.stack.as_str()),
            f.model.as_deref(),
            Some(f.oracle.as_str()),
            Some(f.seed),
            Some(f.family),
        ),
        Input::Artifact(_) => (None, None, None, None, None, None),
    };
    let (subject, oracle) = (&args.judged.subject, args.judged.oracle.as_deref());
    let stack_kind = match (subject.stack.clone(), file_stack) {
        (Some(kind), _) => kind,
        (None, Some(text)) => StackArg::parse(text)
            .map_err(|e| CliError(format!("error: {name}: {e}\n  help: pass --stack to choose one\n")))?,
        (None, None) => StackArg::Reference,
    };
    // The file's model is the one its reference stack ran; any other stack runs no table.
    let model = subject.model.as_deref().or(file_model.filter(|_| stack_kind == StackArg::Reference));
    let models = Models::for_stack(&stack_kind, model, oracle.or(file_oracle))?;
    let seed = args.seed.or(file_seed).unwrap_or(ARTIFACT_SEED);
    let mut stack = make_stack(&stack_kind, &models, seed, subject.family(file_family)?)?;
    let params = stack.params().clone();
    // A finding names the table that judged it; an artifact is judged as `fuzz` would judge it.
    let profile = if file_oracle.is_none() { args.judged.profile(stack.as_ref())? } else { None };
    let judge = profile.as_ref().map_or(&models.oracle, |p| &p.model);
    let oracle = Oracle::new(judge, params.clone());
    let run = oracle.run(stack.as_mut(), input.script(), true);
    let verdict = run.verdict.as_ref();

    if args.json {
        let value = diagram::to_json(&run.trace, judge, &params, run.stack_iss, verdict);
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print!("{}", diagram::render(&run.trace, judge, &params, run.stack_iss, verdict, Width::from_wide(args.wide)));
    }
    if let Some(path) = &args.pcap {
        let bytes =
            pcap::pcap(&run.trace, &params).map_err(|e| CliError(format!("error: cannot write pcap: {e}\n")))?;
        write_file(path, &bytes)?;
    }
    if let Some(path) = &args.svg {
        let title = format!("replay {name}");
        let drawn = ladder::from_run(&title, &run.trace, judge, &params, run.stack_iss, verdict);
        write_file(path, ladder::svg::write(&drawn).as_bytes())?;
    }
    if let Some(path) = &args.packetdrill {
        let header = match verdict {
            Some(v) => format!("tcpcheck replay {name}\n{v}"),
            None => format!("tcpcheck replay {name}: no verdict"),
        };
        write_file(path, packetdrill::packetdrill(&run.trace, &params, run.stack_iss, &header).as_bytes())?;
    }
    if input.script().steps.len() > MAX_STEPS {
        eprintln!(
            "replay: the script has {} steps; only the first {MAX_STEPS} ran (a script is a test case, not a workload)",
            input.script().steps.len()
        );
    }
    let steps = input.script().steps.len().min(MAX_STEPS);
    if verdict.is_none() && run.steps < steps {
        eprintln!(
            "replay: the run ended before step {}: a call this stack's user cannot make in that state",
            run.steps + 1
        );
    }
    eprintln!("{}", compare(saved, verdict, params.clock == Clock::Real));
    Ok(if verdict.is_some() { exit_finding() } else { OK })
}

/// What the replay says about the saved verdict. On a real-time stack the same check at the
/// same row is the same verdict: when a timer fired, and so what a segment carried, can differ
/// by the kernel's timing from one run to the next. So is a child process's crash, hang or
/// broken frame at the same row: its stderr may name addresses or process ids.
fn compare(saved: Option<&Verdict>, now: Option<&Verdict>, real_time: bool) -> String {
    match (saved, now) {
        (Some(s), Some(n)) if s == n => "replay: the same verdict as saved".into(),
        (Some(s), Some(n)) if real_time && s.key() == n.key() => {
            "replay: the same verdict as saved (check and row; timing is real)".into()
        }
        (Some(s), Some(n)) if s.key() == n.key() && matches!(s.check, Check::Crash | Check::Hang | Check::Protocol) => {
            "replay: the same verdict as saved (check and row; what the child said may differ)".into()
        }
        (Some(s), Some(n)) => {
            let show = |v: &Verdict| {
                format!(
                    "{} at {}, step {} ({}): expected {}; actual {}",
                    v.check,
                    v.row,
                    v.step + 1,
                    tcpcheck::time::Instant::from_micros(v.at_us),
                    v.expected,
                    v.actual
                )
            };
            format!(
                "replay: the verdict CHANGED (the stack, a model or tcpcheck is not what it was)\n  saved: {}\n  now:   {}",
                show(s),
                show(n)
            )
        }
        (Some(s), None) => {
            format!("replay: NO verdict now; saved was {} at {} (fixed, or a model changed)", s.check, s.row)
        }
        (None, Some(_)) => "replay: verdict above".into(),
        (None, None) => "replay: no verdict".into(),
    }
}
