//! From a parsed packetdrill script to what the harness runs: a [`Script`] of steps (the one
//! type `fuzz`, `replay` and `run` share) and the script's own expectations beside it.
//!
//! - Socket calls become user calls: `listen` is OPEN passive; `connect` OPEN active;
//!   `write`/`send` SEND; `read`/`recv` RECEIVE; `shutdown(SHUT_WR)` and `close` CLOSE, or ABORT
//!   after `SO_LINGER` 0. `socket`, `bind`, `accept`, `fcntl` and the `SO_REUSEADDR` option
//!   need no step: the harness's stack has one socket and one connection.
//! - `<` packets become [`Step::Packet`]s numbered from the ISNs ([`Rel::FromIsn`]), as
//!   packetdrill numbers them; `>` packets become expectations on the stack's next packet.
//! - Time passes in [`Wait::Us`] steps up to each event's time.
//!
//! What the harness cannot do is a [`Skip`] naming the construct and its place: another socket
//! or a second connection, UDP, inbound options other than NOP, MSS, SACK-permitted, window
//! scale and timestamps (SACK blocks, Fast Open, MD5), socket options it cannot set, calls expected to fail or to write partially (the
//! stack interface reports a RECEIVE's text and nothing else), and any other system call.

use super::ast::{Action, Direction, Event, Expr, Packet as PdPacket, PdScript, Syscall, TcpOption, Time};
use super::vocab;
use crate::conform::oracle::MAX_STEPS;
use crate::conform::script::{Packet, PEER_WINDOW};
use crate::conform::{Ecr, PeerOptions, Rel, Script, Step, Sysctl, UserCall, Wait};
use crate::model::{Span, State};
use crate::wire::Family;

/// A script the harness can run, with its expectations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub script: Script,
    /// The event each step comes from.
    pub step_spans: Vec<Span>,
    pub expectations: Vec<Expectation>,
    /// The sysctls the script's shell commands set ([`super::shell`]), for the stack to take
    /// before the run, and where the first of them is set.
    pub settings: Vec<Sysctl>,
    pub settings_at: Span,
    /// The family the script's `socket` call names, and where: `AF_INET6` (or `PF_INET6`) is
    /// an IPv6 script, `AF_INET` an IPv4 one; `...`, as most scripts write it, is the run's.
    pub family: Option<(Family, Span)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The event that states it.
    pub span: Span,
    pub what: Expect,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// The stack's next packet is this one.
    Packet(Outbound),
    /// The RECEIVE of this step returns this many octets (0 for end-of-file or `EAGAIN`).
    Read { step: usize, octets: usize },
    /// After this step (`None`: before any), the stack is in one of these states. With
    /// `connection`, the assertion asks the accepted connection's socket, which never
    /// listens: a stack that listens there (its listener has the port, the connection is
    /// gone) reads `TCP_CLOSE` to it.
    State { step: Option<usize>, states: Vec<State>, connection: bool },
}

/// An outbound packet as the script expects it.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbound {
    pub flags: u8,
    /// Relative to the stack's ISS.
    pub start: u32,
    pub len: u16,
    /// Relative to the peer's ISN, if written.
    pub ack: Option<u32>,
    pub window: Option<u16>,
    /// `None`: options not checked (`<...>`); else the options in order, as packetdrill checks
    /// them: the same kinds in the same order (MSS apart: the wire writes it first), the same
    /// values but for timestamps (packetdrill checks a TS val only with `--tcp_ts_tick_usecs`,
    /// and a TS ecr never). Up to the first EOL.
    pub options: Option<Vec<TcpOption>>,
    /// When it is due, in microseconds from the start: `None` for `*`; else the earliest and
    /// latest script time (equal unless a range was written).
    pub due: Option<(u64, u64)>,
    /// Microseconds since the previous event: packetdrill's `--tolerance_percent` scales it.
    pub since_last: u64,
    /// What `due` counts from, for a line whose time is relative (`None`: an absolute time).
    pub anchor: Option<Anchor>,
}

/// Where the harness was when the event before a relative `>` line ended. packetdrill counts a
/// relative line's time from the moment it finished the event before it, not from the
/// schedule (`adjust_relative_event_times` in its `run.c`): after a `>` line, from when that
/// packet came (a range's `+0~+.04 > .` ends when the ACK comes, not at `+0`); after a call
/// or a `<` packet, from when it was made, late or not. The judge moves `due` by as much as
/// the anchor's actual time differs from `at`, its time on the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// This step ended the event (a call, a `<` packet, or the wait up to its time).
    Step { step: usize, at: u64 },
    /// The event was the `>` line with this index among the script's `>` lines.
    Packet { index: u16, at: u64 },
}

