//! Conformance: a stack under test behind one trait, an oracle that follows it with the table,
//! named invariants, and the fuzz loop that feeds it.
//!
//! The harness plays the stack's remote peer and its user. For every step of a [`Script`] the
//! oracle runs a *shadow* — our reference endpoint executing the oracle model, configured with
//! the stack's declared parameters — on the same input, and compares what the stack sends and
//! the state it reports with what the table's row says. The first difference ends the run with a
//! [`Verdict`] naming the row (file:line) and its RFC section.

pub mod diagram;
pub mod finding;
pub mod fuzz;
pub mod heard;
pub mod hosts;
pub mod matrix;
pub mod oracle;
pub mod probe;
pub mod script;

use std::fmt;

use crate::model::{Call, State};
use crate::time::{Duration, Instant};
use crate::wire::{Segment, WireError};

pub use hosts::Hosts;
pub use oracle::{Check, Coverage, Oracle, Record, Run, Verdict, Workspace};
pub use script::{Ecr, Inject, Kind, PeerOptions, Rel, Script, Step, UserCall, Wait, Window};

/// How a stack keeps time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Time is ours: [`Stack::advance`] jumps. Runs are deterministic and fast.
    Virtual,
    /// Time is the wall clock's: [`Stack::advance`] waits. Timing verdicts need tolerances.
    Real,
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Clock::Virtual => "virtual",
            Clock::Real => "real",
        })
    }
}

/// What a stack declares about itself: the oracle's shadow is configured from this, so a stack
/// is judged by the parameters it claims, not by ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `reference (rfc9293)`, `smoltcp 0.12`, `linux 6.8`.
    pub name: String,
    pub clock: Clock,
    /// The stack's address and port (the port a passive open listens on) and the remote peer's,
    /// which the harness plays: of one family, which is the run's.
    pub hosts: Hosts,
    /// Maximum segment lifetime.
    pub msl: Duration,
    /// How long TIME-WAIT lasts if the stack fixes it rather than deriving it as 2·MSL.
    pub time_wait: Option<Duration>,
    /// Initial retransmission timeout.
    pub rto: Duration,
    /// R2 as a count of retransmissions.
    pub max_retries: u32,
    /// How long sent data may stay unacknowledged, if the stack bounds it.
    pub user_timeout: Option<Duration>,
    /// The receive window of a fresh connection.
    pub window: u32,
    /// The MSS the stack announces.
    pub mss: u16,
    /// How late the stack may send a pure ACK (delayed ACK, RFC 9293 3.8.6.3); zero if never.
    pub ack_delay: Duration,
    /// How late a timer of the stack may fire after its nominal time: the tick of a stack whose
    /// timers are counted in periodic ticks (lwIP's slow timer: 500 ms), so that a TIME-WAIT of
    /// 2·MSL ends at the first tick after it. Zero for a stack with exact timers.
    pub granularity: Duration,
    /// How initial sequence numbers are chosen, in words (the oracle learns them from SYNs).
    pub isn: String,
}

impl Params {
    /// The TIME-WAIT length the oracle holds the stack to: the declared one, else 2·MSL.
    pub fn time_wait(&self) -> Duration {
        self.time_wait.unwrap_or(self.msl.times(2))
    }
}

/// One sysctl, in dotted form: `net.ipv4.tcp_rmem` = `4096 540000 15728640`
/// ([`Stack::sysctls`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctl {
    pub name: String,
    pub value: String,
    /// A stack that lacks it runs the script anyway: a setting of packetdrill's defaults, which
    /// its `defaults.sh` makes without checking (`tcp_fack` went in Linux 4.18). A script's own
    /// settings must take.
    pub optional: bool,
}

/// A stack that broke down rather than answered: a child process that crashed, hung or broke
/// the stack protocol ([`crate::adapter::Exec`]). The oracle makes it the run's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// [`Check::Crash`], [`Check::Hang`] or [`Check::Protocol`].
    pub check: Check,
    /// What happened, with what the stack said about it (the tail of a child's stderr).
    pub detail: String,
}

/// A TCP implementation under test, seen from the wire and its user.
///
/// Packets are IP+TCP bytes between the two [`Params::hosts`], in their family. Time is passed
/// in: `now` never goes backwards within a run, and [`Stack::reset`] starts it again at zero.
pub trait Stack {
    fn params(&self) -> &Params;

    /// Back to a fresh stack: no connection, nothing queued, the clock at zero.
    fn reset(&mut self);

    /// A user call. `data` is the text of a SEND (empty otherwise); the result is the text a
    /// RECEIVE returned (empty otherwise).
    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8>;

    /// A packet from the peer. Malformed bytes must not crash a stack, and must not crash this.
    fn inject(&mut self, now: Instant, packet: &[u8]);

    /// Lets time run until `to`: fires what is due (virtual) or waits (real).
    fn advance(&mut self, to: Instant);

    /// [`Stack::advance`] inside a wait that must end at `limit`: a script's own time, when
    /// its next line is due (packetdrill's `+0.002`). A real-time stack that would go on
    /// waiting past `to` for a timer it told due by then ([`Stack::next_deadline`]; a kernel
    /// timer fires late, never early) stops at `limit`: the script's next line happens at its
    /// time, as packetdrill makes it, and what the timer sends comes when it comes. The
    /// default is [`Stack::advance`]: a virtual clock's timers fire at their deadlines.
    fn advance_within(&mut self, to: Instant, _limit: Instant) {
        self.advance(to)
    }

    /// The oldest packet the stack has sent and the harness not yet taken, written into `out`.
    fn transmit(&mut self, out: &mut Vec<u8>) -> bool;

