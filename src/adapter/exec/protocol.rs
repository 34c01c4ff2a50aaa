//! The stack protocol's frames, both ways (`docs/stack-protocol.md`): the harness's requests,
//! the child's hello and reports. Sans-IO: bytes in, values out, and the reverse; both the
//! harness ([`super::Exec`]) and the Rust child ([`super::serve`]) use these, so the two sides
//! cannot disagree about the format. Nothing here panics on any input (`fuzz_targets/stack_protocol.rs`).

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;

use crate::conform::{Clock, Hosts, Params};
use crate::model::{Call, State};
use crate::time::{Duration, Instant};

/// The protocol version this tcpcheck speaks; the hello's first line names the child's.
pub const VERSION: u32 = 1;

/// The hello's first key.
pub const MAGIC: &str = "tcpcheck-stack";

/// The largest frame either side may send (type and body), so a corrupt length is caught
/// before anything waits for a gigabyte.
pub const MAX_FRAME: usize = 1 << 20;

/// `calls` when every user call can be made.
pub const ALL_CALLS: u8 = 0x3f;

/// `deadline` and times meaning "none".
const NONE: u64 = u64::MAX;

/// Frame types.
pub mod kind {
    pub const HELLO: u8 = b'H';
    pub const RESET: u8 = b'R';
    pub const CALL: u8 = b'C';
    pub const PACKET: u8 = b'P';
    pub const ADVANCE: u8 = b'A';
    pub const REPORT: u8 = b'r';
    pub const ERROR: u8 = b'E';
    pub const CRASHED: u8 = b'x';
}

/// The user calls in the protocol's numbering (the request's `call` byte, the report's bits).
pub const CALLS: [Call; 6] = [Call::OpenPassive, Call::OpenActive, Call::Send, Call::Receive, Call::Close, Call::Abort];

/// A call's number on the wire.
pub fn call_number(call: Call) -> u8 {
    CALLS.iter().position(|&c| c == call).unwrap_or(0) as u8
}

/// What went wrong reading frames: where, what was expected, what came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// 1-based number of the frame in the stream (the hello is frame 1 of a child's stdout).
    pub frame: u64,
    /// Byte offset of the problem in the stream.
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame {} at byte {}: {}", self.frame, self.offset, self.message)
    }
}

/// Appends a frame of `kind` whose body `body` writes, with its length prefix.
pub fn frame(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, kind]);
    body(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// A byte stream cut into frames as it arrives: feed it what `read` returned, take whole frames.
#[derive(Debug, Default)]
pub struct Frames {
    /// Bytes `at..end` are received and not yet taken; the rest is room, zeroed once when it
    /// was first allocated, so that a read into it costs no clearing.
    buf: Vec<u8>,
    at: usize,
    end: usize,
    /// Frames taken, and stream bytes before `buf[0]`, for error positions.
    taken: u64,
    consumed: u64,
}

impl Frames {
    /// Room for `want` more bytes: the caller reads into it and then calls [`Frames::filled`]
    /// with the count.
    pub fn space(&mut self, want: usize) -> &mut [u8] {
        if self.at == self.end {
            self.consumed += self.at as u64;
            (self.at, self.end) = (0, 0);
        } else if self.end + want > self.buf.len() && self.at > 0 {
            self.consumed += self.at as u64;
            self.buf.copy_within(self.at..self.end, 0);
            (self.at, self.end) = (0, self.end - self.at);
        }
        if self.end + want > self.buf.len() {
            self.buf.resize((self.end + want).next_power_of_two(), 0);
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// After a read into [`Frames::space`]: `n` of its bytes are data.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Appends bytes (a shared-memory batch; tests and fuzzing).
    pub fn push(&mut self, bytes: &[u8]) {
        self.space(bytes.len()).copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// The next whole frame, as its type and the range of its body in [`Frames::bytes`]; `None`
    /// if it has not all arrived.
    pub fn take(&mut self) -> Result<Option<(u8, Range<usize>)>, FrameError> {
        let rest = &self.buf[self.at..self.end];
        let Some(head) = rest.get(..4) else { return Ok(None) };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(self.error(0, format!("a frame length of 1 to {MAX_FRAME} bytes, not {len}")));
        }
        if rest.len() < 4 + len {
            return Ok(None);
        }
        let kind = rest[4];
        let body = self.at + 5..self.at + 4 + len;
        self.at += 4 + len;
        self.taken += 1;
        Ok(Some((kind, body)))
    }

    /// The buffer the ranges of [`Frames::take`] point into.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes received that are not part of a whole frame yet.
    pub fn pending(&self) -> usize {
        self.end - self.at
    }

    /// The number of the frame [`Frames::take`] returned last (1-based).
    pub fn count(&self) -> u64 {
        self.taken
    }

    /// An error at byte `offset` of the frame being read (the one after the last taken).
    fn error(&self, offset: usize, message: String) -> FrameError {
        FrameError { frame: self.taken + 1, offset: self.consumed + (self.at + offset) as u64, message }
    }

    /// An error about the last frame taken, `offset` bytes into its body.
    pub fn body_error(&self, body: &Range<usize>, offset: usize, message: String) -> FrameError {
        FrameError { frame: self.taken, offset: self.consumed + (body.start + offset) as u64, message }
    }
}

/// Reads little-endian numbers off a body, remembering how far it got for error offsets.
struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], (usize, String)> {
        let bytes = self.body.get(self.at..self.at + n).ok_or_else(|| {
            (self.at, format!("{what} ({n} bytes), but the frame ends after {} bytes", self.body.len()))
        })?;
        self.at += n;
        Ok(bytes)
    }
    fn u8(&mut self, what: &str) -> Result<u8, (usize, String)> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, (usize, String)> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, (usize, String)> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, (usize, String)> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn rest(&mut self) -> &'a [u8] {
        let rest = self.body.get(self.at..).unwrap_or_default();
        self.at = self.body.len();
        rest
    }
}

