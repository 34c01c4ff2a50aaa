//! Subcommands, one file each, and what they share: loading a model by path or shipped name,
//! and rendering diagnostics.

mod bench;
mod bench_fuzz;
#[cfg(target_os = "linux")]
mod bench_linux;
mod check;
mod diff;
mod fuzz;
mod learn;
mod matrix;
mod probe;
mod replay;
mod report;
mod run;
mod show;
mod simulate;
#[cfg(unix)]
mod stack_server;
mod validate;

use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use miette::Diagnostic;

use tcpcheck::model::resolve::OnDisk;
use tcpcheck::model::shipped::{self, Shipped};
use tcpcheck::model::{self, Model, Problems, Source, Table};

pub const OK: ExitCode = ExitCode::SUCCESS;

/// Exit code 1: a violation, a finding or a difference.
pub fn finding() -> ExitCode {
    ExitCode::from(1)
}

/// Exit code 2: bad input or usage.
pub fn bad_input() -> ExitCode {
    ExitCode::from(2)
}

/// Exit code 3: a search stopped early (a limit, Ctrl-C) without a finding: nothing verified.
pub fn incomplete() -> ExitCode {
    ExitCode::from(3)
}

#[derive(Parser)]
#[command(
    name = "tcpcheck",
    version,
    about = "Checks TCP implementations against a formal, citable model of TCP",
    long_about = "Checks TCP implementations against a formal, citable model of TCP.\n\n\
        A MODEL is a table file (models/*.tcp) or the name of a shipped model: rfc9293 (the default), \
        rfc793, no-time-wait, two-packet-handshake, no-2msl-restart, rst-closes-time-wait.\n\n\
        Exit codes: 0 = fine, 1 = a violation or difference, 2 = bad input or usage, \
        3 = a search stopped early (limit or Ctrl-C) without a finding."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::Args),
    Validate(validate::Args),
    Show(show::Args),
    Diff(diff::Args),
    Simulate(simulate::Args),
    Fuzz(fuzz::Args),
    Replay(replay::Args),
    Report(report::Args),
    Learn(learn::Args),
    Run(run::Args),
    Probe(probe::Args),
    Matrix(matrix::Args),
    Bench(bench::Args),
    #[cfg(unix)]
    StackServer(stack_server::Args),
}

impl Cli {
    pub fn run(self) -> Result<ExitCode, CliError> {
        // A report piped into `head` ends quietly when the reader goes, as `cat` does, instead
        // of panicking in `println!`. Not for the commands that talk to stacks in child
        // processes: there a write to a dead child must be an error the harness reports, not a
        // signal that kills tcpcheck.
        let talks_to_children = matches!(
            self.command,
            Command::Fuzz(_)
                | Command::Replay(_)
                | Command::Run(_)
                | Command::Probe(_)
                | Command::Bench(_)
                | Command::Matrix(_)
                | Command::Learn(_)
        );
        #[cfg(unix)]
        if !talks_to_children {
            // SAFETY: restores the default disposition of SIGPIPE before any thread is started
            // or any pipe written; no handler of ours is replaced.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
        }
        if talks_to_children {
            end_quietly_when_stdout_closes();
        }
        match self.command {
            Command::Check(args) => check::run(args),
            Command::Validate(args) => validate::run(args),
            Command::Show(args) => show::run(args),
            Command::Diff(args) => diff::run(args),
            Command::Simulate(args) => simulate::run(args),
            Command::Fuzz(args) => fuzz::run(args),
            Command::Replay(args) => replay::run(args),
            Command::Report(args) => report::run(args),
            Command::Learn(args) => learn::run(args),
            Command::Run(args) => run::run(args),
            Command::Probe(args) => probe::run(args),
            Command::Matrix(args) => matrix::run(args),
            Command::Bench(args) => bench::run(args),
            #[cfg(unix)]
            Command::StackServer(args) => stack_server::run(args),
        }
    }
}

/// A count of threads or jobs: at least one, at most `max` (each is an OS thread, and for a
/// real-time stack a network namespace: a hundred thousand would exhaust the machine and abort).
pub fn parse_count(text: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) if n > max => Err(format!("{n} is more than this command can run at once (at most {max})")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a count: {e}")),
    }
}

/// With SIGPIPE ignored, `println!` into a reader that went away (`tcpcheck fuzz | head`)
/// panics; this ends the process quietly instead, as SIGPIPE would have, after removing any
/// network namespace still held. Any other panic is reported as before.
fn end_quietly_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            #[cfg(target_os = "linux")]
            tcpcheck::adapter::linux::cleanup_all();
            // 128 + SIGPIPE: what a shell reports for a reader's writer ended by the signal.
            std::process::exit(141);
        }
        report(info);
    }));
}

/// A spinner on stderr with the elapsed time and a message, for work that takes minutes of real
/// time (a probe of Linux, the matrix's Linux column); nothing when stderr is not a terminal.
/// It stops when dropped.
pub fn spinner(message: String) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    })
}

/// An error the user must act on; printed in full and mapped to exit code 2.
#[derive(Debug)]
pub struct CliError(String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Problems> for CliError {
    fn from(problems: Problems) -> Self {
        CliError(render(&problems))
    }
}

/// Renders a diagnostic for stderr: colour and Unicode on a terminal, plain ASCII otherwise.
pub fn render(diagnostic: &dyn Diagnostic) -> String {
    model::render(diagnostic, std::io::stderr().is_terminal())
}

/// Reads a model argument: a file if one exists at that path, else a shipped model's name.
pub fn model_source(arg: &str) -> Result<Source, CliError> {
    shipped::source_of(arg).map_err(CliError)
}

/// Loads and validates a model argument; `None` means the default model.
pub fn load_model(arg: Option<&str>) -> Result<Model, CliError> {
    let source = match arg {
        Some(arg) => model_source(arg)?,
        None => Shipped::default_model().source(),
    };
    Ok(Table::load_with(source, &OnDisk)?)
}

/// Writes a file the user asked for, naming it in the error.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| {
        CliError(format!(
            "error: failed to write {}: {e}
",
            path.display()
        ))
    })
}