impl Outbound {
    /// The packet as a script writes it: `S. 0:0(0) ack 1 win 100`.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{} {}:{}({})",
            vocab::letters(self.flags),
            self.start,
            self.start.wrapping_add(u32::from(self.len)),
            self.len
        );
        if let Some(ack) = self.ack {
            text += &format!(" ack {ack}");
        }
        if let Some(win) = self.window {
            text += &format!(" win {win}");
        }
        match &self.options {
            None => text += " <...>",
            Some(list) if list.is_empty() => {}
            Some(list) => text += &format!(" <{}>", list.iter().map(vocab::option_text).collect::<Vec<_>>().join(",")),
        }
        text
    }
}

/// Why a script is not run: the construct and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub what: String,
    pub span: Span,
}

fn skip<T>(what: impl Into<String>, span: Span) -> Result<T, Skip> {
    Err(Skip { what: what.into(), span })
}

/// The sockets the script has opened. The harness's stack has one socket, and one connection.
#[derive(Default)]
struct Sockets {
    /// The descriptor `socket` returned.
    socket: Option<i64>,
    listening: bool,
    /// The connection's descriptor: `accept`'s result, or the socket after `connect`.
    connection: Option<i64>,
    /// A connection was accepted or connected in this script.
    connected_once: bool,
    /// `SO_LINGER` with a zero timeout was set on this descriptor: `close` is ABORT.
    linger_zero: Vec<i64>,
}

/// A blocking read, played when packetdrill expects it to return: the stack interface's RECEIVE
/// never blocks, it returns what has come. packetdrill starts the call at its time and expects
/// it back at its end time (`+0...0.100`: 100 ms after the event before it), while the script's
/// next lines (most often the `<` packet it waits for) run meanwhile. So the RECEIVE is made at
/// the end time, after every line due up to then; its octet count is checked as any read's.
struct BlockedRead {
    end: u64,
    span: Span,
    octets: usize,
}

struct Planner {
    plan: Plan,
    sockets: Sockets,
    /// Script time of the previous event, and how far the steps have taken the harness.
    last: u64,
    now: u64,
    /// Where the previous event ended, for a relative `>` line after it.
    anchor: Option<Anchor>,
    /// A blocking `read` (`+0...0.100 read(...)`) waiting to be played at its end time.
    blocked: Option<BlockedRead>,
    ignore_shell: bool,
    /// The descriptor of the last system call: the socket a `%{ ... }%` block reads.
    last_fd: Option<i64>,
    /// The `>` lines so far, and the TS vals they expect with the line's number among them.
    outbound_packets: u16,
    ts_vals: Vec<(u32, u16)>,
    /// The peer's text so far, up to the highest number a `<` line carries, and what the
    /// script's reads returned of it: a `close` with text unread is an ABORT.
    received: u64,
    read: u64,
}

/// The plan for `script`, or why it cannot run. Shell commands skip the script unless
/// `ignore_shell`.
pub fn plan(script: &PdScript, ignore_shell: bool) -> Result<Plan, Skip> {
    if let Some((what, span)) = script.unsupported() {
        return skip(what, span);
    }
    let mut p = Planner {
        plan: Plan::default(),
        sockets: Sockets::default(),
        last: 0,
        now: 0,
        anchor: None,
        blocked: None,
        ignore_shell,
        last_fd: None,
        outbound_packets: 0,
        ts_vals: Vec::new(),
        received: 0,
        read: 0,
    };
    for event in &script.events {
        p.event(event)?;
    }
    p.unblock();
    if p.plan.script.steps.len() > MAX_STEPS {
        let span = p.plan.step_spans.get(MAX_STEPS).copied().unwrap_or_default();
        return skip(format!("more than {MAX_STEPS} steps (the harness runs at most {MAX_STEPS})"), span);
    }
    Ok(p.plan)
}

impl Planner {
    fn step(&mut self, step: Step, span: Span) {
        self.plan.script.steps.push(step);
        self.plan.step_spans.push(span);
    }

    fn last_step(&self) -> Option<usize> {
        self.plan.script.steps.len().checked_sub(1)
    }

    fn expect(&mut self, span: Span, what: Expect) {
        self.plan.expectations.push(Expectation { span, what });
    }

    /// Waits until script time `t`, when the next input or call is due, in steps of at most
    /// `u32::MAX` microseconds.
    fn wait_until(&mut self, t: u64, span: Span) {
        self.wait_in_steps(t, span, Wait::Us);
    }

    /// Waits until script time `t`, when a `>` line expects the stack's packet
    /// ([`Wait::UsAwaiting`]).
    fn wait_for_packet(&mut self, t: u64, span: Span) {
        self.wait_in_steps(t, span, Wait::UsAwaiting);
    }