/// A request from the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Reset { seed: u64 },
    Call { now: Instant, call: Call, text: &'a [u8] },
    Packet { now: Instant, packet: &'a [u8] },
    Advance { to: Instant },
}

impl<'a> Request<'a> {
    /// Appends the request as a frame.
    pub fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Request::Reset { seed } => frame(out, kind::RESET, |b| b.extend_from_slice(&seed.to_le_bytes())),
            Request::Call { now, call, text } => frame(out, kind::CALL, |b| {
                b.extend_from_slice(&now.as_micros().to_le_bytes());
                b.push(call_number(call));
                b.extend_from_slice(text);
            }),
            Request::Packet { now, packet } => frame(out, kind::PACKET, |b| {
                b.extend_from_slice(&now.as_micros().to_le_bytes());
                b.extend_from_slice(packet);
            }),
            Request::Advance { to } => {
                frame(out, kind::ADVANCE, |b| b.extend_from_slice(&to.as_micros().to_le_bytes()))
            }
        }
    }

    /// A request frame's type and body; an error says what was expected, at which body offset.
    pub fn parse(kind: u8, body: &'a [u8]) -> Result<Request<'a>, (usize, String)> {
        let mut c = Cursor { body, at: 0 };
        Ok(match kind {
            kind::RESET => Request::Reset { seed: c.u64("a u64 seed")? },
            kind::CALL => {
                let now = Instant::from_micros(c.u64("a u64 time")?);
                let number = c.u8("a call number")?;
                let call = *CALLS
                    .get(usize::from(number))
                    .ok_or_else(|| (8, format!("a call number from 0 to 5 (OPEN-PASSIVE .. ABORT), not {number}")))?;
                Request::Call { now, call, text: c.rest() }
            }
            kind::PACKET => Request::Packet { now: Instant::from_micros(c.u64("a u64 time")?), packet: c.rest() },
            kind::ADVANCE => Request::Advance { to: Instant::from_micros(c.u64("a u64 time")?) },
            other => return Err((0, format!("a request type (R, C, P or A), not {}", shown(other)))),
        })
        .and_then(|request| match c.at {
            at if at == body.len() => Ok(request),
            at => Err((at, format!("the end of the request, but {} more bytes follow", body.len() - at))),
        })
    }
}

/// A frame type for a message: the letter if it is one.
pub fn shown(kind: u8) -> String {
    if kind.is_ascii_graphic() {
        format!("`{}`", kind as char)
    } else {
        format!("byte 0x{kind:02x}")
    }
}

/// A report, as the child writes it: what a request's answer says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report<'a> {
    pub state: Option<State>,
    /// Bit i: call [`CALLS`]`[i]` can be made now.
    pub calls: u8,
    pub deadline: Option<Instant>,
    /// What a RECEIVE returned.
    pub text: &'a [u8],
    pub packets: Vec<&'a [u8]>,
}

