//! The reference TCP endpoint: a sans-IO TCB that executes a [`Model`].
//!
//! There is no state machine in this file. For every event, [`classify`] turns the segment, call
//! or timeout and the TCB into the table's input and guard valuation, [`Model::fire`] picks the
//! row, and the endpoint carries out the row's actions and enters the row's target state. What
//! the endpoint adds is what a table cannot say: sequence numbers, buffers and timer deadlines.
//!
//! The API follows quinn-proto: `handle_*` for inputs, `poll_*` for outputs, time passed in.
//!
//! What it leaves out, and why: no reassembly queue (segments ahead of RCV.NXT are acknowledged
//! and dropped, as the shipped tables say), no congestion control, no persist timer, no options
//! written beyond MSS, no challenge-ACK rate limit (RFC 5961 7). None of these change the
//! connection state machine, which is what tcpcheck checks. Window scaling (RFC 7323 2) is
//! *read*: an endpoint that follows a stack which announced a shift ([`Endpoint::learn_wscale`])
//! scales the peer's windows as that stack does, so that it sends what the stack may send.

pub mod classify;

use std::collections::VecDeque;

use crate::model::{AckExpr, Action, Call, Flags, Input, Model, ReopenIsn, SendSpec, SeqExpr, Signal, State, Timer};
use crate::time::{Duration, Instant};
use crate::wire::{Control, Segment, SeqNum, TcpOpt};

pub use classify::TcbView;

/// The largest window scale (RFC 7323 2.3): a larger one is taken as 14.
pub const MAX_WSCALE: u8 = 14;

/// How initial sequence numbers are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isn {
    /// Pseudo-random from a seed (splitmix64), as RFC 6528 would have them look.
    Seeded(u64),
    /// From a clock, as RFC 9293 3.4.1 describes it: `offset + rate * seconds since the start`.
    /// Incarnations opened close together get close ISNs, which is why TIME-WAIT matters.
    Clock { offset: u32, per_second: u32 },
}

/// Parameters of one endpoint. Nothing random: the ISN comes from `isn`.
#[derive(Clone, Debug)]
pub struct Config {
    pub local_port: u16,
    /// The peer's port; a passive open learns it from the SYN.
    pub remote_port: u16,
    /// Whether an OPEN named the foreign socket (RFC 9293 3.10.2, SEND in LISTEN).
    pub foreign_known: bool,
    pub isn: Isn,
    /// Our maximum segment size, announced on SYNs.
    pub mss: u16,
    /// Receive buffer: RCV.WND is what is left of it.
    pub buffer: u32,
    /// Initial retransmission timeout; doubled on each retry (RFC 6298 5.5).
    pub rto: Duration,
    /// R2 as a count of retransmissions of one segment (RFC 9293 3.8.3).
    pub max_retries: u32,
    /// How long sent data may stay unacknowledged; `None` for never (R2 still applies).
    pub user_timeout: Option<Duration>,
    /// Overrides the model's MSL; TIME-WAIT lasts twice this.
    pub msl: Option<Duration>,
    /// The window scale our SYN announced (RFC 7323 2.2), `None` for none. The endpoint does
    /// not write the option; an oracle sets it from the SYN of the stack it follows
    /// ([`Endpoint::learn_wscale`]). With it, and a shift on the peer's SYN, windows are scaled.
    pub wscale: Option<u8>,
    /// Keep a log of transitions (off for benchmarks).
    pub log: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            local_port: 1000,
            remote_port: 2000,
            foreign_known: true,
            isn: Isn::Seeded(0),
            mss: 536,
            buffer: 4096,
            rto: Duration::from_secs(1),
            max_retries: 5,
            user_timeout: Some(Duration::from_secs(300)),
            msl: None,
            wscale: None,
            log: true,
        }
    }
}

/// Something the user is told.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    Signal(Signal),
    /// Text handed to the user by a RECEIVE.
    Data(Vec<u8>),
}

/// One fired row: when, on what, from where to where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub at: Instant,
    pub input: Input,
    pub from: State,
    pub to: State,
    /// Index of the row in the model.
    pub row: usize,
}

impl Isn {
    /// The next ISN at `now`; a seeded generator advances its state.
    fn next(&mut self, now: Instant) -> SeqNum {
        match self {
            Isn::Seeded(state) => {
                *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                SeqNum((z ^ (z >> 31)) as u32)
            }
            Isn::Clock { offset, per_second } => {
                let ticks = (u128::from(now.as_micros()) * u128::from(*per_second) / 1_000_000) as u32;
                SeqNum(offset.wrapping_add(ticks))
            }
        }
    }
}

/// The transmission control block: the numbers of RFC 9293 3.3.1 and the queues behind them.
#[derive(Clone, Debug, Default, Hash)]
struct Tcb {
    iss: SeqNum,
    irs: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    snd_wnd: u32,
    rcv_nxt: SeqNum,
    peer_mss: u16,
    /// The window scale the peer's SYN announced (RFC 7323 2.2); it applies to the windows of
    /// its later segments only if ours announced one too ([`Config::wscale`]).
    peer_wscale: Option<u8>,
    passive: bool,
    /// In TIME-WAIT: the user made a passive OPEN on this port, a listener beside the old
    /// connection (RFC 1122 4.2.2.13). It takes over once the connection is gone.
    listener: bool,
    /// Our SYN has been sent: the ISS is chosen.
    syn_sent: bool,
    fin_seq: Option<SeqNum>,
    /// A FIN is due once `unsent` drains.
    fin_pending: bool,
    /// Text SENT by the user and not yet segmentized.
    unsent: Vec<u8>,
    /// Text sent and not yet acknowledged, starting at the first unacknowledged data octet.
    flight: VecDeque<u8>,
    /// Text received and not yet RECEIVEd.
    received: Vec<u8>,
    /// Calls kept until ESTABLISHED.
    queued: Vec<Call>,
    retries: u32,
}