    fn wait_in_steps(&mut self, t: u64, span: Span, wait: fn(u32) -> Wait) {
        while t > self.now {
            let d = (t - self.now).min(u64::from(u32::MAX));
            self.step(Step::Wait(wait(d as u32)), span);
            self.now += d;
        }
    }

    fn event(&mut self, event: &Event) -> Result<(), Skip> {
        let (start, end) = match event.time {
            Time::Absolute(t) => (t, t),
            Time::Relative(d) => (self.last.saturating_add(d), self.last.saturating_add(d)),
            Time::Any => (self.last, self.last),
            Time::AbsoluteRange(a, b) => (a, b),
            Time::RelativeRange(a, b) => (self.last.saturating_add(a), self.last.saturating_add(b)),
        };
        let since_last = start.saturating_sub(self.last);
        let base = self.last;
        self.last = start;
        if self.blocked.as_ref().is_some_and(|b| start > b.end) {
            self.unblock();
        }
        let relative = matches!(event.time, Time::Relative(_) | Time::RelativeRange(..));
        let anchor = if relative { self.anchor } else { None };
        let steps_before = self.plan.script.steps.len();
        let span = event.span;
        let done = match &event.action {
            Action::Packet(p) if p.direction == Direction::Outbound => {
                // The stack is given until the packet's time to send it (a `*` packet must be
                // out already).
                if event.time != Time::Any {
                    self.wait_for_packet(start, span);
                }
                let due = (event.time != Time::Any).then_some((start, end.max(start)));
                let index = self.outbound_packets;
                self.outbound(p, due, since_last, anchor, span)?;
                // A `*` line ends when its packet came, which no schedule says.
                self.anchor = (event.time != Time::Any).then_some(Anchor::Packet { index, at: start });
                return Ok(());
            }
            Action::Packet(p) => {
                self.wait_until(start, span);
                self.inbound(p)
            }
            Action::Syscall(call) => {
                // A call at the blocked read's end comes after it returns.
                if self.blocked.as_ref().is_some_and(|b| start >= b.end) {
                    self.unblock();
                }
                if self.blocked.is_some() {
                    return skip(
                        "a system call while a blocking `read` waits (the harness makes one call at a time)",
                        call.name_span,
                    );
                }
                self.wait_until(start, span);
                // A blocking call's end counts from where its start does.
                let end = call.end.map(|e| {
                    if matches!(event.time, Time::Absolute(_) | Time::AbsoluteRange(..)) {
                        e
                    } else {
                        base.saturating_add(e)
                    }
                });
                self.syscall(call, end, span)
            }
            Action::StateIs(names) => {
                self.wait_until(start, span);
                let states = names.iter().filter_map(|n| vocab::tcpi_state(n)).collect();
                let step = self.last_step();
                let connection = self.is_connection(self.last_fd);
                self.expect(span, Expect::State { step, states, connection });
                Ok(())
            }
            Action::Shell(command) => match super::shell::interpret(command) {
                Ok(settings) if settings.is_empty() => Ok(()),
                // A stack takes its settings before a run, not within one.
                Ok(_) if !self.plan.script.steps.is_empty() && self.ignore_shell => Ok(()),
                Ok(_) if !self.plan.script.steps.is_empty() => skip(
                    "a sysctl setting after the script has begun (run --ignore-shell plays the script without it)",
                    span,
                ),
                Ok(settings) => {
                    if self.plan.settings.is_empty() {
                        self.plan.settings_at = span;
                    }
                    self.plan.settings.extend(settings);
                    Ok(())
                }
                Err(_) if self.ignore_shell => Ok(()),
                Err(statement) => {
                    skip(format!("shell command `{statement}` (run --ignore-shell plays the script without it)"), span)
                }
            },
            Action::Unsupported(u) => skip(u.what.clone(), u.span),
        };
        if let Some(step) = self.last_step().filter(|&s| s >= steps_before) {
            self.anchor = Some(Anchor::Step { step, at: self.now });
        }
        done
    }

