//! A run's trace read against a script's own expectations, as packetdrill reads a live stack:
//! the stack's packets in the order it sent them, each against the next `>` line (flags,
//! numbers relative to the ISNs, the window and MSS where written, its time), the RECEIVEs'
//! octet counts and the `tcpi_state` assertions. The first that does not hold fails the
//! script. The oracle's verdict on the same run stands beside it ([`Judged`]).
//!
//! Segmentation, as packetdrill reads it unless `--strict_segments`: where a `>` line expects
//! more text than the stack's next packet carries, the packets that follow it are joined to it
//! until they carry as much ([`aggregate`]). The stack may cut a write where the script's Linux
//! handed its device one TSO segment (the pacing rate sizes TSO segments too).
//!
//! Times: on a virtual clock exactly; on a real one within packetdrill's tolerance, the larger
//! of `--tolerance_usecs` (default 4 ms) and `--tolerance_percent` (12.5 %) of the time since
//! the previous event. On a virtual clock the harness looks at the stack at every event of the
//! script and at every timer the table runs, so a packet is timed at the first of those at or
//! after the moment it was sent.

use super::ast::TcpOption;
use super::plan::{Anchor, Expect, Outbound, Plan, Skip};
use super::vocab;
use crate::conform::oracle::PEER_ISS;
use crate::conform::{Clock, Record, Run, Step, UserCall, Verdict};
use crate::model::{Span, State};
use crate::time::Instant;
use crate::wire::{Control, Segment, SeqNum, TcpOpt};

/// How closely a real-time stack's packets must keep the script's times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub usecs: u64,
    pub percent: f64,
    /// packetdrill's `--tcp_ts_tick_usecs`: how long a tick of the stack's timestamp clock is.
    /// With it, a `>` line's TS val is checked, as packetdrill checks it: the stack's TS vals
    /// are rebased so that its first one reads as the script's first, and each may then be
    /// off by no more ticks than the time tolerance covers. 0 (the default): not checked.
    pub ts_tick_usecs: u64,
    /// packetdrill's `--strict_segments`: each `>` line is one packet of the stack's, never
    /// several joined ([`aggregate`]).
    pub strict_segments: bool,
}