    /// A segment from the peer: [`Stack::inject`] of its IP+TCP packet, written into
    /// `scratch`. An error if it cannot be written; the stack then never saw it.
    ///
    /// A stack that takes segments as they are (our reference endpoint, in process) overrides
    /// this to skip writing bytes it would parse straight back: the round trip is lossless
    /// (`wire`'s tests), so it sees the same segment, and the fuzz loop saves two checksums.
    fn inject_segment(&mut self, now: Instant, segment: &Segment, scratch: &mut Vec<u8>) -> Result<(), WireError> {
        scratch.clear();
        segment.write_ip(self.params().hosts.inbound(), scratch)?;
        self.inject(now, scratch);
        Ok(())
    }

    /// The oldest packet the stack has sent and the harness not yet taken ([`Stack::transmit`]
    /// into `scratch`), parsed; on an error `scratch` holds the bytes that are not a segment of
    /// the run: a packet of the other family is one. Overridden, like [`Stack::inject_segment`],
    /// by a stack whose segments need no wire.
    fn transmit_segment(&mut self, scratch: &mut Vec<u8>) -> Option<Result<Segment, WireError>> {
        if !self.transmit(scratch) {
            return None;
        }
        let expected = self.params().hosts.family();
        Some(Segment::from_ip(scratch).and_then(|packet| match packet.addrs.family() {
            found if found == expected => Ok(packet.segment),
            found => Err(WireError::Family { expected, found }),
        }))
    }

    /// The connection's state, if the stack can tell (smoltcp's socket state, Linux `/proc/net/tcp` in its namespace).
    fn state(&self) -> Option<State>;

    /// When the stack will next act on its own (a retransmission, a delayed ACK, the end of
    /// TIME-WAIT), if it can tell: a virtual-clock stack with a `poll_at` (smoltcp). The oracle
    /// uses it to follow the stack's own retransmission timer, which RFC 6298 lets it estimate,
    /// instead of the shadow's fixed one. `None` (the default) keeps the shadow's timing.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// When the packet [`Stack::transmit`] last returned left the stack, if the stack saw it
    /// leave before the harness took it: a real-time stack whose adapter watches its device
    /// while the harness waits, so that a packet is timed when it was sent rather than when the
    /// harness next looked (packetdrill times a packet by its kernel timestamp). `None` (the
    /// default): when the harness took it.
    fn sent_at(&self) -> Option<Instant> {
        None
    }

    /// How long after sending an ACK for an unacceptable segment (a challenge ACK, or the ACK
    /// an out-of-window segment draws) the stack may stay silent for the next one: RFC 5961 7
    /// asks for such ACKs to be rate-limited. `None` (the default) if every one is answered.
    fn ack_throttle(&self) -> Option<Duration> {
        None
    }

    /// Whether the stack's user can make `call` now. A socket API cannot express every RFC
    /// 9293 user call in every state (Linux: ABORT of a connection already handed to a timewait
    /// socket, CLOSE of one not yet accepted, OPEN-ACTIVE on a listener). The oracle ends such a
    /// run there, without a verdict, rather than judge the stack for its API. The default: every
    /// call, always.
    fn can_call(&self, _call: Call) -> bool {
        true
    }

    /// The user's listening socket, kept open beside the connection it accepts
    /// ([`UserCall::Serve`]): with `open`, a passive OPEN whose listener stays, so that once
    /// the connection is gone the port listens again; without, that listener is closed, and
    /// the port with it if nothing else holds it ([`UserCall::StopServing`]). `false` (the
    /// default) if the stack cannot keep a listener beside a connection: it is then left as it
    /// was, and the oracle ends the run there, without a verdict, as for [`Stack::can_call`].
    fn serve(&mut self, _now: Instant, _open: bool) -> bool {
        false
    }

    /// Sysctl settings for the runs from now on, in place of the last ones given: what a
    /// packetdrill script's shell commands set for the Linux it was written for. A stack takes
    /// each as its own parameter where it has one (Linux: the same sysctl inside its private
    /// namespace) and puts back what the last ones changed; `Err` says which it cannot take.
    /// The default takes none.
    fn sysctls(&mut self, settings: &[Sysctl]) -> Result<(), String> {
        match settings.first() {
            None => Ok(()),
            Some(s) => Err(format!("sysctl settings (`{}` first): {} takes none", s.name, self.params().name)),
        }
    }

    /// The shipped table the stack claims to follow when it is not told otherwise: RFC 9293
    /// with the switches its configuration turns on (`linux-profile` for a Linux whose
    /// `tcp_rfc1337` is 0). Commands judge by it unless `--oracle` is given, so a documented
    /// choice is not a finding of every run. `None` (the default): RFC 9293 itself.
    fn profile(&self) -> Option<&'static str> {
        None
    }

    /// Why the stack stopped answering in this run, if it did. Asked after every input; once
    /// there is a fault the stack ignores everything until [`Stack::reset`], which brings it
    /// back (a new child process). In-process stacks never have one.
    fn fault(&self) -> Option<Fault> {
        None
    }
}

/// A stack seen through the trait's required methods only: every optional one (segments
/// without the wire, the timer and throttle hints, `can_call`) takes its default. Tests run a
/// stack plain and as it is to check that what the optional methods add changes nothing else.
#[cfg(test)]
pub(crate) struct Plain<S>(pub S);

#[cfg(test)]
impl<S: Stack> Stack for Plain<S> {
    fn params(&self) -> &Params {
        self.0.params()
    }
    fn reset(&mut self) {
        self.0.reset()
    }
    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
        self.0.call(now, call, data)
    }
    fn inject(&mut self, now: Instant, packet: &[u8]) {
        self.0.inject(now, packet)
    }
    fn advance(&mut self, to: Instant) {
        self.0.advance(to)
    }
    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        self.0.transmit(out)
    }
    fn state(&self) -> Option<State> {
        self.0.state()
    }
}