    fn inbound(&mut self, p: &PdPacket) -> Result<(), Skip> {
        let mut mss = None;
        let mut options = PeerOptions::default();
        let mut n = 0;
        let acks = p.flags & vocab::ACK != 0;
        for (option, span) in p.options.iter().flatten() {
            let kind = match option {
                // EOL ends the list; what follows it is padding.
                TcpOption::Eol => break,
                TcpOption::Mss(m) => {
                    mss = Some(*m);
                    continue;
                }
                TcpOption::Nop => 1,
                TcpOption::SackOk => 4,
                TcpOption::WScale(w) => {
                    options.wscale = *w;
                    3
                }
                TcpOption::Sack(blocks) => {
                    if blocks.is_empty() || blocks.len() > options.sack.len() {
                        return skip(format!("a SACK option with {} blocks (1 to 4 fit)", blocks.len()), *span);
                    }
                    options.sack_blocks = blocks.len() as u8;
                    options.sack[..blocks.len()].copy_from_slice(blocks);
                    5
                }
                TcpOption::Timestamp { val, ecr } => {
                    options.ts_val = *val;
                    // packetdrill maps an ACK's TS ecr onto the TS val the stack sent on the
                    // `>` line whose script TS val it is, and cannot run the script otherwise.
                    options.ts_ecr = match self.ts_vals.iter().rev().find(|(v, _)| v == ecr) {
                        _ if !acks => Ecr::Raw(*ecr),
                        Some(&(_, packet)) => Ecr::StackVal { packet, otherwise: *ecr },
                        None => {
                            return skip(
                                format!(
                                    "TS ecr {ecr} echoes no TS val of an earlier `>` line (packetdrill cannot map it)"
                                ),
                                *span,
                            )
                        }
                    };
                    8
                }
                other => {
                    return skip(
                        format!(
                        "TCP option `{}` on an inbound packet (the peer sends NOP, MSS, sackOK, wscale, TS and sack)",
                        other.name()
                    ),
                        *span,
                    )
                }
            };
            if kind != 1 && options.kinds().any(|k| k == kind) {
                return skip(format!("TCP option `{}` twice on one packet", option.name()), *span);
            }
            if n == PeerOptions::MAX {
                return skip(format!("more than {} TCP options on one packet", PeerOptions::MAX), *span);
            }
            options.kinds[n] = kind;
            n += 1;
        }
        if p.urgent.is_some_and(|u| u != 0) {
            return skip("an urgent pointer on an inbound packet (tcpcheck's segments carry none)", p.span);
        }
        // Text on a SYN (Fast Open) never reaches here: inbound `FO` options are skipped.
        if p.len > 0 {
            self.received = self.received.max(u64::from(p.start) + u64::from(p.len) - 1);
        }
        let packet = Packet {
            flags: p.flags,
            seq: Rel::FromIsn(p.start),
            ack: Rel::FromIsn(p.ack.unwrap_or(0)),
            len: p.len,
            window: p.window.unwrap_or(PEER_WINDOW),
            mss,
            options,
        };
        self.step(Step::Packet(packet), p.span);
        Ok(())
    }

    fn outbound(
        &mut self,
        p: &PdPacket,
        due: Option<(u64, u64)>,
        since_last: u64,
        anchor: Option<Anchor>,
        span: Span,
    ) -> Result<(), Skip> {
        let mut options = None;
        if let Some(list) = &p.options {
            let mut expected = Vec::new();
            for (option, at) in list {
                match option {
                    TcpOption::Eol => break,
                    TcpOption::Other(name) => {
                        return skip(format!("TCP option `{name}` on an outbound packet (it is not compared)"), *at)
                    }
                    TcpOption::Timestamp { val, .. } => self.ts_vals.push((*val, self.outbound_packets)),
                    _ => {}
                }
                expected.push(option.clone());
            }
            options = Some(expected);
        }
        self.outbound_packets = self.outbound_packets.saturating_add(1);
        let expected = Outbound {
            flags: p.flags,
            start: p.start,
            len: p.len,
            ack: p.ack,
            window: p.window,
            options,
            due,
            since_last,
            anchor,
        };
        self.expect(span, Expect::Packet(expected));
        Ok(())
    }

    /// Plays the blocking read that waits, if any, at its end time.
    fn unblock(&mut self) {
        if let Some(BlockedRead { end, span, octets }) = self.blocked.take() {
            self.wait_until(end, span);
            self.receive(octets, span);
        }
    }

    /// A RECEIVE that returns `octets`.
    fn receive(&mut self, octets: usize, span: Span) {
        self.step(Step::User(UserCall::Receive), span);
        let step = self.last_step().unwrap_or(0);
        self.expect(span, Expect::Read { step, octets });
    }