/// The reference endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint<'m> {
    model: &'m Model,
    cfg: Config,
    state: State,
    tcb: Tcb,
    timers: [Option<Instant>; 3],
    isn: Isn,
    /// Data of the SEND being handled, until a row sends or queues it.
    pending_send: Vec<u8>,
    /// The user call being handled, for `queue`.
    current: Option<Call>,
    remote_port: u16,
    outbox: VecDeque<Segment>,
    events: VecDeque<Event>,
    log: Vec<Transition>,
    /// Octets and FINs accepted so far: history for checkers, not state.
    accepted: u64,
    /// The user's listening socket stays open beside every connection ([`Endpoint::serve`]).
    /// Not part of the TCB: it outlives each connection, and `delete` does not touch it.
    serving: bool,
}

impl Endpoint<'_> {
    /// Feeds what determines this endpoint's future behaviour to `h`, with timer deadlines
    /// relative to `now`: two endpoints that differ only in when things happened hash alike. The
    /// model is assumed the same; the transition log and counters are history, not state.
    pub fn hash_at<H: std::hash::Hasher>(&self, now: Instant, h: &mut H) {
        use std::hash::Hash;
        self.state.hash(h);
        self.tcb.hash(h);
        for deadline in self.timers {
            deadline.map(|d| d.since(now)).hash(h);
        }
        self.isn.hash(h);
        self.remote_port.hash(h);
        self.serving.hash(h);
        self.outbox.hash(h);
        self.events.hash(h);
    }

    /// Feeds what determines this endpoint's future behaviour *up to renumbering* to `h`:
    /// [`Endpoint::hash_at`] with sequence numbers relative to the ISNs and without the ISN
    /// generator, so that two incarnations that differ only in their initial numbers (which a
    /// peer learns, and the learner's abstraction never shows) hash alike. The learner's
    /// projection of the table (`learn::projection`) tells configurations apart by it.
    pub fn hash_shape<H: std::hash::Hasher>(&self, now: Instant, h: &mut H) {
        use std::hash::Hash;
        let t = &self.tcb;
        let from_iss = |s: SeqNum| s.0.wrapping_sub(t.iss.0);
        self.state.hash(h);
        (from_iss(t.snd_una), from_iss(t.snd_nxt), t.fin_seq.map(from_iss)).hash(h);
        (t.rcv_nxt.0.wrapping_sub(t.irs.0), t.snd_wnd, t.retries, t.peer_mss, t.peer_wscale).hash(h);
        (t.passive, t.listener, t.syn_sent, t.fin_pending).hash(h);
        (&t.unsent, &t.flight, &t.received, &t.queued).hash(h);
        for deadline in self.timers {
            deadline.map(|d| d.since(now)).hash(h);
        }
        self.remote_port.hash(h);
        (self.outbox.len(), &self.events).hash(h);
    }
}

