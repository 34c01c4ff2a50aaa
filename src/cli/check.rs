//! `tcpcheck check [MODEL]`: explore every run within the bounds and check the properties.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use tcpcheck::explore::{bfs, replay, Bounds, Limits, Progress, Property, Request, Spill, Stats, Stopped, Workload};
use tcpcheck::export::{dot, ladder, report};
use tcpcheck::simulate::columns::Width;
use tcpcheck::simulate::diagram::{self, Trace};

use super::{finding, incomplete, load_model, write_file, CliError, OK};

#[derive(Clone, Copy, clap::ValueEnum)]
enum WorkloadArg {
    /// B listens, A opens, A sends and closes, B closes after A's FIN
    OpenClose,
    /// Both open actively at once, send, and close
    Simultaneous,
    /// open-close twice on the same 4-tuple (sets --incarnations 2 unless given)
    Reopen,
    /// B, the server, closes first and listens again beside its TIME-WAIT connection, and A
    /// reopens on the same 4-tuple: where TIME-WAIT reuse (RFC 1122 4.2.2.13) can happen
    /// (sets --incarnations 2 unless given)
    ServerClose,
}

/// Model-check a table: explore every run of two endpoints within the bounds.
///
/// Two endpoints execute MODEL over a network that may lose (--loss), duplicate (--dup) and
/// reorder (--reorder) segments; time advances in ticks, segments older than MSL die and due
/// timers fire. Breadth-first search finds a shortest counterexample. Properties (all by
/// default): time-wait-2msl, no-stale-delivery, orderly-close, agreement, no-deadlock, and the
/// liveness property eventually-closed (a fair cycle that never idles, found with Tarjan's SCCs,
/// is shown as a lasso).
/// Exit 0 if all hold, 1 with a counterexample, 2 on bad input, 3 if the search stopped early
/// (--max-states, --mem-cap, Ctrl-C) without a counterexample: nothing is verified then.
#[derive(clap::Args)]
pub struct Args {
    /// Table file or shipped model name [default: rfc9293]
    model: Option<String>,
    /// Check only this property (repeatable)
    #[arg(long = "property", short)]
    properties: Vec<String>,
    #[arg(long, value_enum, default_value = "open-close")]
    workload: WorkloadArg,
    /// Segments the network may lose in a run
    #[arg(long, default_value_t = 1)]
    loss: u8,
    /// Segments the network may duplicate in a run
    #[arg(long, default_value_t = 0)]
    dup: u8,
    /// Deliver any segment in flight (default: the oldest of each direction)
    #[arg(long)]
    reorder: bool,
    /// Connections opened in turn on the same 4-tuple (at least 1)
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    incarnations: Option<u8>,
    /// Maximum segment lifetime in ticks: network duplicates live this long; TIME-WAIT twice it
    #[arg(long, default_value_t = 2)]
    msl: u8,
    /// The network delivers an original segment within this many ticks, or loses it (at least 1)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    delay: u8,
    /// Bytes each side sends per connection
    #[arg(long, default_value_t = 1)]
    data: u8,
    /// R2: retransmissions of a segment before giving up
    #[arg(long, default_value_t = 2)]
    retries: u8,
    /// How far the ISN clock advances per tick (RFC 9293 3.4.1)
    #[arg(long, default_value_t = 1)]
    isn_rate: u16,
    /// Worker threads [default: all cores]
    #[arg(long, value_parser = |s: &str| super::parse_count(s, 1024))]
    threads: Option<usize>,
    /// Stop after this many distinct states (partial statistics; nothing is verified)
    #[arg(long)]
    max_states: Option<u64>,
    /// Stop cleanly when the search would use more memory than this (e.g. 512M, 4G)
    #[arg(long, value_parser = parse_size)]
    mem_cap: Option<u64>,
    /// For spaces too large to remember exactly: keep the visited set as a bit array of this
    /// size (e.g. 4G), 3 bits a state. Some states may be missed (the summary estimates how
    /// many); eventually-closed is not checked
    #[arg(long, value_parser = parse_size, value_name = "SIZE", conflicts_with = "graph_full")]
    bitstate: Option<u64>,
    /// Keep the search's frontier (its widest two levels, ~100 bytes a state) in files in DIR
    /// instead of memory; they are deleted as they are made
    #[arg(long, value_name = "DIR")]
    frontier_dir: Option<PathBuf>,
    /// Write the reachable graph, collapsed to (state A, state B) pairs with edge counts, as DOT
    #[arg(long, value_name = "FILE")]
    graph_dot: Option<PathBuf>,
    /// With --graph-dot: write every explored state and step instead of state pairs (small bounds!)
    #[arg(long, requires = "graph_dot")]
    graph_full: bool,
    /// Write the counterexample, if any, as a DOT chain of state pairs
    #[arg(long, value_name = "FILE")]
    trace_dot: Option<PathBuf>,
    /// Print the counterexample as JSON
    #[arg(long)]
    json: bool,
    /// Draw the text diagram one line per event, however wide (default: within 120 columns)
    #[arg(long)]
    wide: bool,
    /// Draw the counterexample, if any, as an SVG ladder diagram into FILE (a lasso's loop marked)
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Also write a self-contained HTML report: properties, the counterexample drawn, the
    /// reachable pairs graph and the model's state machine
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let scale: u64 = match unit {
        "" | "B" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return Err(format!("`{text}`: expected a size such as 512M or 4G")),
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(scale)).ok_or_else(|| format!("`{text}` is not a size"))
}

