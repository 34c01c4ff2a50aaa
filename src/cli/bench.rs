//! `tcpcheck bench endpoint`: throughput of the reference endpoint, with a baseline measured in
//! the same run so the figures mean something on a shared, noisy machine.
//!
//! This is the one place outside the Linux adapter that reads a clock: it measures the program,
//! it does not run inside it.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant as Wall;

use std::sync::atomic::AtomicBool;

use tcpcheck::endpoint::{Config, Endpoint, Isn};
use tcpcheck::explore::{bfs, memory, Bounds, Outcome, Property, Request};
use tcpcheck::model::{Call, Model, State};
use tcpcheck::time::Instant;
use tcpcheck::wire::Segment;

use super::{load_model, CliError, OK};

#[derive(Clone, Copy, clap::ValueEnum)]
enum What {
    /// Segments/s through `handle_segment`: ESTABLISHED data, and whole open/close exchanges
    Endpoint,
    /// The model checker at four bounds spanning 345x: states/s, time and bytes per state
    /// (held, of which the liveness graph's, and resident), 1 vs 2 threads
    Check,
    /// The fuzz loop on one core: reference stack and smoltcp vs a silent stack, and coverage over time
    Fuzz,
    /// Fuzz runs/s against this machine's kernel with 1, 16 and 256 jobs per core (needs
    /// root), against the reference stack on one thread
    Linux,
}

/// Measure throughput against a baseline taken in the same run.
#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    what: What,
    /// Table file or shipped model name [default: rfc9293]
    #[arg(long, short)]
    model: Option<String>,
    /// Segments per measurement round
    #[arg(long, default_value_t = 2_000_000)]
    segments: u64,
    /// Fuzz runs per measurement round
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Rounds per workload: the fastest counts (for `check`, the median)
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seconds per `linux` measurement
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print the figures as one JSON object (docs/json.md) instead of a table
    #[arg(long)]
    json: bool,
}

/// Where a bench's figures go: a table printed a line at a time as each is measured (a bench
/// takes minutes, and a line shows progress), or, with `--json`, one object at the end with the
/// figures of each table under its name (format `tcpcheck-bench/1`).
pub struct Out {
    json: bool,
    tables: serde_json::Map<String, serde_json::Value>,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json, tables: serde_json::Map::new() }
    }

    /// A title or column heads: text only.
    pub fn text(&self, line: &str) {
        if !self.json {
            println!("{line}");
        }
    }

    /// One measurement: its line of text, or its figures as an entry of `table`.
    pub fn row(&mut self, table: &str, line: &str, figures: serde_json::Value) {
        if !self.json {
            println!("{line}");
            return;
        }
        if let serde_json::Value::Array(rows) =
            self.tables.entry(table).or_insert_with(|| serde_json::Value::Array(Vec::new()))
        {
            rows.push(figures);
        }
    }

    /// With `--json`, prints the object: `format`, `bench`, what was measured with what
    /// (`about`), and the tables.
    pub fn finish(self, bench: &str, about: serde_json::Value) -> ExitCode {
        if self.json {
            let mut value = serde_json::json!({ "format": "tcpcheck-bench/1", "bench": bench, "about": about });
            if let Some(object) = value.as_object_mut() {
                object.extend(self.tables);
            }
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        }
        OK
    }
}

/// Runs `work` (which returns how many segments it handled) `rounds` times; the best rate.
/// A workload that did not do what it measures is an error, not a figure.
fn best(rounds: u32, mut work: impl FnMut() -> Result<u64, String>) -> Result<f64, CliError> {
    let mut rate: f64 = 0.0;
    for _ in 0..rounds.max(1) {
        let start = Wall::now();
        let n = work().map_err(|e| CliError(format!("error: benchmark workload went wrong: {e}\n")))?;
        rate = rate.max(n as f64 / start.elapsed().as_secs_f64());
    }
    Ok(rate)
}

fn quiet_config(local_port: u16, remote_port: u16, seed: u64) -> Config {
    Config { local_port, remote_port, isn: Isn::Seeded(seed), log: false, buffer: 65_535, ..Config::default() }
}

/// Passes every segment `from` sends to `to`; returns how many.
fn shuttle(now: Instant, from: &mut Endpoint<'_>, to: &mut Endpoint<'_>) -> u64 {
    let mut n = 0;
    while let Some(seg) = from.poll_transmit() {
        to.handle_segment(now, &seg);
        n += 1;
    }
    n
}