impl<'m> Endpoint<'m> {
    pub fn new(model: &'m Model, cfg: Config) -> Self {
        let isn = cfg.isn;
        let remote_port = cfg.remote_port;
        Endpoint {
            model,
            cfg,
            state: State::Closed,
            tcb: Tcb::default(),
            timers: [None; 3],
            isn,
            pending_send: Vec::new(),
            current: None,
            remote_port,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            log: Vec::new(),
            accepted: 0,
            serving: false,
        }
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn state(&self) -> State {
        self.state
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Every fired row so far (if `Config::log`).
    pub fn transitions(&self) -> &[Transition] {
        &self.log
    }

    /// How many octets and FINs this endpoint has accepted from the network, ever.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Forgets the logged transitions (a model checker reads them after each step).
    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    pub fn iss(&self) -> SeqNum {
        self.tcb.iss
    }

    pub fn irs(&self) -> SeqNum {
        self.tcb.irs
    }

    /// The receive window we advertise: what is left of the buffer.
    pub fn rcv_wnd(&self) -> u32 {
        self.cfg.buffer.saturating_sub(self.tcb.received.len() as u32)
    }

    /// SND.WND: the window the peer last advertised in an acceptable ACK.
    pub fn snd_wnd(&self) -> u32 {
        self.tcb.snd_wnd
    }

    /// Octets SENT by the user and not yet sent on the wire (the window or the state holds them).
    pub fn unsent_len(&self) -> usize {
        self.tcb.unsent.len()
    }

    /// The octet of our text numbered `seq`, if it is unacknowledged or not yet sent: what a
    /// retransmission or a window probe at `seq` must carry.
    pub fn send_octet(&self, seq: SeqNum) -> Option<u8> {
        let t = &self.tcb;
        let syn = u32::from(t.snd_una == t.iss && t.syn_sent);
        let offset = seq.offset_from(t.snd_una.add(syn))? as usize;
        match offset.checked_sub(t.flight.len()) {
            None => t.flight.get(offset).copied(),
            Some(rest) => t.unsent.get(rest).copied(),
        }
    }

    /// When `timer` is due, if it is running.
    pub fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.timers[timer as usize]
    }

    /// What the guards read from this TCB.
    pub fn view(&self) -> TcbView {
        let t = &self.tcb;
        TcbView {
            state: self.state,
            rcv_nxt: t.rcv_nxt,
            rcv_wnd: self.rcv_wnd(),
            snd_una: t.snd_una,
            snd_nxt: t.snd_nxt,
            fin_seq: t.fin_seq,
            retries_left: t.retries < self.cfg.max_retries,
            passive: t.passive,
            foreign_known: self.cfg.foreign_known,
            send_queued: t.queued.contains(&Call::Send) || !t.unsent.is_empty(),
            rcv_buffered: !t.received.is_empty(),
            listening: t.listener || self.serving,
        }
    }

    /// `A=>B on INPUT [file:line, RFC cite]` for a logged transition.
    pub fn describe(&self, t: &Transition) -> String {
        let table = self.model.table();
        let row = &table.rows[t.row];
        format!(
            "{}=>{} on {} [{}, {}]",
            t.from,
            t.to,
            t.input,
            table.row_location(row),
            row.rule.cite.qualified(table.rfc)
        )
    }

    // ---- following another stack ----------------------------------------------------------

    /// Takes `iss` as our initial sequence number, shifting everything numbered from it: an
    /// oracle following a real stack learns its ISS from its SYN. Returns the shift.
    pub fn rebase_iss(&mut self, iss: SeqNum) -> u32 {
        let t = &mut self.tcb;
        let shift = iss.0.wrapping_sub(t.iss.0);
        for n in [&mut t.iss, &mut t.snd_una, &mut t.snd_nxt] {
            *n = n.add(shift);
        }
        t.fin_seq = t.fin_seq.map(|f| f.add(shift));
        shift
    }

    /// Takes back the text sent from `from` on, as if the window had kept it unsent: an oracle
    /// following a stack whose congestion window (RFC 5681) or Nagle's algorithm held that
    /// text back. It is sent again as the window allows, behind it a pending FIN. Does nothing
    /// unless `from` lies inside the text in flight and no FIN was sent.
    pub fn hold_back(&mut self, from: SeqNum) {
        let t = &mut self.tcb;
        let Some(held) = t.snd_nxt.offset_from(from).map(|n| n as usize) else { return };
        if t.fin_seq.is_some() || held == 0 || held > t.flight.len() {
            return;
        }
        let text: Vec<u8> = t.flight.drain(t.flight.len() - held..).collect();
        t.unsent.splice(..0, text);
        t.snd_nxt = from;
    }

    /// Sends text held back ([`Endpoint::hold_back`]) up to `to`, as far as the window allows:
    /// the stack it follows sent it now, when no row of ours would have.
    pub fn release(&mut self, now: Instant, to: SeqNum) {
        let limit = to.distance_from(self.tcb.snd_nxt).max(0) as u32;
        if limit > 0 {
            self.push_upto(now, limit);
        }
    }

    /// Takes `octets` as the receive buffer RCV.WND is what is left of: an oracle learns a
    /// stack's buffer from the windows it advertises.
    pub fn set_buffer(&mut self, octets: u32) {
        self.cfg.buffer = octets;
    }

    /// Takes `shift` as the window scale our SYN announced: an oracle learns it from the SYN of
    /// the stack it follows. RFC 7323 2.3 caps a shift at 14.
    pub fn learn_wscale(&mut self, shift: Option<u8>) {
        self.cfg.wscale = shift.map(|s| s.min(MAX_WSCALE));
    }

    /// The shifts of the windows the peer advertises and of the windows we advertise: both
    /// zero unless both SYNs announced a window scale (RFC 7323 2.2). Never applied to a SYN's
    /// window.
    pub fn wscales(&self) -> (u8, u8) {
        match (self.tcb.peer_wscale, self.cfg.wscale) {
            (Some(peer), Some(ours)) => (peer, ours),
            _ => (0, 0),
        }
    }

    // ---- inputs --------------------------------------------------------------------------

    /// A user call. SEND carries no data here: use [`Endpoint::send`].
    pub fn handle_user(&mut self, now: Instant, call: Call) {
        self.current = Some(call);
        self.fire(now, Input::Call(call), None);
        self.current = None;
        self.pending_send.clear();
    }

    /// A passive OPEN while the connection is in TIME-WAIT: instead of the table's answer to
    /// OPEN-PASSIVE there (an error, the connection exists), a listener waits beside it, as a
    /// server's listening socket does beside its connections (RFC 1122 4.2.2.13). The table's
    /// `listening` guard sees it, a `reopen` row hands it a new SYN, and when the connection is
    /// deleted the endpoint listens. Returns false (and does nothing) outside TIME-WAIT.
    pub fn listen_beside(&mut self) -> bool {
        let ok = self.state == State::TimeWait;
        self.tcb.listener |= ok;
        ok
    }

    /// Whether a listener waits beside this connection ([`Endpoint::listen_beside`]).
    pub fn has_listener(&self) -> bool {
        self.tcb.listener
    }

    /// A passive OPEN by a server's listening socket, which stays open beside the connection
    /// it accepts: whenever the connection is gone (CLOSED), the listener takes the port and
    /// its passive OPEN goes through the table as if made then, so the port listens again.
    /// That is what a socket user who never closes the listener sees (most packetdrill scripts);
    /// the table itself has one TCB, so the listener lives here, beside it. The `listening`
    /// guard sees it, as it sees [`Endpoint::listen_beside`]'s.
    pub fn serve(&mut self, now: Instant) {
        self.serving = true;
        self.handle_user(now, Call::OpenPassive);
    }

    /// The listening socket of [`Endpoint::serve`] is closed. The connection it accepted goes
    /// on; if there is none (LISTEN), the port is closed: CLOSE through the table.
    pub fn stop_serving(&mut self, now: Instant) {
        self.serving = false;
        if self.state == State::Listen {
            self.handle_user(now, Call::Close);
        }
    }

    /// Whether a listening socket stays open beside the connection ([`Endpoint::serve`]).
    pub fn serving(&self) -> bool {
        self.serving
    }

    /// SEND with data.
    pub fn send(&mut self, now: Instant, data: &[u8]) {
        self.pending_send.extend_from_slice(data);
        self.handle_user(now, Call::Send);
    }

    /// A segment addressed to this endpoint.
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment) {
        self.fire(now, classify::input(seg), Some(seg));
    }

