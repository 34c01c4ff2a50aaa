//! `tcpcheck bench fuzz`: fuzz-loop throughput on one core with the reference stack and with
//! smoltcp, against a baseline measured in the same run: the same loop, oracle and scripts with
//! a stack that accepts everything and never answers (so the figure isolates the stack and the
//! wire). smoltcp's figure includes minimizing what it finds (deterministic: the same findings
//! every round), as a real fuzzing session does.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::Instant as Wall;

use tcpcheck::adapter::{Reference, Smoltcp};
use tcpcheck::conform::fuzz::Fuzzer;
use tcpcheck::conform::{Oracle, Params, Stack};
use tcpcheck::model::{Call, Model, State};
use tcpcheck::time::Instant;
use tcpcheck::wire::{Segment, WireError};

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
    /// Taken as it is: the baseline is the oracle alone, without writing bytes nobody reads.
    fn inject_segment(&mut self, _: Instant, _: &Segment, _: &mut Vec<u8>) -> Result<(), WireError> {
        Ok(())
    }
    fn advance(&mut self, _: Instant) {}
    fn transmit(&mut self, _: &mut Vec<u8>) -> bool {
        false
    }
    fn state(&self) -> Option<State> {
        None
    }
}

/// Runs/s and steps/s of one round of `runs` fuzz runs on `stack`.
fn rate(oracle: &Oracle<'_>, stack: &mut dyn Stack, runs: u64) -> (f64, f64) {
    let mut fuzzer = Fuzzer::new(oracle, stack, 1, true);
    let start = Wall::now();
    fuzzer.round(runs);
    let secs = start.elapsed().as_secs_f64();
    let s = fuzzer.stats;
    (s.runs as f64 / secs, s.steps as f64 / secs)
}

pub fn run(model: &Model, runs: u64, rounds: u32) -> Result<ExitCode, CliError> {
    let mut reference = Reference::new(model, 3);
    let params = reference.params().clone();
    let oracle = Oracle::new(model, params.clone());
    // smoltcp declares other parameters (TIME-WAIT, retries, ACK delay): its own oracle.
    let mut smoltcp = Smoltcp::new(1);
    let smoltcp_oracle = Oracle::new(model, smoltcp.params().clone());
    let mut silent = Silent(params);
    // Rounds interleave the stacks, so a burst of load on a shared machine costs each of them
    // alike; the best round of each counts.
    let mut best = [(0.0f64, 0.0f64); 3];
    for _ in 0..rounds.max(1) {
        let rates = [
            rate(&oracle, &mut silent, runs),
            rate(&oracle, &mut reference, runs),
            rate(&smoltcp_oracle, &mut smoltcp, runs),
        ];
        for (b, r) in best.iter_mut().zip(rates) {
            if r.0 > b.0 {
                *b = r;
            }
        }
    }
    println!("tcpcheck bench fuzz: oracle {}, {runs} runs per round, best of {rounds}, one thread", model.name());
    println!("{:<44} {:>12} {:>12} {:>12} {:>13}", "stack", "runs/s", "steps/s", "vs baseline", "vs reference");
    let [(base, _), (reference_runs, _), _] = best;
    let names = ["baseline: silent stack (oracle alone)", "reference", "smoltcp"];
    for (name, (r, s)) in names.into_iter().zip(best) {
        println!("{name:<44} {r:>12.0} {s:>12.0} {:>11.3}x {:>12.3}x", r / base, r / reference_runs);
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