/// Handshake, data both ways, close from A, until both are CLOSED (TIME-WAIT jumped over).
fn open_close(model: &Model, round: u64) -> Result<u64, String> {
    let mut a = Endpoint::new(model, quiet_config(1000, 2000, round));
    let mut b = Endpoint::new(model, quiet_config(2000, 1000, !round));
    let mut now = Instant::ZERO;
    b.handle_user(now, Call::OpenPassive);
    a.handle_user(now, Call::OpenActive);
    a.send(now, b"GET / HTTP/1.0\r\n\r\n");
    let mut n = 0;
    let mut closed = false;
    for _ in 0..64 {
        n += shuttle(now, &mut a, &mut b) + shuttle(now, &mut b, &mut a);
        match (a.state(), b.state()) {
            (State::Established, State::Established) if !closed => {
                b.send(now, b"HTTP/1.0 200 OK\r\n\r\n");
                a.handle_user(now, Call::Close);
                closed = true;
            }
            (_, State::CloseWait) => b.handle_user(now, Call::Close),
            (State::TimeWait, State::Closed) => {
                now = a.poll_timeout().unwrap_or(now);
                a.handle_timeout(now);
            }
            (State::Closed, State::Closed) => return Ok(n),
            _ => {}
        }
    }
    Err(format!("connection {round} ended in {} / {}", a.state(), b.state()))
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let model = load_model(args.model.as_deref())?;
    match args.what {
        What::Endpoint => endpoint(&model, &args),
        What::Check => check(&model, &args),
        What::Fuzz => super::bench_fuzz::run(&model, args.runs, args.rounds, Out::new(args.json)),
        #[cfg(target_os = "linux")]
        What::Linux => super::bench_linux::run(&model, args.seconds, Out::new(args.json)),
        #[cfg(not(target_os = "linux"))]
        What::Linux => Err(CliError("error: the linux stack runs only on Linux\n".into())),
    }
}

/// The checker on four bounds spanning 345x in states, the default among them, each
/// with 1 and 2 threads; the 1-thread run is the baseline. Time and memory per state show how
/// the search grows: flat figures mean linear growth. The resident figure is the process's peak
/// resident set during the run (reset before each run) less what was resident when it started.
fn check(model: &Model, args: &Args) -> Result<ExitCode, CliError> {
    let small = Bounds { loss: 0, ..Bounds::default() };
    let reopen = Bounds { incarnations: 2, ..Bounds::default() };
    let dup = Bounds { dup: 1, ..Bounds::default() };
    let mut out = Out::new(args.json);
    out.text(&format!(
        "tcpcheck bench check: model {}, all properties, median of {} rounds",
        model.name(),
        args.rounds.max(1)
    ));
    out.text(&format!(
        "{:<26} {:>10} {:>7} {:>9} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "bounds",
        "distinct",
        "threads",
        "seconds",
        "states/s",
        "ns/state",
        "B/st held",
        "of graph",
        "B/st RSS",
        "speedup"
    ));
    for (name, bounds) in [
        ("open-close, loss 0", small),
        ("default (loss 1, data 1)", Bounds::default()),
        ("reopen (loss 1, data 1)", reopen),
        ("dup 1 (loss 1, data 1)", dup),
    ] {
        // The rounds on 1 and 2 threads alternate, so a slow spell of the machine (they are
        // shared) falls on both alike.
        let mut runs: [(Vec<f64>, Option<Outcome>); 2] = Default::default();
        for _ in 0..args.rounds.max(1) {
            for (threads, (times, last)) in (1..).zip(runs.iter_mut()) {
                let request = Request::new(bounds, Property::ALL, threads);
                memory::trim_freed_pages();
                memory::reset_peak();
                let start = Wall::now();
                let outcome = bfs(model, request, &AtomicBool::new(false), &());
                times.push(start.elapsed().as_secs_f64());
                *last = Some(outcome);
            }
        }
        let mut base = None;
        for (threads, (mut times, last)) in (1..).zip(runs) {
            let Some(outcome) = last else { continue };
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let (s, m) = (outcome.stats, outcome.memory);
            let rate = s.distinct as f64 / median;
            let speedup = rate / *base.get_or_insert(rate);
            let rss = m.rss_per_state(s.distinct);
            let (held, graph) = (m.bytes_per_state(s.distinct), m.graph_bytes_per_state(s.distinct));
            out.row(
                "results",
                &format!(
                    "{name:<26} {:>10} {threads:>7} {median:>9.3} {rate:>10.0} {:>8.0} {held:>9} {graph:>9} {:>9} {speedup:>7.2}x",
                    s.distinct,
                    1e9 / rate,
                    rss.map_or("-".to_string(), |n| n.to_string()),
                ),
                serde_json::json!({
                    "bounds": name,
                    "distinct": s.distinct,
                    "threads": threads,
                    "seconds": median,
                    "states_per_s": rate,
                    "ns_per_state": 1e9 / rate,
                    "bytes_per_state": held,
                    "graph_bytes_per_state": graph,
                    "rss_bytes_per_state": rss,
                    "speedup": speedup,
                }),
            );
        }
    }
    Ok(out.finish("check", serde_json::json!({ "model": model.name(), "rounds": args.rounds.max(1) })))
}