    /// Fires every timer due at `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.due(now) {
            self.timers[timer as usize] = None;
            self.fire(now, Input::Timeout(timer), None);
        }
    }

    // ---- outputs -------------------------------------------------------------------------

    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Segment> {
        self.outbox.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant a timer is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    // ---- execution -----------------------------------------------------------------------

    /// The timer due at `now` with the earliest deadline (the first of `Timer::ALL` on a tie).
    /// A plain loop: the iterator chain it replaces showed in the fuzz loop's profile.
    fn due(&self, now: Instant) -> Option<Timer> {
        let mut due: Option<(Instant, Timer)> = None;
        for &t in Timer::ALL {
            if let Some(d) = self.timers[t as usize].filter(|&d| d <= now) {
                if due.is_none_or(|(earliest, _)| d < earliest) {
                    due = Some((d, t));
                }
            }
        }
        due.map(|(_, t)| t)
    }

    fn fire(&mut self, now: Instant, input: Input, seg: Option<&Segment>) {
        let valuation = classify::valuation(&self.view(), seg);
        let model = self.model;
        // A validated model matches every case; only a timer left running where the table
        // cannot see it could miss, and then the timeout is dropped rather than invented.
        let Some((index, row)) = model.fire(self.state, input, &valuation) else { return };
        let from = self.state;
        let listener = self.tcb.listener || self.serving;
        for &action in &row.rule.actions {
            self.act(now, action, seg);
        }
        self.state = row.rule.to;
        if self.cfg.log {
            self.log.push(Transition { at: now, input, from, to: row.rule.to, row: index });
        }
        // Calls queued "for processing after entering ESTABLISHED" (RFC 9293 3.10.2-3.10.4) run
        // once the handshake completes, also when the segment that completes it carries the
        // peer's FIN and the row lands in CLOSE-WAIT: the connection passed through ESTABLISHED
        // within that segment. Their rows start the RTO for the text `accept-ack` just flushed.
        let established = !from.has_rcv_nxt() || from == State::SynReceived;
        if established && matches!(self.state, State::Established | State::CloseWait) {
            for call in std::mem::take(&mut self.tcb.queued) {
                self.handle_user(now, call);
            }
        }
        // The listener beside a connection that is now gone takes the port: its passive OPEN
        // goes through the table as if made now. Only when a connection went: an input to a
        // closed port (or a table whose passive OPEN stays CLOSED) does not open it again.
        if listener && self.state == State::Closed && from != State::Closed {
            self.handle_user(now, Call::OpenPassive);
        }
    }

    fn act(&mut self, now: Instant, action: Action, seg: Option<&Segment>) {
        match action {
            Action::Send(spec) => self.send_spec(now, spec, seg),
            Action::ChallengeAck => {
                let out = self.segment(Control::NONE, self.tcb.snd_nxt, Some(self.tcb.rcv_nxt), Vec::new(), seg);
                self.outbox.push_back(out);
            }
            Action::Retransmit => self.retransmit(),
            Action::Start(t) => {
                // RTO and USER time what is outstanding (RFC 6298 5.1, RFC 9293 3.8.3): with
                // nothing in flight (an empty SEND, a closed window) they do not start.
                let idle = matches!(t, Timer::Rto | Timer::User) && self.tcb.snd_una == self.tcb.snd_nxt;
                let never = t == Timer::User && self.cfg.user_timeout.is_none();
                if self.timers[t as usize].is_none() && !idle && !never {
                    self.timers[t as usize] = Some(now.after(self.timer_length(t)));
                }
            }
            Action::Restart(t) if t == Timer::User && self.cfg.user_timeout.is_none() => {}
            Action::Restart(t) => self.timers[t as usize] = Some(now.after(self.timer_length(t))),
            Action::Stop(t) => self.timers[t as usize] = None,
            Action::AcceptSyn => {
                if let Some(seg) = seg {
                    self.tcb.irs = seg.seq;
                    self.tcb.rcv_nxt = seg.seq.add(1);
                    self.tcb.snd_wnd = u32::from(seg.window);
                    self.tcb.peer_mss = seg.mss.unwrap_or(536);
                    self.tcb.peer_wscale = seg.options.iter().find_map(|o| match o {
                        TcpOpt::WindowScale(s) => Some((*s).min(MAX_WSCALE)),
                        _ => None,
                    });
                    self.remote_port = seg.src_port;
                }
            }
            Action::AcceptAck => {
                if let Some(seg) = seg {
                    self.accept_ack(now, seg);
                }
            }
            Action::Deliver => {
                if let Some(seg) = seg {
                    self.deliver(seg);
                }
            }
            Action::AcceptFin => {
                // Only a FIN that is next in sequence moves RCV.NXT; one behind text trimmed by
                // the window waits for its retransmission.
                if let Some(seg) = seg {
                    let syn = u32::from(seg.ctl.contains(Control::SYN));
                    let fin_at = seg.seq.add(syn).add(seg.payload.len() as u32);
                    if fin_at == self.tcb.rcv_nxt {
                        self.tcb.rcv_nxt = self.tcb.rcv_nxt.add(1);
                        self.accepted += 1;
                    }
                }
            }
            Action::Queue => {
                self.tcb.unsent.append(&mut self.pending_send);
                if let Some(call) = self.current {
                    self.tcb.queued.push(call);
                }
            }
            Action::Read => {
                if !self.tcb.received.is_empty() {
                    self.events.push_back(Event::Data(std::mem::take(&mut self.tcb.received)));
                }
            }
            Action::Signal(s) => self.events.push_back(Event::Signal(s)),
            Action::Flush => {
                let passive = self.tcb.passive;
                self.tcb = Tcb { passive, ..Tcb::default() };
                self.timers = [None; 3];
                self.remote_port = self.cfg.remote_port;
            }
            Action::Delete => {
                self.tcb = Tcb::default();
                self.timers = [None; 3];
            }
            Action::Reopen(rule) => {
                // The old connection is forgotten; the listener beside it takes the SYN, so the
                // new one is passive. Its ISS is chosen here unless the ISN clock picks it when
                // the SYN|ACK goes out (`send_spec`).
                let (old_iss, old_nxt) = (self.tcb.iss, self.tcb.snd_nxt);
                self.tcb = Tcb { passive: true, ..Tcb::default() };
                self.timers = [None; 3];
                self.remote_port = self.cfg.remote_port;
                let iss = match rule {
                    ReopenIsn::Clock => None,
                    ReopenIsn::AboveOld => Some(old_nxt),
                    ReopenIsn::Same => Some(old_iss),
                };
                if let Some(iss) = iss {
                    (self.tcb.iss, self.tcb.snd_una, self.tcb.snd_nxt) = (iss, iss, iss.add(1));
                    self.tcb.syn_sent = true;
                }
            }
        }
    }

    fn timer_length(&self, timer: Timer) -> Duration {
        match timer {
            Timer::Rto => self.cfg.rto.times(1 << self.tcb.retries.min(6)),
            Timer::TwoMsl => self.cfg.msl.unwrap_or(self.model.table().msl).times(2),
            Timer::User => self.cfg.user_timeout.unwrap_or_default(),
        }
    }

    fn send_spec(&mut self, now: Instant, spec: SendSpec, seg: Option<&Segment>) {
        let ctl = spec.ctl;
        let ack = spec.ack.map(|rule| match rule {
            AckExpr::RcvNxt => self.tcb.rcv_nxt,
            AckExpr::SegEnd => seg.map_or(self.tcb.rcv_nxt, Segment::end),
        });
        if ctl.contains(Flags::SYN) {
            // The first SYN of a connection picks the ISS; a SYN|ACK after our SYN (simultaneous
            // open) repeats it. A first SYN that acknowledges the peer's answers a SYN: passive.
            if !self.tcb.syn_sent {
                self.tcb.iss = self.isn.next(now);
                self.tcb.snd_una = self.tcb.iss;
                self.tcb.snd_nxt = self.tcb.iss.add(1);
                self.tcb.passive = ack.is_some();
                self.tcb.syn_sent = true;
            }
            let syn = self.segment(Control::SYN, self.tcb.iss, ack, Vec::new(), seg);
            self.outbox.push_back(Segment { mss: Some(self.cfg.mss), ..syn });
            return;
        }
        if ctl.contains(Flags::DATA) || ctl.contains(Flags::FIN) {
            self.tcb.unsent.append(&mut self.pending_send);
            self.tcb.fin_pending |= ctl.contains(Flags::FIN);
            self.push(now);
            return;
        }
        let seq = match spec.seq {
            SeqExpr::Iss => self.tcb.iss,
            SeqExpr::SndNxt => self.tcb.snd_nxt,
            SeqExpr::SegAck => seg.and_then(|s| s.ack).unwrap_or_default(),
            SeqExpr::Zero => SeqNum(0),
        };
        let bits = if ctl.contains(Flags::RST) { Control::RST } else { Control::NONE };
        let out = self.segment(bits, seq, ack, Vec::new(), seg);
        self.outbox.push_back(out);
    }

    /// Sends queued text as far as the peer's window allows, then a pending FIN (RFC 9293
    /// 3.10.4: the FIN follows all preceding SENDs).
    fn push(&mut self, now: Instant) {
        self.push_upto(now, u32::MAX);
    }

    /// [`Endpoint::push`], sending at most `limit` octets of text.
    fn push_upto(&mut self, now: Instant, mut limit: u32) {
        let mss = u32::from(self.tcb.peer_mss.max(1)).min(u32::from(self.cfg.mss.max(1)));
        let mut sent = false;
        loop {
            let t = &mut self.tcb;
            let in_flight = t.snd_nxt.distance_from(t.snd_una).max(0) as u32;
            let room = t.snd_wnd.saturating_sub(in_flight);
            let n = (t.unsent.len() as u32).min(room).min(mss).min(limit) as usize;
            limit -= n as u32;
            if n == 0 {
                break;
            }
            // Copies of slices, not byte iterators: this runs for every data segment.
            let chunk = t.unsent[..n].to_vec();
            t.unsent.drain(..n);
            t.flight.extend(&chunk);
            let seq = t.snd_nxt;
            t.snd_nxt = seq.add(n as u32);
            let out = self.segment(Control::PSH, seq, Some(self.tcb.rcv_nxt), chunk, None);
            self.outbox.push_back(out);
            sent = true;
        }
        if self.tcb.fin_pending && self.tcb.unsent.is_empty() {
            let seq = self.tcb.snd_nxt;
            self.tcb.fin_pending = false;
            self.tcb.fin_seq = Some(seq);
            self.tcb.snd_nxt = seq.add(1);
            let out = self.segment(Control::FIN, seq, Some(self.tcb.rcv_nxt), Vec::new(), None);
            self.outbox.push_back(out);
            sent = true;
        }
        if sent && self.timers[Timer::Rto as usize].is_none() {
            self.timers[Timer::Rto as usize] = Some(now.after(self.timer_length(Timer::Rto)));
        }
    }

    /// SND.UNA and SND.WND from an acceptable ACK (RFC 9293 3.10.7.4, fifth check); stops the
    /// retransmission and user timers once nothing is outstanding (RFC 6298 5.2).
    fn accept_ack(&mut self, now: Instant, seg: &Segment) {
        let Some(ack) = seg.ack else { return };
        let t = &mut self.tcb;
        let d = ack.distance_from(t.snd_una);
        let in_flight = t.snd_nxt.distance_from(t.snd_una);
        if d < 0 || d > in_flight {
            return;
        }
        // RFC 7323 2.2: a SYN's window is never scaled.
        let shift = if seg.ctl.contains(Control::SYN) { 0 } else { self.wscales().0 };
        let t = &mut self.tcb;
        t.snd_wnd = u32::from(seg.window) << shift;
        if d > 0 {
            let syn = u32::from(t.snd_una == t.iss);
            let data = ((d as u32).saturating_sub(syn) as usize).min(t.flight.len());
            t.flight.drain(..data);
            t.snd_una = ack;
            t.retries = 0;
            if t.snd_una == t.snd_nxt {
                self.timers[Timer::Rto as usize] = None;
                self.timers[Timer::User as usize] = None;
            } else {
                self.timers[Timer::Rto as usize] = Some(now.after(self.timer_length(Timer::Rto)));
            }
        }
        self.push(now);
    }

    /// Takes the segment's new text, trimmed to RCV.NXT and to the receive window.
    fn deliver(&mut self, seg: &Segment) {
        let syn = u32::from(seg.ctl.contains(Control::SYN));
        let Some(skip) = self.tcb.rcv_nxt.offset_from(seg.seq.add(syn)) else { return };
        let skip = skip as usize;
        if skip >= seg.payload.len() {
            return;
        }
        let take = (seg.payload.len() - skip).min(self.rcv_wnd() as usize);
        self.tcb.received.extend_from_slice(&seg.payload[skip..skip + take]);
        self.tcb.rcv_nxt = self.tcb.rcv_nxt.add(take as u32);
        self.accepted += take as u64;
    }

    /// Resends the oldest unacknowledged segment (RFC 9293 3.10.8): the SYN, text, or the FIN.
    fn retransmit(&mut self) {
        let t = &self.tcb;
        let out = if t.snd_una == t.iss && matches!(self.state, State::SynSent | State::SynReceived) {
            let ack = self.state.has_rcv_nxt().then_some(t.rcv_nxt);
            Some(Segment { mss: Some(self.cfg.mss), ..self.segment(Control::SYN, t.iss, ack, Vec::new(), None) })
        } else if !t.flight.is_empty() {
            let mss = usize::from(t.peer_mss.max(1)).min(usize::from(self.cfg.mss.max(1)));
            let (front, back) = t.flight.as_slices();
            let mut text = front[..mss.min(front.len())].to_vec();
            text.extend_from_slice(&back[..(mss - text.len()).min(back.len())]);
            Some(self.segment(Control::PSH, t.snd_una, Some(t.rcv_nxt), text, None))
        } else if t.fin_seq == Some(t.snd_una) {
            Some(self.segment(Control::FIN, t.snd_una, Some(t.rcv_nxt), Vec::new(), None))
        } else {
            None
        };
        self.outbox.extend(out);
        // R2 only asks whether the count reached the limit: saturate there, so a table without
        // R2 (RFC 793) retransmits forever with a bounded backoff instead of counting forever.
        self.tcb.retries = (self.tcb.retries + 1).min(self.cfg.max_retries.max(1));
    }

    /// A segment from us: to the sender of `reply_to` if answering one, else to our peer.
    fn segment(
        &self,
        ctl: Control,
        seq: SeqNum,
        ack: Option<SeqNum>,
        payload: Vec<u8>,
        reply_to: Option<&Segment>,
    ) -> Segment {
        let (src_port, dst_port) = match reply_to {
            Some(s) => (s.dst_port, s.src_port),
            None => (self.cfg.local_port, self.remote_port),
        };
        let shift = if ctl.contains(Control::SYN) { 0 } else { self.wscales().1 };
        let window = (self.rcv_wnd() >> shift).min(u32::from(u16::MAX)) as u16;
        Segment { src_port, dst_port, seq, ack, ctl, window, mss: None, options: Vec::new(), payload }
    }
}

