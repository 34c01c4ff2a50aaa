//! The oracle: runs a [`Script`] against a [`Stack`] and a *shadow* — our reference endpoint
//! executing the oracle model with the stack's declared parameters — and compares them step by
//! step. The table is the only source of expectations: what the shadow's fired row sends, the
//! state it enters and the text it delivers.
//!
//! The shadow follows the stack from what it sends: it takes the stack's ISS from its first SYN
//! (the table says *that* a SYN goes out, the stack chooses its number) and the size of its
//! receive buffer from the windows it advertises (so "in the window" means the stack's window).
//!
//! Tolerances, all explicit:
//! - window sizes and options are the stack's choice and are not compared (they are learned);
//! - PSH, URG, ECE and CWR are not part of the model's alphabet and are not compared;
//! - a pure ACK the row sends may come up to [`Params::ack_delay`] late (delayed ACK,
//!   RFC 9293 3.8.6.3); the harness waits that long for it, and only for it;
//! - segmentation is the sender's (RFC 9293 3.7): what the row sends and what the stack sent
//!   in answer to one step are compared as the peer receives them ([`coalesce`]). A pure ACK
//!   that another segment of the same answer acknowledges as much as is not needed, and text or
//!   a FIN that continues the segment before it joins it: a FIN riding on the last text, or an
//!   ACK piggybacked on text, is the same answer. Sequence space, text, the final ACK and every
//!   SYN and RST are still compared exactly;
//! - an ACK for an unacceptable segment (a challenge ACK, or the ACK an old, future or
//!   unsent-data ACK segment draws) may be withheld if the stack sent one less than
//!   [`Stack::ack_throttle`] before: RFC 5961 7 asks for such ACKs to be rate-limited. Only
//!   pure ACKs of the rows that answer unacceptable segments are excused, and only within the
//!   declared interval after the last one the stack did send;
//! - retransmission *timing* is the stack's (RFC 6298 estimates the RTO from RTT samples and
//!   caps the backoff as it likes, at least 60 s): when the stack says when it next acts
//!   ([`Stack::next_deadline`]) and the shadow's next timer is an RTO whose row retransmits,
//!   the shadow's RTO fires when the stack's timer does, earlier or later, and what is
//!   retransmitted is compared then. What a retransmission carries, the count that ends in R2,
//!   and every other timer are still the shadow's;
//! - a retransmission may carry more than the row's (repacketization, RFC 9293 3.10.8 leaves
//!   the size of a retransmitted segment open): the stack's may start at the same number and
//!   continue over text or a FIN already sent (up to the shadow's SND.NXT), as a stack that
//!   resends everything outstanding does;
//! - while the peer's window is closed (SND.WND = 0) and text is queued or in flight, the stack
//!   may probe it (RFC 9293 3.8.6.1, MUST-36: "the sending TCP peer must regularly transmit at
//!   least one octet of new data (if available), or retransmit ... even if the send window is
//!   zero"); the table has no persist timer, so such probes are the stack's timing, as its RTO
//!   is. A probe is a segment without SYN or RST that starts between SND.UNA and SND.NXT (or
//!   an empty one at SND.UNA - 1, Linux's probe), acknowledges RCV.NXT and carries at most one octet, the octet the user sent at that
//!   number, and a FIN only where ours belongs ([`is_zero_window_probe`]); it is excused only
//!   where no expected segment matches it, and stands for an expected pure ACK with its number.
//!   smoltcp's probe is one new octet at SND.NXT (`dispatch`, `is_zero_window_probe`), with FIN
//!   on the last octet after CLOSE, or a pure ACK when everything is in flight;
//! - after a RECEIVE that returned text, the stack may tell the peer that its window opened
//!   (RFC 9293 3.8.6.2.2, receiver-side window management): a pure ACK of RCV.NXT at SND.NXT
//!   that no expected segment stands for is such a window update, not a difference;
//! - a stack whose timers run on periodic ticks ([`Params::granularity`], lwIP's 500 ms slow
//!   timer) acts at the first tick after a timer's time: the shadow's other timers (2MSL, USER)
//!   fire when the stack says it next acts ([`Stack::next_deadline`]), if that is at most one
//!   tick after their own time, never before it;
//! - in answer to an ACK that leaves text outstanding (a duplicate ACK, RFC 5681 2, or a
//!   partial one), the stack may resend outstanding text: fast retransmit (RFC 5681 3.2) and
//!   the loss recovery of RFC 6582, RFC 6675 and RFC 8985 are congestion control, which the
//!   table does not model. Such a resend is excused where no expected
//!   segment matches it; what it carries must be the text sent at its
//!   numbers, between SND.UNA and SND.NXT;
//! - while text is in flight, new text may be held back, all of it or its end: the congestion
//!   window (RFC 5681 3.1, which RFC 9293 3.8.2 makes a MUST) and Nagle's algorithm
//!   (RFC 9293 3.7.4) keep a sender from sending everything the window allows, which the table
//!   does not model. The shadow then takes the held text back as if its window had kept it
//!   ([`Endpoint::hold_back`]): it sends it, as the stack does, when ACKs come, and the peer's
//!   numbers stay the stack's;
//! - a RST the row sends without ACK (ABORT's `<SEQ=SND.NXT><CTL=RST>`, RFC 9293 3.10.5) may
//!   carry one: a RST is judged by its sequence number alone (RFC 9293 3.10.7.4, RFC 5961 3),
//!   so the ACK field is noise to the peer. A RST the row does not send is still a difference.
//!
//! The first difference ends the run with a [`Verdict`]: after it, the shadow no longer knows
//! what the stack's TCB holds.

use serde::{Deserialize, Serialize};

use super::heard::Heard;
use super::script::{text_into, Ecr, Inject, Kind, Packet, Rel, Script, Step, UserCall, Wait, Window, PEER_MSS};
use super::{Clock, Params, Stack};
use crate::endpoint::{classify, Config, Endpoint, Event, Isn, Transition};
use crate::model::spelled::spelled;
use crate::model::{Action, Atom, Call, Family, Flags, Input, Model, Rule, State, Timer};
use crate::time::{Duration, Instant};
use crate::wire::{Control, Segment, SeqNum, TcpOpt};

/// The peer's initial sequence number. Fixed, so traces read the same in every run.
pub const PEER_ISS: SeqNum = SeqNum(0x1000_0000);

/// Steps beyond this many are not run: a script is a test case, not a workload.
pub const MAX_STEPS: usize = 256;

/// How often a real-time stack is looked at while a delayed ACK is awaited: first after
/// [`REAL_ACK_FIRST`], then at twice the last interval up to this. A packet is timed when it is
/// seen, so the first looks are close together: an immediate answer that missed the adapter's
/// first glance (Linux's ACK of a FIN) then reads at most a few ms late, within packetdrill's
/// 4 ms tolerance, where a fixed 10 ms read it 10 ms late. Looking every 1 ms throughout makes
/// each look cost more real time than it covers on a loaded machine, so that the wait overruns
/// the stack's next timer (tests/findings/linux/fixed/ack-wait-overlaps-rto.json).
const REAL_ACK_POLL: Duration = Duration::from_micros(10_000);
const REAL_ACK_FIRST: Duration = Duration::from_micros(1_000);

/// Segments a stack may send in answer to one step before it counts as not going quiet.
pub const MAX_BURST: usize = 64;

spelled! {
    /// What a verdict says went wrong. The table row named with it gives the RFC rule.
    #[derive(Serialize, Deserialize)]
    #[serde(try_from = "String", into = "&'static str")]
    pub enum Check {
        /// The stack sent other segments than the row says.
        Output = "output",
        /// The stack is in another state than the row leads to.
        State = "state",
        /// RECEIVE returned other text than the table accepted.
        Delivery = "delivery",
        /// TIME-WAIT was skipped or ended before 2·MSL (RFC 9293 3.4.2, 3.6.1).
        TimeWait2Msl = "time-wait-2msl",
        /// A retransmitted FIN in TIME-WAIT was not ACKed, or did not restart 2·MSL.
        TimeWaitRestart = "time-wait-restart",
        /// A RST ended TIME-WAIT: RFC 1337's TIME-WAIT assassination.
        RstTimeWait = "rst-time-wait",
        /// An in-window RST or a SYN in a synchronized state was not answered with a challenge
        /// ACK (RFC 5961 3.2, 4.2).
        ChallengeAck = "challenge-ack",
        /// Text beyond the receive window was accepted (RFC 9293 3.10.7.4, first check).
        ReceiveWindow = "receive-window",
        /// The stack sent bytes that are not a well-formed, checksummed IP+TCP packet of the
        /// run's family.
        Malformed = "malformed",
        /// The stack kept sending: more than [`MAX_BURST`] segments for one step.
        Chatter = "chatter",
        /// The stack's process died (an assertion, a signal, an exit) instead of answering.
        Crash = "crash",
        /// The stack's process did not answer within the answer timeout.
        Hang = "hang",
        /// The stack's process wrote something that is not the stack protocol.
        Protocol = "protocol",
    }
}

impl Check {
    /// One line on what this check means.
    pub const fn about(self) -> &'static str {
        match self {
            Check::Output => "the stack sent other segments than the table's row says",
            Check::State => "the stack is in another state than the table's row leads to",
            Check::Delivery => "RECEIVE returned other text than the table accepted",
            Check::TimeWait2Msl => "TIME-WAIT was skipped or ended before 2*MSL",
            Check::TimeWaitRestart => "a retransmitted FIN in TIME-WAIT was not re-ACKed or did not restart 2*MSL",
            Check::RstTimeWait => "a RST ended TIME-WAIT (RFC 1337 TIME-WAIT assassination)",
            Check::ChallengeAck => "an in-window RST or a SYN was not answered with a challenge ACK (RFC 5961)",
            Check::ReceiveWindow => "text beyond the receive window was accepted",
            Check::Malformed => "the stack sent bytes that are not a valid IP+TCP packet of the run's family",
            Check::Chatter => "the stack did not go quiet",
            Check::Crash => "the stack's process died instead of answering",
            Check::Hang => "the stack's process stopped answering",
            Check::Protocol => "the stack's process broke the stack protocol",
        }
    }
}

impl TryFrom<String> for Check {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Check::from_name(&text).ok_or_else(|| {
            format!("unknown check `{text}`; expected one of: {}", Check::names().collect::<Vec<_>>().join(", "))
        })
    }
}

impl From<Check> for &'static str {
    fn from(check: Check) -> Self {
        check.name()
    }
}

/// A difference between the stack and the table, naming the row that defines the expectation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Verdict {
    pub check: Check,
    /// 0-based index of the script step at which the difference showed.
    pub step: usize,
    /// Virtual time of the difference, in microseconds.
    pub at_us: u64,
    /// `file:line` of the oracle row.
    pub row: String,
    /// The row as written: `FIN-WAIT-2 FIN|ACK -> TIME-WAIT`.
    pub rule: String,
    /// The row's citations, qualified: `RFC 9293 3.10.7.4, RFC 9293 3.6.1`.
    pub cite: String,
    pub expected: String,
    pub actual: String,
}

impl Verdict {
    /// What findings are de-duplicated by: the same check against the same row.
    pub fn key(&self) -> (Check, &str) {
        (self.check, &self.row)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {}", self.check, self.check.about())?;
        writeln!(f, "  at step {} ({})", self.step.saturating_add(1), Instant::from_micros(self.at_us))?;
        writeln!(f, "  expected: {}", self.expected)?;
        writeln!(f, "  actual:   {}", self.actual)?;
        write!(f, "  rule:     {}  {}  @ {}", self.row, self.rule, self.cite)
    }
}

/// One thing that happened in a run, for diagrams, pcap and packetdrill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The harness made a user call on the stack (SEND with this many octets).
    Call { at: Instant, call: UserCall },
    /// The peer sent the stack a segment.
    Inbound { at: Instant, segment: Segment },
    /// The stack sent a segment.
    Outbound { at: Instant, segment: Segment },
    /// The stack sent bytes that are not a valid packet.
    Garbled { at: Instant, bytes: Vec<u8>, error: String },
    /// The shadow fired a row.
    Row { at: Instant, transition: Transition },
    /// The shadow's user was told something (RECEIVE text, a signal).
    Told { at: Instant, event: Event },
    /// A RECEIVE on the stack returned this text.
    Read { at: Instant, data: Vec<u8> },
    /// Time passed until `to`.
    Waited { at: Instant, to: Instant },
    /// At the end of a step, the stack reported this state (`None`: it cannot tell). Kept
    /// after a verdict too, so a reader sees where the stack went when it differed.
    Stack { at: Instant, state: Option<State> },
}