fn endpoint(model: &Model, args: &Args) -> Result<ExitCode, CliError> {
    let per_round = args.segments.max(1);

    // Baseline: a bare copy of a 100-byte data segment.
    let template = Segment { ack: Some(Default::default()), payload: vec![0x61; 100], ..Segment::default() };
    let baseline = best(args.rounds, || {
        for i in 0..per_round {
            let mut seg = black_box(&template).clone();
            seg.seq = seg.seq.add(i as u32);
            black_box(seg);
        }
        Ok(per_round)
    })?;

    // ESTABLISHED: B receives in-order 100-byte segments, ACKs each, and reads every 32.
    let established = best(args.rounds, || {
        let mut a = Endpoint::new(model, quiet_config(1000, 2000, 1));
        let mut b = Endpoint::new(model, quiet_config(2000, 1000, 2));
        let now = Instant::ZERO;
        b.handle_user(now, Call::OpenPassive);
        a.handle_user(now, Call::OpenActive);
        for _ in 0..3 {
            shuttle(now, &mut a, &mut b);
            shuttle(now, &mut b, &mut a);
        }
        let (view_a, view_b) = (a.view(), b.view());
        let mut seg = Segment {
            src_port: 1000,
            dst_port: 2000,
            seq: view_a.snd_nxt,
            ack: Some(view_b.snd_nxt),
            window: 65_535,
            ..template.clone()
        };
        for i in 0..per_round {
            b.handle_segment(now, black_box(&seg));
            while let Some(ack) = b.poll_transmit() {
                black_box(ack);
            }
            seg.seq = seg.seq.add(100);
            if i % 32 == 31 {
                b.handle_user(now, Call::Receive);
                while let Some(event) = b.poll_event() {
                    black_box(event);
                }
            }
        }
        if b.state() != State::Established || b.view().rcv_nxt != seg.seq {
            return Err(format!("B ended in {} with RCV.NXT {} instead of {}", b.state(), b.view().rcv_nxt, seg.seq));
        }
        Ok(per_round)
    })?;

    // Whole connections: open, a request and a response, close.
    let connections = (per_round / 12).max(1);
    let open_close_rate = best(args.rounds, || (0..connections).map(|r| open_close(model, r)).sum())?;

    let mut out = Out::new(args.json);
    out.text(&format!(
        "tcpcheck bench endpoint: model {}, {per_round} segments per round, best of {} rounds, one thread",
        model.name(),
        args.rounds
    ));
    out.text(&format!("{:<34} {:>14} {:>10} {:>12}", "workload", "segments/s", "ns/seg", "vs baseline"));
    for (name, rate) in [
        ("baseline: copy a 100-byte segment", baseline),
        ("ESTABLISHED data, ACK each", established),
        ("open, request, response, close", open_close_rate),
    ] {
        out.row(
            "results",
            &format!("{name:<34} {:>14.0} {:>10.1} {:>11.3}x", rate, 1e9 / rate, rate / baseline),
            serde_json::json!({
                "workload": name,
                "segments_per_s": rate,
                "ns_per_segment": 1e9 / rate,
                "vs_baseline": rate / baseline,
            }),
        );
    }
    let about = serde_json::json!({ "model": model.name(), "segments": per_round, "rounds": args.rounds });
    Ok(out.finish("endpoint", about))
}
