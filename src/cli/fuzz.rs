//! `tcpcheck fuzz`: the built-in coverage-guided loop over a stack under test.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use tcpcheck::adapter::{Reference, Smoltcp};
use tcpcheck::conform::finding::{Finding, FORMAT};
use tcpcheck::conform::fuzz::{Found, Fuzzer, Stats};
use tcpcheck::conform::script::SEEDS;
use tcpcheck::conform::{Clock, Coverage, Oracle, Script, Stack};
use tcpcheck::export::dot;
use tcpcheck::model::Model;
use tcpcheck::time::Duration;
use tcpcheck::wire::Family;

use super::{finding, load_model, CliError, OK};

/// The stacks `--stack` can name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackArg {
    /// Our reference endpoint executing --model (a mutant plays a buggy stack)
    Reference,
    /// smoltcp 0.14.0 in process, on our virtual clock (--model does not apply)
    Smoltcp,
    /// This machine's Linux kernel, through a TUN device in a private network namespace, in
    /// real time (needs root; --model does not apply)
    Linux,
    /// A stack in a child process that `scripts/setup` builds: lwIP 2.1.3 (`stacks/lwip/`) or
    /// gVisor's netstack (`stacks/gvisor/`), on our virtual clock
    Child(Child),
    /// Any program that speaks the stack protocol (docs/stack-protocol.md)
    Exec(String),
}

/// What `--stack` takes, for help and errors.
pub const STACKS: &str = "reference, smoltcp, linux, lwip, gvisor or exec:COMMAND";

/// The stacks under `stacks/` that speak the stack protocol, built by `scripts/setup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    Lwip,
    Gvisor,
}

impl Child {
    pub const ALL: [Child; 2] = [Child::Lwip, Child::Gvisor];

    pub fn name(self) -> &'static str {
        match self {
            Child::Lwip => "lwip",
            Child::Gvisor => "gvisor",
        }
    }

    /// What it is, for the error that says it is not built.
    fn about(self) -> &'static str {
        match self {
            Child::Lwip => "lwIP's harness (stacks/lwip/) from lwIP's Debian source package",
            Child::Gvisor => "gVisor's harness (stacks/gvisor/) with Debian's Go and gVisor packages",
        }
    }

    /// The command that runs it: `TCPCHECK_LWIP` / `TCPCHECK_GVISOR`, or where `scripts/setup`
    /// builds it.
    pub fn command(self) -> Result<String, CliError> {
        let var = format!("TCPCHECK_{}", self.name().to_uppercase());
        let built = format!("{}/stacks/{}/build/tcpcheck-{}", env!("CARGO_MANIFEST_DIR"), self.name(), self.name());
        let path = std::env::var(&var).unwrap_or(built);
        if !Path::new(&path).exists() {
            return Err(CliError(format!(
                "error: {path} does not exist\n  help: run scripts/setup, which builds {}, or point {var} at it\n",
                self.about()
            )));
        }
        Ok(shlex::try_quote(&path).map_or(path.clone(), |q| q.into_owned()))
    }
}

impl StackArg {
    /// As `--stack` takes it and finding files record it.
    pub fn name(&self) -> String {
        match self {
            StackArg::Reference => "reference".into(),
            StackArg::Smoltcp => "smoltcp".into(),
            StackArg::Linux => "linux".into(),
            StackArg::Child(child) => child.name().into(),
            StackArg::Exec(command) => format!("exec:{command}"),
        }
    }

    /// A short name for file names.
    pub fn short(&self) -> &'static str {
        match self {
            StackArg::Reference => "reference",
            StackArg::Smoltcp => "smoltcp",
            StackArg::Linux => "linux",
            StackArg::Child(child) => child.name(),
            StackArg::Exec(_) => "exec",
        }
    }

    pub fn parse(text: &str) -> Result<StackArg, String> {
        if let Some(child) = Child::ALL.into_iter().find(|c| c.name() == text) {
            return Ok(StackArg::Child(child));
        }
        Ok(match text {
            "reference" => StackArg::Reference,
            "smoltcp" => StackArg::Smoltcp,
            "linux" => StackArg::Linux,
            _ => match text.strip_prefix("exec:") {
                Some(command) if !command.trim().is_empty() => StackArg::Exec(command.to_string()),
                Some(_) => return Err("`exec:` needs a command: `exec:./my-harness --flag`".into()),
                None => return Err(format!("unknown stack `{text}`; expected {STACKS}")),
            },
        })
    }
}