// ---- packing -------------------------------------------------------------------------------

/// A lossless byte packing of what changes in an endpoint as it runs, for a model checker that
/// stores compact states and restores them into one reusable endpoint. Packed are exactly the
/// fields [`Endpoint::hash_at`] feeds, times relative to `now`; not packed are the model and the
/// configuration (the same for every state of a search), history (the log, `accepted`), and a
/// call's transient fields (`pending_send`, `current`), empty between events. The destructuring
/// below names every field, so a field added to the endpoint fails to compile here until it is
/// packed or declared history.
pub mod pack {
    use std::collections::VecDeque;

    use super::{Endpoint, Event, Isn, Tcb};
    use crate::model::{Call, Signal, State};
    use crate::time::Instant;
    use crate::wire::{Control, Segment, SeqNum};

    /// LEB128: small numbers (times, lengths, counters) in few bytes, each handed to `push`.
    #[inline(always)]
    fn leb128(mut v: u64, mut push: impl FnMut(u8)) {
        while v >= 0x80 {
            push(v as u8 | 0x80);
            v >>= 7;
        }
        push(v as u8);
    }

    /// [`leb128`] onto a list.
    #[inline]
    pub fn varint(out: &mut Vec<u8>, v: u64) {
        leb128(v, |b| out.push(b));
    }

