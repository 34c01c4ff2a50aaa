//! `tcpcheck bench fuzz`: fuzz-loop throughput on one core with the reference stack, against a
//! baseline measured in the same run: the same loop, oracle and scripts with a stack that
//! accepts everything and never answers (so the figure isolates the stack and the wire).
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::Instant as Wall;

use tcpcheck::adapter::Reference;
use tcpcheck::conform::fuzz::Fuzzer;
use tcpcheck::conform::{Oracle, Params, Stack};
use tcpcheck::model::{Call, Model, State};
use tcpcheck::time::Instant;

use super::{CliError, OK};

/// A stack that takes every packet and call and never sends: the baseline's stand-in.
struct Silent(Params);

impl Stack for Silent {
    fn params(&self) -> &Params {
        &self.0
    }
    fn reset(&mut self) {}
    fn call(&mut self, _: Instant, _: Call, _: &[u8]) -> Vec<u8> {
        Vec::new()
    }
    fn inject(&mut self, _: Instant, _: &[u8]) {}
    fn advance(&mut self, _: Instant) {}
    fn transmit(&mut self, _: &mut Vec<u8>) -> bool {
        false
    }
    fn state(&self) -> Option<State> {
        None
    }
}

/// Runs/s and steps/s of `runs` fuzz runs on `stack`, best of `rounds`.
fn rate(oracle: &Oracle<'_>, stack: &mut dyn Stack, runs: u64, rounds: u32) -> (f64, f64) {
    let mut best = (0.0f64, 0.0f64);
    for _ in 0..rounds.max(1) {
        let mut fuzzer = Fuzzer::new(oracle, stack, 1, true);
        let start = Wall::now();
        fuzzer.round(runs);
        let secs = start.elapsed().as_secs_f64();
        let s = fuzzer.stats;
        if s.runs as f64 / secs > best.0 {
            best = (s.runs as f64 / secs, s.steps as f64 / secs);
        }
    }
    best
}

pub fn run(model: &Model, runs: u64, rounds: u32) -> Result<ExitCode, CliError> {
    let mut reference = Reference::new(model, 3);
    let params = reference.params().clone();
    let oracle = Oracle::new(model, params.clone());
    let (base_runs, base_steps) = rate(&oracle, &mut Silent(params), runs, rounds);
    let (ref_runs, ref_steps) = rate(&oracle, &mut reference, runs, rounds);
    println!(
        "tcpcheck bench fuzz: oracle and stack {}, {runs} runs per round, best of {rounds}, one thread",
        model.name()
    );
    println!("{:<44} {:>12} {:>12} {:>12}", "stack", "runs/s", "steps/s", "vs baseline");
    for (name, r, s) in
        [("baseline: silent stack (oracle alone)", base_runs, base_steps), ("reference", ref_runs, ref_steps)]
    {
        println!("{name:<44} {r:>12.0} {s:>12.0} {:>11.3}x", r / base_runs);
    }

    // Coverage from scratch: how many runs and how long until the rows stop growing.
    let mut fuzzer = Fuzzer::new(&oracle, &mut reference, 1, false);
    let total = model.rows().len();
    let start = Wall::now();
    println!("coverage from an empty corpus (rows of {total}):");
    let mut checkpoint = 1_000;
    while checkpoint <= runs.max(1_000) * 4 {
        let done = fuzzer.stats.runs;
        fuzzer.round(checkpoint - done);
        let hit = fuzzer.coverage().row_hits().iter().filter(|&&c| c > 0).count();
        println!("  after {checkpoint:>8} runs ({:>6.2}s): {hit} rows", start.elapsed().as_secs_f64());
        checkpoint *= 4;
    }
    Ok(OK)
}