/// Fuzz a TCP stack: random segment sequences judged by the oracle table.
///
/// The harness plays the stack's user and its remote peer. Each run is a script of user calls,
/// segments (numbered relative to what the stack expects: exact, in the window, old, future…)
/// and waits, mutated from a corpus that grows whenever a run fires table rows, (state, input)
/// pairs or row-to-row edges not seen before. A shadow endpoint executing the oracle model
/// judges every step; a difference is a finding naming the row (file:line) and RFC section.
/// Findings are minimized, de-duplicated by (check, row) and saved under DIR/findings/ for
/// `tcpcheck replay`. Exit 0 if nothing was found, 1 with findings, 2 on bad input.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    judged: Judged,
    /// Stop after this long (e.g. 60s, 5min) [default: 10s unless --runs is given]
    #[arg(long, value_parser = parse_duration)]
    time: Option<Duration>,
    /// Stop after this many runs
    #[arg(long)]
    runs: Option<u64>,
    /// Seed of the mutation RNG; job k uses seed + k
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the corpus in DIR/corpus and save findings in DIR/findings [default: fuzz-out]
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Parallel jobs [default: all cores; one per two cores for a stack in a child process, which
    /// takes a core of its own; on a real-time stack 256 per core, as its runs mostly wait]
    #[arg(long, value_parser = |s: &str| super::parse_count(s, MAX_JOBS))]
    jobs: Option<usize>,
    /// End each run before a wait that would pass this much time from its start (e.g. 3s)
    /// [default: none; 3s on a real-time stack, where every wait is real]
    #[arg(long, value_parser = parse_duration)]
    horizon: Option<Duration>,
    /// Start from an empty corpus instead of the seed scripts (to measure the search itself)
    #[arg(long)]
    no_seeds: bool,
    /// Merge instead of fuzzing: run the corpora and findings of these directories (fuzz-out
    /// directories of other machines, or libFuzzer corpus directories of raw inputs) after
    /// --corpus's own, and keep in --corpus each script that adds coverage and each finding that
    /// still draws its verdict here (as libFuzzer's -merge=1)
    #[arg(long, value_name = "DIR", num_args = 1..)]
    merge: Vec<PathBuf>,
    /// Print the report as one JSON object (docs/json.md)
    #[arg(long)]
    json: bool,
    /// Print every finding in full (verdict, expected and actual), not one line each
    #[arg(long)]
    verbose: bool,
    /// Draw the oracle table with each row coloured by how often it fired, as DOT
    #[arg(long, value_name = "FILE")]
    coverage_dot: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    Duration::parse(text)
}

/// The stack a command runs and the table its reference stack executes: `--stack` and
/// `--model`, declared once for every command that runs a stack.
#[derive(clap::Args)]
pub struct Subject {
    /// The stack under test: reference, smoltcp, linux, lwip, gvisor, or exec:COMMAND for any program
    /// that speaks the stack protocol (docs/stack-protocol.md) [default: reference; for replay,
    /// the stack the finding names]
    #[arg(long, value_parser = StackArg::parse)]
    pub stack: Option<StackArg>,
    /// The table the reference stack executes [default: rfc9293; for replay, the finding's]
    #[arg(long, short)]
    pub model: Option<String>,
    /// The IP version of the packets: 4, 6, or (run only) both, each script in each family as
    /// packetdrill's run_all.py runs them [default: 4; for replay, the finding's]
    #[arg(long, value_parser = Families::parse)]
    pub family: Option<Families>,
}

impl Subject {
    /// The stack asked for, the reference stack if none was.
    pub fn kind(&self) -> StackArg {
        self.stack.clone().unwrap_or(StackArg::Reference)
    }

    /// The one family asked for (`file` if none was, else IPv4): `both` is for `run` alone.
    pub fn family(&self, file: Option<Family>) -> Result<Family, CliError> {
        match self.family {
            None => Ok(file.unwrap_or_default()),
            Some(Families::One(family)) => Ok(family),
            Some(Families::Both) => Err(CliError(
                "error: --family both: only `run` runs in both families\n  help: give --family 4 or --family 6\n"
                    .into(),
            )),
        }
    }
}

/// What `--family` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Families {
    One(Family),
    Both,
}

/// One family, as `--family` names it: `4` or `6` (or packetdrill's `ipv4`, `ipv6`).
pub fn one_family(text: &str) -> Result<Family, String> {
    match text {
        "4" | "ipv4" => Ok(Family::V4),
        "6" | "ipv6" => Ok(Family::V6),
        _ => Err(format!("unknown family `{text}`; expected 4 or 6")),
    }
}