/// A report as the harness reads it: ranges into the frame's body, so reading one allocates
/// nothing once the buffers have grown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportView {
    pub state: Option<State>,
    pub calls: u8,
    pub deadline: Option<Instant>,
    pub text: Range<usize>,
    pub packets: Vec<Range<usize>>,
}

impl Report<'_> {
    pub fn write(&self, out: &mut Vec<u8>) {
        frame(out, kind::REPORT, |b| {
            b.push(self.state.map_or(255, |s| s.index() as u8));
            b.push(self.calls);
            b.extend_from_slice(&self.deadline.map_or(NONE, Instant::as_micros).to_le_bytes());
            b.extend_from_slice(&(self.text.len() as u32).to_le_bytes());
            b.extend_from_slice(self.text);
            b.extend_from_slice(&(self.packets.len() as u16).to_le_bytes());
            for p in &self.packets {
                b.extend_from_slice(&(p.len() as u16).to_le_bytes());
                b.extend_from_slice(p);
            }
        });
    }
}

impl ReportView {
    /// Reads a report body (at `base` in its buffer) into `self`, reusing its packet list.
    pub fn parse_into(&mut self, body: &[u8], base: usize) -> Result<(), (usize, String)> {
        let mut c = Cursor { body, at: 0 };
        let state = c.u8("a state number")?;
        self.state = match state {
            255 => None,
            n => Some(
                *State::ALL.get(usize::from(n)).ok_or_else(|| (0, format!("a state from 0 to 10, or 255, not {n}")))?,
            ),
        };
        self.calls = c.u8("the calls bits")?;
        if self.calls & !ALL_CALLS != 0 {
            return Err((1, format!("calls bits within 0x3f, not 0x{:02x}", self.calls)));
        }
        let deadline = c.u64("a u64 deadline")?;
        self.deadline = (deadline != NONE).then(|| Instant::from_micros(deadline));
        let len = c.u32("the text length")? as usize;
        let at = c.at;
        c.take(len, "the text")?;
        self.text = base + at..base + at + len;
        let count = c.u16("the packet count")?;
        self.packets.clear();
        for _ in 0..count {
            let len = usize::from(c.u16("a packet length")?);
            let at = c.at;
            c.take(len, "a packet")?;
            self.packets.push(base + at..base + at + len);
        }
        if c.at != body.len() {
            return Err((c.at, format!("the end of the report, but {} more bytes follow", body.len() - c.at)));
        }
        Ok(())
    }
}

/// How the child resets between runs (the hello's `reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reset {
    /// The child serves `RESET` (in place, or as a fork server).
    #[default]
    InPlace,
    /// The harness starts a new child for every run.
    Restart,
}

/// How frames travel after the hello (the hello's `transport`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// On stdin and stdout.
    #[default]
    Pipes,
    /// Through the shared-memory file the harness named in `TCPCHECK_SHM` ([`super::shm`]).
    Shared,
}

/// What a child declares about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub params: Params,
    pub ack_throttle: Option<Duration>,
    pub reset: Reset,
    pub transport: Transport,
}

impl Hello {
    /// The hello's text (the body of its frame).
    pub fn to_text(&self) -> String {
        let p = &self.params;
        let mut t = format!("{MAGIC} {VERSION}\nname {}\nclock {}\nmsl {}\n", p.name, p.clock, p.msl);
        if let Some(tw) = p.time_wait {
            t += &format!("time-wait {tw}\n");
        }
        t += &format!("rto {}\nmax-retries {}\n", p.rto, p.max_retries);
        if let Some(u) = p.user_timeout {
            t += &format!("user-timeout {u}\n");
        }
        t += &format!("window {}\nmss {}\nack-delay {}\n", p.window, p.mss, p.ack_delay);
        if p.granularity > Duration::default() {
            t += &format!("timer-granularity {}\n", p.granularity);
        }
        if let Some(th) = self.ack_throttle {
            t += &format!("ack-throttle {th}\n");
        }
        t += &format!("isn {}\nstack {}\npeer {}\n", p.isn, p.hosts.stack(), p.hosts.peer());
        if self.reset == Reset::Restart {
            t += "reset restart\n";
        }
        if self.transport == Transport::Shared {
            t += "transport shm\n";
        }
        t
    }

