//! The fuzz input: what the stack's user and the remote peer do, step by step.
//!
//! Numbers are *relative* to what the stack should expect (its RCV.NXT and SND.NXT as the oracle
//! tracks them), so random bytes mostly mean something: a segment "in the window", an "old
//! duplicate", an ACK "of everything sent". One type feeds the built-in fuzz loop, the cargo fuzz
//! targets (through `arbitrary`), proptest strategies and the finding files (through serde).

use arbitrary::Arbitrary;
use serde::{Deserialize, Serialize};

/// A run: steps in order, from a freshly reset stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Script {
    pub steps: Vec<Step>,
}

/// Fuzzer bytes become steps until they run out: the derived `Vec` decoding spends a
/// continue-bit per element, so random bytes would end most scripts after a step or two.
impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.arbitrary_len::<Step>()?;
        let steps = (0..len).map(|_| Step::arbitrary(u)).collect::<arbitrary::Result<_>>()?;
        Ok(Script { steps })
    }

    fn arbitrary_take_rest(mut u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < super::oracle::MAX_STEPS {
            steps.push(Step::arbitrary(&mut u)?);
        }
        Ok(Script { steps })
    }
}

/// One step of a run.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The stack's user makes a call.
    User(UserCall),
    /// The remote peer sends the stack a segment.
    Inject(Inject),
    /// Time passes.
    Wait(Wait),
    /// The remote peer sends the stack a segment whose numbers are given, as packetdrill gives
    /// them, rather than drawn relative to what the stack expects. Scripts read from files
    /// (`tcpcheck run`) use it; the fuzzers never draw it, so their inputs decode as before.
    #[arbitrary(skip)]
    Packet(Packet),
}

/// The user calls of RFC 9293 3.9.1, as a socket user makes them.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserCall {
    /// OPEN, passive: listen on the stack's port.
    Listen,
    /// OPEN, active: connect to the peer.
    Connect,
    /// SEND this many octets (a fixed pattern, so delivered text can be checked).
    Send(u8),
    /// RECEIVE whatever has arrived.
    Receive,
    /// CLOSE: no more to send (a socket's `shutdown(SHUT_WR)`).
    Close,
    /// ABORT: reset the connection (a socket's `SO_LINGER` 0 and `close`).
    Abort,
    /// SEND of more octets than [`UserCall::Send`] can say: a script's `write(fd, ..., 1000)`.
    /// Not drawn by the fuzzers (see [`Step::Packet`]).
    #[arbitrary(skip)]
    Write(u16),
    /// OPEN, passive, by a server's listening socket that stays open beside the connection it
    /// accepts, until [`UserCall::StopServing`]: each time the connection is gone the port
    /// listens again. A script's `listen`, whose listener most scripts never close. `Listen`
    /// is the listener that hands its one connection over and is gone. Not drawn by the fuzzers.
    #[arbitrary(skip)]
    Serve,
    /// The listening socket of [`UserCall::Serve`] is closed: the connection it accepted goes
    /// on, and a port that only listens is closed (CLOSE in LISTEN). Not drawn by the fuzzers.
    #[arbitrary(skip)]
    StopServing,
}

impl UserCall {
    /// The octets a SEND of this call carries (none for the other calls).
    pub fn send_len(self) -> Option<usize> {
        match self {
            UserCall::Send(n) => Some(usize::from(n)),
            UserCall::Write(n) => Some(usize::from(n)),
            _ => None,
        }
    }
}

/// A segment from the peer, described relative to the stack's expectations.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Inject {
    pub kind: Kind,
    pub seq: Rel,
    /// Ignored unless `kind` carries ACK.
    pub ack: Rel,
    /// Payload octets (a fixed pattern by sequence number).
    pub len: u8,
    pub window: Window,
}

/// A segment from the peer as a script file writes it: every field given. Numbers are
/// [`Rel`]s, so a packetdrill script's numbers (relative to the ISNs) are [`Rel::FromIsn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Packet {
    /// The TCP flags byte, ACK (0x10) included: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08,
    /// URG 0x20, ECE 0x40, CWR 0x80.
    pub flags: u8,
    pub seq: Rel,
    /// Ignored unless `flags` carries ACK.
    pub ack: Rel,
    /// Payload octets (a fixed pattern by sequence number, as for [`Inject`]).
    pub len: u16,
    pub window: u16,
    /// The MSS option, if the segment carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mss: Option<u16>,
    /// The other options (written after MSS).
    #[serde(default, skip_serializing_if = "PeerOptions::is_empty")]
    pub options: PeerOptions,
}