    /// `end`: a blocking call's end time on the schedule.
    fn syscall(&mut self, call: &Syscall, end: Option<u64>, span: Span) -> Result<(), Skip> {
        let name = call.name.as_str();
        let arg = |i: usize| call.args.get(i).map(|(e, _)| e);
        let fd = arg(0).and_then(Expr::int);
        let result = call.result.int();
        if name != "socket" {
            self.last_fd = fd.or(self.last_fd);
        }
        let failing = |what: &str| -> Result<(), Skip> {
            match (result, &call.errno) {
                (Some(r), _) if r < 0 => skip(
                    format!(
                        "{what} expected to fail ({}): the stack interface reports no errors",
                        call.errno.as_deref().unwrap_or("-1")
                    ),
                    call.result_span,
                ),
                _ => Ok(()),
            }
        };
        match name {
            "socket" => {
                failing("`socket`")?;
                let stream = !call
                    .args
                    .iter()
                    .any(|(e, _)| e.mentions("SOCK_DGRAM") || e.mentions("SOCK_RAW") || e.mentions("IPPROTO_UDP"));
                if !stream {
                    return skip("a socket that is not TCP", call.name_span);
                }
                let names = |w: &str| call.args.iter().any(|(e, _)| e.mentions(w));
                if names("AF_INET6") || names("PF_INET6") {
                    self.plan.family = Some((Family::V6, call.name_span));
                } else if names("AF_INET") || names("PF_INET") {
                    self.plan.family = Some((Family::V4, call.name_span));
                }
                if self.sockets.socket.is_some() || self.sockets.connected_once {
                    return skip("a second socket (the harness drives one socket and one connection)", call.name_span);
                }
                self.sockets.socket = result;
                Ok(())
            }
            "bind" | "fcntl" => failing(&format!("`{name}`")),
            "listen" => {
                failing("`listen`")?;
                self.own(fd, call.name_span)?;
                self.sockets.listening = true;
                // The listener stays open beside the connection it accepts until the script
                // closes it (most never do), as a socket's does.
                self.step(Step::User(UserCall::Serve), span);
                Ok(())
            }
            "accept" | "accept4" => {
                failing("`accept`")?;
                if self.sockets.connection.is_some() || self.sockets.connected_once {
                    return skip("a second connection (the harness drives one)", call.name_span);
                }
                self.sockets.connection = result;
                self.sockets.connected_once = true;
                Ok(())
            }
            "connect" => {
                // A nonblocking connect says EINPROGRESS, a blocking one returns once the
                // handshake is done: OPEN active either way.
                if result.is_some_and(|r| r < 0) && call.errno.as_deref() != Some("EINPROGRESS") {
                    return failing("`connect`");
                }
                self.own(fd, call.name_span)?;
                if self.sockets.listening || self.sockets.connected_once {
                    return skip("a connect on a listening or connected socket", call.name_span);
                }
                self.sockets.connection = fd;
                self.sockets.connected_once = true;
                self.step(Step::User(UserCall::Connect), span);
                Ok(())
            }
            "setsockopt" => {
                failing("`setsockopt`")?;
                let option = arg(2).and_then(Expr::word).unwrap_or("?");
                match option {
                    "SO_REUSEADDR" | "SO_REUSEPORT" => Ok(()),
                    "SO_LINGER" => {
                        let value = arg(3);
                        let on = value.and_then(|v| v.field("onoff")).and_then(Expr::int);
                        let linger = value.and_then(|v| v.field("linger")).and_then(Expr::int);
                        match (on, linger, fd) {
                            (Some(0), _, _) => Ok(()),
                            (Some(_), Some(0), Some(fd)) => {
                                self.sockets.linger_zero.push(fd);
                                Ok(())
                            }
                            _ => skip("`SO_LINGER` with a timeout other than zero", call.name_span),
                        }
                    }
                    other => skip(
                        format!("socket option `{other}` (the harness cannot set it on the stack)"),
                        call.name_span,
                    ),
                }
            }
            "getsockopt" => {
                failing("`getsockopt`")?;
                let option = arg(2).and_then(Expr::word).unwrap_or("?");
                let state = arg(3).and_then(|v| v.field("tcpi_state")).and_then(Expr::word).and_then(vocab::tcpi_state);
                match (option, state) {
                    ("TCP_INFO", Some(state)) => {
                        let step = self.last_step();
                        let connection = self.is_connection(fd);
                        self.expect(span, Expect::State { step, states: vec![state], connection });
                        Ok(())
                    }
                    _ => skip(
                        format!("`getsockopt` of `{option}` (only `TCP_INFO`'s `tcpi_state` is read)"),
                        call.name_span,
                    ),
                }
            }
            "write" | "send" | "sendto" => {
                failing(&format!("`{name}`"))?;
                self.on_connection(fd, call.name_span)?;
                if name != "write" && arg(3).and_then(Expr::int).is_none_or(|f| f != 0) {
                    return skip(format!("`{name}` with flags"), call.name_span);
                }
                let Some(len) = arg(2).and_then(Expr::int).filter(|&n| n >= 0) else {
                    return skip(format!("`{name}` without a byte count"), call.name_span);
                };
                if result != Some(len) {
                    return skip(
                        format!("a partial `{name}` (the stack interface reports no write result)"),
                        call.result_span,
                    );
                }
                let mut left = len as u64;
                if left == 0 {
                    self.step(Step::User(UserCall::Write(0)), span);
                }
                while left > 0 {
                    let n = left.min(u64::from(u16::MAX)) as u16;
                    self.step(Step::User(UserCall::Write(n)), span);
                    left -= u64::from(n);
                }
                Ok(())
            }
            "read" | "recv" | "recvfrom" => {
                self.on_connection(fd, call.name_span)?;
                if name != "read" && arg(3).and_then(Expr::int).is_none_or(|f| f != 0) {
                    return skip(format!("`{name}` with flags"), call.name_span);
                }
                let octets = match (result, call.errno.as_deref()) {
                    (Some(r), _) if r >= 0 => r as usize,
                    (Some(_), Some("EAGAIN" | "EWOULDBLOCK")) => 0,
                    _ => return failing(&format!("`{name}`")),
                };
                // RECEIVE returns all the text that has come: a read that fills a buffer
                // smaller than that asks for less than the stack interface can. (The text
                // counted is what the `<` lines carried; one returning less than its buffer
                // took all there was.)
                let come = self.received.saturating_sub(self.read);
                let full = |b: i64| b >= 0 && b as usize == octets && (b as u64) < come;
                if let Some(buffer) = arg(2).and_then(Expr::int).filter(|&b| full(b)) {
                    return skip(
                        format!(
                            "a `{name}` of {buffer} octets with {come} come and unread (the stack interface's RECEIVE returns all it has)"
                        ),
                        call.name_span,
                    );
                }
                self.read += octets as u64;
                match end {
                    Some(end) => self.blocked = Some(BlockedRead { end, span, octets }),
                    None => self.receive(octets, span),
                }
                Ok(())
            }
            "shutdown" => {
                failing("`shutdown`")?;
                self.on_connection(fd, call.name_span)?;
                match arg(1).and_then(Expr::word) {
                    Some("SHUT_WR" | "SHUT_RDWR") => {
                        self.step(Step::User(UserCall::Close), span);
                        Ok(())
                    }
                    _ => skip("`shutdown` other than `SHUT_WR`/`SHUT_RDWR`", call.name_span),
                }
            }
            "close" => {
                failing("`close`")?;
                self.close(fd, call.name_span, span)
            }
            other => skip(format!("system call `{other}`"), call.name_span),
        }
    }