    /// Reads a hello's text. An error names the line and what it should have said.
    pub fn parse(text: &str) -> Result<Hello, String> {
        let mut lines = text.lines().enumerate();
        match lines.next().map(|(_, l)| l.split_once(' ').unwrap_or((l, ""))) {
            Some((MAGIC, v)) if v.trim() == VERSION.to_string() => {}
            Some((MAGIC, v)) => {
                return Err(format!(
                    "line 1: protocol version {}, but this tcpcheck speaks version {VERSION}",
                    v.trim()
                ))
            }
            _ => return Err(format!("line 1: `{MAGIC} {VERSION}`, the protocol and its version")),
        }
        let mut get = std::collections::BTreeMap::new();
        for (i, line) in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            if !key.is_empty() {
                get.insert(key.trim(), (i + 1, value.trim()));
            }
        }
        let need = |key: &str| get.get(key).copied().ok_or_else(|| format!("the required key `{key}` is missing"));
        let bad =
            |(line, value): (usize, &str), key: &str, what: String| format!("line {line}: `{key} {value}`: {what}");
        let duration = |key: &str, at: (usize, &str)| Duration::parse(at.1).map_err(|e| bad(at, key, e));
        let opt_duration = |key: &str| get.get(key).map(|&at| duration(key, at)).transpose();
        let number = |key: &str| -> Result<u64, String> {
            let at = need(key)?;
            at.1.parse::<u64>().map_err(|e| bad(at, key, format!("not a whole number ({e})")))
        };
        // The addresses when the hello names none: the in-process stacks' IPv4 ones.
        let default = Hosts::test(crate::wire::Family::V4);
        let addr = |key: &str, default: SocketAddr| -> Result<SocketAddr, String> {
            get.get(key).map_or(Ok(default), |&at| {
                at.1.parse().map_err(|_| {
                    bad(at, key, "expected an address and port, as `192.0.2.1:8080` or `[2001:db8::1]:8080`".into())
                })
            })
        };
        let (stack, peer) = (addr("stack", default.stack())?, addr("peer", default.peer())?);
        let hosts = Hosts::new(stack, peer).ok_or_else(|| {
            format!("`stack {stack}` and `peer {peer}` are of two families: a run's packets are all IPv4 or all IPv6")
        })?;
        let clock = match need("clock")? {
            (_, "virtual") => Clock::Virtual,
            (_, "real") => Clock::Real,
            at => return Err(bad(at, "clock", "expected `virtual` or `real`".into())),
        };
        let reset = match get.get("reset").copied() {
            None | Some((_, "in-place")) => Reset::InPlace,
            Some((_, "restart")) => Reset::Restart,
            Some(at) => return Err(bad(at, "reset", "expected `in-place` or `restart`".into())),
        };
        let transport = match get.get("transport").copied() {
            None | Some((_, "pipes")) => Transport::Pipes,
            Some((_, "shm")) => Transport::Shared,
            Some(at) => return Err(bad(at, "transport", "expected `pipes` or `shm`".into())),
        };
        let name = need("name")?.1;
        if name.is_empty() {
            return Err("the key `name` has no value: the stack's name and version".into());
        }
        let limit = |key: &str, n: u64, max: u64| {
            if n > max {
                Err(format!("`{key} {n}` is beyond {max}"))
            } else {
                Ok(n)
            }
        };
        let params = Params {
            name: name.to_string(),
            clock,
            hosts,
            msl: duration("msl", need("msl")?)?,
            time_wait: opt_duration("time-wait")?,
            rto: duration("rto", need("rto")?)?,
            max_retries: limit("max-retries", number("max-retries")?, u64::from(u32::MAX))? as u32,
            user_timeout: opt_duration("user-timeout")?,
            window: limit("window", number("window")?, u64::from(u32::MAX))? as u32,
            mss: limit("mss", number("mss")?, u64::from(u16::MAX))? as u16,
            ack_delay: opt_duration("ack-delay")?.unwrap_or_default(),
            granularity: opt_duration("timer-granularity")?.unwrap_or_default(),
            isn: get.get("isn").map_or("not declared", |at| at.1).to_string(),
        };
        Ok(Hello { params, ack_throttle: opt_duration("ack-throttle")?, reset, transport })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Reference;
    use crate::conform::Stack;
    use crate::model::shipped::Shipped;