impl Families {
    pub fn parse(text: &str) -> Result<Families, String> {
        match text {
            "both" => Ok(Families::Both),
            _ => one_family(text).map(Families::One).map_err(|e| e.replace("4 or 6", "4, 6 or both")),
        }
    }

    /// The families, IPv4 first.
    pub fn list(self) -> Vec<Family> {
        match self {
            Families::One(family) => vec![family],
            Families::Both => Family::ALL.to_vec(),
        }
    }
}

/// [`Subject`] and the table that judges what the stack does: `--oracle`.
#[derive(clap::Args)]
pub struct Judged {
    #[command(flatten)]
    pub subject: Subject,
    /// The table that judges the stack [default: for replay, the finding's; else the profile the
    /// stack claims (RFC 9293 with its declared choices), else rfc9293]
    #[arg(long)]
    pub oracle: Option<String>,
}

impl Judged {
    /// The models the flags name (see [`Models::for_stack`]).
    pub fn models(&self) -> Result<Models, CliError> {
        Models::for_stack(&self.subject.kind(), self.subject.model.as_deref(), self.oracle.as_deref())
    }

    /// Without `--oracle`, a stack is judged by the profile it claims ([`Stack::profile`]): RFC
    /// 9293 with the switches its configuration turns on. That profile, if the stack claims one
    /// and no `--oracle` was given, with the rows in which it differs from RFC 9293.
    pub fn profile(&self, stack: &dyn Stack) -> Result<Option<Profile>, CliError> {
        match (&self.oracle, stack.profile()) {
            (None, Some(name)) => Profile::load(name).map(Some),
            _ => Ok(None),
        }
    }
}

/// The table a stack claims to follow, and the rows in which it differs from RFC 9293 (the
/// stack's declared choices, each `file:line  rule`): said once rather than found as
/// deviations in every run.
pub struct Profile {
    pub model: Model,
    pub choices: Vec<String>,
}

impl Profile {
    fn load(name: &str) -> Result<Profile, CliError> {
        use tcpcheck::model::diff::{diff, Change};
        let model = load_model(Some(name))?;
        let rfc9293 = load_model(None)?;
        let choices = diff(rfc9293.table(), model.table())
            .iter()
            .filter_map(|change| match change {
                Change::Added(row) | Change::Changed(_, row) => {
                    let r = &row.rule;
                    Some(format!("{}  {} {} {} -> {}", model.table().row_location(row), r.from, r.input, r.guard, r.to))
                }
                Change::Removed(_) | Change::Recited(..) => None,
            })
            .collect();
        eprintln!(
            "judged by {name}, the profile the stack claims (RFC 9293 with its declared choices; --oracle rfc9293 \
             judges by RFC 9293 alone)"
        );
        Ok(Profile { model, choices })
    }
}

/// The stack's table and the oracle's, loaded once and shared by every job.
pub struct Models {
    pub stack: Model,
    pub oracle: Model,
}

impl Models {
    pub fn load(stack: Option<&str>, oracle: Option<&str>) -> Result<Models, CliError> {
        Ok(Models { stack: load_model(stack)?, oracle: load_model(oracle)? })
    }

    /// [`Models::load`] for `kind`, refusing a `--model` it would ignore: only the reference
    /// stack executes a table; every other stack is what it is.
    pub fn for_stack(kind: &StackArg, model: Option<&str>, oracle: Option<&str>) -> Result<Models, CliError> {
        if let (Some(model), false) = (model, *kind == StackArg::Reference) {
            return Err(CliError(format!(
                "error: --model {model} does not apply to the {} stack: only the reference stack executes a table\n  \
                 help: to judge {} by another table, use --oracle {model}\n",
                kind.name(),
                kind.name()
            )));
        }
        Models::load(model, oracle)
    }
}

/// A fresh stack of the named kind, its packets in `family`; the Linux stack can fail to set up
/// (no root, no TUN), and a child process to start or to say hello, or to speak `family`.
pub fn make_stack<'m>(
    kind: &StackArg,
    models: &'m Models,
    seed: u64,
    family: Family,
) -> Result<Box<dyn Stack + 'm>, CliError> {
    Ok(match kind {
        StackArg::Reference => Box::new(Reference::new(&models.stack, seed).on(family)),
        StackArg::Smoltcp => Box::new(Smoltcp::new(seed).on(family)),
        StackArg::Linux => linux_stack(family)?,
        StackArg::Child(child) => exec_stack(&child.command()?, seed, family)?,
        StackArg::Exec(command) => exec_stack(command, seed, family)?,
    })
}