    /// A header of at most `N` bytes built on the stack and appended with one copy: a
    /// `Vec::push` a byte checks the capacity each time, and the model checker packs every
    /// new state. `N` is chosen by each user to hold the most its header can take.
    struct Head<const N: usize> {
        bytes: [u8; N],
        len: usize,
    }

    impl<const N: usize> Head<N> {
        #[inline(always)]
        fn new() -> Self {
            Head { bytes: [0; N], len: 0 }
        }

        #[inline(always)]
        fn push(&mut self, b: u8) {
            self.bytes[self.len] = b;
            self.len += 1;
        }

        /// [`leb128`] into the header.
        #[inline(always)]
        fn varint(&mut self, v: u64) {
            leb128(v, |b| self.push(b));
        }

        /// A time relative to `now`, exactly (wrapping, so even a time before `now` round-trips).
        #[inline(always)]
        fn time(&mut self, now: Instant, t: Option<Instant>) {
            match t {
                None => self.push(0),
                Some(t) => {
                    self.push(1);
                    self.varint(t.as_micros().wrapping_sub(now.as_micros()));
                }
            }
        }

        /// Appends the header: all `N` bytes and then a truncation, a copy of a constant size
        /// that compiles to a few moves where a copy of `len` bytes is a call to `memmove`.
        #[inline(always)]
        fn append_to(&self, out: &mut Vec<u8>) {
            let end = out.len() + self.len;
            out.extend_from_slice(&self.bytes);
            out.truncate(end);
        }
    }

    #[inline]
    pub fn bytes(out: &mut Vec<u8>, v: impl ExactSizeIterator<Item = u8>) {
        varint(out, v.len() as u64);
        out.extend(v);
    }

    #[inline(always)]
    pub fn take_u8(input: &mut &[u8]) -> Option<u8> {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        Some(b)
    }