impl Record {
    /// Whether this record begins a script step: every step begins with exactly one call,
    /// inbound segment or wait.
    pub fn starts_step(&self) -> bool {
        matches!(self, Record::Call { .. } | Record::Inbound { .. } | Record::Waited { .. })
    }

    pub fn at(&self) -> Instant {
        match self {
            Record::Call { at, .. }
            | Record::Inbound { at, .. }
            | Record::Outbound { at, .. }
            | Record::Garbled { at, .. }
            | Record::Row { at, .. }
            | Record::Told { at, .. }
            | Record::Read { at, .. }
            | Record::Waited { at, .. }
            | Record::Stack { at, .. } => *at,
        }
    }
}

/// The outcome of one script.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub verdict: Option<Verdict>,
    /// What happened, if recording was asked for.
    pub trace: Vec<Record>,
    /// Coverage features hit (see [`Coverage`]), in order, with repeats.
    pub features: Vec<u32>,
    /// Steps run (fewer than the script's if a verdict ended it).
    pub steps: usize,
    /// The stack's first ISS, the base of the stack's relative numbers for the whole run (a later
    /// connection's ISS is a number relative to it, as in a packetdrill script).
    pub stack_iss: Option<SeqNum>,
}

/// Table coverage on the oracle: rows, (state, input) pairs and row-to-row edges fired by the
/// shadow. Features are dense ids: rows first, then pairs, then a 16-bit hash of edges.
#[derive(Clone, Debug)]
pub struct Coverage {
    rows: usize,
    counts: Vec<u32>,
}

const PAIRS: usize = State::COUNT * Input::COUNT;
const EDGES: usize = 1 << 16;

impl Coverage {
    pub fn new(model: &Model) -> Self {
        let rows = model.rows().len();
        Coverage { rows, counts: vec![0; rows + PAIRS + EDGES] }
    }

    /// Adds a run's features; whether any was new.
    pub fn add(&mut self, features: &[u32]) -> bool {
        let mut new = false;
        for &f in features {
            let c = &mut self.counts[f as usize];
            new |= *c == 0;
            *c = c.saturating_add(1);
        }
        new
    }

    /// Adds another coverage map (from a parallel job).
    pub fn merge(&mut self, other: &Coverage) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c = c.saturating_add(*o);
        }
    }

    /// How often each row fired.
    pub fn row_hits(&self) -> &[u32] {
        &self.counts[..self.rows]
    }

    /// How many distinct (state, input) pairs were seen.
    pub fn pairs_hit(&self) -> usize {
        self.counts[self.rows..self.rows + PAIRS].iter().filter(|&&c| c > 0).count()
    }

    fn features(rows: usize, prev: Option<usize>, t: &Transition) -> [u32; 3] {
        let pair = rows + t.from.index() * Input::COUNT + t.input.index();
        let prev = prev.map_or(0xffff, |p| p as u32);
        let edge = rows + PAIRS + (((prev.wrapping_mul(0x9e37_79b1)) ^ t.row as u32) as usize & (EDGES - 1));
        [t.row as u32, pair as u32, edge as u32]
    }
}

/// What the harness asks of a fired row at every step, read once from the row's actions and
/// guard (in [`Oracle::new`]) rather than searched for in them each time a row fires. A set of
/// bits, so a step's facts are its rows' facts or-ed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RowFacts(u8);

impl RowFacts {
    /// `start 2MSL`: TIME-WAIT begins.
    const STARTS_2MSL: RowFacts = RowFacts(1);
    /// `restart 2MSL`: a retransmitted FIN restarts TIME-WAIT.
    const RESTARTS_2MSL: RowFacts = RowFacts(2);
    /// `send challenge-ACK` (RFC 5961 3.2, 4.2).
    const CHALLENGE_ACK: RowFacts = RowFacts(4);
    /// `retransmit`.
    const RETRANSMITS: RowFacts = RowFacts(8);
    /// The row answers an unacceptable segment: a challenge ACK, or a guard that holds for
    /// old, future or unsent-data ACK segments only (the RFC 5961 7 throttling tolerance).
    const ANSWERS_UNACCEPTABLE: RowFacts = RowFacts(16);

    fn of(rule: &Rule) -> RowFacts {
        let unacceptable = rule
            .guard
            .0
            .iter()
            .any(|lit| !lit.negated && matches!(lit.atom, Atom::SeqOld | Atom::SeqFuture | Atom::AckFuture));
        let mut facts = RowFacts::default();
        for (holds, fact) in [
            (rule.actions.contains(&Action::Start(Timer::TwoMsl)), RowFacts::STARTS_2MSL),
            (rule.actions.contains(&Action::Restart(Timer::TwoMsl)), RowFacts::RESTARTS_2MSL),
            (rule.actions.contains(&Action::ChallengeAck), RowFacts::CHALLENGE_ACK),
            (rule.actions.contains(&Action::Retransmit), RowFacts::RETRANSMITS),
            (rule.actions.contains(&Action::ChallengeAck) || unacceptable, RowFacts::ANSWERS_UNACCEPTABLE),
        ] {
            if holds {
                facts = facts.with(fact);
            }
        }
        facts
    }

    fn with(self, other: RowFacts) -> RowFacts {
        RowFacts(self.0 | other.0)
    }

    fn has(self, fact: RowFacts) -> bool {
        self.0 & fact.0 == fact.0
    }
}

/// Runs scripts against stacks, with the oracle model as the judge.
pub struct Oracle<'m> {
    model: &'m Model,
    params: Params,
    horizon: Option<Instant>,
    /// After a verdict, drive the stack through the rest of the script unjudged.
    to_the_end: bool,
    /// After a verdict, number the peer's segments from what the stack sent ([`Heard`]).
    follow_wire: bool,
    /// [`RowFacts`] of each row of `model`, by index.
    facts: Vec<RowFacts>,
    /// The shadow as every run starts it: fresh, configured from `params`.
    shadow: Endpoint<'m>,
}

/// What a run fills and empties: the shadow, a copy of it to look ahead with, and the lists
/// of segments and text compared at each step. A fuzz loop keeps one for all its runs
/// ([`Oracle::run_in`]), so that its millions of runs reuse these buffers rather than
/// allocate and free them each time (8 % of the loop's instructions did that).
#[derive(Clone, Debug)]
pub struct Workspace<'m> {
    shadow: Endpoint<'m>,
    probe: Endpoint<'m>,
    handed: Vec<u8>,
    expected: Vec<Segment>,
    actual: Vec<Segment>,
    scratch: Vec<u8>,
    features: Vec<u32>,
    inbound: Segment,
    sending: Vec<u8>,
}

impl Workspace<'_> {
    /// Takes back the buffers of a run the caller is done with.
    pub fn recycle(&mut self, run: Run) {
        let mut features = run.features;
        features.clear();
        self.features = features;
    }
}

impl<'m> Oracle<'m> {
    /// An oracle for stacks that declare `params`.
    pub fn new(model: &'m Model, params: Params) -> Self {
        let facts = model.rows().iter().map(|row| RowFacts::of(&row.rule)).collect();
        let shadow = Endpoint::new(model, Oracle::shadow_config(&params));
        Oracle { model, params, horizon: None, to_the_end: false, follow_wire: false, facts, shadow }
    }

    /// Runs stop, without a verdict, before a wait that would pass `horizon` (virtual time from
    /// the run's start). On a real-time stack every wait is real: a fuzzer that bounds each run
    /// bounds its cost, where a script's one MSL wait would otherwise take two minutes.
    pub fn with_horizon(self, horizon: Option<Duration>) -> Self {
        Oracle { horizon: horizon.map(|h| Instant::ZERO.after(h)), ..self }
    }

    /// After a verdict the run goes on: the rest of the script is played to the stack and what
    /// it sends is recorded, unjudged (after a difference the shadow no longer knows the
    /// stack's TCB). `tcpcheck run` needs it: a script's own expectations are judged over the
    /// whole run, whatever the table said at an earlier step.
    pub fn to_the_end(self) -> Self {
        Oracle { to_the_end: true, ..self }
    }

    /// After a verdict the peer numbers its segments from the stack's own ([`Heard`]), not
    /// from the frozen shadow: what `learn` needs for a finite machine (see [`super::heard`]).
    pub fn follow_wire(self) -> Self {
        Oracle { follow_wire: true, ..self }
    }

    pub fn horizon(&self) -> Option<Duration> {
        self.horizon.map(|h| h.since(Instant::ZERO))
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The shadow's configuration: the stack's declared parameters. A socket listener never
    /// names its foreign socket, so the shadow does not either.
    fn shadow_config(p: &Params) -> Config {
        Config {
            local_port: p.hosts.stack().port(),
            remote_port: p.hosts.peer().port(),
            foreign_known: false,
            isn: Isn::Seeded(0),
            mss: p.mss,
            buffer: p.window,
            rto: p.rto,
            max_retries: p.max_retries,
            user_timeout: p.user_timeout,
            msl: Some(p.msl),
            wscale: None,
            log: true,
        }
    }

    /// Buffers for [`Oracle::run_in`].
    pub fn workspace(&self) -> Workspace<'m> {
        Workspace {
            shadow: self.shadow.clone(),
            probe: self.shadow.clone(),
            handed: Vec::new(),
            expected: Vec::new(),
            actual: Vec::new(),
            scratch: Vec::new(),
            features: Vec::new(),
            inbound: Segment::default(),
            sending: Vec::new(),
        }
    }

    /// Runs `script` on a freshly reset `stack`. With `record`, the run keeps a full trace.
    pub fn run(&self, stack: &mut dyn Stack, script: &Script, record: bool) -> Run {
        self.run_in(&mut self.workspace(), stack, script, record)
    }

    /// [`Oracle::run`] with the buffers of `workspace`, which must come from this oracle.
    pub fn run_in(&self, workspace: &mut Workspace<'m>, stack: &mut dyn Stack, script: &Script, record: bool) -> Run {
        stack.reset();
        let Workspace { shadow, probe, handed, expected, actual, scratch, features, inbound, sending } = workspace;
        shadow.assign(&self.shadow);
        features.clear();
        let mut h = Harness {
            oracle: self,
            shadow,
            probe,
            stack,
            now: Instant::ZERO,
            step: 0,
            record,
            run: Run { features: std::mem::take(features), ..Run::default() },
            iss_learned: false,
            last_row: None,
            time_wait_row: None,
            restarted: false,
            step_row: None,
            step_facts: RowFacts::default(),
            throttled_at: None,
            heard: Heard::default(),
            beyond_window: false,
            read_text: false,
            recovery_ack: false,
            early: Vec::new(),
            collected: Instant::ZERO,
            scheduled: Instant::ZERO,
            sent: 0,
            handed: std::mem::take(handed),
            expected: std::mem::take(expected),
            actual: std::mem::take(actual),
            scratch: std::mem::take(scratch),
            inbound: std::mem::take(inbound),
            sending: std::mem::take(sending),
        };
        h.handed.clear();
        for (i, step) in script.steps.iter().take(MAX_STEPS).enumerate() {
            h.step = i;
            h.run.steps = i + 1;
            let result = if h.run.verdict.is_none() { h.perform(step) } else { h.drive(step) };
            if record {
                let state = h.stack.state();
                h.log(Record::Stack { at: h.now, state });
            }
            if result.is_err() && !(self.to_the_end && h.run.verdict.is_some() && h.run.steps > i) {
                break;
            }
        }
        (*handed, *expected, *actual, *scratch) = (h.handed, h.expected, h.actual, h.scratch);
        (*inbound, *sending) = (h.inbound, h.sending);
        h.run
    }
}

/// A step ended the run: with a verdict, at the oracle's horizon, or at a call the stack's user
/// cannot make ([`Stack::can_call`]).
struct Stop;

/// When the shadow's next timer fires (see [`Harness::follow_rto`]).
enum Follow {
    /// At its own deadline.
    Shadow,
    /// At the stack's: the shadow's RTO fires when the stack retransmits.
    Stack(Instant),
    /// Not in this wait: the stack retransmits after it ends.
    Hold,
}

/// How a difference showed, before it is named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mismatch {
    Output,
    State,
    Delivery,
}