/// A child process's stack. Its family is the one its hello declares (`stack` and `peer`,
/// IPv4 when it names none): a run in another family is refused, with the reason, rather than
/// fed packets the child cannot read.
#[cfg(unix)]
fn exec_stack<'m>(command: &str, seed: u64, family: Family) -> Result<Box<dyn Stack + 'm>, CliError> {
    let stack = tcpcheck::adapter::Exec::spawn(command, seed).map_err(|e| CliError(format!("error: {e}\n")))?;
    let hosts = stack.params().hosts;
    if hosts.family() != family {
        return Err(CliError(format!(
            "error: {} speaks {} only (its hello declares {hosts}): it cannot run in {family}\n  \
             help: the lwIP and gVisor harnesses take raw IPv4 packets; a child whose hello declares \
             IPv6 `stack` and `peer` addresses runs in IPv6 (docs/stack-protocol.md)\n",
            stack.params().name,
            hosts.family(),
        )));
    }
    Ok(Box::new(stack))
}

#[cfg(not(unix))]
fn exec_stack<'m>(_: &str, _: u64, _: Family) -> Result<Box<dyn Stack + 'm>, CliError> {
    Err(CliError("error: stacks in child processes run only on Unix\n".into()))
}

/// The kernel under test; says once per process and family what it is and how it is configured.
#[cfg(target_os = "linux")]
fn linux_stack<'m>(family: Family) -> Result<Box<dyn Stack + 'm>, CliError> {
    static DESCRIBED: [std::sync::Once; 2] = [std::sync::Once::new(), std::sync::Once::new()];
    let stack = tcpcheck::adapter::Linux::with_family(family).map_err(|e| CliError(format!("error: {e}\n")))?;
    DESCRIBED[family as usize].call_once(|| eprintln!("{}", stack.describe()));
    // Where no command installed a Ctrl-C handler of its own (probe, replay), Ctrl-C removes
    // the namespaces and exits; `fuzz` installs its own first, and this one is then refused.
    let _ = ctrlc::set_handler(|| {
        tcpcheck::adapter::linux::cleanup_all();
        eprintln!("interrupted: network namespaces removed");
        std::process::exit(130);
    });
    Ok(Box::new(stack))
}

#[cfg(not(target_os = "linux"))]
fn linux_stack<'m>(_: Family) -> Result<Box<dyn Stack + 'm>, CliError> {
    Err(CliError("error: the linux stack runs only on Linux\n".into()))
}

/// Roughly how long a script waits, in microseconds (a timer wait counted as one RTO).
fn real_time(script: &Script, params: &tcpcheck::conform::Params) -> u64 {
    use tcpcheck::conform::{Step, Wait};
    script
        .steps
        .iter()
        .map(|step| match step {
            Step::Wait(Wait::Ms(ms)) => u64::from(*ms) * 1000,
            Step::Wait(Wait::Msl) => params.msl.as_micros(),
            Step::Wait(Wait::NextTimer) => params.rto.as_micros(),
            _ => 0,
        })
        .sum()
}

/// The most jobs `--jobs` takes: twice the real-time default on a 4-core machine.
const MAX_JOBS: usize = 4096;

/// A real-time stack's runs mostly sleep: this many jobs per core keep the cores busy. Each
/// job is a stack (for Linux, a network namespace); on 2 cores, 512 jobs ran 3.6x the runs/s
/// of 128, and 2048 spent most of a 40 s budget creating namespaces.
const REAL_TIME_JOBS_PER_CORE: usize = 256;

/// A real-time stack's run ends before its virtual time passes this: long enough for the
/// first SYN retransmissions (1, 2, 3 s on Linux) and RTOs of text, short enough that a run
/// costs seconds, not the minutes of an MSL or a 60 s TIME-WAIT. `probe time-wait` measures
/// those.
const REAL_TIME_HORIZON: Duration = Duration::from_secs(3);

/// What every job reports when it stops.
struct JobResult {
    stats: Stats,
    coverage: Coverage,
    corpus: Vec<Script>,
    /// Each with the seed of the job's stack: its ISNs, which a script's raw numbers may name.
    found: Vec<(u64, Found)>,
}

fn io_error(path: &Path, e: std::io::Error) -> CliError {
    CliError(format!("error: {}: {e}\n  help: check that the directory exists and is writable\n", path.display()))
}

