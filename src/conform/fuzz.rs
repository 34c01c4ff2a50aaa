//! The built-in fuzz loop: coverage-guided mutation of scripts, with table coverage on the
//! oracle (rows, (state, input) pairs, row-to-row edges) as feedback.
//!
//! It is sans-IO like the rest of the core: it runs as many scripts as it is told to and
//! never reads a clock; the command line decides how long to go on. Mutations work on the
//! script's structure (insert, drop, replace, duplicate, swap, splice, re-aim a number) rather
//! than on bytes, so a mutated script stays meaningful. New steps come from random bytes through
//! `arbitrary`, the same decoding `cargo fuzz` uses.

use arbitrary::{Arbitrary, Unstructured};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::oracle::{Check, Coverage, Oracle, Verdict, Workspace};
use super::script::{Inject, Rel, Script, Step, UserCall, Wait, Window, SEEDS};
use super::{Clock, Stack};

/// Scripts longer than this are not grown further.
pub const MAX_LEN: usize = 48;

/// Runs a minimization may spend on one finding.
const MINIMIZE_BUDGET: usize = 4000;

/// The same on a real-time stack, where a run is up to a horizon of real seconds and every
/// candidate is run [`CONFIRMATIONS`] times.
const REAL_TIME_MINIMIZE_BUDGET: usize = 48;

/// On a real-time stack a new verdict is kept only if its script draws it again this many
/// times: the kernel's timers and the harness's threads run in real time, and on a loaded
/// machine a timer can fire, or a thread wake, later than every tolerance allows. A virtual
/// clock is deterministic and needs no second run.
const CONFIRMATIONS: usize = 2;

/// A finding: a minimized script and the verdict it draws.
#[derive(Clone, Debug)]
pub struct Found {
    pub script: Script,
    pub verdict: Verdict,
    /// How many runs this job had made when it first drew this verdict.
    pub at_run: u64,
    /// How many runs of this job drew it (the same check at the same row), the first included:
    /// how easily the stack is led there.
    pub drawn: u64,
}

/// Counters, for progress and the final report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub runs: u64,
    pub steps: u64,
    /// Verdicts that did not come again when rerun (see [`CONFIRMATIONS`] and `confirmed`),
    /// dropped.
    pub unconfirmed: u64,
}

/// One fuzzing job: a stack, an oracle, a corpus and what it has found.
pub struct Fuzzer<'o, 'm, 's> {
    oracle: &'o Oracle<'m>,
    stack: &'s mut dyn Stack,
    /// The oracle's buffers, reused by every run of this job.
    workspace: Workspace<'m>,
    rng: StdRng,
    corpus: Vec<Script>,
    coverage: Coverage,
    /// Each finding's (check, row), with its index in `found`.
    seen: FxHashMap<(Check, String), usize>,
    found: Vec<Found>,
    /// Set by whoever runs the job when it must stop: a minimization in progress then ends
    /// with what it has (on a real-time stack it can take a minute).
    stop: Option<&'o AtomicBool>,
    pub stats: Stats,
}

impl<'o, 'm, 's> Fuzzer<'o, 'm, 's> {
    /// A job whose corpus starts empty, or with the seed scripts if `seeded`.
    pub fn new(oracle: &'o Oracle<'m>, stack: &'s mut dyn Stack, seed: u64, seeded: bool) -> Self {
        let mut fuzzer = Fuzzer {
            oracle,
            stack,
            workspace: oracle.workspace(),
            rng: StdRng::seed_from_u64(seed),
            corpus: Vec::new(),
            coverage: Coverage::new(oracle.model()),
            seen: FxHashMap::default(),
            found: Vec::new(),
            stop: None,
            stats: Stats::default(),
        };
        for seed in SEEDS.iter().filter(|_| seeded) {
            fuzzer.offer(seed.script());
        }
        fuzzer
    }

    /// Ends minimizations early once `stop` is set (see the field).
    pub fn with_stop(self, stop: &'o AtomicBool) -> Self {
        Fuzzer { stop: Some(stop), ..self }
    }

