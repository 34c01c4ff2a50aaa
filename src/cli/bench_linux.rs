//! `tcpcheck bench linux`: fuzz runs/s against the kernel with N parallel jobs, each its own
//! network namespace, TUN device and connection, in one run with the reference stack on one
//! thread as the baseline: the same oracle, seeds, mutations and horizon, so the ratio says
//! what real time costs against a stack on a virtual clock.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration as Wall, Instant as WallClock};

use tcpcheck::adapter::Reference;
use tcpcheck::conform::fuzz::Fuzzer;
use tcpcheck::conform::{Oracle, Stack};
use tcpcheck::model::Model;
use tcpcheck::time::Duration;

use super::bench::Out;
use super::CliError;

/// The fuzz command's horizon for a real-time stack, applied to both stacks.
const HORIZON: Duration = Duration::from_secs(3);

/// What one measurement did.
struct Rate {
    runs: u64,
    secs: f64,
    rows: usize,
}

/// Fuzzes for `time` with `jobs` stacks from `make`, each on its own thread; the clock starts
/// once every stack is made (setting up namespaces is not the loop's speed) and stops when the
/// last job has finished its run in progress.
fn measure<'m>(
    oracle: &Oracle<'_>,
    jobs: usize,
    time: Wall,
    make: &(dyn Fn() -> Result<Box<dyn Stack + 'm>, String> + Sync),
) -> Result<Rate, CliError> {
    let gate = Barrier::new(jobs + 1);
    // Set when the time is up; it also ends a minimization in progress, as in `tcpcheck fuzz`.
    let stop = AtomicBool::new(false);
    let mut secs = 0.0;
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|job| {
                let (gate, stop) = (&gate, &stop);
                scope.spawn(move || {
                    let stack = make();
                    gate.wait();
                    let out = stack.map(|mut stack| {
                        let mut fuzzer = Fuzzer::new(oracle, stack.as_mut(), 1 + job as u64, true).with_stop(stop);
                        while !stop.load(Ordering::Relaxed) {
                            fuzzer.round(1);
                        }
                        (fuzzer.stats.runs, fuzzer.coverage().row_hits().to_vec())
                    });
                    // Stacks go once every job has stopped (see `tcpcheck fuzz`: a forked `ip`
                    // holds the process's sockets open).
                    gate.wait();
                    out
                })
            })
            .collect();
        gate.wait();
        let start = WallClock::now();
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
        gate.wait();
        secs = start.elapsed().as_secs_f64();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a job panicked".into()))).collect::<Vec<_>>()
    });
    let mut runs = 0;
    let mut hits = vec![0u32; oracle.model().rows().len()];
    for result in results {
        let (n, rows) = result.map_err(|e| CliError(format!("error: {e}\n")))?;
        runs += n;
        for (h, r) in hits.iter_mut().zip(rows) {
            *h += r;
        }
    }
    Ok(Rate { runs, secs, rows: hits.iter().filter(|&&h| h > 0).count() })
}

pub fn run(model: &Model, seconds: u64, mut out: Out) -> Result<ExitCode, CliError> {
    let time = Wall::from_secs(seconds.max(1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let linux = || -> Result<Box<dyn Stack>, String> { Ok(Box::new(tcpcheck::adapter::Linux::new()?)) };
    let probe = linux().map_err(|e| CliError(format!("error: {e}\n")))?;
    let oracle = Oracle::new(model, probe.params().clone()).with_horizon(Some(HORIZON));
    let name = probe.params().name.clone();
    drop(probe);

    let reference_params = Reference::new(model, 1).params().clone();
    let reference_oracle = Oracle::new(model, reference_params).with_horizon(Some(HORIZON));
    let reference = || -> Result<Box<dyn Stack + '_>, String> { Ok(Box::new(Reference::new(model, 1))) };
    let base = measure(&reference_oracle, 1, time, &reference)?;
    let base_rate = base.runs as f64 / base.secs;

    out.text(&format!(
        "tcpcheck bench linux: {name} vs the reference stack ({}), oracle {}, {seconds} s each, runs cut at {HORIZON}, {cores} cores",
        model.name(),
        model.name()
    ));
    out.text(&format!("{:<44} {:>10} {:>12} {:>8} {:>14}", "stack", "runs", "runs/s", "rows", "vs baseline"));
    let mut row = |label: &str, jobs: usize, r: &Rate| {
        let rate = r.runs as f64 / r.secs;
        out.row(
            "results",
            &format!("{label:<44} {:>10} {rate:>12.1} {:>8} {:>13.5}x", r.runs, r.rows, rate / base_rate),
            serde_json::json!({
                "stack": label,
                "jobs": jobs,
                "runs": r.runs,
                "runs_per_s": rate,
                "rows_fired": r.rows,
                "vs_baseline": rate / base_rate,
            }),
        );
    };
    row("baseline: reference, 1 thread (virtual time)", 1, &base);
    for jobs in [1, 16 * cores, 256 * cores] {
        let r = measure(&oracle, jobs, time, &linux)?;
        row(&format!("linux, {jobs} job{}", if jobs == 1 { "" } else { "s" }), jobs, &r);
    }
    let about = serde_json::json!({
        "kernel": name,
        "oracle": model.name(),
        "seconds": seconds,
        "horizon_us": HORIZON.as_micros(),
        "cores": cores,
    });
    Ok(out.finish("linux", about))
}