/// The scripts a directory holds for `--merge`: a fuzz-out directory's corpus and findings, or
/// a libFuzzer corpus directory's raw inputs (decoded as the cargo fuzz targets decode them).
fn read_inputs(dir: &Path) -> Result<Vec<Script>, CliError> {
    use tcpcheck::conform::finding;
    if !dir.is_dir() {
        return Err(CliError(format!(
            "error: --merge {}: not a directory\n  help: name fuzz-out directories (with corpus/ and findings/) or \
             libFuzzer corpus directories\n",
            dir.display()
        )));
    }
    let corpus = dir.join("corpus");
    if !corpus.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io_error(dir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut scripts = Vec::new();
        for path in files {
            let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            scripts.push(finding::decode(&bytes));
        }
        return Ok(scripts);
    }
    let mut scripts = read_corpus(&corpus)?;
    if let Ok(entries) = std::fs::read_dir(dir.join("findings")) {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            match finding::read(&path.display().to_string(), &bytes) {
                Ok(input) => scripts.push(input.script().clone()),
                Err(e) => eprintln!("warning: {}: not a finding, skipped\n{}", path.display(), e.render_plain()),
            }
        }
    }
    Ok(scripts)
}

/// One line per finding: its check and row, how many runs drew it, the row's rule and the file
/// that replays it; `--verbose` prints each in full.
fn findings_table(found: &[(u64, Found)], saved: &[PathBuf]) -> String {
    let mut out = format!(
        "{} finding{} (one per check and row; `tcpcheck replay FILE` shows one, --verbose all):\n",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    );
    out += &format!("  {:<17} {:<8} {:>7}  {:<40} {}\n", "check", "line", "runs", "rule", "file");
    for ((_, f), path) in found.iter().zip(saved) {
        let v = &f.verdict;
        let line = v.row.rsplit_once(':').map_or(v.row.as_str(), |(_, line)| line);
        out +=
            &format!("  {:<17} {:<8} {:>7}  {:<40} {}\n", v.check.to_string(), line, f.drawn, v.rule, path.display());
    }
    out
}

/// Reads DIR/corpus/*.json, skipping (and naming) files that are not scripts.
fn read_corpus(dir: &Path) -> Result<Vec<Script>, CliError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    paths.sort();
    let mut scripts = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            eprintln!("warning: {}: not UTF-8 text, so not a script: skipped", path.display());
            continue;
        };
        match serde_json::from_str::<Script>(text) {
            Ok(script) => scripts.push(script),
            Err(e) => eprintln!("warning: {}:{}:{}: not a script, skipped: {e}", path.display(), e.line(), e.column()),
        }
    }
    Ok(scripts)
}

fn script_name(script: &Script) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    script.hash(&mut h);
    format!("{:016x}.json", h.finish())
}