    /// Whether `fd` is a connection's descriptor rather than the listener's: a connection was
    /// accepted or connected, and `fd` is not the listening socket.
    fn is_connection(&self, fd: Option<i64>) -> bool {
        let s = &self.sockets;
        let listener = s.socket.filter(|_| s.listening);
        s.connected_once && fd.is_some() && fd != listener
    }

    /// `fd` is the script's socket.
    fn own(&self, fd: Option<i64>, span: Span) -> Result<(), Skip> {
        if fd.is_some() && fd == self.sockets.socket {
            Ok(())
        } else {
            skip("a call on a descriptor `socket` did not return", span)
        }
    }

    /// A call on the connection. The harness's stack has one socket, so every descriptor
    /// names it: a call on one the script never opened is the user's call on a fresh stack
    /// (the exporter writes such calls for a run that called before opening).
    fn on_connection(&self, _fd: Option<i64>, _span: Span) -> Result<(), Skip> {
        Ok(())
    }

    /// `close`: CLOSE, or ABORT where the socket's user loses something by it: after
    /// `SO_LINGER` 0, or, on the connection, with received text unread (RFC 1122 4.2.2.13: "If
    /// such a host issues a CLOSE call while received data is still pending in TCP ... its TCP
    /// SHOULD send a RST to show that data was lost", as Linux and the BSDs do).
    fn close(&mut self, fd: Option<i64>, name_span: Span, span: Span) -> Result<(), Skip> {
        let unread = self.received > self.read;
        let s = &mut self.sockets;
        let abort = fd.is_some_and(|fd| s.linger_zero.contains(&fd)) || (unread && fd.is_some() && fd == s.connection);
        // The descriptor is free again: the next `socket` may return its number, without the
        // closed one's SO_LINGER.
        s.linger_zero.retain(|&f| Some(f) != fd);
        let call = Step::User(if abort { UserCall::Abort } else { UserCall::Close });
        if fd.is_some() && fd == s.connection {
            s.connection = None;
            if fd == s.socket {
                s.socket = None;
            }
            self.step(call, span);
            return Ok(());
        }
        if fd.is_some() && fd == s.socket {
            s.socket = None;
            let listening = std::mem::take(&mut s.listening);
            let connected_once = s.connected_once;
            // A listener's close does not touch the connection it handed out; without one it
            // ends the passive OPEN, whatever state that has reached.
            if listening {
                self.step(Step::User(UserCall::StopServing), span);
            }
            if !connected_once {
                self.step(call, span);
            }
            return Ok(());
        }
        let _ = name_span;
        self.step(call, span);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::packetdrill::parse::parse;

    fn plan_of(text: &str) -> Result<Plan, Skip> {
        plan(&parse(&Source::new("t.pkt", text)).unwrap(), false)
    }

    const PASSIVE: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
        +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
        +0 bind(3, ..., ...) = 0\n\
        +0 listen(3, 1) = 0\n\
        +0 < S 0:0(0) win 32792 <mss 1000,nop,eol>\n\
        +0 > S. 0:0(0) ack 1 <...>\n\
        +.1 < . 1:1(0) ack 1 win 257\n\
        +0 accept(3, ..., ...) = 4\n\
        +0 write(4, ..., 70000) = 70000\n\
        +0 > P. 1:1001(1000) ack 1\n\
        +0 read(4, ..., 100) = -1 EAGAIN (Resource temporarily unavailable)\n\
        +0 close(4) = 0\n\
        +0 %{ assert tcpi_state == TCP_FIN_WAIT1 }%\n";

    #[test]
    fn a_passive_open_becomes_steps_and_expectations() {
        let p = plan_of(PASSIVE).unwrap();
        let steps = &p.script.steps;
        assert_eq!(steps[0], Step::User(UserCall::Serve));
        let Step::Packet(syn) = steps[1] else { panic!("{steps:?}") };
        assert_eq!((syn.flags, syn.seq, syn.window, syn.mss), (0x02, Rel::FromIsn(0), 32792, Some(1000)));
        assert_eq!(steps[2], Step::Wait(Wait::Us(100_000)));
        assert_eq!(steps[4..6], [Step::User(UserCall::Write(65535)), Step::User(UserCall::Write(4465))]);
        assert_eq!(steps[6], Step::User(UserCall::Receive));
        assert_eq!(steps[7], Step::User(UserCall::Close));
        assert_eq!(steps.len(), 8);
        let kinds: Vec<&Expect> = p.expectations.iter().map(|e| &e.what).collect();
        assert!(
            matches!(kinds[0], Expect::Packet(o) if o.flags == 0x12 && o.options.is_none() && o.due == Some((0, 0)))
        );
        assert!(matches!(kinds[1], Expect::Packet(o) if o.len == 1000 && o.due == Some((100_000, 100_000))));
        assert_eq!(kinds[2], &Expect::Read { step: 6, octets: 0 });
        assert_eq!(kinds[3], &Expect::State { step: Some(7), states: vec![State::FinWait1], connection: true });
    }

    #[test]
    fn a_wait_for_an_outbound_line_awaits_its_packet_and_a_wait_for_an_input_ends_at_its_time() {
        // packetdrill waits for a `>` line's packet before its next line, but makes an input
        // or a call happen at its time: a real-time stack's late timer may hold up the first,
        // never the second.
        let text =
            format!("{PASSIVE}+.2 > F. 1001:1001(0) ack 1\n+.01 < . 1:1(0) ack 1002 win 257\n+.3 close(4) = 0\n");
        let p = plan_of(&text).unwrap();
        let waits: Vec<Wait> =
            p.script.steps.iter().filter_map(|s| if let Step::Wait(w) = s { Some(*w) } else { None }).collect();
        assert_eq!(waits, [Wait::Us(100_000), Wait::UsAwaiting(200_000), Wait::Us(10_000), Wait::Us(300_000)]);
    }

    #[test]
    fn what_the_harness_cannot_play_is_skipped_with_its_place() {
        let cases = [
            ("0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n", "not TCP"),
            (
                "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_TCP, TCP_NODELAY, [1], 4) = 0\n",
                "TCP_NODELAY",
            ),
            ("0 < S 0:0(0) win 100 <mss 1000,nop,nop,md5 1>\n", "`md5`"),
            ("0 < . 1:1(0) ack 1 win 100 <nop,nop,TS val 1 ecr 7>\n", "TS ecr 7"),
            (
                "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n",
                "second socket",
            ),
            ("0 poll([{fd=3, events=POLLIN}], 1, 0) = 0\n", "`poll`"),
            ("0 `echo`\n", "shell"),
        ];
        for (text, what) in cases {
            let s = plan_of(text).unwrap_err();
            assert!(s.what.contains(what), "{text}: {s:?}");
        }
        let s = plan_of(PASSIVE.replace("= 70000\n", "= 100\n").as_str()).unwrap_err();
        assert!(s.what.contains("partial"), "{s:?}");
    }

    #[test]
    fn a_closed_descriptor_forgets_its_linger() {
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
            +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n+0 close(3) = 0\n\
            +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
            +0 close(3) = 0\n";
        let steps = plan_of(text).unwrap().script.steps;
        let calls: Vec<_> = steps.iter().filter_map(|s| if let Step::User(c) = s { Some(*c) } else { None }).collect();
        assert_eq!(calls, [UserCall::Abort, UserCall::Serve, UserCall::StopServing, UserCall::Close], "{steps:?}");
    }

    #[test]
    fn a_close_with_received_text_unread_is_an_abort() {
        let calls = |reads: &str| {
            let text = format!(
                "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n\
                 +0 < S 0:0(0) win 1000\n+0 < . 1:1(0) ack 1 win 1000\n+0 accept(3, ..., ...) = 4\n\
                 +0 < P. 1:101(100) ack 1 win 1000\n{reads}+0 close(4) = 0\n"
            );
            plan_of(&text).map(|p| p.script.steps.last().copied())
        };
        assert_eq!(calls(""), Ok(Some(Step::User(UserCall::Abort))));
        assert_eq!(calls("+0 read(4, ..., 1000) = 100\n"), Ok(Some(Step::User(UserCall::Close))));
        // A read of part of what came is more than RECEIVE (it returns all it has) can ask.
        let Err(skip) = calls("+0 read(4, ..., 60) = 60\n+0 read(4, ..., 60) = 40\n") else {
            panic!("a partial read ran")
        };
        assert_eq!(
            skip.what,
            "a `read` of 60 octets with 100 come and unread (the stack interface's RECEIVE returns all it has)"
        );
    }

    #[test]
    fn linger_zero_makes_close_an_abort_and_a_listener_close_needs_no_connection() {
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
            +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
            +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n+1 close(3) = 0\n";
        let p = plan_of(text).unwrap();
        assert_eq!(
            p.script.steps,
            [Step::User(UserCall::Connect), Step::Wait(Wait::Us(1_000_000)), Step::User(UserCall::Abort)]
        );
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n+0 close(3) = 0\n";
        assert_eq!(
            plan_of(text).unwrap().script.steps,
            [Step::User(UserCall::Serve), Step::User(UserCall::StopServing), Step::User(UserCall::Close)]
        );
    }

    #[test]
    fn sysctl_settings_are_collected_before_the_run_and_other_commands_named() {
        let text = "0 `../common/defaults.sh\nsysctl -q net.ipv4.tcp_timestamps=0`\n\
            +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n";
        let p = plan_of(text).unwrap();
        assert_eq!(
            p.settings.last().map(|s| (s.name.as_str(), s.value.as_str())),
            Some(("net.ipv4.tcp_timestamps", "0"))
        );
        assert_eq!(p.settings_at.offset, 0);
        let late =
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n+0 `sysctl -q net.ipv4.tcp_ecn=1`\n";
        assert!(plan_of(late).unwrap_err().what.contains("after the script has begun"));
        let other = plan_of("0 `ethtool -K tun0 gso off`\n").unwrap_err();
        assert!(other.what.contains("shell command `ethtool -K tun0 gso off`"), "{other:?}");
        let parsed = parse(&Source::new("t.pkt", "0 `ethtool -K tun0 gso off`\n")).unwrap();
        assert_eq!(plan(&parsed, true).unwrap().settings, []);
    }

    #[test]
    fn inbound_sack_blocks_go_on_the_wire_numbered_from_the_stacks_iss() {
        use crate::adapter::Reference;
        use crate::conform::{Oracle, Record, Stack};
        use crate::wire::TcpOpt;
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n\
            +0 < S 0:0(0) win 8192 <mss 1000,sackOK,nop,nop>\n+0 > S. 0:0(0) ack 1 <...>\n\
            +0 < . 1:1(0) ack 1 win 8192 <nop,nop,sack 1001:2001 3001:4001>\n";
        let plan = plan_of(text).unwrap();
        let model = crate::model::shipped::Shipped::find("rfc9293").unwrap().load().unwrap();
        let mut stack = Reference::new(&model, 3);
        let run = Oracle::new(&model, stack.params().clone()).run(&mut stack, &plan.script, true);
        let iss = run.stack_iss.unwrap();
        let sack = run.trace.iter().rev().find_map(|r| match r {
            Record::Inbound { segment, .. } => segment.options.iter().find_map(|o| match o {
                TcpOpt::Sack(blocks) => Some(blocks.clone()),
                _ => None,
            }),
            _ => None,
        });
        assert_eq!(sack, Some(vec![(iss.add(1001), iss.add(2001)), (iss.add(3001), iss.add(4001))]));
        let five = "0 < . 1:1(0) ack 1 win 8192 <sack 1:2 3:4 5:6 7:8 9:10>\n";
        assert!(plan_of(five).unwrap_err().what.contains("5 blocks"));
    }
}
