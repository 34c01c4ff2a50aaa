//! A run's trace read against a script's own expectations, as packetdrill reads a live stack:
//! the stack's packets in the order it sent them, each against the next `>` line (flags,
//! numbers relative to the ISNs, the window and MSS where written, its time), the RECEIVEs'
//! octet counts and the `tcpi_state` assertions. The first that does not hold fails the
//! script. The oracle's verdict on the same run stands beside it ([`Judged`]).
//!
//! Times: on a virtual clock exactly; on a real one within packetdrill's tolerance, the larger
//! of `--tolerance_usecs` (default 4 ms) and `--tolerance_percent` (12.5 %) of the time since
//! the previous event. On a virtual clock the harness looks at the stack at every event of the
//! script and at every timer the table runs, so a packet is timed at the first of those at or
//! after the moment it was sent.

use super::ast::TcpOption;
use super::plan::{Expect, Outbound, Plan, Skip};
use super::vocab;
use crate::conform::oracle::PEER_ISS;
use crate::conform::{Clock, Record, Run, Step, UserCall, Verdict};
use crate::model::{Span, State};
use crate::time::Instant;
use crate::wire::{Segment, SeqNum, TcpOpt};

/// How closely a real-time stack's packets must keep the script's times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub usecs: u64,
    pub percent: f64,
}

impl Default for Tolerance {
    /// packetdrill's defaults.
    fn default() -> Self {
        Tolerance { usecs: 4000, percent: 12.5 }
    }
}

/// The script's own verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The first expectation that did not hold.
    Fail {
        span: Span,
        expected: String,
        actual: String,
    },
    /// The run could not reach an expectation (the stack's user could not make a call).
    Skipped(Skip),
}

/// Both verdicts on one run.
#[derive(Clone, Debug)]
pub struct Judged {
    pub script: Outcome,
    pub oracle: Option<Verdict>,
}

impl Judged {
    /// Whether the script and the table disagree about the run, and how, in words.
    pub fn disagreement(&self) -> Option<&'static str> {
        match (&self.script, &self.oracle) {
            (Outcome::Pass, Some(_)) => Some(
                "the script passes where the table differs: the script expects what RFC 9293 does not \
                 (a finding about the script, or about the stack it was written for)",
            ),
            (Outcome::Fail { .. }, None) => Some(
                "the script fails where the table accepts what the stack did: the script expects \
                 more than RFC 9293 asks (a choice of the stack it was written for), or the stack \
                 takes a choice the RFC allows",
            ),
            _ => None,
        }
    }
}

/// What one step of the trace holds.
#[derive(Default)]
struct StepFacts {
    read: usize,
    state: Option<State>,
    has_state: bool,
}

/// The base of the stack's relative numbers, as packetdrill takes it: the sequence number of
/// the first SYN the stack sent in the run. The exporter numbers from the same.
pub fn first_stack_syn(trace: &[Record]) -> Option<SeqNum> {
    trace.iter().find_map(|r| match r {
        Record::Outbound { segment, .. } if segment.ctl.contains(crate::wire::Control::SYN) => Some(segment.seq),
        _ => None,
    })
}

/// Judges `run` (made from `plan.script`) by the plan's expectations.
pub fn judge(plan: &Plan, run: &Run, clock: Clock, tolerance: Tolerance) -> Judged {
    Judged { script: script_outcome(plan, run, clock, tolerance), oracle: run.verdict.clone() }
}

fn script_outcome(plan: &Plan, run: &Run, clock: Clock, tolerance: Tolerance) -> Outcome {
    let mut steps: Vec<StepFacts> = Vec::new();
    let mut outbound: Vec<(Instant, &Segment)> = Vec::new();
    let stack_iss = first_stack_syn(&run.trace);
    for record in &run.trace {
        if record.starts_step() {
            steps.push(StepFacts::default());
        }
        let Some(facts) = steps.last_mut() else { continue };
        match record {
            Record::Read { data, .. } => facts.read += data.len(),
            Record::Stack { state, .. } => (facts.state, facts.has_state) = (*state, true),
            Record::Outbound { at, segment } => outbound.push((*at, segment)),
            _ => {}
        }
    }
    // Steps the run did not reach: the stack's user could not make a call there.
    let reached = run.steps.min(steps.len());
    let unreached = |step: usize| -> Option<Outcome> {
        (step >= reached).then(|| {
            let span = plan.step_spans.get(reached).copied().unwrap_or_default();
            let what = match plan.script.steps.get(reached) {
                Some(Step::User(UserCall::Serve | UserCall::StopServing)) => {
                    "a listener that stays open beside its connection, which this stack cannot keep (the run ended there)"
                }
                _ => "a call the stack's user cannot make in that state (the run ended there)",
            };
            Outcome::Skipped(Skip { what: what.into(), span })
        })
    };
    let mut next_packet = 0;
    for expectation in &plan.expectations {
        let fail = |expected: String, actual: String| Outcome::Fail { span: expectation.span, expected, actual };
        match &expectation.what {
            Expect::Packet(expected) => {
                let Some((at, segment)) = outbound.get(next_packet) else {
                    if run.steps < plan.script.steps.len() {
                        if let Some(skip) = unreached(run.steps) {
                            return skip;
                        }
                    }
                    let sent = outbound.len();
                    return fail(
                        format!("> {}", expected.text()),
                        format!("nothing more: the stack sent {sent} packet{}", if sent == 1 { "" } else { "s" }),
                    );
                };
                next_packet += 1;
                if let Some(problem) = compare(expected, *at, segment, stack_iss, clock, tolerance) {
                    return fail(format!("> {}", expected.text()), problem);
                }
            }
            Expect::Read { step, octets } => {
                if let Some(skip) = unreached(*step) {
                    return skip;
                }
                let read = steps.get(*step).map_or(0, |f| f.read);
                if read != *octets {
                    return fail(format!("read returns {octets}"), format!("read returned {read} octets"));
                }
            }
            Expect::State { step, states, connection } => {
                let (state, known) = match step {
                    Some(s) => {
                        if let Some(skip) = unreached(*s) {
                            return skip;
                        }
                        steps.get(*s).map_or((None, false), |f| (f.state, f.has_state))
                    }
                    None => (Some(State::Closed), true),
                };
                // The connection's socket never listens: where the listener has the port, the
                // connection is gone.
                let state = state.map(|s| if *connection && s == State::Listen { State::Closed } else { s });
                let names = states.iter().map(|s| vocab::tcpi_name(*s)).collect::<Vec<_>>().join(" or ");
                match state {
                    Some(state) if states.contains(&state) => {}
                    Some(state) => {
                        return fail(format!("tcpi_state {names}"), format!("{} ({state})", vocab::tcpi_name(state)))
                    }
                    None if known => {
                        return Outcome::Skipped(Skip {
                            what: "a tcpi_state assertion on a stack that does not report its state".into(),
                            span: expectation.span,
                        })
                    }
                    None => return fail(format!("tcpi_state {names}"), "no state recorded".into()),
                }
            }
        }
    }
    Outcome::Pass
}