    /// Runs `script` and keeps it if it covers something new; records a finding if it draws a
    /// verdict not seen before.
    pub fn offer(&mut self, script: Script) {
        let run = self.oracle.run_in(&mut self.workspace, self.stack, &script, false);
        self.stats.runs += 1;
        self.stats.steps += run.steps as u64;
        let new = self.coverage.add(&run.features);
        if let Some(verdict) = &run.verdict {
            let key = (verdict.check, verdict.row.clone());
            if let Some(&i) = self.seen.get(&key) {
                self.found[i].drawn += 1;
            } else if self.confirmed(&script, &key) {
                self.seen.insert(key, self.found.len());
                let found = self.minimize(script, verdict.clone());
                self.found.push(found);
            } else {
                self.stats.unconfirmed += 1;
            }
        } else if new {
            // Steps past the oracle's horizon never ran: they are not part of what was covered.
            let mut script = script;
            script.steps.truncate(run.steps);
            self.corpus.push(script);
        }
        self.workspace.recycle(run);
    }

    /// Runs `n` mutated scripts.
    pub fn round(&mut self, n: u64) {
        for _ in 0..n {
            let script = self.next_input();
            self.offer(script);
        }
    }

    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    pub fn corpus(&self) -> &[Script] {
        &self.corpus
    }

    /// The findings so far, each minimized, one per (check, row).
    pub fn found(&self) -> &[Found] {
        &self.found
    }

    fn random_step(&mut self) -> Step {
        let mut bytes = [0u8; 24];
        self.rng.fill_bytes(&mut bytes);
        let step = Step::arbitrary(&mut Unstructured::new(&bytes)).unwrap_or(Step::Wait(Wait::NextTimer));
        self.within_horizon(step)
    }

    /// Under a horizon (see [`Oracle::with_horizon`]) waits are drawn well inside it: a longer
    /// one would only end the run there, and on a real-time stack, where the horizon is used,
    /// a run's waits are its cost. Timers are reached by `NextTimer`, so a plain wait need only
    /// span delayed ACKs and the like.
    fn within_horizon(&self, step: Step) -> Step {
        let Some(horizon) = self.oracle.horizon() else { return step };
        let longest = (horizon.as_micros() / 16_000).clamp(1, u64::from(u16::MAX)) as u16;
        match step {
            Step::Wait(Wait::Ms(ms)) => Step::Wait(Wait::Ms(ms % longest)),
            Step::Wait(Wait::Msl) if self.oracle.params().msl > horizon => Step::Wait(Wait::NextTimer),
            step => step,
        }
    }

    fn pick(&mut self) -> Script {
        match self.corpus.len() {
            0 => Script::default(),
            n => {
                // Favour recent entries: they reached the newest coverage.
                let i = if self.rng.random_bool(0.5) {
                    self.rng.random_range(n.saturating_sub(8)..n)
                } else {
                    self.rng.random_range(0..n)
                };
                self.corpus[i].clone()
            }
        }
    }

    fn next_input(&mut self) -> Script {
        if self.corpus.is_empty() || self.rng.random_ratio(1, 16) {
            let len = self.rng.random_range(1..16);
            return Script { steps: (0..len).map(|_| self.random_step()).collect() };
        }
        let mut script = self.pick();
        let mutations = self.rng.random_range(1..=4);
        for _ in 0..mutations {
            self.mutate(&mut script);
        }
        script.steps.truncate(MAX_LEN);
        script
    }

    fn mutate(&mut self, script: &mut Script) {
        let steps = &mut script.steps;
        let n = steps.len();
        match self.rng.random_range(0..8) {
            0 | 1 => {
                let at = self.rng.random_range(0..=n);
                let step = self.random_step();
                steps.insert(at, step);
            }
            2 if n > 0 => {
                steps.remove(self.rng.random_range(0..n));
            }
            3 if n > 0 => {
                let at = self.rng.random_range(0..n);
                steps[at] = self.random_step();
            }
            4 if n > 0 => {
                let at = self.rng.random_range(0..n);
                steps.insert(at, steps[at]);
            }
            5 if n > 1 => {
                let (a, b) = (self.rng.random_range(0..n), self.rng.random_range(0..n));
                steps.swap(a, b);
            }
            6 if !self.corpus.is_empty() => {
                let other = self.pick();
                let cut = self.rng.random_range(0..=n);
                let from = self.rng.random_range(0..=other.steps.len());
                steps.truncate(cut);
                steps.extend_from_slice(&other.steps[from..]);
            }
            _ if n > 0 => {
                let at = self.rng.random_range(0..n);
                let rel = self.random_rel();
                if let Step::Inject(inject) = &mut steps[at] {
                    match self.rng.random_range(0..3) {
                        0 => inject.seq = rel,
                        1 => inject.ack = rel,
                        _ => inject.len = self.rng.random_range(0..=40),
                    }
                }
            }
            _ => steps.push(Step::Wait(Wait::NextTimer)),
        }
    }