/// The run in progress.
struct Harness<'o, 'm, 's, 'w> {
    oracle: &'o Oracle<'m>,
    shadow: &'w mut Endpoint<'m>,
    /// Where [`Harness::follow_rto`] tries the shadow's next timeout.
    probe: &'w mut Endpoint<'m>,
    stack: &'s mut dyn Stack,
    now: Instant,
    step: usize,
    record: bool,
    run: Run,
    /// The shadow's ISS has been set to the stack's for this connection.
    iss_learned: bool,
    /// The last row the shadow fired, and the last that started or restarted 2MSL.
    last_row: Option<usize>,
    time_wait_row: Option<usize>,
    /// A retransmitted FIN restarted TIME-WAIT's timer since it began.
    restarted: bool,
    /// The last row the shadow fired since the input being settled.
    step_row: Option<usize>,
    /// What the rows the shadow fired since the input being settled do, together.
    step_facts: RowFacts,
    /// When the stack last sent an ACK for an unacceptable segment (RFC 5961 7 throttling).
    throttled_at: Option<Instant>,
    /// The stack's numbers as its segments showed them.
    heard: Heard,
    /// The segment being settled carried text beyond the receive window.
    beyond_window: bool,
    /// The step being settled is a RECEIVE that returned text: it opened the receive window.
    read_text: bool,
    /// What the stack sent when its timer fired, taken before the shadow's RTO that follows it
    /// (see `wait`): the first of the answer [`Harness::settle`] compares.
    early: Vec<Segment>,
    /// When the harness last took what the stack sent.
    collected: Instant,
    /// Where the script's own clock is: the end of its last wait as written (a [`Wait::Us`]
    /// counts from here, not from `now`).
    scheduled: Instant,
    /// The segment being settled is an ACK in loss recovery: it carries no text, SYN, FIN or
    /// RST and leaves text outstanding, a duplicate ACK (RFC 5681 2) or a partial one (RFC 6582).
    recovery_ack: bool,
    /// Octets SENT by the user so far (the text is a pattern by offset).
    sent: u32,
    /// Text the shadow handed its user since the last RECEIVE: a RECEIVE queued before
    /// ESTABLISHED completes when the text arrives, a socket hands it over at the next read.
    handed: Vec<u8>,
    expected: Vec<Segment>,
    actual: Vec<Segment>,
    scratch: Vec<u8>,
    /// The segment being injected, built into the last one's buffers.
    inbound: Segment,
    /// The text of the SEND being made.
    sending: Vec<u8>,
}

impl Harness<'_, '_, '_, '_> {
    fn params(&self) -> &Params {
        &self.oracle.params
    }

    fn log(&mut self, record: Record) {
        if self.record {
            self.run.trace.push(record);
        }
    }

    fn perform(&mut self, step: &Step) -> Result<(), Stop> {
        match *step {
            Step::User(call) => self.user(call),
            Step::Inject(inject) => self.inject(inject),
            Step::Wait(wait) => self.wait(wait),
            Step::Packet(packet) => {
                let mut segment = std::mem::take(&mut self.inbound);
                self.build_packet(packet, &mut segment);
                let result = self.inject_built(&segment);
                self.inbound = segment;
                result
            }
        }
    }

    /// A step after the verdict ([`Oracle::to_the_end`]): the stack gets the input and what it
    /// sends is recorded, but nothing is compared; the shadow is not told. Numbers relative
    /// to the stack's ISS use the one learnt from its SYN.
    fn drive(&mut self, step: &Step) -> Result<(), Stop> {
        let now = self.now;
        match *step {
            Step::User(call @ (UserCall::Serve | UserCall::StopServing)) => {
                if !self.stack.serve(now, call == UserCall::Serve) {
                    self.run.steps = self.step;
                    return Err(Stop);
                }
                self.log(Record::Call { at: now, call });
            }
            Step::User(call) => {
                let model_call = model_call(call);
                if !self.stack.can_call(model_call) {
                    self.run.steps = self.step;
                    return Err(Stop);
                }
                let mut data = std::mem::take(&mut self.sending);
                data.clear();
                if let Some(n) = call.send_len() {
                    text_into(&mut data, self.sent, n);
                    self.sent = self.sent.wrapping_add(n as u32);
                }
                self.log(Record::Call { at: now, call });
                let read = self.stack.call(now, model_call, &data);
                self.sending = data;
                if !read.is_empty() {
                    self.log(Record::Read { at: now, data: read });
                }
            }
            Step::Inject(_) | Step::Packet(_) => {
                let mut segment = std::mem::take(&mut self.inbound);
                match *step {
                    Step::Inject(inject) => self.build(inject, &mut segment),
                    Step::Packet(packet) => self.build_packet(packet, &mut segment),
                    _ => {}
                }
                let mut scratch = std::mem::take(&mut self.scratch);
                let _ = self.stack.inject_segment(now, &segment, &mut scratch);
                self.scratch = scratch;
                self.log(Record::Inbound { at: now, segment: segment.clone() });
                self.inbound = segment;
            }
            Step::Wait(wait) => {
                let to = self.wait_end(wait);
                if self.oracle.horizon.is_some_and(|h| to > h) {
                    self.run.steps = self.step;
                    return Err(Stop);
                }
                self.log(Record::Waited { at: now, to });
                let limit = script_limit(wait, to);
                // The stack's own deadlines, where it tells them, so what it sends is timed.
                while let Some(at) = self.stack.next_deadline().filter(|&d| d > self.now && d < to) {
                    self.now = at;
                    self.advance_stack(at, limit);
                    self.drain_unjudged();
                }
                self.now = to;
                self.advance_stack(to, limit);
            }
        }
        self.drain_unjudged();
        Ok(())
    }

    /// Records what the stack sent, unjudged, up to [`MAX_BURST`] segments.
    fn drain_unjudged(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut burst = 0;
        while burst < MAX_BURST {
            let Some(sent) = self.stack.transmit_segment(&mut scratch) else { break };
            burst += 1;
            let at = self.now;
            match sent {
                Ok(segment) => {
                    if segment.ctl.contains(Control::SYN) {
                        self.run.stack_iss.get_or_insert(segment.seq);
                    }
                    self.heard.saw(&segment);
                    self.log(Record::Outbound { at, segment });
                }
                Err(error) => self.log(Record::Garbled { at, bytes: scratch.clone(), error: error.to_string() }),
            }
        }
        self.scratch = scratch;
    }

    fn user(&mut self, call: UserCall) -> Result<(), Stop> {
        let now = self.now;
        let before = self.shadow.state();
        if let UserCall::Serve | UserCall::StopServing = call {
            let open = call == UserCall::Serve;
            if !self.stack.serve(now, open) {
                self.run.steps = self.step;
                return Err(Stop);
            }
            self.log(Record::Call { at: now, call });
            if open {
                self.shadow.serve(now);
            } else {
                self.shadow.stop_serving(now);
            }
            return self.settle(before, false);
        }
        let mut data = std::mem::take(&mut self.sending);
        data.clear();
        let model_call = model_call(call);
        if let Some(n) = call.send_len() {
            text_into(&mut data, self.sent, n);
            self.sent = self.sent.wrapping_add(n as u32);
        }
        if !self.stack.can_call(model_call) {
            self.sending = data;
            self.run.steps = self.step;
            return Err(Stop);
        }
        self.log(Record::Call { at: now, call });
        let read = self.stack.call(now, model_call, &data);
        if model_call == Call::Send {
            self.shadow.send(now, &data);
        } else {
            self.shadow.handle_user(now, model_call);
        }
        self.sending = data;
        if !read.is_empty() {
            self.log(Record::Read { at: now, data: read.clone() });
        }
        self.read_text = !read.is_empty();
        self.recovery_ack = false;
        let settled = self.settle(before, false);
        self.read_text = false;
        settled?;
        let delivered = if model_call == Call::Receive { std::mem::take(&mut self.handed) } else { Vec::new() };
        if model_call == Call::Receive && !same_text(&read, &delivered) {
            return Err(self.verdict(
                Mismatch::Delivery,
                before,
                false,
                format!("RECEIVE returns {} octets {:?}", delivered.len(), String::from_utf8_lossy(&delivered)),
                format!("RECEIVE returned {} octets {:?}", read.len(), String::from_utf8_lossy(&read)),
            ));
        }
        Ok(())
    }

    fn inject(&mut self, inject: Inject) -> Result<(), Stop> {
        let mut segment = std::mem::take(&mut self.inbound);
        self.build(inject, &mut segment);
        let result = self.inject_built(&segment);
        self.inbound = segment;
        result
    }

    fn inject_built(&mut self, segment: &Segment) -> Result<(), Stop> {
        let now = self.now;
        let before = self.shadow.state();
        let mut scratch = std::mem::take(&mut self.scratch);
        let sent = self.stack.inject_segment(now, segment, &mut scratch);
        self.scratch = scratch;
        let record = |segment: &Segment| Record::Inbound { at: now, segment: segment.clone() };
        if sent.is_err() {
            // Our own segments are small and always build; if one did not, the stack never
            // saw it and neither may the shadow.
            if self.record {
                self.log(record(segment));
            }
            return Ok(());
        }
        let seq_future =
            || classify::valuation(&self.shadow.view(), Some(segment)).get(Family::Seq) == Atom::SeqFuture.value();
        self.beyond_window = before.has_rcv_nxt() && !segment.payload.is_empty() && seq_future();
        self.shadow.handle_segment(now, segment);
        let view = self.shadow.view();
        self.recovery_ack = is_pure_ack(segment) && view.snd_nxt != view.snd_una;
        let rst = segment.ctl.contains(Control::RST);
        if self.record {
            self.log(record(segment));
        }
        self.settle(before, rst)
    }

    /// When a wait that starts now ends; the script's clock moves to its end as written.
    fn wait_end(&mut self, wait: Wait) -> Instant {
        let to = self.wait_until(wait);
        self.scheduled = match wait {
            Wait::Us(us) | Wait::UsAwaiting(us) => self.scheduled.after(Duration::from_micros(u64::from(us))),
            _ => to,
        };
        to
    }

    fn wait_until(&self, wait: Wait) -> Instant {
        let from = self.now;
        match wait {
            Wait::Ms(ms) => from.after(Duration::from_micros(u64::from(ms) * 1000)),
            // A shadow RTO held for the stack's (see `follow_rto`) is overdue: the next timer is
            // then the stack's.
            Wait::NextTimer => match self.shadow.poll_timeout() {
                Some(due) if due > from => due,
                Some(_) => self.stack.next_deadline().filter(|&d| d > from).unwrap_or(from),
                None => from.after(Duration::from_micros(1000)),
            },
            Wait::Msl => from.after(self.params().msl),
            // A script's time: the schedule's, not from now. A step that ran late (a delayed
            // ACK awaited past the script's next line) does not push every later line back by
            // as much, as packetdrill runs each line at its time or, if late, at once.
            Wait::Us(us) | Wait::UsAwaiting(us) => self.scheduled.after(Duration::from_micros(u64::from(us))).max(from),
        }
    }

    fn wait(&mut self, wait: Wait) -> Result<(), Stop> {
        let from = self.now;
        let to = self.wait_end(wait);
        if self.oracle.horizon.is_some_and(|h| to > h) {
            self.run.steps = self.step;
            return Err(Stop);
        }
        self.log(Record::Waited { at: from, to });
        let limit = script_limit(wait, to);
        // Timers fire at their deadlines, in lockstep, so retransmissions are compared when due
        // (an RTO when the stack's own fires, see the module doc).
        while let Some(deadline) = self.shadow.poll_timeout() {
            let (at, follows) = match self.follow_rto(deadline, to) {
                Follow::Shadow if deadline <= to => (deadline.max(self.now), false),
                Follow::Stack(at) => (at, true),
                Follow::Shadow | Follow::Hold => break,
            };
            self.now = at;
            let before = self.shadow.state();
            self.advance_stack(at, limit);
            if follows {
                // The stack's timer may be one that sends nothing: Linux's loss probe and RACK
                // reordering timers share its retransmission timer's slot and, finding nothing
                // to send, re-arm it as the RTO. The shadow's RTO then follows that one.
                self.actual.clear();
                self.collect(at)?;
                if self.actual.is_empty() && self.stack.next_deadline().is_some_and(|d| d > at) {
                    continue;
                }
                std::mem::swap(&mut self.early, &mut self.actual);
            }
            self.shadow.handle_timeout(at.max(deadline));
            self.settle(before, false)?;
        }
        let before = self.shadow.state();
        self.now = self.now.max(to);
        self.advance_stack(self.now, limit);
        self.settle(before, false)
    }