/// What differs between the expected packet and the one the stack sent at `at`, if anything.
fn compare(
    expected: &Outbound,
    at: Instant,
    seg: &Segment,
    stack_iss: Option<SeqNum>,
    clock: Clock,
    tolerance: Tolerance,
) -> Option<String> {
    let flags = seg.ctl.bits() | if seg.ack.is_some() { vocab::ACK } else { 0 };
    let start = stack_iss.map_or(seg.seq.0, |iss| seg.seq.0.wrapping_sub(iss.0));
    let len = seg.payload.len();
    let mut actual = format!("{} {start}:{}({len})", vocab::letters(flags), start.wrapping_add(len as u32));
    if let Some(ack) = seg.ack {
        actual += &format!(" ack {}", ack.0.wrapping_sub(PEER_ISS.0));
    }
    actual += &format!(" win {}", seg.window);
    let options: Vec<String> = seg
        .mss
        .map(|m| format!("mss {m}"))
        .into_iter()
        .chain(seg.options.iter().map(|o| {
            match o {
                TcpOpt::Sack(blocks) => std::iter::once("sack".to_string())
                    .chain(
                        blocks
                            .iter()
                            .map(|(l, r)| format!("{}:{}", l.0.wrapping_sub(PEER_ISS.0), r.0.wrapping_sub(PEER_ISS.0))),
                    )
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            }
        }))
        .collect();
    if !options.is_empty() {
        actual += &format!(" <{}>", options.join(","));
    }
    let at_text = format!(" at {}s", vocab::seconds(at.since(Instant::ZERO)));
    let ack_differs = match (expected.ack, seg.ack) {
        (Some(e), Some(a)) => e != a.0.wrapping_sub(PEER_ISS.0),
        _ => false,
    };
    let differs = flags != expected.flags
        || start != expected.start
        || len != usize::from(expected.len)
        || ack_differs
        || expected.window.is_some_and(|w| w != seg.window)
        || expected.options.as_ref().is_some_and(|list| !same_options(list, seg));
    if differs {
        return Some(actual + &at_text);
    }
    let (from, to) = expected.due?;
    let slack = match clock {
        Clock::Virtual => 0,
        Clock::Real => tolerance.usecs.max((expected.since_last as f64 * tolerance.percent / 100.0) as u64),
    };
    let sent = at.as_micros();
    if sent + slack < from || sent > to.saturating_add(slack) {
        let window = if from == to {
            format!("{}s", vocab::seconds(crate::time::Duration::from_micros(from)))
        } else {
            format!(
                "{}s~{}s",
                vocab::seconds(crate::time::Duration::from_micros(from)),
                vocab::seconds(crate::time::Duration::from_micros(to))
            )
        };
        let slack = if slack > 0 { format!(" (within {slack} us)") } else { String::new() };
        return Some(format!("{actual}{at_text}: timing error, expected at {window}{slack}"));
    }
    None
}

/// Whether the stack's options are the ones a `>` line writes, as packetdrill compares them:
/// kind by kind in order, values equal but for timestamps (it checks a TS val only with
/// `--tcp_ts_tick_usecs`, which tcpcheck does not take, and a TS ecr never). MSS is compared
/// apart from its place, as the wire keeps it apart; SACK blocks relative to the peer's ISN.
fn same_options(expected: &[TcpOption], seg: &Segment) -> bool {
    let mss = expected.iter().find_map(|o| match o {
        TcpOption::Mss(m) => Some(*m),
        _ => None,
    });
    let others = expected.iter().filter(|o| !matches!(o, TcpOption::Mss(_)));
    mss == seg.mss
        && others.clone().count() == seg.options.len()
        && others.zip(&seg.options).all(|(e, a)| match (e, a) {
            (TcpOption::Nop, TcpOpt::Nop) | (TcpOption::SackOk, TcpOpt::SackPermitted) => true,
            (TcpOption::WScale(e), TcpOpt::WindowScale(a)) => e == a,
            (TcpOption::Timestamp { .. }, TcpOpt::Timestamp { .. }) => true,
            (TcpOption::Sack(e), TcpOpt::Sack(a)) => {
                e.len() == a.len()
                    && e.iter().zip(a).all(|(&(el, er), (al, ar))| {
                        (el, er) == (al.0.wrapping_sub(PEER_ISS.0), ar.0.wrapping_sub(PEER_ISS.0))
                    })
            }
            _ => false,
        })
}