/// The TCP options other than MSS on a [`Packet`], in the order written: NOPs, SACK-permitted,
/// window scale, timestamps and SACK blocks, at most [`PeerOptions::MAX`] of them and one of
/// each kind but NOP. A plain value, so that a step stays one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerOptions {
    /// Option kinds in wire order (1 NOP, 3 window scale, 4 SACK-permitted, 5 SACK, 8
    /// timestamps); the first 0 ends the list.
    pub kinds: [u8; PeerOptions::MAX],
    pub wscale: u8,
    pub ts_val: u32,
    pub ts_ecr: Ecr,
    /// The SACK option's blocks (left, right edge), relative to the stack's ISS as a script's
    /// ACK numbers are: the first `sack_blocks` of them (at most 4, RFC 2018 3).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sack_blocks: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub sack: [(u32, u32); 4],
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

fn is_default(blocks: &[(u32, u32); 4]) -> bool {
    *blocks == [(0, 0); 4]
}

/// The echo of a peer's timestamps option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ecr {
    /// This number.
    Raw(u32),
    /// The TS val of the stack's `packet`-th packet of the run (from 0), as packetdrill maps a
    /// script's TS ecr onto the stack's clock; `otherwise` if there is no such packet or it
    /// carries no timestamps.
    StackVal { packet: u16, otherwise: u32 },
}

impl Default for Ecr {
    fn default() -> Self {
        Ecr::Raw(0)
    }
}

impl PeerOptions {
    pub const MAX: usize = 12;

    pub fn is_empty(&self) -> bool {
        self.kinds[0] == 0
    }

    /// The kinds in order.
    pub fn kinds(&self) -> impl Iterator<Item = u8> + '_ {
        self.kinds.iter().copied().take_while(|&k| k != 0)
    }
}

/// The control bits of an injected segment: the common shapes by name, anything else as bits.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Syn,
    SynAck,
    /// ACK, with text if `len` > 0.
    Ack,
    /// FIN|ACK.
    Fin,
    Rst,
    RstAck,
    /// Any TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    Bits(u8),
}

/// A sequence or acknowledgment number relative to what the stack expects.
///
/// For SEG.SEQ the reference point is the stack's RCV.NXT (before a SYN has arrived: the peer's
/// next number); for SEG.ACK it is the stack's SND.NXT and SND.UNA.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rel {
    /// SEQ = RCV.NXT; ACK = SND.NXT (acknowledges everything sent).
    Exact,
    /// Inside the window but not exact: SEQ = RCV.NXT + 1 + n mod (RCV.WND - 1);
    /// ACK = SND.UNA + n mod (SND.NXT - SND.UNA + 1), which may be a duplicate.
    InWindow(u16),
    /// Already seen: SEQ = RCV.NXT - 1 - n; ACK = SND.UNA - 1 - n.
    Old(u16),
    /// Beyond what is possible: SEQ = RCV.NXT + RCV.WND + n; ACK = SND.NXT + 1 + n.
    Future(u16),
    /// From the initial numbers: SEQ = the peer's ISN + n; ACK = the stack's ISS + n (as
    /// packetdrill writes them).
    FromIsn(u32),
    /// At the right edge of what the stack accepts, `n` back from it: SEQ = RCV.NXT + RCV.WND -
    /// 1 - n, the last octet inside the receive window, never below RCV.NXT (RCV.NXT itself
    /// when the window is closed); ACK = SND.NXT - n, never below SND.UNA. Unlike
    /// [`Rel::InWindow`], whose offset wraps modulo the window, the edge is found from the
    /// window the stack advertises at that moment, so a script can aim at it without knowing
    /// the stack's buffer. Not drawn by the fuzzers (drawing it would change what every
    /// committed fuzz input decodes to).
    #[arbitrary(skip)]
    Edge(u16),
    /// This absolute number.
    Raw(u32),
}

/// The window the peer advertises.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Window {
    /// The harness's usual window, [`PEER_WINDOW`].
    Open,
    /// A closed window.
    Zero,
    Small(u8),
}