    /// A relative number near the interesting boundaries.
    fn random_rel(&mut self) -> Rel {
        let small = self.rng.random_range(0..4u16);
        match self.rng.random_range(0..5) {
            0 => Rel::Exact,
            1 => Rel::InWindow(small),
            2 => Rel::Old(small),
            3 => Rel::Future(small),
            _ => Rel::FromIsn(u32::from(small)),
        }
    }

    /// Whether `script` draws the verdict `key` again. On a virtual clock it does, unless the
    /// verdict is a child process's crash, hang or broken frame: something outside the stack
    /// (the OOM killer, a signal, a stopped process) can cause those, so they are run once more.
    fn confirmed(&mut self, script: &Script, key: &(Check, String)) -> bool {
        let times = match (self.stack.params().clock, key.0) {
            (Clock::Real, _) => CONFIRMATIONS,
            (Clock::Virtual, Check::Crash | Check::Hang | Check::Protocol) => 1,
            (Clock::Virtual, _) => return true,
        };
        let mut budget = times;
        let again = self.draws(script, key, times, &mut budget).is_some();
        self.stats.runs += (times - budget) as u64;
        again
    }

    /// The verdict `key` if `script` draws it in `times` runs in a row, each taken from
    /// `budget`; `None` at the first run that does not, or when the budget is spent.
    fn draws(&mut self, script: &Script, key: &(Check, String), times: usize, budget: &mut usize) -> Option<Verdict> {
        let mut last = None;
        for _ in 0..times {
            *budget = budget.checked_sub(1)?;
            let mut run = self.oracle.run_in(&mut self.workspace, self.stack, script, false);
            let verdict = run.verdict.take();
            self.workspace.recycle(run);
            last = Some(verdict.filter(|v| v.check == key.0 && v.row == key.1)?);
        }
        last
    }

    /// Shrinks `script` while it draws a verdict with the same check and row: cut after the
    /// verdict, drop steps, then simplify numbers, lengths and waits.
    fn minimize(&mut self, script: Script, verdict: Verdict) -> Found {
        let key = (verdict.check, verdict.row.clone());
        let mut best = Script { steps: script.steps[..(verdict.step + 1).min(script.steps.len())].to_vec() };
        let mut best_verdict = verdict;
        // On a real-time stack without a horizon a run can take minutes (TIME-WAIT is real):
        // the finding is kept cut after its verdict, and the user replays or trims it by hand.
        // Under a horizon a few dozen runs are affordable, and a shorter script must draw the
        // verdict as a new one must be confirmed: one run could be noise.
        let real = self.stack.params().clock == Clock::Real;
        let mut budget = match (real, self.oracle.horizon()) {
            (false, _) => MINIMIZE_BUDGET,
            (true, Some(_)) => REAL_TIME_MINIMIZE_BUDGET,
            (true, None) => 0,
        };
        let times = if real { CONFIRMATIONS } else { 1 };
        let attempt = |this: &mut Self, candidate: &Script, budget: &mut usize| -> Option<Verdict> {
            if this.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                *budget = 0;
            }
            this.draws(candidate, &key, times, budget)
        };
        // Drop steps, then simplify the rest, until neither changes anything: a step that was
        // needed while another carried odd numbers can often go once that one is simplified.
        loop {
            let before = best.clone();
            let mut i = best.steps.len();
            while i > 0 && budget > 0 {
                i -= 1;
                let mut candidate = best.clone();
                candidate.steps.remove(i);
                if let Some(v) = attempt(self, &candidate, &mut budget) {
                    best = candidate;
                    best_verdict = v;
                }
            }
            for i in 0..best.steps.len() {
                for simpler in simplifications(best.steps[i]) {
                    let mut candidate = best.clone();
                    candidate.steps[i] = simpler;
                    if let Some(v) = attempt(self, &candidate, &mut budget) {
                        best = candidate;
                        best_verdict = v;
                        break;
                    }
                }
            }
            if best == before || budget == 0 {
                break;
            }
        }
        Found { script: best, verdict: best_verdict, at_run: self.stats.runs, drawn: 1 }
    }
}

