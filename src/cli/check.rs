//! `tcpcheck check [MODEL]`: explore every run within the bounds and check the properties.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tcpcheck::explore::{bfs, replay, Bounds, Limits, Property, Stopped, Workload};
use tcpcheck::simulate::diagram::{self, Trace};

use super::{finding, load_model, CliError, OK};

#[derive(Clone, Copy, clap::ValueEnum)]
enum WorkloadArg {
    /// B listens, A opens, A sends and closes, B closes after A's FIN
    OpenClose,
    /// Both open actively at once, send, and close
    Simultaneous,
    /// open-close twice on the same 4-tuple (sets --incarnations 2 unless given)
    Reopen,
}

/// Model-check a table: explore every run of two endpoints within the bounds.
///
/// Two endpoints execute MODEL over a network that may lose (--loss), duplicate (--dup) and
/// reorder (--reorder) segments; time advances in ticks, segments older than MSL die and due
/// timers fire. Breadth-first search finds a shortest counterexample. Properties (all by
/// default): time-wait-2msl, no-stale-delivery, orderly-close, agreement, no-deadlock.
/// Exit 0 if all hold, 1 with a counterexample, 2 on bad input.
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
    /// Connections opened in turn on the same 4-tuple
    #[arg(long)]
    incarnations: Option<u8>,
    /// Maximum segment lifetime in ticks: network duplicates live this long; TIME-WAIT twice it
    #[arg(long, default_value_t = 2)]
    msl: u8,
    /// The network delivers an original segment within this many ticks, or loses it
    #[arg(long, default_value_t = 1)]
    delay: u8,
    /// Bytes each side sends per connection
    #[arg(long, default_value_t = 1)]
    data: u8,
    /// R2: retransmissions of a segment before giving up
    #[arg(long, default_value_t = 2)]
    retries: u8,
    /// Stop after this many distinct states
    #[arg(long)]
    max_states: Option<u64>,
    /// Print the counterexample as JSON
    #[arg(long)]
    json: bool,
}

// The summary reports wall-clock speed: the search itself never reads a clock.
#[allow(clippy::disallowed_methods)]
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let model = load_model(args.model.as_deref())?;
    let properties: Vec<Property> = if args.properties.is_empty() {
        Property::ALL.to_vec()
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
    let (workload, default_incarnations) = match args.workload {
        WorkloadArg::OpenClose => (Workload::OpenClose, 1),
        WorkloadArg::Simultaneous => (Workload::Simultaneous, 1),
        WorkloadArg::Reopen => (Workload::OpenClose, 2),
    };
    let bounds = Bounds {
        workload,
        loss: args.loss,
        dup: args.dup,
        reorder: args.reorder,
        incarnations: args.incarnations.unwrap_or(default_incarnations).max(1),
        msl: args.msl.max(1),
        delay: args.delay.max(1),
        data: args.data,
        retries: args.retries,
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    let outcome = bfs(&model, bounds, &properties, Limits { max_states: args.max_states, mem_cap: None }, &interrupt);
    let secs = started.elapsed().as_secs_f64();
    let s = outcome.stats;
    let names: Vec<&str> = properties.iter().map(|p| p.name()).collect();
    match &outcome.counterexample {
        Some(cx) => {
            let (entries, world) = replay(&model, bounds, &cx.steps);
            let trace = Trace { entries: &entries, ports: [1000, 2000], last: [world.a.state(), world.b.state()] };
            if args.json {
                let mut json = diagram::to_json(trace, &model);
                json["violation"] = serde_json::json!({"property": cx.violation.property.name(), "what": cx.violation.what, "steps": cx.steps.len()});
                println!("{}", serde_json::to_string_pretty(&json).map_err(|e| CliError(format!("error: {e}\n")))?);
            } else {
                println!("Property {} is violated: {}", cx.violation.property, cx.violation.what);
                println!("  why it matters: {}", cx.violation.property.reason());
                println!("A shortest counterexample ({} steps):\n", cx.steps.len());
                print!("{}", diagram::render(trace, &model));
            }
        }
        None => {
            if !args.json {
                match outcome.stopped {
                    None => println!("All properties hold: {}", names.join(", ")),
                    Some(why) => println!(
                        "No violation found, but the search stopped early ({}): {} is NOT verified",
                        match why {
                            Stopped::MaxStates => "--max-states reached",
                            Stopped::MemCap => "memory cap reached",
                            Stopped::Interrupted => "interrupted",
                        },
                        names.join(", ")
                    ),
                }
            }
        }
    }
    eprintln!(
        "{} states generated, {} distinct, depth {}, {} left on queue; {:.2}s, {:.0} states/s, {} bytes/state",
        s.generated,
        s.distinct,
        s.depth,
        s.left,
        secs,
        s.distinct as f64 / secs.max(1e-9),
        s.bytes_per_state
    );
    Ok(if outcome.counterexample.is_some() { finding() } else { OK })
}