    #[test]
    fn a_hello_reads_back_what_it_declares() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let cases = [
            (crate::wire::Family::V4, None, Reset::InPlace, Transport::Pipes),
            (crate::wire::Family::V6, Some(Duration::from_secs(1)), Reset::Restart, Transport::Shared),
        ];
        for (family, throttle, reset, transport) in cases {
            let stack = Reference::new(&model, 3).on(family);
            let hello = Hello { params: stack.params().clone(), ack_throttle: throttle, reset, transport };
            assert_eq!(Hello::parse(&hello.to_text()), Ok(hello));
        }
    }

    #[test]
    fn a_bad_hello_names_the_key_and_line() {
        let ok = "tcpcheck-stack 1\nname x 1\nclock virtual\nmsl 30s\nrto 1s\nmax-retries 5\nwindow 4096\nmss 536\n";
        assert!(Hello::parse(ok).is_ok());
        for (text, says) in [
            ("hello\n", "line 1: `tcpcheck-stack 1`"),
            ("tcpcheck-stack 2\n", "version 2"),
            (&ok.replace("msl 30s\n", ""), "`msl` is missing"),
            (&ok.replace("msl 30s", "msl 30"), "line 4: `msl 30`"),
            (&ok.replace("clock virtual", "clock fast"), "`virtual` or `real`"),
            (&ok.replace("mss 536", "mss 70000"), "beyond 65535"),
            (&(ok.to_string() + "stack 10.0.0.1\n"), "line 9: `stack 10.0.0.1`: expected an address and port"),
            (&(ok.to_string() + "stack [2001:db8::1]:8080\n"), "two families"),
        ] {
            let error = Hello::parse(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
        // Unknown keys are for later versions.
        assert!(Hello::parse(&(ok.to_string() + "colour blue\n")).is_ok());
    }

    #[test]
    fn requests_and_reports_round_trip() {
        let requests = [
            Request::Reset { seed: 9 },
            Request::Call { now: Instant::from_micros(5), call: Call::Send, text: b"abc" },
            Request::Call { now: Instant::ZERO, call: Call::Abort, text: b"" },
            Request::Packet { now: Instant::from_micros(7), packet: &[0x45, 0, 0, 20] },
            Request::Advance { to: Instant::from_micros(u64::MAX - 1) },
        ];
        let mut frames = Frames::default();
        let mut bytes = Vec::new();
        for r in &requests {
            r.write(&mut bytes);
        }
        frames.push(&bytes);
        for r in requests {
            let (kind, body) = frames.take().unwrap().unwrap();
            assert_eq!(Request::parse(kind, &frames.bytes()[body.clone()]), Ok(r));
        }
        assert_eq!(frames.take(), Ok(None));

        let report = Report {
            state: Some(State::TimeWait),
            calls: 0b10_0001,
            deadline: Some(Instant::from_micros(3)),
            text: b"hello",
            packets: vec![b"one", b"", b"three"],
        };
        let mut bytes = Vec::new();
        report.write(&mut bytes);
        frames.push(&bytes);
        let (kind, body) = frames.take().unwrap().unwrap();
        assert_eq!(kind, kind::REPORT);
        let mut view = ReportView::default();
        view.parse_into(&frames.bytes()[body.clone()], body.start).unwrap();
        let b = frames.bytes();
        assert_eq!((view.state, view.calls, view.deadline), (report.state, report.calls, report.deadline));
        assert_eq!(&b[view.text.clone()], report.text);
        assert_eq!(view.packets.iter().map(|r| &b[r.clone()]).collect::<Vec<_>>(), report.packets);
    }

    #[test]
    fn frames_arrive_in_pieces_and_bad_ones_are_located() {
        let mut bytes = Vec::new();
        Request::Advance { to: Instant::from_micros(1) }.write(&mut bytes);
        let mut frames = Frames::default();
        for &b in &bytes[..bytes.len() - 1] {
            frames.push(&[b]);
            assert_eq!(frames.take(), Ok(None));
        }
        frames.push(&bytes[bytes.len() - 1..]);
        assert!(frames.take().unwrap().is_some());
        // A second frame with a corrupt length: frame 2, at the byte it starts.
        frames.push(&[0xff, 0xff, 0xff, 0x7f, b'r']);
        let error = frames.take().unwrap_err();
        assert_eq!((error.frame, error.offset), (2, bytes.len() as u64));
        assert!(error.message.contains("frame length"), "{error}");
        // A report that ends early says what it was reading.
        let mut view = ReportView::default();
        let (at, message) = view.parse_into(&[4, 63, 0, 0], 0).unwrap_err();
        assert_eq!(at, 2);
        assert!(message.contains("deadline"), "{message}");
        assert!(Request::parse(b'Q', &[]).unwrap_err().1.contains("`Q`"));
    }
}