/// How long a wait lasts.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wait {
    /// This many milliseconds.
    Ms(u16),
    /// Until the next timer the table expects to be running is due.
    NextTimer,
    /// One maximum segment lifetime of the stack's declared MSL.
    Msl,
    /// This many microseconds: a script's `+0.000250`, counted on the script's own clock (from
    /// where the last wait as written ended), so a step that ran late does not delay the lines
    /// after it. Not drawn by the fuzzers (see [`Step::Packet`]).
    #[arbitrary(skip)]
    Us(u32),
    /// As [`Wait::Us`], up to the time of a `>` line: the script expects the stack's packet
    /// then, and packetdrill waits for it before its next line. On a real clock a timer the
    /// stack told due by then is waited out past it (a kernel timer fires late, never early),
    /// where a [`Wait::Us`] ends at its time, its next line due.
    #[arbitrary(skip)]
    UsAwaiting(u32),
}

/// The window the peer advertises unless told otherwise.
pub const PEER_WINDOW: u16 = 8192;
/// The MSS the peer announces on its SYNs.
pub const PEER_MSS: u16 = 1000;

impl Window {
    pub fn octets(self) -> u16 {
        match self {
            Window::Open => PEER_WINDOW,
            Window::Zero => 0,
            Window::Small(n) => u16::from(n),
        }
    }
}

/// The text of a stream is a fixed pattern, so text delivered at the wrong place shows up as
/// wrong octets.
const PATTERN: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `len` octets of the stream's text from `offset` on, copied a run of the pattern at a time
/// (one division per call, not per octet: the fuzz loop builds a payload for every segment).
pub fn text(offset: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    text_into(&mut out, offset, len);
    out
}

/// [`text`] into `out` (cleared first), reusing its buffer.
pub fn text_into(out: &mut Vec<u8>, offset: u32, len: usize) {
    out.clear();
    let mut at = (offset % 36) as usize;
    while out.len() < len {
        let run = (PATTERN.len() - at).min(len - out.len());
        out.extend_from_slice(&PATTERN[at..at + run]);
        at = 0;
    }
}

/// A named script that walks a stack through one part of the state machine: the fuzz loop's
/// first corpus, and a conformance suite that runs unchanged against every adapter.
pub struct Seed {
    pub name: &'static str,
    pub about: &'static str,
    pub steps: fn() -> Vec<Step>,
}

impl Seed {
    pub fn script(&self) -> Script {
        Script { steps: (self.steps)() }
    }
}

/// A segment from the peer with exact numbers.
fn seg(kind: Kind, len: u8) -> Step {
    Step::Inject(Inject { kind, seq: Rel::Exact, ack: Rel::Exact, len, window: Window::Open })
}

/// A segment from the peer with the given sequence number and an exact ACK.
fn seg_at(kind: Kind, seq: Rel) -> Step {
    Step::Inject(Inject { kind, seq, ack: Rel::Exact, len: 0, window: Window::Open })
}

fn passive_open() -> Vec<Step> {
    vec![Step::User(UserCall::Listen), seg(Kind::Syn, 0), seg(Kind::Ack, 0)]
}

fn active_open() -> Vec<Step> {
    vec![Step::User(UserCall::Connect), seg(Kind::SynAck, 0)]
}

/// Active open, close, the peer's ACK and FIN: TIME-WAIT.
fn to_time_wait() -> Vec<Step> {
    let mut steps = active_open();
    steps.extend([Step::User(UserCall::Close), seg(Kind::Ack, 0), seg(Kind::Fin, 0)]);
    steps
}