    /// Lets the stack's time run to `at`, inside a wait that must end by `limit` if it is a
    /// script's own ([`script_limit`]).
    fn advance_stack(&mut self, at: Instant, limit: Option<Instant>) {
        match limit {
            Some(limit) => self.stack.advance_within(at, limit),
            None => self.stack.advance(at),
        }
    }

    /// When the shadow's next timer, due at `deadline`, is to fire (the RTO tolerance in the
    /// module doc): at its own deadline, at the stack's next deadline if that is the stack's
    /// retransmission timer, or not before this wait ends.
    fn follow_rto(&mut self, deadline: Instant, to: Instant) -> Follow {
        if self.shadow.deadline(Timer::Rto) != Some(deadline) {
            return self.follow_tick(deadline, to);
        }
        let Some(stack_at) = self.stack.next_deadline() else { return Follow::Shadow };
        let stack_at = stack_at.max(self.now);
        if stack_at == deadline.max(self.now) {
            return Follow::Shadow;
        }
        // Only a retransmission moves: an RTO that ends the connection (R2) is the shadow's.
        self.probe.assign(self.shadow);
        self.probe.clear_log();
        self.probe.handle_timeout(deadline);
        if !self.probe.transitions().iter().any(|t| self.oracle.facts[t.row].has(RowFacts::RETRANSMITS)) {
            return Follow::Shadow;
        }
        // Another of the shadow's timers before the stack's keeps its own time.
        let other = [Timer::TwoMsl, Timer::User].into_iter().filter_map(|t| self.shadow.deadline(t)).min();
        if other.is_some_and(|o| o <= stack_at) {
            return Follow::Shadow;
        }
        if stack_at > to {
            Follow::Hold
        } else {
            Follow::Stack(stack_at)
        }
    }

    /// The granularity tolerance (module doc): another timer of the shadow, due at `deadline`,
    /// fires when the stack says it next acts, if that is no more than [`Params::granularity`]
    /// later (a tick-driven stack ends TIME-WAIT at the first tick after 2·MSL). Never earlier:
    /// a TIME-WAIT that ends early is the stack's.
    fn follow_tick(&mut self, deadline: Instant, to: Instant) -> Follow {
        let tick = self.params().granularity;
        let Some(stack_at) = self.stack.next_deadline().filter(|_| tick > Duration::default()) else {
            return Follow::Shadow;
        };
        let due = deadline.max(self.now);
        if stack_at <= due || stack_at.since(due) > tick {
            Follow::Shadow
        } else if stack_at > to {
            Follow::Hold
        } else {
            Follow::Stack(stack_at)
        }
    }

    /// The segment an [`Inject`] describes, numbered from what the stack should expect, written
    /// into `out`.
    fn build(&self, inject: Inject, out: &mut Segment) {
        let view = self.shadow.view();
        let synced = view.state.has_rcv_nxt();
        let mut rcv_nxt = if synced { view.rcv_nxt } else { PEER_ISS };
        let mut wnd = view.rcv_wnd.max(1);
        let (mut una, mut nxt) = (view.snd_una, view.snd_nxt);
        if self.oracle.follow_wire && self.run.verdict.is_some() {
            if let Some((ack, window)) = self.heard.acked {
                (rcv_nxt, wnd) = (ack, u32::from(window).max(1));
            }
            if let Some(next) = self.heard.next {
                (una, nxt) = (next, next);
            }
        }
        let seq = match inject.seq {
            Rel::Exact => rcv_nxt,
            Rel::InWindow(n) => rcv_nxt.add(1 + u32::from(n) % wnd.saturating_sub(1).max(1)),
            Rel::Old(n) => rcv_nxt.sub(1 + u32::from(n)),
            Rel::Future(n) => rcv_nxt.add(wnd).add(u32::from(n)),
            Rel::FromIsn(n) => PEER_ISS.add(n),
            Rel::Edge(n) => rcv_nxt.add(view.rcv_wnd.saturating_sub(1).saturating_sub(u32::from(n))),
            Rel::Raw(n) => SeqNum(n),
        };
        let flight = nxt.distance_from(una).max(0) as u32;
        let ack = match inject.ack {
            Rel::Exact => nxt,
            Rel::InWindow(n) => una.add(u32::from(n) % (flight + 1)),
            Rel::Old(n) => una.sub(1 + u32::from(n)),
            Rel::Future(n) => nxt.add(1 + u32::from(n)),
            Rel::FromIsn(n) => self.shadow.iss().add(n),
            Rel::Edge(n) => nxt.sub(u32::from(n).min(flight)),
            Rel::Raw(n) => SeqNum(n),
        };
        let (ctl, has_ack) = match inject.kind {
            Kind::Syn => (Control::SYN, false),
            Kind::SynAck => (Control::SYN, true),
            Kind::Ack => (Control::NONE, true),
            Kind::Fin => (Control::FIN, true),
            Kind::Rst => (Control::RST, false),
            Kind::RstAck => (Control::RST, true),
            Kind::Bits(bits) => (Control::from_bits(bits), bits & 0x10 != 0),
        };
        let payload_at = seq.add(u32::from(ctl.contains(Control::SYN)));
        let ctl = if inject.len > 0 { ctl.with(Control::PSH) } else { ctl };
        let mut payload = std::mem::take(&mut out.payload);
        let mut options = std::mem::take(&mut out.options);
        options.clear();
        text_into(&mut payload, payload_at.distance_from(PEER_ISS.add(1)) as u32, usize::from(inject.len));
        let p = self.params();
        *out = Segment {
            src_port: p.hosts.peer().port(),
            dst_port: p.hosts.stack().port(),
            seq,
            ack: has_ack.then_some(ack),
            ctl,
            window: inject.window.octets(),
            mss: ctl.contains(Control::SYN).then_some(PEER_MSS),
            options,
            payload,
        };
    }

    /// The segment a [`Packet`] step gives, written into `out`: flags, window and MSS as
    /// given, numbers resolved as for [`Inject`], text the stream's pattern.
    fn build_packet(&self, packet: Packet, out: &mut Segment) {
        let inject =
            Inject { kind: Kind::Bits(packet.flags), seq: packet.seq, ack: packet.ack, len: 0, window: Window::Zero };
        self.build(inject, out);
        if let Rel::FromIsn(n) = packet.ack {
            // After a verdict the shadow may not have learnt the stack's ISS; the run has.
            if let (Some(ack), Some(iss)) = (out.ack.as_mut(), self.run.stack_iss) {
                *ack = iss.add(n);
            }
        }
        let ctl = out.ctl;
        let payload_at = out.seq.add(u32::from(ctl.contains(Control::SYN)));
        text_into(&mut out.payload, payload_at.distance_from(PEER_ISS.add(1)) as u32, usize::from(packet.len));
        out.ctl = Control::from_bits(packet.flags);
        out.window = packet.window;
        out.mss = packet.mss;
        let o = packet.options;
        // SACK blocks are numbered as the ACK is: from the stack's ISS.
        let iss = self.run.stack_iss.unwrap_or(self.shadow.iss());
        for kind in o.kinds() {
            out.options.push(match kind {
                4 => TcpOpt::SackPermitted,
                3 => TcpOpt::WindowScale(o.wscale),
                8 => TcpOpt::Timestamp { val: o.ts_val, ecr: self.ecr(o.ts_ecr) },
                5 => TcpOpt::Sack(
                    o.sack.iter().take(usize::from(o.sack_blocks)).map(|&(l, r)| (iss.add(l), iss.add(r))).collect(),
                ),
                _ => TcpOpt::Nop,
            });
        }
    }

    /// The number a peer's TS ecr carries: packetdrill's mapping from the script's numbers to
    /// the TS val the stack actually sent.
    fn ecr(&self, ecr: Ecr) -> u32 {
        match ecr {
            Ecr::Raw(n) => n,
            Ecr::StackVal { packet, otherwise } => self
                .run
                .trace
                .iter()
                .filter_map(|r| match r {
                    Record::Outbound { segment, .. } => Some(segment),
                    _ => None,
                })
                .nth(usize::from(packet))
                .and_then(|seg| {
                    seg.options.iter().find_map(|o| match o {
                        TcpOpt::Timestamp { val, .. } => Some(*val),
                        _ => None,
                    })
                })
                .unwrap_or(otherwise),
        }
    }

    /// After an input: takes what the shadow did and what the stack sent, and compares them.
    fn settle(&mut self, before: State, rst_in: bool) -> Result<(), Stop> {
        let now = self.now;
        self.step_row = None;
        self.step_facts = RowFacts::default();
        let fired = self.shadow.transitions().len();
        for i in 0..fired {
            let t = self.shadow.transitions()[i];
            self.fired(t);
        }
        self.shadow.clear_log();
        while let Some(event) = self.shadow.poll_event() {
            if let Event::Data(d) = &event {
                self.handed.extend_from_slice(d);
            }
            self.log(Record::Told { at: now, event });
        }
        self.expected.clear();
        while let Some(seg) = self.shadow.poll_transmit() {
            self.expected.push(seg);
        }
        self.actual.clear();
        self.actual.append(&mut self.early);
        self.collect(now)?;
        self.held_back();
        if self.actual.len() < self.expected.len() && self.params().ack_delay > Duration::default() {
            let pure_acks = self.expected[self.actual.len()..].iter().all(|s| s.flags() == Flags::ACK);
            let quiet = self.shadow.poll_timeout().is_none_or(|d| d > now.after(self.params().ack_delay));
            if pure_acks && quiet {
                self.await_acks(now.after(self.params().ack_delay))?;
            }
        }
        self.learn();
        self.window_update();
        self.zero_window_probes();
        self.loss_recovery();
        coalesce(&mut self.expected);
        coalesce(&mut self.actual);
        self.throttle(now);
        self.repacketized();
        for (e, a) in self.expected.iter_mut().zip(&self.actual) {
            let rst = Control::RST;
            if e.ctl.contains(rst) && a.ctl.contains(rst) && e.ack.is_none() && e.seq == a.seq {
                e.ack = a.ack;
            }
        }
        let differ = self.expected.len() != self.actual.len()
            || self.expected.iter().zip(&self.actual).any(|(e, a)| !same(e, a));
        if differ {
            let expected = self.show_all(&self.expected, "nothing");
            let actual = self.show_all(&self.actual, "nothing");
            return Err(self.verdict(Mismatch::Output, before, rst_in, expected, actual));
        }
        let model_state = self.shadow.state();
        if let Some(state) = self.stack.state().filter(|&s| s != model_state) {
            let expected = self.describe_state(model_state);
            return Err(self.verdict(Mismatch::State, before, rst_in, expected, state.to_string()));
        }
        if matches!(model_state, State::Closed | State::Listen) {
            self.iss_learned = false;
            // Text a RECEIVE queued before ESTABLISHED took is read from a socket by the next
            // RECEIVE; once the connection is gone (ABORT, RST, a new OPEN) that read cannot
            // happen, and the next RECEIVE belongs to another connection.
            self.handed.clear();
        }
        Ok(())
    }

    /// Waits until `until` for the delayed ACKs still expected. On a real clock every wait is
    /// real, so it goes in steps and ends when they have come: Linux declares 200 ms and
    /// usually answers in 40. A virtual clock jumps, and a jump costs the same whatever it spans.
    ///
    /// On a real clock the wait also ends before the stack's own next timer (an RTO of 200 ms
    /// can fall inside Linux's declared 200 ms): what the stack sends then belongs to that
    /// timer, which a later step waits for. (A virtual stack's next deadline may be the delayed
    /// ACK itself, so there the declared bound alone applies.)
    fn await_acks(&mut self, until: Instant) -> Result<(), Stop> {
        let (mut step, until) = match self.params().clock {
            Clock::Virtual => (until.since(self.now), until),
            Clock::Real => {
                let timer = self.stack.next_deadline().filter(|&d| d > self.now);
                let until = timer.map_or(until, |d| until.min(Instant::from_micros(d.as_micros() - 1)));
                (REAL_ACK_FIRST, until)
            }
        };
        while self.now < until && self.actual.len() < self.expected.len() {
            self.now = self.now.after(step).min(until);
            step = step.times(2).min(REAL_ACK_POLL.max(step));
            self.stack.advance(self.now);
            self.collect(self.now)?;
        }
        Ok(())
    }