// The time budget and the report's rates are wall-clock; the loop itself never reads a clock.
#[allow(clippy::disallowed_methods)]
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let kind = args.judged.subject.kind();
    let family = args.judged.subject.family(None)?;
    let mut models = args.judged.models()?;
    let dir = args.corpus.clone().unwrap_or_else(|| PathBuf::from("fuzz-out"));
    let corpus_dir = dir.join("corpus");
    let findings_dir = dir.join("findings");
    let mut imported = read_corpus(&corpus_dir)?;
    let merging = !args.merge.is_empty();
    if merging {
        let mut others = Vec::new();
        for dir in &args.merge {
            others.extend(read_inputs(dir)?);
        }
        // Shorter scripts first, so that of two covering the same rows the shorter is kept.
        others.sort_by_key(|s| s.steps.len());
        eprintln!("merging {} scripts from {} directories into {}", others.len(), args.merge.len(), dir.display());
        imported.extend(others);
    }
    // Ctrl-C stops after the current run and saves what was found. A run on a real-time stack
    // can last minutes, so a second Ctrl-C exits at once, removing the Linux stack's namespaces.
    // Installed before the first stack is made: the Linux stack's own handler (exit at once)
    // is then refused, so a first Ctrl-C keeps the corpus and findings there too.
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    let (flag, pressed) = (Arc::clone(&stop), Arc::clone(&interrupted));
    let _ = ctrlc::set_handler(move || {
        flag.store(true, Ordering::Relaxed);
        if pressed.swap(true, Ordering::Relaxed) {
            #[cfg(target_os = "linux")]
            tcpcheck::adapter::linux::cleanup_all();
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the runs under way and saving (Ctrl-C again to quit at once)");
    });
    // A stack made only to learn its parameters and profile, dropped before the jobs make theirs.
    let (params, profile) = {
        let stack = make_stack(&kind, &models, args.seed, family)?;
        (stack.params().clone(), args.judged.profile(stack.as_ref())?)
    };
    let declared = match profile {
        Some(Profile { model, choices }) => {
            models.oracle = model;
            choices
        }
        None => Vec::new(),
    };
    let real = params.clock == Clock::Real;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A stack in a child process keeps a core busy beside its job's: a job per two cores. (On
    // 2 cores, the reference stack through shared memory ran 20,900 runs/s as one job, 10,200 as
    // two, and 8,500 as two with each job and its child pinned to a core.)
    let child = matches!(kind, StackArg::Exec(_) | StackArg::Child(_));
    let per_job = if child { 2 } else { 1 };
    // A merge is one pass over the scripts in order, with no mutation: one job.
    let jobs = if merging {
        1
    } else {
        args.jobs.unwrap_or(if real { REAL_TIME_JOBS_PER_CORE * cores } else { cores / per_job }).max(1)
    };
    let horizon = args.horizon.or(real.then_some(REAL_TIME_HORIZON));
    let total = if merging { Some(0) } else { args.runs };
    let budget = match (args.time, total) {
        (None, None) => Some(std::time::Duration::from_secs(10)),
        (time, _) => time.map(|t| std::time::Duration::from_micros(t.as_micros())),
    };
    let oracle = Oracle::new(&models.oracle, params.clone()).with_horizon(horizon);
    eprintln!(
        "{} {} against {} ({}), {jobs} job{}, {}, corpus {} ({} scripts)",
        if merging { "merging on" } else { "fuzzing" },
        params.name,
        models.oracle.name(),
        models.oracle.table().source.name,
        if jobs == 1 { "" } else { "s" },
        horizon.map_or("runs unbounded in time".to_string(), |h| format!("each run cut at {h}")),
        corpus_dir.display(),
        imported.len()
    );
    if let Some(tw) = params.time_wait.filter(|&tw| tw < params.msl.times(2)) {
        eprintln!(
            "note: the stack declares TIME-WAIT {tw} < 2*MSL {}: expect time-wait-2msl verdicts",
            params.msl.times(2)
        );
    }

    let runs = AtomicU64::new(0);
    let findings = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let results = Mutex::new(Vec::new());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let gate = std::sync::Barrier::new(jobs);
    std::thread::scope(|scope| {
        for job in 0..jobs {
            let (models, oracle, imported, stop, runs, findings, results) =
                (&models, &oracle, &imported, &stop, &runs, &findings, &results);
            let per_job = total.map(|r| r / jobs as u64 + u64::from((job as u64) < r % jobs as u64));
            let (gate, kind) = (&gate, &kind);
            scope.spawn(move || {
                // Every job's stack is made before any job runs and dropped after all have run:
                // making and removing a Linux stack forks `ip`, and a forked child holds every
                // descriptor of this process until it execs, so a socket that another job closes
                // meanwhile stays open (its listener still listens, its ABORT sends nothing).
                let seed = args.seed.wrapping_add(job as u64);
                let mut stack = make_stack(kind, models, seed, family);
                gate.wait();
                let result = match &mut stack {
                    Ok(stack) => {
                        let mut fuzzer = Fuzzer::new(oracle, stack.as_mut(), seed, false).with_stop(stop);
                        // The seeds, then the imported corpus, as `Fuzzer::new` would offer the
                        // seeds, but minding the budget: on a real-time stack some seeds take minutes.
                        let mut seeds: Vec<Script> =
                            SEEDS.iter().filter(|_| !args.no_seeds && !merging).map(|seed| seed.script()).collect();
                        if real {
                            // Quick seeds first, so a short budget still runs most of them.
                            seeds.sort_by_key(|script| real_time(script, oracle.params()));
                        }
                        for script in seeds.into_iter().chain(imported.iter().cloned()) {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            fuzzer.offer(script);
                            if budget.is_some_and(|b| started.elapsed() >= b) {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                        let mut left = per_job;
                        // A real-time stack's run takes from milliseconds to minutes: look at the
                        // clock after every one.
                        let batch: u64 = if real { 1 } else { 256 };
                        while !stop.load(Ordering::Relaxed) && left != Some(0) {
                            let n = left.map_or(batch, |l| l.min(batch));
                            let before = fuzzer.found().len();
                            fuzzer.round(n);
                            runs.fetch_add(n, Ordering::Relaxed);
                            findings.fetch_add((fuzzer.found().len() - before) as u64, Ordering::Relaxed);
                            left = left.map(|l| l - n);
                            if budget.is_some_and(|b| started.elapsed() >= b) {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                        JobResult {
                            stats: fuzzer.stats,
                            coverage: fuzzer.coverage().clone(),
                            corpus: fuzzer.corpus().to_vec(),
                            found: fuzzer.found().iter().map(|f| (seed, f.clone())).collect(),
                        }
                    }
                    Err(e) => {
                        // The first stack was made; one job's failing leaves the others going.
                        eprint!("job {job}: {e}");
                        JobResult {
                            stats: Stats::default(),
                            coverage: Coverage::new(&models.oracle),
                            corpus: Vec::new(),
                            found: Vec::new(),
                        }
                    }
                };
                if let Ok(mut all) = results.lock() {
                    all.push(result);
                }
                gate.wait();
                drop(stack);
            });
        }
        if let Some(bar) = &bar {
            while results.lock().map_or(0, |r| r.len()) < jobs {
                let n = runs.load(Ordering::Relaxed);
                let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!("{n} runs, {rate:.0}/s, {} findings", findings.load(Ordering::Relaxed)));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            bar.finish_and_clear();
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let results = results.into_inner().unwrap_or_default();

    let mut coverage = Coverage::new(&models.oracle);
    let mut stats = Stats::default();
    let mut corpus: Vec<Script> = Vec::new();
    let mut found: Vec<(u64, Found)> = Vec::new();
    for r in results {
        coverage.merge(&r.coverage);
        stats.runs += r.stats.runs;
        stats.steps += r.stats.steps;
        stats.unconfirmed += r.stats.unconfirmed;
        corpus.extend(r.corpus);
        for (seed, f) in r.found {
            match found.iter_mut().find(|(_, g)| g.verdict.key() == f.verdict.key()) {
                // The shortest script stands for the finding; every job's draws count.
                Some((s, g)) if g.script.steps.len() > f.script.steps.len() => {
                    let drawn = g.drawn + f.drawn;
                    (*s, *g) = (seed, Found { drawn, ..f });
                }
                Some((_, g)) => g.drawn += f.drawn,
                None => found.push((seed, f)),
            }
        }
    }
    found.sort_by(|(_, a), (_, b)| a.verdict.key().cmp(&b.verdict.key()));

    std::fs::create_dir_all(&corpus_dir).map_err(|e| io_error(&corpus_dir, e))?;
    for script in &corpus {
        let path = corpus_dir.join(script_name(script));
        let text = serde_json::to_string(script).unwrap_or_default();
        std::fs::write(&path, text + "\n").map_err(|e| io_error(&path, e))?;
    }
    let mut saved = Vec::new();
    if !found.is_empty() {
        std::fs::create_dir_all(&findings_dir).map_err(|e| io_error(&findings_dir, e))?;
    }
    for (seed, f) in &found {
        let line = f.verdict.row.rsplit(':').next().unwrap_or("0");
        let path = findings_dir.join(format!("{}-{}-line{line}.json", kind.short(), f.verdict.check));
        let file = Finding {
            format: FORMAT.into(),
            stack: kind.name(),
            model: Some(args.judged.subject.model.clone().unwrap_or_else(|| models.stack.name().to_string())),
            oracle: args.judged.oracle.clone().unwrap_or_else(|| models.oracle.name().to_string()),
            seed: *seed,
            family,
            verdict: f.verdict.clone(),
            script: f.script.clone(),
            triage: None,
        };
        std::fs::write(&path, file.to_json()).map_err(|e| io_error(&path, e))?;
        saved.push(path);
    }

    let hits = coverage.row_hits();
    // What `tcpcheck report DIR` colours the oracle's table by (docs/json.md).
    let rows: Vec<serde_json::Value> = models
        .oracle
        .rows()
        .iter()
        .zip(hits)
        .map(|(row, n)| serde_json::json!({"row": row.location(), "hits": n}))
        .collect();
    let recorded = serde_json::json!({
        "format": "tcpcheck-coverage/1",
        "stack": params.name,
        "oracle": args.judged.oracle.clone().unwrap_or_else(|| models.oracle.name().to_string()),
        "runs": stats.runs,
        "rows": rows,
    });
    let path = dir.join("coverage.json");
    std::fs::write(&path, serde_json::to_string_pretty(&recorded).unwrap_or_default() + "\n")
        .map_err(|e| io_error(&path, e))?;
    if let Some(path) = &args.coverage_dot {
        let text = dot::coverage(&models.oracle, hits);
        std::fs::write(path, text).map_err(|e| io_error(path, e))?;
    }
    let interrupted = interrupted.load(Ordering::Relaxed);
    if interrupted {
        eprintln!("interrupted: the corpus and findings so far are saved in {}", dir.display());
    }
    let report = Report {
        stack: &params.name,
        oracle: &models.oracle,
        declared: &declared,
        stats,
        secs,
        corpus: corpus.len(),
        coverage: &coverage,
    };
    if args.json {
        println!("{}", report.json(&found, &saved, interrupted));
    } else {
        report.print(&found, &saved, args.verbose);
    }
    Ok(match (found.is_empty(), interrupted) {
        (false, _) => finding(),
        (true, true) => super::incomplete(),
        (true, false) => OK,
    })
}

/// What `fuzz` says at the end, as text or JSON.
struct Report<'a> {
    stack: &'a str,
    oracle: &'a Model,
    /// The rows of the stack's profile that differ from RFC 9293 (see [`Profile`]).
    declared: &'a [String],
    stats: Stats,
    secs: f64,
    corpus: usize,
    coverage: &'a Coverage,
}

impl Report<'_> {
    fn print(&self, found: &[(u64, Found)], saved: &[PathBuf], verbose: bool) {
        let (table, hits, stats) = (self.oracle.table(), self.coverage.row_hits(), self.stats);
        let covered = hits.iter().filter(|&&c| c > 0).count();
        println!(
            "{} runs ({} steps) in {:.1}s: {} runs/s; corpus {} scripts",
            stats.runs,
            stats.steps,
            self.secs,
            // A real-time stack manages a run every few seconds: show that, not "0".
            match stats.runs as f64 / self.secs.max(1e-9) {
                rate if rate < 10.0 => format!("{rate:.2}"),
                rate => format!("{rate:.0}"),
            },
            self.corpus
        );
        println!(
            "coverage of {}: {covered}/{} rows, {} (state, input) pairs",
            table.source.name,
            hits.len(),
            self.coverage.pairs_hit()
        );
        let uncovered: Vec<String> = table
            .rows
            .iter()
            .zip(hits)
            .filter(|(_, &c)| c == 0)
            .map(|(r, _)| format!("  {}  {} {} -> {}", table.row_location(r), r.rule.from, r.rule.input, r.rule.to))
            .collect();
        if !uncovered.is_empty() {
            println!("rows never fired:\n{}", uncovered.join("\n"));
        }
        if stats.unconfirmed > 0 {
            println!(
                "{} verdict{} did not come again when the script was rerun (real-time noise, or a child process stopped from outside): dropped",
                stats.unconfirmed,
                if stats.unconfirmed == 1 { "" } else { "s" }
            );
        }
        if !self.declared.is_empty() {
            println!(
                "declared choices: {} differs from RFC 9293 in these rows, so the stack is not judged for them:\n  {}",
                self.oracle.name(),
                self.declared.join("\n  ")
            );
        }
        if found.is_empty() {
            println!("no findings");
        } else if verbose {
            println!("{} finding{}:", found.len(), if found.len() == 1 { "" } else { "s" });
            for ((_, f), path) in found.iter().zip(saved) {
                println!(
                    "\n{}\n  found:    after {} runs of its job; drawn by {} runs\n  replay:   tcpcheck replay {}",
                    f.verdict,
                    f.at_run,
                    f.drawn,
                    path.display()
                );
            }
        } else {
            print!("{}", findings_table(found, saved));
        }
    }

    /// The same as one JSON object (`docs/json.md`, format `tcpcheck-fuzz/1`).
    fn json(&self, found: &[(u64, Found)], saved: &[PathBuf], interrupted: bool) -> String {
        let (table, hits, stats) = (self.oracle.table(), self.coverage.row_hits(), self.stats);
        let never: Vec<String> =
            table.rows.iter().zip(hits).filter(|(_, &c)| c == 0).map(|(r, _)| table.row_location(r)).collect();
        let findings: Vec<serde_json::Value> = found
            .iter()
            .zip(saved)
            .map(|((seed, f), path)| {
                serde_json::json!({
                    "verdict": f.verdict,
                    "seed": seed,
                    "at_run": f.at_run,
                    "drawn": f.drawn,
                    "file": path.display().to_string(),
                })
            })
            .collect();
        let value = serde_json::json!({
            "format": "tcpcheck-fuzz/1",
            "stack": self.stack,
            "oracle": self.oracle.name(),
            "runs": stats.runs,
            "steps": stats.steps,
            "seconds": self.secs,
            "corpus": self.corpus,
            "rows": hits.len(),
            "rows_fired": hits.iter().filter(|&&c| c > 0).count(),
            "pairs_fired": self.coverage.pairs_hit(),
            "rows_never_fired": never,
            "unconfirmed": stats.unconfirmed,
            "interrupted": interrupted,
            "declared_choices": self.declared,
            "findings": findings,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}