/// Simpler versions of a step, simplest first.
fn simplifications(step: Step) -> Vec<Step> {
    let mut out = Vec::new();
    match step {
        Step::Inject(inject) => {
            let plain = Inject { seq: Rel::Exact, ack: Rel::Exact, len: 0, window: Window::Open, ..inject };
            for candidate in [
                plain,
                Inject { seq: Rel::Exact, ..inject },
                Inject { ack: Rel::Exact, ..inject },
                Inject { len: inject.len.min(1), ..inject },
                Inject { window: Window::Open, ..inject },
            ] {
                if candidate != inject && !out.contains(&Step::Inject(candidate)) {
                    out.push(Step::Inject(candidate));
                }
            }
        }
        Step::Wait(Wait::Ms(ms)) if ms > 1 => out.extend([Step::Wait(Wait::NextTimer), Step::Wait(Wait::Ms(ms / 2))]),
        Step::User(UserCall::Send(n)) if n > 1 => out.push(Step::User(UserCall::Send(1))),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::model::shipped::Shipped;
    use crate::model::Model;
    use crate::time::Duration;

    fn model(name: &str) -> Model {
        Shipped::find(name).unwrap().load().unwrap()
    }

    #[test]
    fn the_reference_stack_draws_no_verdict() {
        let oracle_model = model("rfc9293");
        let mut stack = Reference::new(&oracle_model, 3);
        let oracle = Oracle::new(&oracle_model, stack.params().clone());
        let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, true);
        fuzzer.round(3000);
        assert!(fuzzer.found().is_empty(), "{}\n{:?}", fuzzer.found()[0].verdict, fuzzer.found()[0].script);
        let hit = fuzzer.coverage().row_hits().iter().filter(|&&c| c > 0).count();
        assert!(hit > 120, "only {hit} rows covered");
    }

    #[test]
    fn under_a_horizon_waits_fit_inside_it() {
        let rfc9293 = model("rfc9293");
        let mut stack = Reference::new(&rfc9293, 3);
        let oracle = Oracle::new(&rfc9293, stack.params().clone()).with_horizon(Some(Duration::from_secs(3)));
        let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, false);
        fuzzer.round(3000);
        let waits: Vec<Wait> = fuzzer
            .corpus()
            .iter()
            .flat_map(|s| s.steps.iter())
            .filter_map(|s| match s {
                Step::Wait(w) => Some(*w),
                _ => None,
            })
            .collect();
        assert!(waits.iter().any(|w| matches!(w, Wait::Ms(_))), "{waits:?}");
        assert!(waits.iter().all(|w| matches!(w, Wait::Ms(0..=186) | Wait::NextTimer)), "{waits:?}");
    }

    #[test]
    fn a_mutant_is_found_and_minimized() {
        let oracle_model = model("rfc9293");
        let mutant = model("rst-closes-time-wait");
        let mut stack = Reference::new(&mutant, 3);
        let oracle = Oracle::new(&oracle_model, stack.params().clone());
        let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, false);
        // The mutant differs in two ways (an exact RST closes TIME-WAIT, an in-window one draws
        // a challenge ACK there); which the search meets first depends on its path.
        let assassinated = |f: &Fuzzer<'_, '_, '_>| f.found().iter().any(|x| x.verdict.check == Check::RstTimeWait);
        while !assassinated(&fuzzer) && fuzzer.stats.runs < 200_000 {
            fuzzer.round(100);
        }
        let found = fuzzer.found().iter().find(|x| x.verdict.check == Check::RstTimeWait).expect("found");
        // Connect, SYN|ACK, CLOSE, a FIN|ACK that acknowledges our FIN, RST: nothing to drop.
        assert_eq!(found.script.steps.len(), 5, "{:?}", found.script);
        fuzzer.round(10);
    }
}