    /// Takes the stack's packets until it is quiet; malformed bytes and floods are verdicts.
    fn collect(&mut self, at: Instant) -> Result<(), Stop> {
        if let Some(fault) = self.stack.fault() {
            let before = self.shadow.state();
            return Err(self.named(fault.check, before, "an answer".into(), fault.detail));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut burst = 0;
        let mut result = Ok(());
        while let Some(sent) = self.stack.transmit_segment(&mut scratch) {
            burst += 1;
            let before = self.shadow.state();
            if burst > MAX_BURST {
                let actual = format!("more than {MAX_BURST} segments in answer to one step");
                result = Err(self.named(Check::Chatter, before, "the stack to go quiet".into(), actual));
                break;
            }
            match sent {
                Ok(segment) => {
                    self.heard.saw(&segment);
                    // The run's numbers stay relative to the first SYN's, as packetdrill numbers
                    // a whole script (and as `build_packet` resolves a script's ACKs).
                    if segment.ctl.contains(Control::SYN) {
                        self.run.stack_iss.get_or_insert(segment.seq);
                    }
                    if self.record {
                        // Never before the harness last took what was sent, nor after now.
                        let at = self.stack.sent_at().map_or(at, |sent| sent.clamp(self.collected.min(at), at));
                        self.log(Record::Outbound { at, segment: segment.clone() });
                    }
                    self.actual.push(segment);
                }
                Err(error) => {
                    let error = error.to_string();
                    self.log(Record::Garbled { at, bytes: scratch.clone(), error: error.clone() });
                    result = Err(self.named(
                        Check::Malformed,
                        before,
                        "a valid IP+TCP packet of the run's family".into(),
                        error,
                    ));
                    break;
                }
            }
        }
        self.scratch = scratch;
        self.collected = at;
        result
    }

    /// Bookkeeping for one row the shadow fired: coverage, trace, the TIME-WAIT facts.
    fn fired(&mut self, t: Transition) {
        let rows = self.oracle.model.rows().len();
        self.run.features.extend(Coverage::features(rows, self.last_row, &t));
        self.last_row = Some(t.row);
        self.step_row = Some(t.row);
        let facts = self.oracle.facts[t.row];
        self.step_facts = self.step_facts.with(facts);
        if facts.has(RowFacts::STARTS_2MSL) {
            self.time_wait_row = Some(t.row);
            self.restarted = false;
        }
        if facts.has(RowFacts::RESTARTS_2MSL) {
            self.time_wait_row = Some(t.row);
            self.restarted = true;
        }
        self.log(Record::Row { at: t.at, transition: t });
    }

    /// The RFC 5961 7 tolerance: when the rows of this step answer an unacceptable segment,
    /// their pure ACKs may be missing within [`Stack::ack_throttle`] of the last such ACK the
    /// stack sent, counted from `now`, when the segment arrived (not from after a wait for
    /// delayed ACKs).
    fn throttle(&mut self, now: Instant) {
        if !self.step_facts.has(RowFacts::ANSWERS_UNACCEPTABLE) {
            return;
        }
        let Some(interval) = self.stack.ack_throttle() else { return };
        let recent = self.throttled_at.is_some_and(|at| now.since(at) < interval);
        if recent {
            let actual = &self.actual;
            self.expected.retain(|e| !is_pure_ack(e) || actual.iter().any(|a| same(e, a)));
        } else if self.actual.iter().any(is_pure_ack) {
            self.throttled_at = Some(now);
        }
    }

    /// The window-update tolerance (module doc): after a RECEIVE that returned text, a pure ACK
    /// of RCV.NXT at SND.NXT that no expected segment stands for tells the peer the window has
    /// opened (RFC 9293 3.8.6.2.2), and is not a difference. Its window is the stack's to choose.
    fn window_update(&mut self) {
        if !self.read_text {
            return;
        }
        let view = self.shadow.view();
        let expected = &self.expected;
        self.actual.retain(|a| {
            let update = is_pure_ack(a) && a.seq == view.snd_nxt && a.ack == Some(view.rcv_nxt);
            !update || expected.iter().any(|e| same(e, a))
        });
    }

    /// The persist tolerance (module doc): the stack's probes of a closed window that no
    /// expected segment stands for are not differences. A probe also acknowledges, so where the
    /// step's rows send a pure ACK with the same number, the probe stands for that ACK (it is
    /// kept as a pure ACK at SND.NXT for the comparison). Runs before [`coalesce`], which would
    /// join a probe to the ACK it carries.
    fn zero_window_probes(&mut self) {
        let view = self.shadow.view();
        let sends = matches!(
            view.state,
            State::Established | State::FinWait1 | State::CloseWait | State::Closing | State::LastAck
        );
        let outstanding = view.send_queued || view.snd_nxt != view.snd_una;
        if self.shadow.snd_wnd() != 0 || !sends || !outstanding {
            return;
        }
        // Where our FIN goes once the queued text is out: a probe of the last octet may carry it.
        let closing = matches!(view.state, State::FinWait1 | State::Closing | State::LastAck);
        let fin_at = closing.then(|| view.fin_seq.unwrap_or(view.snd_nxt.add(self.shadow.unsent_len() as u32)));
        let (shadow, expected) = (&self.shadow, &self.expected);
        self.actual.retain_mut(|a| {
            let octet = shadow.send_octet(a.seq);
            if expected.iter().any(|e| same(e, a)) || !is_zero_window_probe(a, &view, octet, fin_at) {
                return true;
            }
            let acks = expected.iter().any(|e| is_pure_ack(e) && e.ack == a.ack);
            if acks {
                a.seq = view.snd_nxt;
                a.ctl = Control::NONE;
                a.payload.clear();
            }
            acks
        });
    }

    /// The loss-recovery tolerance (module doc): in answer to an ACK that leaves text
    /// outstanding, the stack may resend text it has sent and not had acknowledged (RFC 5681 3.2
    /// fast retransmit, RFC 6582, RFC 6675 and RFC 8985 loss recovery), which the table, without
    /// congestion control, does not. Such a resend that no expected segment stands for is not a difference: no SYN, RST
    /// or FIN, RCV.NXT acknowledged, and text that starts at or after SND.UNA, ends by SND.NXT
    /// and is the text the user sent at those numbers.
    fn loss_recovery(&mut self) {
        if !self.recovery_ack {
            return;
        }
        let view = self.shadow.view();
        let (shadow, expected) = (&self.shadow, &self.expected);
        self.actual.retain(|a| {
            let end = a.seq.add(a.payload.len() as u32);
            let resend = a.flags() == Flags::ACK.union(Flags::DATA)
                && a.ack == Some(view.rcv_nxt)
                && a.seq.distance_from(view.snd_una) >= 0
                && end.distance_from(view.snd_nxt) <= 0
                && a.payload
                    .iter()
                    .enumerate()
                    .all(|(i, &octet)| shadow.send_octet(a.seq.add(i as u32)) == Some(octet));
            !resend || expected.iter().any(|e| same(e, a))
        });
    }

    /// The held-back tolerance (module doc): while text is in flight, the new text the rows send
    /// beyond the last octet the stack sent in answer may be missing (all of it if the stack
    /// sent none), and the shadow takes it back ([`Endpoint::hold_back`]), to send it as the
    /// stack does, when ACKs come. Runs before the wait for delayed ACKs, so that what is left
    /// expected may be a delayed ACK, and on the rows' segments as sent.
    fn held_back(&mut self) {
        // A retransmission is judged by the repacketization tolerance; only new text is held.
        if self.step_facts.has(RowFacts::RETRANSMITS) {
            return;
        }
        let text_only = |s: &Segment| s.flags() == Flags::ACK.union(Flags::DATA);
        let later = |a: SeqNum, b: SeqNum| if b.distance_from(a) > 0 { b } else { a };
        let earlier = |a: SeqNum, b: SeqNum| if b.distance_from(a) < 0 { b } else { a };
        // Where the text the stack sent in answer ends.
        let stack_end =
            self.actual.iter().filter(|a| text_only(a)).map(|a| a.seq.add(a.payload.len() as u32)).reduce(later);
        // Text held back before that the stack sends now, where no row sends: the shadow too.
        let snd_nxt = self.shadow.view().snd_nxt;
        if let Some(to) = stack_end.filter(|&end| end.distance_from(snd_nxt) > 0) {
            if self.shadow.unsent_len() > 0 {
                self.shadow.release(self.now, to);
                while let Some(seg) = self.shadow.poll_transmit() {
                    self.expected.push(seg);
                }
            }
        }
        let Some(first) = self.expected.iter().filter(|e| text_only(e)).map(|e| e.seq).reduce(earlier) else { return };
        let sent_to = stack_end.map_or(first, |end| later(first, end));
        let view = self.shadow.view();
        let held = view.snd_nxt.distance_from(sent_to) > 0;
        let in_flight = sent_to.distance_from(view.snd_una) > 0;
        if !held || !in_flight || view.fin_seq.is_some() {
            return;
        }
        self.expected.retain_mut(|e| {
            if !text_only(e) {
                return true;
            }
            let kept = sent_to.distance_from(e.seq).clamp(0, e.payload.len() as i32) as usize;
            e.payload.truncate(kept);
            kept > 0
        });
        self.shadow.hold_back(sent_to);
    }

    /// The repacketization tolerance: in a step that retransmits, a stack's segment that starts
    /// where the expected one does and extends it over sequence space already sent stands for
    /// it.
    fn repacketized(&mut self) {
        if !self.step_facts.has(RowFacts::RETRANSMITS) {
            return;
        }
        let snd_nxt = self.shadow.view().snd_nxt;
        for (e, a) in self.expected.iter_mut().zip(&self.actual) {
            let controls = |s: &Segment| (s.ctl.contains(Control::SYN), s.ctl.contains(Control::RST));
            let end = a.seq.add(a.payload.len() as u32 + u32::from(a.ctl.contains(Control::FIN)));
            let extends = a.seq == e.seq
                && a.ack == e.ack
                && controls(a) == controls(e)
                && (a.ctl.contains(Control::FIN) || !e.ctl.contains(Control::FIN))
                // Not `starts_with` alone: see `same_text`.
                && (e.payload.is_empty() || a.payload.starts_with(&e.payload))
                && end.distance_from(snd_nxt) <= 0;
            if extends {
                *e = a.clone();
            }
        }
    }

    /// Takes the stack's ISS from its first SYN of a connection, shifting what the shadow
    /// expects to send accordingly, and its receive buffer from the windows it advertises.
    fn learn(&mut self) {
        if !self.iss_learned {
            let syns = self
                .expected
                .iter()
                .zip(&self.actual)
                .find(|(e, a)| e.ctl.contains(Control::SYN) && a.ctl.contains(Control::SYN));
            if let Some((_, actual)) = syns {
                // The shadow scales windows as the stack announced it would (RFC 7323 2.2).
                self.shadow.learn_wscale(actual.options.iter().find_map(|o| match o {
                    TcpOpt::WindowScale(s) => Some(*s),
                    _ => None,
                }));
                let shift = self.shadow.rebase_iss(actual.seq);
                for e in &mut self.expected {
                    if e.ctl.contains(Control::SYN) {
                        e.seq = e.seq.add(shift);
                    }
                }
                self.iss_learned = true;
            }
        }
        // The window a segment advertises is the buffer less what is unread. The shadow's own
        // segment was computed the same way at the same moment, so the difference between the
        // two windows is the difference between the buffers: learn it from matching segments,
        // in octets (a window after the SYNs is scaled, RFC 7323 2.2).
        let scale = self.shadow.wscales().1;
        let delta = self
            .expected
            .iter()
            .zip(&self.actual)
            // A RST's window means nothing (Linux sends 0, RFC 9293 3.10.7.1 leaves it open).
            .find(|(e, a)| e.window != a.window && !a.ctl.contains(Control::RST) && same(e, a))
            .map(|(e, a)| {
                let shift = if a.ctl.contains(Control::SYN) { 0 } else { scale };
                (i64::from(a.window) - i64::from(e.window)) << shift
            });
        if let Some(delta) = delta {
            let buffer = i64::from(self.shadow.config().buffer) + delta;
            self.shadow.set_buffer(buffer.clamp(0, i64::from(u32::MAX)) as u32);
        }
    }

    fn describe_state(&self, state: State) -> String {
        match (state, self.shadow.deadline(Timer::TwoMsl)) {
            (State::TimeWait, Some(due)) => format!("TIME-WAIT (2*MSL due at {due})"),
            _ => state.to_string(),
        }
    }

    /// Names a difference: the general kind, specialised where the row tells which invariant
    /// the stack broke.
    fn verdict(&mut self, how: Mismatch, before: State, rst_in: bool, expected: String, actual: String) -> Stop {
        let after = self.shadow.state();
        let stack_state = self.stack.state();
        let fired_challenge = self.step_facts.has(RowFacts::CHALLENGE_ACK);
        let left_time_wait = after == State::TimeWait && stack_state != Some(State::TimeWait);
        let acked_beyond = self.beyond_window
            && self.expected.iter().zip(&self.actual).any(|(e, a)| match (e.ack, a.ack) {
                (Some(e), Some(a)) => a.distance_from(e) > 0,
                _ => false,
            });
        let check = match how {
            Mismatch::Delivery => Check::Delivery,
            Mismatch::Output if acked_beyond => Check::ReceiveWindow,
            _ if rst_in && before == State::TimeWait && left_time_wait => Check::RstTimeWait,
            _ if left_time_wait && self.restarted => Check::TimeWaitRestart,
            _ if left_time_wait => Check::TimeWait2Msl,
            Mismatch::Output if fired_challenge => Check::ChallengeAck,
            Mismatch::Output => Check::Output,
            Mismatch::State => Check::State,
        };
        self.named(check, before, expected, actual)
    }

    fn named(&mut self, check: Check, before: State, expected: String, actual: String) -> Stop {
        let model = self.oracle.model;
        let table = model.table();
        let row = match check {
            Check::TimeWait2Msl | Check::TimeWaitRestart => self.time_wait_row.or(self.last_row),
            _ => self.step_row.or(self.last_row),
        };
        let (location, rule, cite) = match row {
            Some(i) => {
                let r = &table.rows[i];
                (
                    table.row_location(r),
                    format!("{} {} -> {}", r.rule.from, r.rule.input, r.rule.to),
                    r.rule.cite.qualified(table.rfc),
                )
            }
            None => (format!("{} (no row fired)", table.source.name), format!("{before}"), "RFC 9293 3.10".into()),
        };
        self.run.verdict = Some(Verdict {
            check,
            step: self.step,
            at_us: self.now.as_micros(),
            row: location,
            rule,
            cite,
            expected,
            actual,
        });
        Stop
    }

    fn show_all(&self, segments: &[Segment], none: &str) -> String {
        if segments.is_empty() {
            return none.to_string();
        }
        segments.iter().map(|s| show_outbound(s, self.run.stack_iss)).collect::<Vec<_>>().join(", ")
    }
}

/// Where a wait ending at `to` must end on a real clock: a script's wait for its next input
/// or call ([`Wait::Us`]) ends at `to`, however late a timer the stack told due in it fires,
/// so that the line happens when the script says, as packetdrill makes it happen. The other
/// waits may wait on for such a timer: a script's for a `>` line ([`Wait::UsAwaiting`]), as
/// packetdrill waits for the packet, and the harness's own (`Ms`, `NextTimer`, `Msl`), whose
/// next step has no time of its own, so that what the timer sends is not taken for its answer.
fn script_limit(wait: Wait, to: Instant) -> Option<Instant> {
    matches!(wait, Wait::Us(_)).then_some(to)
}

/// The RFC 9293 user call a script's call makes.
fn model_call(call: UserCall) -> Call {
    match call {
        UserCall::Listen | UserCall::Serve => Call::OpenPassive,
        // The listener's close; the oracle plays it apart (`Harness::user`), never as a call.
        UserCall::StopServing => Call::Close,
        UserCall::Connect => Call::OpenActive,
        UserCall::Send(_) | UserCall::Write(_) => Call::Send,
        UserCall::Receive => Call::Receive,
        UserCall::Close => Call::Close,
        UserCall::Abort => Call::Abort,
    }
}

/// Whether `seg` can be a probe of a closed window (RFC 9293 3.8.6.1) from a stack whose TCB
/// the shadow's `view` is: no SYN or RST, a start between SND.UNA and SND.NXT (or an empty
/// segment at SND.UNA - 1), RCV.NXT
/// acknowledged, and at most one octet, `octet`, the one the user sent at that number. A FIN
/// only where our FIN belongs, `fin_at` (a probe of the last queued octet after CLOSE carries
/// it, as smoltcp's does).
pub fn is_zero_window_probe(
    seg: &Segment,
    view: &crate::endpoint::TcbView,
    octet: Option<u8>,
    fin_at: Option<SeqNum>,
) -> bool {
    let end = seg.seq.add(seg.payload.len() as u32);
    let fin_ok = !seg.ctl.contains(Control::FIN) || fin_at == Some(end);
    let controls = !fin_ok || [Control::SYN, Control::RST].iter().any(|&c| seg.ctl.contains(c));
    // Or the keepalive-style probe, an empty segment at SND.UNA - 1 that the receiver must
    // answer (Linux's `tcp_xmit_probe_skb`).
    let keepalive = seg.payload.is_empty() && seg.seq == view.snd_una.sub(1);
    let within = keepalive || (seg.seq.distance_from(view.snd_una) >= 0 && seg.seq.distance_from(view.snd_nxt) <= 0);
    let text_ok = match seg.payload.as_slice() {
        [] => true,
        [one] => octet == Some(*one),
        _ => false,
    };
    !controls && within && seg.ack == Some(view.rcv_nxt) && text_ok
}

/// A segment that only acknowledges: no text, no SYN, FIN or RST.
fn is_pure_ack(seg: &Segment) -> bool {
    seg.flags() == Flags::ACK
}

/// One answer as its receiver takes it in (the segmentation tolerance in the module doc).
/// Acknowledgments are cumulative, so every segment of the answer that is neither a SYN nor a
/// RST carries the answer's latest ACK, and a pure ACK is kept only if nothing else carries it
/// (one of them if there are several). Then text, or a FIN, that starts where the previous
/// segment's text ends joins it. SYNs and RSTs are kept as they are.
pub fn coalesce(segments: &mut Vec<Segment>) {
    if segments.len() < 2 {
        return;
    }
    let plain = |s: &Segment| !s.ctl.contains(Control::RST) && !s.ctl.contains(Control::SYN);
    let latest =
        segments
            .iter()
            .filter(|s| plain(s))
            .filter_map(|s| s.ack)
            .reduce(|a, b| if b.distance_from(a) > 0 { b } else { a });
    let carried = segments.iter().any(|s| plain(s) && !is_pure_ack(s) && s.ack.is_some());
    let mut pure_kept = false;
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for mut seg in segments.drain(..) {
        if plain(&seg) {
            if seg.ack.is_some() {
                seg.ack = latest;
            }
            if is_pure_ack(&seg) {
                if carried || pure_kept {
                    continue;
                }
                pure_kept = true;
            }
        }
        let joins = out.last().is_some_and(|prev| {
            plain(prev)
                && plain(&seg)
                && !prev.ctl.contains(Control::FIN)
                && !prev.payload.is_empty()
                && (seg.ctl.contains(Control::FIN) || !seg.payload.is_empty())
                && (prev.src_port, prev.dst_port) == (seg.src_port, seg.dst_port)
                && prev.seq.add(prev.payload.len() as u32) == seg.seq
        });
        match out.last_mut() {
            Some(prev) if joins => {
                prev.payload.extend_from_slice(&seg.payload);
                prev.ctl = prev.ctl.with(seg.ctl);
                prev.window = seg.window;
            }
            _ => out.push(seg),
        }
    }
    *segments = out;
}

/// Whether the stack's segment is the one the row sends, up to the tolerances in the module doc.
fn same(e: &Segment, a: &Segment) -> bool {
    // Cheap fields first.
    e.seq == a.seq
        && e.ack == a.ack
        && e.flags() == a.flags()
        && (e.src_port, e.dst_port) == (a.src_port, a.dst_port)
        && same_text(&e.payload, &a.payload)
}

/// `a == b` for texts, most of which are empty: slice equality calls memcmp even for empty
/// slices, and that call showed in the fuzz loop's profile (5-8 % of its time, in `perf`).
fn same_text(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// A segment the stack sends, with numbers relative to its ISS and the peer's: `SYN|ACK 0 ack 1`.
pub fn show_outbound(seg: &Segment, stack_iss: Option<SeqNum>) -> String {
    seg.brief(stack_iss, Some(PEER_ISS))
}

/// A segment the peer sends, with numbers relative to the peer's ISS and the stack's.
pub fn show_inbound(seg: &Segment, stack_iss: Option<SeqNum>) -> String {
    seg.brief(Some(PEER_ISS), stack_iss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::conform::script::SEEDS;
    use crate::model::shipped::Shipped;

    fn model(name: &str) -> Model {
        Shipped::find(name).unwrap().load().unwrap()
    }

    /// Runs every seed with `stack_model` as the stack and rfc9293 as the oracle.
    fn verdicts(stack_model: &str) -> Vec<(&'static str, Option<Verdict>)> {
        let oracle_model = model("rfc9293");
        let stack_model = model(stack_model);
        let mut stack = Reference::new(&stack_model, 7);
        let oracle = Oracle::new(&oracle_model, stack.params().clone());
        SEEDS.iter().map(|seed| (seed.name, oracle.run(&mut stack, &seed.script(), true).verdict)).collect()
    }

    #[test]
    fn the_reference_stack_passes_every_seed() {
        for (name, verdict) in verdicts("rfc9293") {
            assert!(verdict.is_none(), "{name}: {}", verdict.unwrap());
        }
    }

    #[test]
    fn a_horizon_ends_a_run_before_the_wait_that_would_pass_it() {
        let rfc9293 = model("rfc9293");
        let mut stack = Reference::new(&rfc9293, 7);
        let seed = SEEDS.iter().find(|s| s.name == "time-wait-fin-again").unwrap().script();
        let unbounded = Oracle::new(&rfc9293, stack.params().clone());
        assert_eq!(unbounded.run(&mut stack, &seed, false).steps, seed.steps.len());
        let cut = unbounded.with_horizon(Some(Duration::from_micros(1)));
        let run = cut.run(&mut stack, &seed, true);
        let first_wait = seed.steps.iter().position(|s| matches!(s, Step::Wait(_))).unwrap();
        assert_eq!((run.verdict.is_none(), run.steps), (true, first_wait));
        assert!(!run.trace.iter().any(|r| matches!(r, Record::Waited { .. })), "the wait was not made");
        assert_eq!(cut.horizon(), Some(Duration::from_micros(1)));
    }

    #[track_caller]
    fn caught(stack_model: &str, seed: &str, check: Check, rule: &str) {
        let all = verdicts(stack_model);
        let (_, verdict) = all.iter().find(|(n, _)| *n == seed).unwrap();
        let v = verdict.as_ref().unwrap_or_else(|| panic!("{stack_model} passed {seed}"));
        assert_eq!((v.check, v.rule.as_str()), (check, rule), "{v}");
    }

    #[test]
    fn no_time_wait_is_caught_entering_closed() {
        caught("no-time-wait", "active-time-wait", Check::TimeWait2Msl, "FIN-WAIT-2 FIN|ACK -> TIME-WAIT");
    }

    #[test]
    fn no_2msl_restart_is_caught_leaving_early() {
        caught("no-2msl-restart", "time-wait-fin-again", Check::TimeWaitRestart, "TIME-WAIT FIN|ACK|* -> TIME-WAIT");
    }

    #[test]
    fn rst_closes_time_wait_is_caught() {
        caught("rst-closes-time-wait", "time-wait-rst", Check::RstTimeWait, "TIME-WAIT RST|* -> TIME-WAIT");
    }

    #[test]
    fn two_packet_handshake_is_caught_in_listen() {
        caught("two-packet-handshake", "passive-data-close", Check::State, "LISTEN SYN|* -> SYN-RECEIVED");
    }

    #[test]
    fn rfc793_resets_on_an_in_window_rst() {
        caught("rfc793", "challenge-acks", Check::ChallengeAck, "ESTABLISHED RST|* -> ESTABLISHED");
    }

    #[test]
    fn verdicts_cite_file_line_and_rfc() {
        let all = verdicts("no-time-wait");
        let v = all.iter().find_map(|(_, v)| v.clone()).unwrap();
        assert!(v.row.starts_with("models/rfc9293.tcp:"), "{}", v.row);
        assert!(v.cite.contains("RFC 9293 3.6.1"), "{}", v.cite);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
    }

    // ---- tolerances: each one excuses exactly what its module-doc entry says -----------------

    use crate::adapter::Smoltcp;
    use crate::conform::script::{Inject, Kind, Rel, Step, UserCall, Wait, Window};
    use crate::conform::Stack;
    use crate::wire::WireError;

    fn seg(seq: u32, ack: Option<u32>, ctl: Control, text: &[u8]) -> Segment {
        Segment {
            src_port: 8080,
            dst_port: 40000,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            ctl,
            window: 4096,
            mss: None,
            options: Vec::new(),
            payload: text.to_vec(),
        }
    }

    #[test]
    fn coalesce_takes_an_answer_as_the_peer_does() {
        // An ACK piggybacked on text, and a FIN riding on the last text, are the same answer.
        let mut a = vec![seg(1, Some(1), Control::PSH, b"a"), seg(2, Some(2), Control::NONE, b"")];
        coalesce(&mut a);
        assert_eq!(a, [seg(1, Some(2), Control::PSH, b"a")]);
        let mut b = vec![
            seg(1, Some(1), Control::NONE, b""),
            seg(1, Some(1), Control::PSH, b"ab"),
            seg(3, Some(1), Control::FIN, b""),
        ];
        coalesce(&mut b);
        assert_eq!(b, [seg(1, Some(1), Control::PSH.with(Control::FIN), b"ab")]);
        // SYNs and RSTs stay; a gap in the text stays; a lone pure ACK stays.
        let keep = vec![seg(5, None, Control::RST, b""), seg(5, Some(3), Control::NONE, b"")];
        let mut c = keep.clone();
        coalesce(&mut c);
        assert_eq!(c, keep);
        let gap = vec![seg(1, Some(1), Control::PSH, b"a"), seg(5, Some(1), Control::PSH, b"b")];
        let mut d = gap.clone();
        coalesce(&mut d);
        assert_eq!(d, gap);
    }

    fn peer(kind: Kind, seq: Rel, len: u8) -> Step {
        Step::Inject(Inject { kind, seq, ack: Rel::Exact, len, window: Window::Open })
    }

    /// The verdict `steps` draw from smoltcp as it is and from smoltcp muted: without the two
    /// things it tells the oracle, its timer and its ACK throttle.
    fn smoltcp_runs(steps: Vec<Step>) -> (Option<Verdict>, Option<Verdict>) {
        let model = model("rfc9293");
        let script = Script { steps };
        let mut stack = Smoltcp::new(1);
        let oracle = Oracle::new(&model, stack.params().clone());
        let told = oracle.run(&mut stack, &script, false).verdict;
        let mut mute = crate::conform::Plain(Smoltcp::new(1));
        (told, oracle.run(&mut mute, &script, false).verdict)
    }

    /// The reference stack, recording each wait the harness asks of it and its limit.
    struct Limits<'m> {
        inner: Reference<'m>,
        waits: Vec<(Instant, Option<Instant>)>,
    }

    impl Stack for Limits<'_> {
        fn params(&self) -> &Params {
            self.inner.params()
        }
        fn reset(&mut self) {
            self.inner.reset();
        }
        fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
            self.inner.call(now, call, data)
        }
        fn inject(&mut self, now: Instant, packet: &[u8]) {
            self.inner.inject(now, packet)
        }
        fn advance(&mut self, to: Instant) {
            self.waits.push((to, None));
            self.inner.advance(to)
        }
        fn advance_within(&mut self, to: Instant, limit: Instant) {
            self.waits.push((to, Some(limit)));
            self.inner.advance(to)
        }
        fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
            self.inner.transmit(out)
        }
        fn state(&self) -> Option<State> {
            self.inner.state()
        }
    }

    #[test]
    fn a_scripts_wait_for_its_next_line_ends_at_its_time_and_the_others_may_wait_on() {
        let rfc9293 = model("rfc9293");
        let mut stack = Limits { inner: Reference::new(&rfc9293, 7), waits: Vec::new() };
        let oracle = Oracle::new(&rfc9293, stack.params().clone());
        let waits = [Wait::Us(5_000), Wait::UsAwaiting(7_000), Wait::Ms(3), Wait::Us(1_000)];
        let script =
            Script { steps: [Step::User(UserCall::Listen)].into_iter().chain(waits.map(Step::Wait)).collect() };
        assert!(oracle.run(&mut stack, &script, false).verdict.is_none());
        let at = Instant::from_micros;
        assert_eq!(
            stack.waits,
            [(at(5_000), Some(at(5_000))), (at(12_000), None), (at(15_000), None), (at(16_000), Some(at(16_000)))]
        );
    }

    fn passive_open() -> Vec<Step> {
        vec![Step::User(UserCall::Listen), peer(Kind::Syn, Rel::Exact, 0), peer(Kind::Ack, Rel::Exact, 0)]
    }

    /// The reference stack, and a window update (a pure ACK at SND.NXT of RCV.NXT, with a
    /// wider window) after every RECEIVE that returns text, or after every RECEIVE at all.
    struct WindowUpdates<'m> {
        inner: Reference<'m>,
        last: Option<Segment>,
        queued: Vec<Segment>,
        always: bool,
    }

    impl Stack for WindowUpdates<'_> {
        fn params(&self) -> &Params {
            self.inner.params()
        }
        fn reset(&mut self) {
            self.inner.reset();
            (self.last, self.queued) = (None, Vec::new());
        }
        fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
            let read = self.inner.call(now, call, data);
            while let Some(Ok(seg)) = self.inner.transmit_segment(&mut Vec::new()) {
                self.queued.push(seg);
            }
            if call == Call::Receive && (self.always || !read.is_empty()) {
                if let Some(last) = self.queued.last().or(self.last.as_ref()) {
                    let update = Segment {
                        seq: last.seq.add(last.len()),
                        ctl: Control::NONE,
                        window: last.window.saturating_add(100),
                        payload: Vec::new(),
                        mss: None,
                        ..last.clone()
                    };
                    self.queued.push(update);
                }
            }
            read
        }
        fn inject(&mut self, now: Instant, packet: &[u8]) {
            self.inner.inject(now, packet)
        }
        fn advance(&mut self, to: Instant) {
            self.inner.advance(to)
        }
        fn transmit(&mut self, _: &mut Vec<u8>) -> bool {
            unreachable!("segments are taken through transmit_segment")
        }
        fn transmit_segment(&mut self, _: &mut Vec<u8>) -> Option<Result<Segment, WireError>> {
            let seg = if self.queued.is_empty() {
                self.inner.transmit_segment(&mut Vec::new())?.ok()?
            } else {
                self.queued.remove(0)
            };
            self.last = Some(seg.clone());
            Some(Ok(seg))
        }
        fn state(&self) -> Option<State> {
            self.inner.state()
        }
    }

    #[test]
    fn a_window_update_after_a_receive_that_read_text_is_not_a_difference() {
        let rfc9293 = model("rfc9293");
        let mut steps = passive_open();
        steps.extend([peer(Kind::Ack, Rel::Exact, 10), Step::User(UserCall::Receive), Step::User(UserCall::Receive)]);
        let script = Script { steps };
        let run = |always| {
            let mut stack =
                WindowUpdates { inner: Reference::new(&rfc9293, 1), last: None, queued: Vec::new(), always };
            let oracle = Oracle::new(&rfc9293, stack.params().clone());
            oracle.run(&mut stack, &script, false).verdict
        };
        assert_eq!(run(false), None);
        // After the second RECEIVE, which read nothing, nothing opened: its ACK is a difference.
        let verdict = run(true).expect("an ACK after an empty RECEIVE");
        assert_eq!((verdict.check, verdict.step), (Check::Output, 5));
    }

    /// The reference stack, holding back the text of its SENDs from the `from`th on until the
    /// peer's next segment, as a congestion window that is full does.
    struct HoldsText<'m> {
        inner: Reference<'m>,
        from: usize,
        sends: usize,
        held: Vec<Segment>,
        queued: Vec<Segment>,
    }

    impl HoldsText<'_> {
        fn take_sent(&mut self) -> Vec<Segment> {
            std::iter::from_fn(|| self.inner.transmit_segment(&mut Vec::new())?.ok()).collect()
        }
    }

    impl Stack for HoldsText<'_> {
        fn params(&self) -> &Params {
            self.inner.params()
        }
        fn reset(&mut self) {
            self.inner.reset();
            (self.sends, self.held, self.queued) = (0, Vec::new(), Vec::new());
        }
        fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
            let read = self.inner.call(now, call, data);
            let sent = self.take_sent();
            self.sends += usize::from(call == Call::Send);
            if call == Call::Send && self.sends >= self.from {
                self.held.extend(sent);
            } else {
                self.queued.extend(sent);
            }
            read
        }
        fn inject(&mut self, now: Instant, packet: &[u8]) {
            self.inner.inject(now, packet);
            let sent = self.take_sent();
            self.queued.extend(sent);
            self.queued.append(&mut self.held);
        }
        fn advance(&mut self, to: Instant) {
            self.inner.advance(to)
        }
        fn transmit(&mut self, _: &mut Vec<u8>) -> bool {
            unreachable!("segments are taken through transmit_segment")
        }
        fn transmit_segment(&mut self, out: &mut Vec<u8>) -> Option<Result<Segment, WireError>> {
            if self.queued.is_empty() {
                return self.inner.transmit_segment(out);
            }
            Some(Ok(self.queued.remove(0)))
        }
        fn state(&self) -> Option<State> {
            self.inner.state()
        }
    }

    #[test]
    fn text_sent_while_text_is_in_flight_may_be_held_back() {
        // Three octets out, three more SENT and held until the peer ACKs the first three.
        let rfc9293 = model("rfc9293");
        let mut steps = passive_open();
        let partial_ack =
            Inject { kind: Kind::Ack, seq: Rel::Exact, ack: Rel::FromIsn(4), len: 0, window: Window::Open };
        steps.extend([Step::User(UserCall::Send(3)), Step::User(UserCall::Send(3)), Step::Inject(partial_ack)]);
        steps.push(peer(Kind::Ack, Rel::Exact, 0));
        let script = Script { steps };
        let run = |from, script: &Script| {
            let mut stack =
                HoldsText { inner: Reference::new(&rfc9293, 1), from, sends: 0, held: Vec::new(), queued: Vec::new() };
            let oracle = Oracle::new(&rfc9293, stack.params().clone());
            oracle.run(&mut stack, script, false).verdict
        };
        assert_eq!(run(2, &script), None);
        // With nothing in flight nothing holds the first SEND back: that is a difference.
        let verdict = run(1, &script).expect("text held with nothing in flight");
        assert_eq!((verdict.check, verdict.step), (Check::Output, 3), "{verdict}");
        // Held text may come in answer to a step in which no row sends: an old ACK (below
        // SND.UNA, ignored). The shadow sends it then too, and the peer's ACK of it is exact.
        let old_ack = Inject { kind: Kind::Ack, seq: Rel::Exact, ack: Rel::FromIsn(0), len: 0, window: Window::Open };
        let mut steps = passive_open();
        steps.extend([Step::User(UserCall::Send(3)), Step::User(UserCall::Send(3)), Step::Inject(old_ack)]);
        steps.push(peer(Kind::Ack, Rel::Exact, 0));
        assert_eq!(run(2, &Script { steps }), None);
    }

    #[test]
    fn a_throttled_ack_is_excused_only_within_the_declared_interval() {
        // Two old segments at once: smoltcp answers the first and throttles the second
        // (challenge_ack_reply, one per second); 1.5 s later it answers again.
        let mut steps = passive_open();
        steps.extend([peer(Kind::Ack, Rel::Old(3), 0), peer(Kind::Ack, Rel::Old(3), 0)]);
        steps.extend([Step::Wait(Wait::Ms(1500)), peer(Kind::Ack, Rel::Old(3), 0)]);
        let (told, mute) = smoltcp_runs(steps);
        assert_eq!(told, None);
        let v = mute.expect("without the throttle the withheld ACK is a difference");
        assert_eq!((v.check, v.step, v.rule.as_str()), (Check::Output, 4, "ESTABLISHED * -> ESTABLISHED"), "{v}");
    }

    #[test]
    fn the_rto_follows_the_stacks_timer() {
        // The handshake's ACK comes 900 ms late: smoltcp measures it and sets RTO = 900 ms +
        // 4 * 450 ms = 2.7 s (RFC 6298 2.2); the shadow's stays 1 s. smoltcp's retransmissions
        // (at 3.6 s, then 9 s) are compared when it sends them.
        let steps = vec![
            Step::User(UserCall::Listen),
            peer(Kind::Syn, Rel::Exact, 0),
            Step::Wait(Wait::Ms(900)),
            peer(Kind::Ack, Rel::Exact, 0),
            Step::User(UserCall::Send(3)),
            Step::Wait(Wait::Ms(20_000)),
            peer(Kind::Ack, Rel::Exact, 0),
        ];
        let (told, mute) = smoltcp_runs(steps);
        assert_eq!(told, None);
        let v = mute.expect("on the shadow's timer the retransmission is late");
        assert_eq!((v.check, v.rule.as_str()), (Check::Output, "ESTABLISHED TIMEOUT-RTO -> ESTABLISHED"), "{v}");
        assert_eq!(v.at_us, 1_900_000, "{v}");
    }

    #[test]
    fn a_repacketized_retransmission_stands_for_the_rows() {
        // Text, then the FIN, each unacknowledged: smoltcp resends both in one segment.
        let mut steps = passive_open();
        steps.extend([Step::User(UserCall::Send(3)), Step::User(UserCall::Close), Step::Wait(Wait::NextTimer)]);
        let (told, _) = smoltcp_runs(steps);
        assert_eq!(told, None);
    }

    #[test]
    fn a_zero_window_probe_is_one_octet_of_the_users_text_from_snd_una_to_snd_nxt() {
        use crate::endpoint::TcbView;
        // Three octets in flight, more queued: SND.UNA = 101, SND.NXT = 104.
        let view = TcbView {
            state: State::Established,
            snd_una: SeqNum(101),
            snd_nxt: SeqNum(104),
            rcv_nxt: SeqNum(7),
            ..TcbView::default()
        };
        let probe = |seq: u32, ctl: Control, payload: &[u8]| Segment {
            seq: SeqNum(seq),
            ack: Some(SeqNum(7)),
            ctl,
            payload: payload.to_vec(),
            ..Segment::default()
        };
        let probe_of = |s: &Segment, octet: Option<u8>| is_zero_window_probe(s, &view, octet, None);
        // New text at SND.NXT, the first octet again at SND.UNA, a pure ACK at SND.NXT.
        assert!(probe_of(&probe(104, Control::PSH, b"d"), Some(b'd')));
        assert!(probe_of(&probe(101, Control::NONE, b"a"), Some(b'a')));
        assert!(probe_of(&probe(104, Control::NONE, b""), None));
        // Not a probe: two octets, another octet than the user's, beyond SND.NXT, before
        // SND.UNA (but for an empty one just before it), with FIN or RST, acknowledging
        // something else.
        assert!(!probe_of(&probe(104, Control::PSH, b"de"), Some(b'd')));
        assert!(!probe_of(&probe(104, Control::PSH, b"x"), Some(b'd')));
        assert!(!probe_of(&probe(105, Control::PSH, b"e"), None));
        assert!(probe_of(&probe(100, Control::NONE, b""), None), "SND.UNA - 1, empty: Linux's probe");
        assert!(!probe_of(&probe(100, Control::NONE, b"z"), Some(b'z')));
        assert!(!probe_of(&probe(99, Control::NONE, b""), None));
        assert!(!probe_of(&probe(104, Control::FIN, b""), None));
        assert!(!probe_of(&probe(104, Control::RST, b""), None));
        // The FIN rides only on the octet before where our FIN goes.
        let fin_probe = probe(104, Control::PSH.with(Control::FIN), b"d");
        assert!(is_zero_window_probe(&fin_probe, &view, Some(b'd'), Some(SeqNum(105))));
        assert!(!is_zero_window_probe(&fin_probe, &view, Some(b'd'), Some(SeqNum(107))));
        let other_ack = Segment { ack: Some(SeqNum(8)), ..probe(104, Control::PSH, b"d") };
        assert!(!probe_of(&other_ack, Some(b'd')));
    }

    #[test]
    fn smoltcps_zero_window_probes_are_excused_while_the_window_is_closed() {
        // The peer closes its window; SEND queues text that cannot go out. smoltcp probes at
        // once (`send_slice` arms the probe timer at Instant::ZERO), then with backoff; the
        // table has no persist timer and expects nothing until the window opens.
        let mut steps = vec![Step::User(UserCall::Listen), peer(Kind::Syn, Rel::Exact, 0)];
        steps.push(Step::Inject(Inject {
            kind: Kind::Ack,
            seq: Rel::Exact,
            ack: Rel::Exact,
            len: 0,
            window: Window::Zero,
        }));
        steps.extend([Step::User(UserCall::Send(5)), Step::Wait(Wait::Ms(10_000)), peer(Kind::Ack, Rel::Exact, 0)]);
        let model = model("rfc9293");
        let mut stack = Smoltcp::new(1);
        let oracle = Oracle::new(&model, stack.params().clone());
        let run = oracle.run(&mut stack, &Script { steps }, true);
        let probes = run
            .trace
            .iter()
            .filter(|r| matches!(r, Record::Outbound { segment, .. } if segment.payload.len() == 1))
            .count();
        assert!(probes >= 2, "smoltcp probed {probes} times");
        assert_eq!(run.verdict, None);
    }

    #[test]
    fn a_probe_that_carries_the_ack_a_row_sends_stands_for_it() {
        // A simultaneous open with text and CLOSE queued in SYN-RECEIVED; the ACK that
        // completes it carries text and closes the window. The table sends an ACK; smoltcp
        // sends a probe of the queued octet that carries that ACK (and the ACK again).
        let steps = vec![
            Step::User(UserCall::Connect),
            Step::Wait(Wait::Ms(2023)),
            Step::Inject(Inject { kind: Kind::Syn, seq: Rel::Exact, ack: Rel::Exact, len: 0, window: Window::Open }),
            Step::User(UserCall::Send(1)),
            Step::User(UserCall::Close),
            Step::Inject(Inject { kind: Kind::Ack, seq: Rel::Exact, ack: Rel::Exact, len: 1, window: Window::Zero }),
        ];
        let model = model("rfc9293");
        let mut stack = Smoltcp::new(1);
        let oracle = Oracle::new(&model, stack.params().clone());
        let run = oracle.run(&mut stack, &Script { steps }, true);
        let last = run.trace.iter().rposition(Record::starts_step).unwrap();
        let answer: Vec<&Segment> = run.trace[last..]
            .iter()
            .filter_map(|r| match r {
                Record::Outbound { segment, .. } => Some(segment),
                _ => None,
            })
            .collect();
        assert!(answer.iter().any(|s| s.payload.len() == 1 && s.ack.is_some()), "{answer:?}");
        assert_eq!(run.verdict, None);
    }

    #[test]
    fn text_handed_to_a_queued_receive_goes_with_its_connection() {
        // RECEIVE queued in SYN-RECEIVED (simultaneous open); the peer's FIN|ACK brings text
        // that completes it; ABORT, a new connection, RECEIVE: nothing to read.
        let steps = vec![
            Step::User(UserCall::Connect),
            peer(Kind::Syn, Rel::Exact, 0),
            Step::User(UserCall::Receive),
            peer(Kind::Fin, Rel::Exact, 1),
            Step::User(UserCall::Abort),
            Step::User(UserCall::Listen),
            Step::User(UserCall::Receive),
        ];
        let (told, _) = smoltcp_runs(steps);
        assert_eq!(told, None);
    }

    #[test]
    fn a_rsts_window_teaches_nothing() {
        // A bad ACK in SYN-RECEIVED draws smoltcp's RST with window 0 (as the row says, up to
        // the window); the text that follows in sequence is inside smoltcp's 4096-octet window,
        // and the shadow must still think so.
        let mut steps = vec![Step::User(UserCall::Listen), peer(Kind::Syn, Rel::Exact, 0)];
        steps.push(Step::Inject(Inject {
            kind: Kind::Ack,
            seq: Rel::Exact,
            ack: Rel::FromIsn(2),
            len: 0,
            window: Window::Open,
        }));
        steps.push(peer(Kind::Ack, Rel::Exact, 1));
        let (told, _) = smoltcp_runs(steps);
        assert_eq!(told, None);
    }

    #[test]
    fn an_abort_rst_may_carry_an_ack() {
        let mut steps = passive_open();
        steps.push(Step::User(UserCall::Abort));
        let (told, _) = smoltcp_runs(steps);
        assert_eq!(told, None);
    }

    #[test]
    fn an_edge_number_is_the_last_octet_of_the_window_the_stack_advertises() {
        // smoltcp and the reference stack advertise different windows; the same script finds
        // each one's edge, where `in-window` offsets would wrap at a different place in each.
        let model = model("rfc9293");
        let mut steps = passive_open();
        steps.push(Step::Inject(Inject {
            kind: Kind::Ack,
            seq: Rel::Edge(0),
            ack: Rel::Edge(9),
            len: 1,
            window: Window::Open,
        }));
        let script = Script { steps };
        let reference = Reference::new(&model, 1);
        for mut stack in [Box::new(reference) as Box<dyn Stack>, Box::new(Smoltcp::new(1))] {
            let oracle = Oracle::new(&model, stack.params().clone());
            let run = oracle.run(stack.as_mut(), &script, true);
            assert_eq!(run.verdict, None, "{}", stack.params().name);
            let window = run.trace.iter().rev().find_map(|r| match r {
                Record::Outbound { segment, .. } if !segment.ctl.contains(Control::SYN) || segment.ack.is_some() => {
                    Some(u32::from(segment.window))
                }
                _ => None,
            });
            let inbound: Vec<&Segment> = run
                .trace
                .iter()
                .filter_map(|r| if let Record::Inbound { segment, .. } = r { Some(segment) } else { None })
                .collect();
            let last = inbound.last().unwrap();
            assert_eq!(last.seq, PEER_ISS.add(1).add(window.unwrap() - 1), "{}", stack.params().name);
            // Nothing is in flight, so the ACK's edge is SND.NXT however far back it is asked.
            assert_eq!(last.ack, inbound[1].ack, "{}", stack.params().name);
            // The table took it as in the window, ahead of RCV.NXT.
            let row = run.trace.iter().rev().find_map(|r| {
                if let Record::Row { transition, .. } = r {
                    Some(transition.row)
                } else {
                    None
                }
            });
            let rule = &model.rows()[row.unwrap()].rule;
            assert!(rule.guard.to_string().contains("seq-ahead"), "{}: {rule:?}", stack.params().name);
        }
    }

    #[test]
    fn a_listener_that_stays_listens_again_once_its_connection_is_gone() {
        // The peer resets the connection: a listener that stays has the port again and answers
        // a new SYN; `Listen`'s listener handed its one connection over and the port is closed.
        // Then the listener is closed: the connection it accepted goes on, and its end closes
        // the port. Every stack that can keep a listener does as the table's shadow does.
        let model = model("rfc9293");
        let states = |stack: &mut dyn Stack, first: UserCall| {
            let mut steps = vec![Step::User(first), peer(Kind::Syn, Rel::Exact, 0), peer(Kind::Ack, Rel::Exact, 0)];
            steps.extend([peer(Kind::Rst, Rel::Exact, 0), peer(Kind::Syn, Rel::Exact, 0)]);
            steps.extend([
                Step::User(UserCall::StopServing),
                peer(Kind::Ack, Rel::Exact, 0),
                Step::User(UserCall::Abort),
            ]);
            let oracle = Oracle::new(&model, stack.params().clone());
            let run = oracle.run(stack, &Script { steps }, true);
            let states: Vec<Option<State>> = run
                .trace
                .iter()
                .filter_map(|r| if let Record::Stack { state, .. } = r { Some(*state) } else { None })
                .collect();
            (run.verdict, states)
        };
        let reference = Reference::new(&model, 1);
        for mut stack in [Box::new(reference) as Box<dyn Stack>, Box::new(Smoltcp::new(1))] {
            let name = stack.params().name.clone();
            let (verdict, seen) = states(stack.as_mut(), UserCall::Serve);
            assert_eq!(verdict, None, "{name}");
            let s = |state| Some(state);
            let expected = [
                s(State::Listen),
                s(State::SynReceived),
                s(State::Established),
                s(State::Listen),
                s(State::SynReceived),
                s(State::SynReceived),
                s(State::Established),
                s(State::Closed),
            ];
            assert_eq!(seen, expected, "{name}");
            // Without a listener that stays, the RST leaves the port closed and the SYN draws a RST.
            let (verdict, seen) = states(stack.as_mut(), UserCall::Listen);
            assert_eq!(seen[3..5], [s(State::Closed), s(State::Closed)], "{name}: {verdict:?}");
        }
        // A stack that cannot keep a listener ends the run there, without a verdict.
        let mut plain = crate::conform::Plain(Smoltcp::new(1));
        let oracle = Oracle::new(&model, plain.params().clone());
        let run = oracle.run(&mut plain, &Script { steps: vec![Step::User(UserCall::Serve)] }, false);
        assert_eq!((run.verdict, run.steps), (None, 0));
    }
}
