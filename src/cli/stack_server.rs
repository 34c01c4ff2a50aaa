//! `tcpcheck stack-server`: a built-in stack served over the stack protocol on stdin/stdout.

use std::process::ExitCode;

use tcpcheck::adapter::exec::protocol::Reset;
use tcpcheck::adapter::exec::serve::{offered_memory, serve_stdio, Failure, Sabotage, Serving};
use tcpcheck::adapter::{Reference, Smoltcp};
use tcpcheck::conform::Stack;
use tcpcheck::wire::Family;

use super::{load_model, CliError, OK};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Served {
    /// Our reference endpoint executing --model
    Reference,
    /// smoltcp 0.14.0
    Smoltcp,
}

/// Serve a built-in stack over the stack protocol (docs/stack-protocol.md) on stdin and stdout.
///
/// Run by a harness, not by hand: `tcpcheck fuzz --stack 'exec:tcpcheck stack-server reference'`
/// runs the same runs, with the same verdicts and coverage, as `--stack reference`, through a
/// pipe. It is the protocol's conformance test and the speed baseline of `exec` stacks
/// (`tcpcheck bench fuzz`). Exit 0 when stdin ends, 2 on a malformed request (after answering it
/// with an `E` frame).
#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum, default_value = "reference")]
    stack: Served,
    /// The table the reference stack executes [default: rfc9293]
    #[arg(long, short)]
    model: Option<String>,
    /// Misbehave on purpose at the N-th request after every reset, to see what a harness does
    /// with a broken stack: abort (SIGABRT), hang, garbage (bytes that are not a frame) or close
    /// (stdout), as HOW:N (e.g. `abort:3`)
    #[arg(long, value_name = "HOW:N", value_parser = parse_failure)]
    fail: Option<Failure>,
    /// Answer on the pipes even when the harness offers shared memory (to measure and test them)
    #[arg(long)]
    pipes: bool,
    /// The IP version of the packets (4 or 6): the hello declares the stack's and peer's
    /// addresses in it, and a harness's runs take that family
    #[arg(long, default_value = "4", value_parser = super::fuzz::one_family)]
    family: Family,
    /// Say `reset restart` in the hello: the harness starts a new server for every run (to
    /// measure and test that path)
    #[arg(long)]
    restart: bool,
}

fn parse_failure(text: &str) -> Result<Failure, String> {
    let expected = || format!("expected HOW:N, HOW one of {}, N from 1 (e.g. `abort:3`)", Sabotage::NAMES.join(", "));
    let (how, step) = text.split_once(':').ok_or_else(expected)?;
    let how = Sabotage::parse(how).ok_or_else(expected)?;
    let step = step.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(expected)?;
    Ok(Failure { how, step })
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let model = load_model(args.model.as_deref())?;
    let make = |seed| -> Box<dyn Stack + '_> {
        match args.stack {
            Served::Reference => Box::new(Reference::new(&model, seed).on(args.family)),
            Served::Smoltcp => Box::new(Smoltcp::new(seed).on(args.family)),
        }
    };
    let shared = if args.pipes { None } else { offered_memory() };
    let reset = if args.restart { Reset::Restart } else { Reset::InPlace };
    serve_stdio(make, Serving { failure: args.fail, shared, reset })
        .map(|()| OK)
        .map_err(|e| CliError(format!("error: stack-server: {e}\n")))
}