impl Default for Tolerance {
    /// packetdrill's defaults.
    fn default() -> Self {
        Tolerance { usecs: 4000, percent: 12.5, ts_tick_usecs: 0, strict_segments: false }
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
    /// When the step was made (a wait: when it ended).
    at: Instant,
    read: usize,
    state: Option<State>,
    has_state: bool,
}

/// Judges `run` (made from `plan.script`) by the plan's expectations.
pub fn judge(plan: &Plan, run: &Run, clock: Clock, tolerance: Tolerance) -> Judged {
    Judged { script: script_outcome(plan, run, clock, tolerance), oracle: run.verdict.clone() }
}

fn script_outcome(plan: &Plan, run: &Run, clock: Clock, tolerance: Tolerance) -> Outcome {
    let mut steps: Vec<StepFacts> = Vec::new();
    let mut outbound: Vec<(Instant, &Segment)> = Vec::new();
    // packetdrill numbers from the stack's first SYN, as the run does.
    let stack_iss = run.stack_iss;
    for record in &run.trace {
        if record.starts_step() {
            let at = match record {
                Record::Waited { to, .. } => *to,
                other => other.at(),
            };
            steps.push(StepFacts { at, ..StepFacts::default() });
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
    // When each `>` line's packet came, for the relative lines after it.
    let mut arrivals: Vec<Instant> = Vec::new();
    // The first (script, stack) TS vals of the `>` lines: packetdrill's base for the rest.
    let mut ts_base: Option<(u32, u32)> = None;
    for expectation in &plan.expectations {
        let fail = |expected: String, actual: String| Outcome::Fail { span: expectation.span, expected, actual };
        match &expectation.what {
            Expect::Packet(expected) => {
                let joined = if tolerance.strict_segments {
                    None
                } else {
                    aggregate(&outbound[next_packet.min(outbound.len())..], expected.len)
                };
                let (count, joined) = match joined {
                    Some((count, at, segment)) => (count, Some((at, segment))),
                    None => (1, None),
                };
                let Some((at, segment)) =
                    joined.as_ref().map(|(at, s)| (at, s)).or(outbound.get(next_packet).map(|(at, s)| (at, *s)))
                else {
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
                next_packet += count;
                if let (Some(s), Some(a)) = (script_ts_val(expected), ts_val(segment)) {
                    ts_base.get_or_insert((s, a));
                }
                let on_this_run = Outbound { due: anchored(expected, &steps, &arrivals), ..expected.clone() };
                arrivals.push(*at);
                if let Some(problem) = compare(&on_this_run, *at, segment, stack_iss, clock, tolerance, ts_base) {
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

/// The stack's packets from the first of `packets` joined into one of `len` octets of text, as
/// packetdrill joins them when it expects a TSO or GSO segment and the stack (or its device)
/// cut it (`run_packet.c`, unless `--strict_segments`): while the text so far is shorter than
/// the script's, the next packet is joined if it continues the sequence space, agrees on SYN,
/// RST, ACK and URG and on the options' kinds (packetdrill: on the header's length), and every packet but the last carries as much
/// text as the one before it. The joined packet has the first's sequence number, the last's
/// other header fields and time, and all the text. `None` if nothing is joined: the first
/// packet alone is compared.
fn aggregate(packets: &[(Instant, &Segment)], len: u16) -> Option<(usize, Instant, Segment)> {
    let (&(_, first), rest) = packets.split_first()?;
    let mut total = first.payload.len();
    let mut last = first;
    let mut at = packets[0].0;
    let mut count = 1;
    let options = |s: &Segment| (s.mss.is_some(), s.options.iter().map(std::mem::discriminant).collect::<Vec<_>>());
    for &(when, next) in rest {
        if total >= usize::from(len) {
            break;
        }
        let same_kind = next.ctl.contains(Control::SYN) == first.ctl.contains(Control::SYN)
            && next.ctl.contains(Control::RST) == first.ctl.contains(Control::RST)
            && next.ctl.contains(Control::URG) == first.ctl.contains(Control::URG)
            && next.ack.is_some() == first.ack.is_some()
            && options(next) == options(first);
        let continues = next.seq == last.seq.add(last.payload.len() as u32);
        let whole_so_far = next.payload.len() >= usize::from(len) - total || next.payload.len() == last.payload.len();
        if !(same_kind && continues && whole_so_far) || next.payload.is_empty() {
            break;
        }
        total += next.payload.len();
        (last, at, count) = (next, when, count + 1);
    }
    (count > 1).then(|| {
        let mut joined = Segment { seq: first.seq, payload: Vec::with_capacity(total), ..last.clone() };
        for (_, s) in &packets[..count] {
            joined.payload.extend_from_slice(&s.payload);
        }
        (count, at, joined)
    })
}

/// When a `>` line is due on this run: its scheduled `due`, moved by as much as the event
/// before it ended late or early ([`Anchor`]), as packetdrill times a relative line from the
/// moment it finished the event before it.
fn anchored(expected: &Outbound, steps: &[StepFacts], arrivals: &[Instant]) -> Option<(u64, u64)> {
    let (from, to) = expected.due?;
    let (actual, scheduled) = match expected.anchor {
        None => return Some((from, to)),
        Some(Anchor::Step { step, at }) => (steps.get(step).map(|f| f.at), at),
        Some(Anchor::Packet { index, at }) => (arrivals.get(usize::from(index)).copied(), at),
    };
    let Some(actual) = actual else { return Some((from, to)) };
    let shift = |t: u64| (t + actual.as_micros()).saturating_sub(scheduled);
    Some((shift(from), shift(to)))
}

/// What differs between the expected packet and the one the stack sent at `at`, if anything.
fn compare(
    expected: &Outbound,
    at: Instant,
    seg: &Segment,
    stack_iss: Option<SeqNum>,
    clock: Clock,
    tolerance: Tolerance,
    ts_base: Option<(u32, u32)>,
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
    if let Some(problem) = ts_deviation(expected, seg, ts_base, clock, tolerance) {
        return Some(format!("{actual}{at_text}: {problem}"));
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

/// The TS val a `>` line writes, if it writes the option.
fn script_ts_val(expected: &Outbound) -> Option<u32> {
    expected.options.iter().flatten().find_map(|o| match o {
        TcpOption::Timestamp { val, .. } => Some(*val),
        _ => None,
    })
}

/// The TS val a segment carries.
fn ts_val(seg: &Segment) -> Option<u32> {
    seg.options.iter().find_map(|o| match o {
        TcpOpt::Timestamp { val, .. } => Some(*val),
        _ => None,
    })
}

/// With `--tcp_ts_tick_usecs`, how the stack's TS val is off the script's, if it is by more
/// than the tolerance: the stack's value rebased on `base` (the first pair), the difference
/// in ticks times the tick against the larger of `--tolerance_usecs` and the percentage of
/// the time since the script began (not since the last line: a timestamp clock accumulates).
/// Exact on a virtual clock.
fn ts_deviation(
    expected: &Outbound,
    seg: &Segment,
    base: Option<(u32, u32)>,
    clock: Clock,
    tolerance: Tolerance,
) -> Option<String> {
    let tick = tolerance.ts_tick_usecs;
    let (script, stack, (script_first, stack_first)) = (script_ts_val(expected)?, ts_val(seg)?, base?);
    if tick == 0 {
        return None;
    }
    let rebased = script_first.wrapping_add(stack.wrapping_sub(stack_first));
    let off = u64::from((rebased.wrapping_sub(script) as i32).unsigned_abs()).saturating_mul(tick);
    let allowed = match clock {
        Clock::Virtual => 0,
        Clock::Real => {
            let since_start = expected.due.map_or(0, |(from, _)| from);
            tolerance.usecs.max((since_start as f64 * tolerance.percent / 100.0) as u64)
        }
    };
    (off > allowed).then(|| {
        format!("TS val {rebased} in the script's numbering, expected {script} ({off} us off at {tick} us a tick, within {allowed} us)")
    })
}

/// Whether the stack's options are the ones a `>` line writes, as packetdrill compares them:
/// kind by kind in order, values equal but for timestamps (it checks a TS val only with
/// `--tcp_ts_tick_usecs`, [`ts_deviation`], and a TS ecr never). MSS is compared
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::packetdrill::{parse, plan};

    /// A run in which the stack sent a SYN and then an ACK, with these TS vals, at 0 and 0.1 s.
    fn run_with(ts: [u32; 2]) -> Run {
        let seg = |seq: u32, ctl, ack, val| Segment {
            seq: SeqNum(seq),
            ctl,
            ack,
            options: vec![TcpOpt::Timestamp { val, ecr: 0 }],
            ..Segment::default()
        };
        let trace = vec![
            Record::Call { at: Instant::ZERO, call: UserCall::Connect },
            Record::Outbound { at: Instant::ZERO, segment: seg(500, Control::SYN, None, ts[0]) },
            Record::Waited { at: Instant::ZERO, to: Instant::from_micros(100_000) },
            Record::Outbound {
                at: Instant::from_micros(100_000),
                segment: seg(501, Control::NONE, Some(PEER_ISS.add(1)), ts[1]),
            },
        ];
        Run { trace, steps: 2, stack_iss: Some(SeqNum(500)), ..Run::default() }
    }

    /// A run in which the stack sent a SYN, then text at 0.1 s in packets of these lengths.
    fn run_sending(lengths: &[usize]) -> Run {
        let mut trace = vec![
            Record::Call { at: Instant::ZERO, call: UserCall::Connect },
            Record::Outbound {
                at: Instant::ZERO,
                segment: Segment { seq: SeqNum(500), ctl: Control::SYN, ..Segment::default() },
            },
            Record::Waited { at: Instant::ZERO, to: Instant::from_micros(100_000) },
        ];
        let mut seq = SeqNum(501);
        for &n in lengths {
            let segment = Segment {
                seq,
                ctl: Control::PSH,
                ack: Some(PEER_ISS.add(1)),
                payload: vec![7; n],
                ..Segment::default()
            };
            seq = seq.add(n as u32);
            trace.push(Record::Outbound { at: Instant::from_micros(100_000), segment });
        }
        Run { trace, steps: 2, stack_iss: Some(SeqNum(500)), ..Run::default() }
    }

    #[test]
    fn a_longer_expected_packet_joins_the_stacks_as_packetdrill_joins_them() {
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS (x)\n\
            +0 > S 0:0(0) <...>\n+.1 > P. 1:3001(3000) ack 1\n";
        let plan = plan(&parse(&Source::new("t.pkt", text)).unwrap(), false).unwrap();
        let loose = Tolerance::default();
        let strict = Tolerance { strict_segments: true, ..loose };
        let verdict =
            |lengths: &[usize], tolerance| judge(&plan, &run_sending(lengths), Clock::Virtual, tolerance).script;
        // Equal packets, or a shorter last one, make the one packet the script expects.
        assert_eq!(verdict(&[1000, 1000, 1000], loose), Outcome::Pass);
        assert_eq!(verdict(&[2000, 1000], loose), Outcome::Pass);
        assert_eq!(verdict(&[3000], strict), Outcome::Pass);
        // Not with --strict_segments, nor when a packet before the last is shorter than the one
        // before it, nor beyond the expected length.
        for (lengths, tolerance) in
            [(&[1000, 1000, 1000][..], strict), (&[1000, 500, 1500], loose), (&[2000, 2000], loose)]
        {
            let Outcome::Fail { actual, .. } = verdict(lengths, tolerance) else { panic!("{lengths:?} passed") };
            assert!(
                actual.starts_with(&format!("P. 1:{}", 1 + lengths[0])) || actual.contains("(4000)"),
                "{lengths:?}: {actual}"
            );
        }
    }

    /// A run of `connect` at 0, the stack's SYN at 0, a wait to `ack_at`, the stack's ACK at
    /// `ack_at`, a CLOSE at `close_at` (late: the harness awaited something) and the stack's FIN
    /// at `fin_at`.
    fn run_closing(ack_at: u64, close_at: u64, fin_at: u64) -> Run {
        let seg = |seq: u32, ctl| Segment { seq: SeqNum(seq), ctl, ack: Some(PEER_ISS.add(1)), ..Segment::default() };
        let us = Instant::from_micros;
        let trace = vec![
            Record::Call { at: Instant::ZERO, call: UserCall::Connect },
            Record::Outbound { at: Instant::ZERO, segment: Segment { ack: None, ..seg(500, Control::SYN) } },
            Record::Waited { at: Instant::ZERO, to: us(10_000) },
            Record::Outbound { at: us(ack_at), segment: seg(501, Control::NONE) },
            Record::Call { at: us(close_at), call: UserCall::Close },
            Record::Outbound { at: us(fin_at), segment: seg(501, Control::FIN) },
        ];
        Run { trace, steps: 3, stack_iss: Some(SeqNum(500)), ..Run::default() }
    }

    #[test]
    fn a_relative_line_counts_from_when_the_event_before_it_ended() {
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS (x)\n\
            +0 > S 0:0(0) <...>\n+.01~+.05 > . 1:1(0) ack 1\n+0 close(3) = 0\n+0 > F. 1:1(0) ack 1\n";
        let plan = plan(&parse(&Source::new("t.pkt", text)).unwrap(), false).unwrap();
        let verdict = |run: Run| judge(&plan, &run, Clock::Virtual, Tolerance::default()).script;
        // The ACK came at 40 ms, within its range; the close, due `+0` after it, ran when it came
        // (or later, as the harness ran it) and the FIN is due then, not at the range's start.
        assert_eq!(verdict(run_closing(40_000, 40_000, 40_000)), Outcome::Pass);
        assert_eq!(verdict(run_closing(40_000, 45_000, 45_000)), Outcome::Pass);
        // A FIN before the close that brings it, or after it, is still off time.
        for fin in [40_000, 46_000] {
            let Outcome::Fail { expected, actual, .. } = verdict(run_closing(40_000, 45_000, fin)) else {
                panic!("a FIN at {fin} us passed")
            };
            assert!(expected.starts_with("> F.") && actual.contains("expected at 0.045s"), "{actual}");
        }
        // An absolute time stays where it is written.
        let text = text.replace("+0 > F.", "0.010 > F.");
        let plan = crate::packetdrill::plan(&parse(&Source::new("t.pkt", text.as_str())).unwrap(), false).unwrap();
        let Outcome::Fail { actual, .. } =
            judge(&plan, &run_closing(40_000, 45_000, 45_000), Clock::Virtual, Tolerance::default()).script
        else {
            panic!("an absolute line moved")
        };
        assert!(actual.contains("expected at 0.010s"), "{actual}");
    }

    #[test]
    fn ts_vals_are_checked_only_with_a_tick_and_then_rebased_on_the_first() {
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS (x)\n\
            +0 > S 0:0(0) <TS val 1000 ecr 0>\n+.1 > . 1:1(0) ack 1 <TS val 1100 ecr 0>\n";
        let plan = plan(&parse(&Source::new("t.pkt", text)).unwrap(), false).unwrap();
        let ms = Tolerance { ts_tick_usecs: 1000, ..Tolerance::default() };
        // 100 ticks of 1 ms in 100 ms, from any base.
        assert_eq!(judge(&plan, &run_with([7, 107]), Clock::Virtual, ms).script, Outcome::Pass);
        // 3 ticks off: fails exactly on a virtual clock, passes within 4 ms on a real one.
        let off = run_with([7, 110]);
        let Outcome::Fail { actual, .. } = judge(&plan, &off, Clock::Virtual, ms).script else { panic!() };
        assert!(actual.contains("TS val 1103 in the script's numbering, expected 1100"), "{actual}");
        assert_eq!(judge(&plan, &off, Clock::Real, ms).script, Outcome::Pass);
        // Without the tick, TS vals are not compared at all.
        assert_eq!(judge(&plan, &run_with([7, 9999]), Clock::Virtual, Tolerance::default()).script, Outcome::Pass);
    }
}