    #[inline(always)]
    pub fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if input.len() < n {
            return None;
        }
        let (head, rest) = input.split_at(n);
        *input = rest;
        Some(head)
    }

    /// Always inlined: the one-byte case is nearly every call, and a call costs more than it.
    #[inline(always)]
    pub fn take_varint(input: &mut &[u8]) -> Option<u64> {
        let (&first, rest) = input.split_first()?;
        *input = rest;
        if first < 0x80 {
            return Some(u64::from(first));
        }
        let mut v = u64::from(first & 0x7f);
        let mut shift = 7;
        while shift < 64 {
            let b = take_u8(input)?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
        None
    }

    /// `VecDeque::clear` walks even an empty queue to drop its elements; most are empty here.
    #[inline]
    fn clear<T>(q: &mut VecDeque<T>) {
        if !q.is_empty() {
            q.clear();
        }
    }

    #[inline(always)]
    pub fn take_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
        let n = usize::try_from(take_varint(input)?).ok()?;
        take(input, n)
    }

    #[inline(always)]
    pub fn take_time(input: &mut &[u8], now: Instant) -> Option<Option<Instant>> {
        match take_u8(input)? {
            0 => Some(None),
            1 => Some(Some(Instant::from_micros(now.as_micros().wrapping_add(take_varint(input)?)))),
            _ => None,
        }
    }

    /// Reads a fixed-size header.
    #[inline]
    pub fn take_array<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
        take(input, N)?.try_into().ok()
    }

    /// A segment: a 10-byte header, its sequence and acknowledgment numbers as varints (small
    /// in the model checker's worlds), then the payload's length and octets.
    #[inline]
    pub fn segment(out: &mut Vec<u8>, s: &Segment) {
        // The endpoint sends no other options and reads none, so they are not part of its state.
        let Segment { src_port, dst_port, seq, ack, ctl, window, mss, options: _, payload } = s;
        // 10 bytes, two 32-bit varints (5 each) and a 64-bit one (10).
        let mut h = Head::<30>::new();
        h.push(u8::from(ack.is_some()) | u8::from(mss.is_some()) << 1);
        h.push(ctl.bits());
        for v in [*src_port, *dst_port, *window, mss.unwrap_or(0)] {
            let [low, high] = v.to_le_bytes();
            h.push(low);
            h.push(high);
        }
        h.varint(u64::from(seq.0));
        if let Some(ack) = ack {
            h.varint(u64::from(ack.0));
        }
        h.varint(payload.len() as u64);
        h.append_to(out);
        out.extend_from_slice(payload);
    }

    /// Restores a segment packed by [`segment`] into `s`, reusing its payload's buffer.
    #[inline]
    pub fn take_segment(input: &mut &[u8], s: &mut Segment) -> Option<()> {
        let h: [u8; 10] = take_array(input)?;
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        #[inline(always)]
        fn seq_number(input: &mut &[u8]) -> Option<SeqNum> {
            Some(SeqNum(u32::try_from(take_varint(input)?).ok()?))
        }
        s.ctl = Control::from_bits(h[1]);
        s.src_port = u16_at(2);
        s.dst_port = u16_at(4);
        s.window = u16_at(6);
        s.mss = (h[0] & 2 != 0).then(|| u16_at(8));
        s.seq = seq_number(input)?;
        s.ack = if h[0] & 1 != 0 { Some(seq_number(input)?) } else { None };
        s.options.clear();
        s.payload.clear();
        s.payload.extend_from_slice(take_bytes(input)?);
        Some(())
    }

    #[inline]
    fn enum_at<T: Copy>(all: &[T], input: &mut &[u8]) -> Option<T> {
        all.get(usize::from(take_u8(input)?)).copied()
    }

    impl Endpoint<'_> {
        /// Appends this endpoint's changing fields to `out`, times relative to `now`.
        pub fn pack(&self, now: Instant, out: &mut Vec<u8>) {
            let Endpoint {
                model: _,
                cfg: _,
                state,
                tcb,
                timers,
                isn,
                pending_send: _,
                current: _,
                remote_port,
                outbox,
                events,
                log: _,
                accepted: _,
                serving,
            } = self;
            let Tcb {
                iss,
                irs,
                snd_una,
                snd_nxt,
                snd_wnd,
                rcv_nxt,
                peer_mss,
                peer_wscale,
                passive,
                listener,
                syn_sent,
                fin_seq,
                fin_pending,
                unsent,
                flight,
                received,
                queued,
                retries,
            } = tcb;
            // A header of varints (sequence numbers relative to the ISNs, so small: the
            // frontier of the model checker holds millions of these), then the timers and the
            // queues.
            let (clock, isn) = match isn {
                Isn::Seeded(seed) => (false, *seed),
                Isn::Clock { offset, per_second } => (true, u64::from(*offset) | u64::from(*per_second) << 32),
            };
            // 2 bytes, 10 varints of at most 32 bits (5 bytes each) and one of 64 (10), the
            // window scale, 3 timers (a byte and a 64-bit varint each).
            let mut h = Head::<96>::new();
            h.push(*state as u8);
            h.push(
                u8::from(*passive)
                    | u8::from(*syn_sent) << 1
                    | u8::from(*fin_pending) << 2
                    | u8::from(fin_seq.is_some()) << 3
                    | u8::from(clock) << 4
                    | u8::from(*listener) << 5
                    | u8::from(*serving) << 6
                    | u8::from(peer_wscale.is_some()) << 7,
            );
            let from_iss = |s: SeqNum| u64::from(s.0.wrapping_sub(iss.0));
            for v in [
                u64::from(iss.0),
                u64::from(irs.0),
                from_iss(*snd_una),
                from_iss(*snd_nxt),
                u64::from(rcv_nxt.0.wrapping_sub(irs.0)),
                u64::from(*snd_wnd),
                fin_seq.map_or(0, from_iss),
                u64::from(*retries),
                u64::from(*peer_mss),
                u64::from(*remote_port),
                isn,
            ] {
                h.varint(v);
            }
            // Only a peer that announced a window scale costs a byte: the model checker's never do.
            if let Some(shift) = peer_wscale {
                h.push(*shift);
            }
            for t in timers {
                h.time(now, *t);
            }
            h.append_to(out);
            varint(out, unsent.len() as u64);
            out.extend_from_slice(unsent);
            let (front, back) = flight.as_slices();
            varint(out, flight.len() as u64);
            out.extend_from_slice(front);
            out.extend_from_slice(back);
            varint(out, received.len() as u64);
            out.extend_from_slice(received);
            bytes(out, queued.iter().map(|&c| c as u8));
            varint(out, outbox.len() as u64);
            for s in outbox {
                segment(out, s);
            }
            varint(out, events.len() as u64);
            for e in events {
                match e {
                    Event::Signal(s) => out.extend_from_slice(&[0, *s as u8]),
                    Event::Data(d) => {
                        out.push(1);
                        bytes(out, d.iter().copied());
                    }
                }
            }
        }

        /// Makes this endpoint a copy of `from`, reusing this endpoint's buffers: `clone_from`
        /// without allocations once the buffers have grown (the derived `Clone` has none).
        pub fn assign(&mut self, from: &Self) {
            let Endpoint {
                model,
                cfg,
                state,
                tcb,
                timers,
                isn,
                pending_send,
                current,
                remote_port,
                outbox,
                events,
                log,
                accepted,
                serving,
            } = from;
            let Tcb {
                iss,
                irs,
                snd_una,
                snd_nxt,
                snd_wnd,
                rcv_nxt,
                peer_mss,
                peer_wscale,
                passive,
                listener,
                syn_sent,
                fin_seq,
                fin_pending,
                unsent,
                flight,
                received,
                queued,
                retries,
            } = tcb;
            let t = &mut self.tcb;
            t.peer_wscale = *peer_wscale;
            t.listener = *listener;
            (t.iss, t.irs, t.snd_una, t.snd_nxt, t.snd_wnd, t.rcv_nxt) =
                (*iss, *irs, *snd_una, *snd_nxt, *snd_wnd, *rcv_nxt);
            (t.peer_mss, t.passive, t.syn_sent, t.fin_seq, t.fin_pending) =
                (*peer_mss, *passive, *syn_sent, *fin_seq, *fin_pending);
            fn copy<T: Clone>(to: &mut VecDeque<T>, from: &VecDeque<T>) {
                if from.is_empty() {
                    clear(to);
                } else {
                    to.clone_from(from);
                }
            }
            // `Vec::clone_from` is a call even for the empty lists most of these are.
            fn copy_vec<T: Clone>(to: &mut Vec<T>, from: &Vec<T>) {
                if from.is_empty() {
                    to.clear();
                } else {
                    to.clone_from(from);
                }
            }
            copy_vec(&mut t.unsent, unsent);
            copy(&mut t.flight, flight);
            copy_vec(&mut t.received, received);
            copy_vec(&mut t.queued, queued);
            t.retries = *retries;
            self.model = model;
            self.cfg.clone_from(cfg);
            (self.state, self.timers, self.isn, self.current, self.remote_port) =
                (*state, *timers, *isn, *current, *remote_port);
            copy_vec(&mut self.pending_send, pending_send);
            copy(&mut self.outbox, outbox);
            copy(&mut self.events, events);
            copy_vec(&mut self.log, log);
            self.accepted = *accepted;
            self.serving = *serving;
        }

        /// Restores what [`Endpoint::pack`] wrote (for an endpoint of the same model and
        /// configuration), reusing this endpoint's buffers; `None` if `input` is not such a
        /// packing. History (the log, `accepted`) is left as it is.
        pub fn unpack(&mut self, now: Instant, input: &mut &[u8]) -> Option<()> {
            let state = take_u8(input)?;
            let bits = take_u8(input)?;
            let mut v = [0u64; 11];
            for x in &mut v {
                *x = take_varint(input)?;
            }
            let u32_of = |x: u64| u32::try_from(x).ok();
            let [iss, irs, snd_una, snd_nxt, rcv_nxt, snd_wnd, fin_seq, retries, peer_mss, remote_port, isn] = v;
            let (iss, irs) = (u32_of(iss)?, u32_of(irs)?);
            let from_iss = |x: u64| Some(SeqNum(u32_of(x)?.wrapping_add(iss)));
            self.state = *State::ALL.get(usize::from(state))?;
            let t = &mut self.tcb;
            (t.passive, t.syn_sent, t.fin_pending) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
            t.listener = bits & 32 != 0;
            self.serving = bits & 64 != 0;
            (t.iss, t.irs, t.snd_una, t.snd_nxt, t.rcv_nxt) = (
                SeqNum(iss),
                SeqNum(irs),
                from_iss(snd_una)?,
                from_iss(snd_nxt)?,
                SeqNum(u32_of(rcv_nxt)?.wrapping_add(irs)),
            );
            t.snd_wnd = u32_of(snd_wnd)?;
            t.fin_seq = if bits & 8 != 0 { Some(from_iss(fin_seq)?) } else { None };
            t.retries = u32_of(retries)?;
            t.peer_mss = u16::try_from(peer_mss).ok()?;
            self.remote_port = u16::try_from(remote_port).ok()?;
            self.tcb.peer_wscale = if bits & 128 != 0 { Some(take_u8(input)?) } else { None };
            self.isn = if bits & 16 != 0 {
                Isn::Clock { offset: isn as u32, per_second: (isn >> 32) as u32 }
            } else {
                Isn::Seeded(isn)
            };
            for timer in &mut self.timers {
                *timer = take_time(input, now)?;
            }
            let t = &mut self.tcb;
            t.unsent.clear();
            t.unsent.extend_from_slice(take_bytes(input)?);
            clear(&mut t.flight);
            let flight = take_bytes(input)?;
            if !flight.is_empty() {
                t.flight.extend(flight.iter().copied());
            }
            t.received.clear();
            t.received.extend_from_slice(take_bytes(input)?);
            t.queued.clear();
            for &c in take_bytes(input)? {
                t.queued.push(*Call::ALL.get(usize::from(c))?);
            }
            clear(&mut self.outbox);
            for _ in 0..take_varint(input)? {
                let mut s = Segment::default();
                take_segment(input, &mut s)?;
                self.outbox.push_back(s);
            }
            clear(&mut self.events);
            for _ in 0..take_varint(input)? {
                let event = match take_u8(input)? {
                    0 => Event::Signal(enum_at(Signal::ALL, input)?),
                    1 => Event::Data(take_bytes(input)?.to_vec()),
                    _ => return None,
                };
                self.events.push_back(event);
            }
            self.pending_send.clear();
            self.current = None;
            Some(())
        }
    }
}