pub const SEEDS: &[Seed] = &[
    Seed {
        name: "passive-data-close",
        about: "LISTEN, three-way handshake, text both ways, the peer closes first",
        steps: || {
            let mut steps = passive_open();
            steps.extend([
                seg(Kind::Ack, 10),
                Step::User(UserCall::Receive),
                Step::User(UserCall::Send(5)),
                seg(Kind::Ack, 0),
                seg(Kind::Fin, 0),
                Step::User(UserCall::Close),
                seg(Kind::Ack, 0),
            ]);
            steps
        },
    },
    Seed {
        name: "active-time-wait",
        about: "active open and close into TIME-WAIT, which lasts 2*MSL and then closes",
        steps: || {
            let mut steps = to_time_wait();
            steps.extend([Step::Wait(Wait::Msl), Step::Wait(Wait::Msl), Step::Wait(Wait::Ms(10))]);
            steps
        },
    },
    Seed {
        name: "time-wait-fin-again",
        about: "a retransmitted FIN in TIME-WAIT is re-ACKed and restarts 2*MSL",
        steps: || {
            let mut steps = to_time_wait();
            steps.extend([
                Step::Wait(Wait::Msl),
                seg_at(Kind::Fin, Rel::Old(0)),
                Step::Wait(Wait::Msl),
                Step::Wait(Wait::Ms(500)),
                seg_at(Kind::Fin, Rel::Old(0)),
                Step::Wait(Wait::Msl),
                Step::Wait(Wait::Msl),
                Step::Wait(Wait::Ms(10)),
            ]);
            steps
        },
    },
    Seed {
        name: "time-wait-rst",
        about: "a RST in TIME-WAIT is ignored (RFC 1337)",
        steps: || {
            let mut steps = to_time_wait();
            steps.extend([seg(Kind::Rst, 0), Step::Wait(Wait::Ms(100))]);
            steps
        },
    },
    Seed {
        name: "challenge-acks",
        about: "an in-window RST and a SYN in ESTABLISHED draw challenge ACKs; an exact RST resets",
        steps: || {
            let mut steps = passive_open();
            steps.extend([seg_at(Kind::Rst, Rel::InWindow(5)), seg(Kind::Syn, 0), seg(Kind::Rst, 0)]);
            steps
        },
    },
    Seed {
        name: "simultaneous-close",
        about: "both sides close at once: FIN-WAIT-1, CLOSING, TIME-WAIT",
        steps: || {
            let mut steps = active_open();
            steps.extend([
                Step::User(UserCall::Close),
                Step::Inject(Inject {
                    kind: Kind::Fin,
                    seq: Rel::Exact,
                    ack: Rel::InWindow(0),
                    len: 0,
                    window: Window::Open,
                }),
                seg(Kind::Ack, 0),
            ]);
            steps
        },
    },
    Seed {
        name: "retransmit-and-give-up",
        about: "an unanswered SYN is retransmitted with backoff until R2, then the open fails",
        steps: || vec![Step::User(UserCall::Connect); 1].into_iter().chain([Step::Wait(Wait::NextTimer); 7]).collect(),
    },
    Seed {
        name: "closed-port",
        about: "segments to a closed port draw RSTs numbered by RFC 9293 3.10.7.1",
        steps: || vec![seg(Kind::Syn, 0), seg(Kind::Ack, 4), seg(Kind::Rst, 0)],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_serialise_readably_and_round_trip() {
        let script = Script {
            steps: vec![
                Step::User(UserCall::Listen),
                Step::Inject(Inject {
                    kind: Kind::Syn,
                    seq: Rel::Exact,
                    ack: Rel::Exact,
                    len: 0,
                    window: Window::Open,
                }),
                Step::Wait(Wait::Ms(200)),
                Step::User(UserCall::Send(3)),
            ],
        };
        let text = serde_json::to_string(&script).unwrap();
        assert_eq!(
            text,
            r#"[{"user":"listen"},{"inject":{"kind":"syn","seq":"exact","ack":"exact","len":0,"window":"open"}},{"wait":{"ms":200}},{"user":{"send":3}}]"#
        );
        assert_eq!(serde_json::from_str::<Script>(&text).unwrap(), script);
    }

    #[test]
    fn text_follows_the_pattern_from_any_offset() {
        for offset in [0, 1, 35, 36, 1000, u32::MAX - 3] {
            let t = text(offset, 100);
            assert_eq!(t.len(), 100);
            for (i, &octet) in t.iter().enumerate() {
                assert_eq!(octet, PATTERN[((offset % 36) as usize + i) % 36], "offset {offset} + {i}");
            }
        }
        assert!(text(7, 0).is_empty());
    }

    #[test]
    fn arbitrary_bytes_always_make_a_script() {
        let bytes: Vec<u8> = (0..512u32).map(|i| (i.wrapping_mul(37) ^ (i >> 3)) as u8 | 1).collect();
        // As libFuzzer and the fuzz loop decode their inputs.
        let script = Script::arbitrary_take_rest(arbitrary::Unstructured::new(&bytes)).unwrap();
        assert!(script.steps.len() >= 5, "{script:?}");
    }
}