/// An indicatif bar on stderr, when stderr is a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn update(&self, s: &Stats) {
        self.0.set_message(format!("{} distinct, depth {}, queue {}", s.distinct, s.depth, s.left));
        self.0.set_position(s.distinct);
    }
}

/// Writes a text file the user asked for.
fn write(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    write_file(path, text.as_bytes())
}

// The summary reports wall-clock speed: the search itself never reads a clock.
#[allow(clippy::disallowed_methods)]
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let model = load_model(args.model.as_deref())?;
    let properties: Vec<Property> = if args.properties.is_empty() {
        // A bitstate search cannot check liveness: it does not keep the graph.
        Property::ALL.iter().copied().filter(|p| args.bitstate.is_none() || *p != Property::EventuallyClosed).collect()
    } else {
        args.properties
            .iter()
            .map(|p| {
                Property::from_name(p).ok_or_else(|| {
                    CliError(format!(
                        "error: no property named `{p}`\n  help: the properties are: {}\n",
                        Property::names().collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if args.bitstate.is_some() && properties.contains(&Property::EventuallyClosed) {
        return Err(CliError(format!(
            "error: --bitstate cannot check {}: liveness needs the whole reachable graph, which a bitstate search does not keep\n  help: check it without --bitstate (at smaller bounds if need be), or drop `--property {}`\n",
            Property::EventuallyClosed,
            Property::EventuallyClosed
        )));
    }
    let (workload, default_incarnations) = match args.workload {
        WorkloadArg::OpenClose => (Workload::OpenClose, 1),
        WorkloadArg::Simultaneous => (Workload::Simultaneous, 1),
        WorkloadArg::Reopen => (Workload::OpenClose, 2),
        WorkloadArg::ServerClose => (Workload::ServerClose, 2),
    };
    let bounds = Bounds {
        workload,
        loss: args.loss,
        dup: args.dup,
        reorder: args.reorder,
        incarnations: args.incarnations.unwrap_or(default_incarnations),
        msl: args.msl.max(1),
        delay: args.delay,
        data: args.data,
        retries: args.retries,
        isn_rate: args.isn_rate.max(1),
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    // A second handler cannot be installed in one process; tests call `run` once per process.
    // A second Ctrl-C quits at once, as the first waits for the workers' chunks.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping the search (Ctrl-C again to quit at once)");
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {per_sec} states  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Bar(bar)
    });
    let spill = match &args.frontier_dir {
        None => None,
        Some(dir) => Some(Spill::in_dir(dir).map_err(|e| {
            CliError(format!(
                "error: cannot make the frontier's files in {}: {e}\n  help: give --frontier-dir a directory you can write to\n",
                dir.display()
            ))
        })?),
    };
    let request = Request {
        bounds,
        properties: &properties,
        limits: Limits { max_states: args.max_states, mem_cap: args.mem_cap },
        pair_graph: (args.graph_dot.is_some() && !args.graph_full) || args.html.is_some(),
        full_graph: args.graph_dot.is_some() && args.graph_full,
        threads: args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        bitstate: args.bitstate,
        spill: spill.as_ref(),
    };
    let started = std::time::Instant::now();
    let outcome = match &bar {
        Some(bar) => bfs(&model, request, &interrupt, bar),
        None => bfs(&model, request, &interrupt, &()),
    };
    if let Some(bar) = &bar {
        bar.0.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    let s = outcome.stats;
    let names: Vec<&str> = properties.iter().map(|p| p.name()).collect();
    // The counterexample replayed once, for the diagram, the trace DOT and the graph highlight.
    let replayed = outcome.counterexample.as_ref().map(|cx| (cx, replay(&model, bounds, &cx.steps)));
    // With --json, one object whatever the outcome: the counterexample's trace if there is one,
    // and always the result and the statistics.
    let mut json = serde_json::json!({});
    // For --html: the violated property, what happened, and the counterexample drawn.
    let mut for_html = None;
    match &replayed {
        Some((cx, replayed)) => {
            let world = &replayed.world;
            let loop_at = cx.loop_from.map(|i| replayed.step_starts.get(i).copied().unwrap_or(replayed.entries.len()));
            let trace = Trace {
                entries: &replayed.entries,
                ports: [1000, 2000],
                last: [world.ends.a.state(), world.ends.b.state()],
                loop_at,
            };
            if let Some(path) = &args.trace_dot {
                let title = format!("{}: {} violated", model.name(), cx.violation.property);
                write(path, &dot::trace(&title, replayed.start, &replayed.path))?;
            }
            if args.svg.is_some() || args.html.is_some() {
                let title =
                    format!("check {}: {} violated ({} steps)", model.name(), cx.violation.property, cx.steps.len());
                let drawn = ladder::svg::write(&ladder::from_trace(&title, trace, &model));
                if let Some(path) = &args.svg {
                    write(path, &drawn)?;
                }
                let text = format!(
                    "<details><summary>as text</summary>{}</details>\n",
                    report::pre(&diagram::render(trace, &model, Width::Wide))
                );
                for_html = Some((cx.violation.property, cx.violation.what.clone(), report::inline_svg(&drawn) + &text));
            }
            if args.json {
                json = diagram::to_json(trace, &model);
                json["violation"] = serde_json::json!({"property": cx.violation.property.name(), "what": cx.violation.what, "steps": cx.steps.len()});
            } else {
                println!("Property {} is violated: {}", cx.violation.property, cx.violation.what);
                println!("  why it matters: {}", cx.violation.property.reason());
                println!("A shortest counterexample ({} steps):\n", cx.steps.len());
                print!("{}", diagram::render(trace, &model, Width::from_wide(args.wide)));
            }
        }
        None => {
            if !args.json {
                match (outcome.stopped, outcome.coverage) {
                    (None, None) => println!("All properties hold: {}", names.join(", ")),
                    (None, Some(c)) => println!(
                        "All properties hold in the {} states visited: {}; a bitstate search, it may have missed about {} states (and what only they lead to)",
                        s.distinct,
                        names.join(", "),
                        missed(c.expected_missed)
                    ),
                    (Some(why), _) => println!(
                        "No violation found, but the search stopped early ({}): {} is NOT verified",
                        stopped_why(why),
                        names.join(", ")
                    ),
                }
            }
        }
    }
    let pairs_dot = outcome.pairs.as_ref().map(|pairs| {
        let mut edges: Vec<_> = pairs.iter().map(|(&(a, b), &n)| (a, b, n)).collect();
        edges.sort();
        let highlight: Vec<_> = replayed
            .as_ref()
            .map(|(_, r)| {
                let pairs: Vec<_> = std::iter::once(r.start).chain(r.path.iter().map(|(_, p)| *p)).collect();
                pairs.windows(2).map(|w| (w[0], w[1])).collect()
            })
            .unwrap_or_default();
        dot::pair_graph(model.name(), &edges, &highlight)
    });
    if let (Some(path), Some(full)) = (&args.graph_dot, &outcome.full) {
        write(path, &dot::full_graph(model.name(), &full.states, &full.edges))?;
    }
    if let (Some(path), Some(text), false) = (&args.graph_dot, &pairs_dot, args.graph_full) {
        write(path, text)?;
    }
    let m = outcome.memory;
    let graph = match m.graph_bytes_per_state(s.distinct) {
        0 => String::new(),
        n => format!(" (liveness graph {n} bytes/state)"),
    };
    let resident = m.rss_per_state(s.distinct).map_or(String::new(), |n| format!(", {n} bytes/state resident"));
    if let Some(e) = spill.as_ref().and_then(Spill::error) {
        eprintln!("error: {e} (in {})", args.frontier_dir.as_ref().map_or(String::new(), |d| d.display().to_string()));
    }
    if m.on_disk > 0 {
        eprintln!("frontier on disk: at most {} MiB in files", m.on_disk >> 20);
    }
    if let Some(c) = outcome.coverage {
        eprintln!(
            "bitstate: {} MiB, {} bits a state, {:.2}% of the bits set: about {} new states taken for seen ones; eventually-closed not checked",
            c.bits >> 23,
            c.hashes,
            100.0 * c.fill,
            missed(c.expected_missed)
        );
    }
    let summary = format!(
        "{} states generated, {} distinct, depth {}, {} left on queue; {:.2}s, {:.0} states/s, {} bytes/state held{graph}{resident}",
        s.generated,
        s.distinct,
        s.depth,
        s.left,
        secs,
        s.distinct as f64 / secs.max(1e-9),
        m.bytes_per_state(s.distinct)
    );
    eprintln!("{summary}");
    if let Some(path) = &args.html {
        let view = super::report::CheckView {
            model: &model,
            command: std::iter::once("tcpcheck".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" "),
            properties: &properties,
            violation: for_html,
            stopped: outcome.stopped.map(stopped_why),
            summary,
            pairs_dot,
        };
        super::report::write_check(path, &view)?;
    }
    if args.json {
        json["format"] = "tcpcheck-check/1".into();
        json["model"] = model.name().into();
        json["properties"] = names.clone().into();
        json["result"] = match (&outcome.counterexample, outcome.stopped) {
            (Some(_), _) => "violated",
            (None, Some(_)) => "stopped",
            (None, None) => "hold",
        }
        .into();
        json["stopped"] = outcome.stopped.map(stopped_why).into();
        json["stats"] = serde_json::json!({
            "generated": s.generated,
            "distinct": s.distinct,
            "depth": s.depth,
            "left": s.left,
            "seconds": secs,
            "bytes_per_state": m.bytes_per_state(s.distinct),
            "graph_bytes_per_state": m.graph_bytes_per_state(s.distinct),
            "peak_bytes": m.peak.total(),
            "peak": {"visited": m.peak.visited, "frontier": m.peak.frontier, "graph": m.peak.graph, "scratch": m.peak.scratch, "cycles": m.peak.cycles},
            "rss_start_bytes": m.rss_start,
            "rss_peak_bytes": m.rss_peak,
            "frontier_disk_peak_bytes": m.on_disk,
        });
        if let Some(c) = outcome.coverage {
            json["bitstate"] = serde_json::json!({
                "bits": c.bits,
                "hashes": c.hashes,
                "fill": c.fill,
                "expected_missed_states": c.expected_missed,
                "not_checked": [Property::EventuallyClosed.name()],
            });
        }
        println!("{}", serde_json::to_string_pretty(&json).map_err(|e| CliError(format!("error: {e}\n")))?);
    }
    Ok(match (&outcome.counterexample, outcome.stopped) {
        (Some(_), _) => finding(),
        (None, Some(_)) => incomplete(),
        (None, None) => OK,
    })
}

/// An estimated count of missed states, to two significant digits (it is an estimate).
fn missed(n: f64) -> String {
    if n >= 10.0 {
        format!("{n:.0}")
    } else if n >= 0.01 {
        format!("{n:.2}")
    } else {
        format!("{n:.1e}")
    }
}

fn stopped_why(why: Stopped) -> &'static str {
    match why {
        Stopped::MaxStates => "--max-states reached",
        Stopped::MemCap => "memory cap reached",
        Stopped::Interrupted => "interrupted",
        Stopped::Spill => "the frontier's files failed (see above)",
        Stopped::Full => {
            "more states than the search can number (2^31, or 2^29 with eventually-closed); check at smaller bounds or with --bitstate"
        }
    }
}
