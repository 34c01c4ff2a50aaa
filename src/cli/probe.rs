//! `tcpcheck probe time-wait`: TIME-WAIT measured from the wire, against 2·MSL.

use std::process::ExitCode;

use tcpcheck::conform::{probe, Clock};
use tcpcheck::time::Duration;

use super::fuzz::{make_stack, Models, Subject};
use super::{finding, incomplete, CliError, OK};

#[derive(Clone, Copy, clap::ValueEnum)]
enum What {
    /// How long TIME-WAIT lasts, whether a retransmitted FIN restarts it, what a RST does
    TimeWait,
}

/// Measure a stack's TIME-WAIT from the outside and compare it with the RFCs.
///
/// Each point is its own deterministic replay: an active close brings a fresh stack into
/// TIME-WAIT, time passes, and a retransmission of the peer's FIN probes it (an ACK means still
/// in TIME-WAIT). Bisection finds how long it lasts; a FIN retransmitted half-way shows whether
/// the timer restarts; an exact RST shows whether it survives (RFC 1337). Only the stack's
/// packets are read. Exit 0 if TIME-WAIT behaves as RFC 9293 and RFC 1337 ask, 1 if not, 3 if it outlasted
/// --limit (then its length is only a lower bound).
#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    what: What,
    #[command(flatten)]
    subject: Subject,
    /// Bisect to this resolution
    #[arg(long, value_parser = Duration::parse, default_value = "1ms")]
    resolution: Duration,
    /// Probe no later than this after the FIN [default: 5*MSL]
    #[arg(long, value_parser = Duration::parse)]
    limit: Option<Duration>,
    /// Print the measurements as one JSON object (docs/json.md)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let What::TimeWait = args.what;
    let kind = args.subject.kind();
    let models = Models::for_stack(&kind, args.subject.model.as_deref(), None)?;
    let mut stack = make_stack(&kind, &models, 1, args.subject.family(None)?)?;
    let params = stack.params().clone();
    let two_msl = params.msl.times(2);
    let limit = args.limit.unwrap_or(params.msl.times(5));
    let waiting = if params.clock == Clock::Real {
        super::spinner(format!("probing TIME-WAIT of {} in real time: a few minutes", params.name))
    } else {
        None
    };
    let tw = probe::time_wait(stack.as_mut(), args.resolution, limit)
        .map_err(|e| CliError(format!("error: cannot measure TIME-WAIT of {}: {e}\n", params.name)))?;
    if let Some(bar) = waiting {
        bar.finish_and_clear();
    }
    let secs = |d: Duration| format!("{:.3}s", d.as_micros() as f64 / 1e6);
    // Within the resolution: the last acknowledged probe can be up to that early.
    let long_enough = tw.lasts.as_micros() + tw.resolution.as_micros() >= two_msl.as_micros();
    let lingers = tw.lasts.as_micros() > 0;
    // Each answer: whether it is as the RFCs ask (None: cannot tell), in words, and where.
    let lasts = if tw.outlasts_limit() {
        // Not the stack's value: the probe stopped looking.
        let what = format!("lasts at least {} (the probe's --limit; 2*MSL = {})", secs(tw.limit), secs(two_msl));
        (long_enough.then_some(true), what)
    } else {
        (Some(long_enough), format!("lasts {} after the peer's FIN (2*MSL = {})", secs(tw.lasts), secs(two_msl)))
    };
    let restart = if tw.outlasts_limit() {
        (None, "a FIN half-way: not measured (TIME-WAIT outlasted the limit; raise --limit)".to_string())
    } else {
        let does = if tw.restarts() { "restarts the timer" } else { "does NOT restart the timer" };
        (
            lingers.then_some(tw.restarts()),
            format!("a FIN half-way is re-ACKed and {does} (then lasts {})", secs(tw.after_restart)),
        )
    };
    let rst = (
        lingers.then_some(tw.survives_rst),
        format!("an exact RST {}", if tw.survives_rst { "is ignored" } else { "ENDS TIME-WAIT" }),
    );
    let answers = [(lasts, "RFC 9293 3.4.2, 3.6.1"), (restart, "RFC 9293 3.10.7.4"), (rst, "RFC 1337 3 (F1)")];
    if args.json {
        let value = serde_json::json!({
            "format": "tcpcheck-probe/1",
            "stack": params.name,
            "msl_us": params.msl.as_micros(),
            "declared_time_wait_us": params.time_wait.map(|d| d.as_micros()),
            "lasts_us": tw.lasts.as_micros(),
            "outlasts_limit": tw.outlasts_limit(),
            "limit_us": tw.limit.as_micros(),
            "after_restart_us": tw.after_restart.as_micros(),
            "restarts": tw.restarts(),
            "survives_rst": tw.survives_rst,
            "resolution_us": tw.resolution.as_micros(),
            "replays": tw.replays,
            "checks": answers.iter().map(|((ok, what), cite)| serde_json::json!({"ok": ok, "what": what, "cite": cite})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        let declared = params.time_wait.map(|d| format!(", declared TIME-WAIT {d}")).unwrap_or_default();
        println!("TIME-WAIT of {} (declared MSL {}{declared}; {} replays)", params.name, params.msl, tw.replays);
        for ((ok, what), cite) in &answers {
            let mark = match ok {
                Some(true) => "ok  ",
                Some(false) => "FAIL",
                None => "n/a ",
            };
            println!("  {mark} {what:<72} {cite}");
        }
    }
    let measured_ok = tw.outlasts_limit() || (long_enough && tw.restarts());
    let failed = !measured_ok || !tw.survives_rst;
    Ok(if failed {
        finding()
    } else if tw.outlasts_limit() {
        eprintln!(
            "probe: TIME-WAIT outlasted --limit {}: how long it lasts and whether a FIN restarts it are not known",
            tw.limit
        );
        incomplete()
    } else {
        OK
    })
}
