//! The world the checker explores: two reference endpoints executing the table, a network that
//! loses, duplicates and (optionally) reorders segments and ages them, a discrete clock, and the
//! users' workload. Successors are generated in a fixed order, so a path is replayable from the
//! indices of the actions taken.

use std::hash::{Hash, Hasher};

use crate::endpoint::{Config, Endpoint, Isn, Transition};
use crate::model::{Call, Flags, Input, Model, State};
use crate::simulate::{Ends, Entry, Side};
use crate::time::{Duration, Instant};
use crate::wire::Segment;

/// One tick of the discrete clock.
pub const TICK: Duration = Duration::from_secs(1);

/// What the users do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// B listens, A opens; A sends, then closes; B closes once it has A's FIN.
    OpenClose,
    /// Both open actively at the same instant (the world starts with both SYNs sent), then
    /// both close once ESTABLISHED. One incarnation.
    Simultaneous,
}

/// The bounds of an exploration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounds {
    pub workload: Workload,
    /// Segments the network may lose in a run.
    pub loss: u8,
    /// Segments the network may duplicate in a run.
    pub dup: u8,
    /// Deliver any segment in flight, not only the oldest of each direction.
    pub reorder: bool,
    /// Connections each user opens in turn on the same 4-tuple.
    pub incarnations: u8,
    /// Maximum segment lifetime in ticks: copies made by the network may live this long.
    /// TIME-WAIT lasts twice this.
    pub msl: u8,
    /// The network delivers an original segment within this many ticks (or loses it).
    pub delay: u8,
    /// Bytes each side sends per connection.
    pub data: u8,
    /// R2: retransmissions of one segment before giving up.
    pub retries: u8,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            workload: Workload::OpenClose,
            loss: 1,
            dup: 0,
            reorder: false,
            incarnations: 1,
            msl: 2,
            delay: 1,
            data: 1,
            retries: 2,
        }
    }
}

/// A segment in the network.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    pub to: Side,
    pub segment: Segment,
    pub sent: Instant,
    /// The sender's incarnation when it sent the segment.
    pub incarnation: u8,
    /// A copy made by the network: it may linger until MSL and die; originals arrive within
    /// the delay bound.
    pub copy: bool,
}

/// One step of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The user of a side makes the next call of its workload.
    User(Side),
    /// The network delivers the packet at this index.
    Deliver(usize),
    Lose(usize),
    Duplicate(usize),
    /// The clock advances one tick: copies older than MSL die, due timers fire. Time cannot
    /// pass an original segment's delay bound: the network delivers it by then or loses it.
    Tick,
}

/// A user's script for one connection: each call with the states it may be made in. In
/// `OpenClose`, A opens only once B listens (checked in `next_call`): a connection to a port
/// nobody listens on is the `refused` scenario, not this workload.
fn script(workload: Workload, side: Side, data: bool) -> &'static [(Call, &'static [State])] {
    use State::*;
    const OPEN_ACTIVE: (Call, &[State]) = (Call::OpenActive, &[Closed]);
    const OPEN_PASSIVE: (Call, &[State]) = (Call::OpenPassive, &[Closed]);
    const SEND: (Call, &[State]) = (Call::Send, &[Established, CloseWait]);
    const CLOSE_ANY: (Call, &[State]) = (Call::Close, &[Established, CloseWait]);
    const CLOSE_SECOND: (Call, &[State]) = (Call::Close, &[CloseWait]);
    match (workload, side, data) {
        (Workload::OpenClose, Side::A, true) => &[OPEN_ACTIVE, SEND, CLOSE_ANY],
        (Workload::OpenClose, Side::A, false) => &[OPEN_ACTIVE, CLOSE_ANY],
        (Workload::OpenClose, Side::B, true) => &[OPEN_PASSIVE, SEND, CLOSE_SECOND],
        (Workload::OpenClose, Side::B, false) => &[OPEN_PASSIVE, CLOSE_SECOND],
        (Workload::Simultaneous, _, true) => &[OPEN_ACTIVE, SEND, CLOSE_ANY],
        (Workload::Simultaneous, _, false) => &[OPEN_ACTIVE, CLOSE_ANY],
    }
}

/// What the properties need to remember about the past.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// When each side last entered TIME-WAIT or acknowledged a FIN there.
    pub last_fin: [Option<Instant>; 2],
    /// Each side's connection count (incremented by its OPEN).
    pub incarnation: [u8; 2],
}

/// What happened in one step, for the properties to judge.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// Rows fired, per side, in order.
    pub fired: [Vec<Transition>; 2],
    /// A delivered packet that the receiver accepted text or a FIN from.
    pub accepted_from: Option<(Side, Packet)>,
    /// TIME-WAIT's "last FIN" of a side as it was before the step.
    pub last_fin_before: [Option<Instant>; 2],
}

/// The explored state.
#[derive(Clone, Debug)]
pub struct World<'m> {
    pub ends: Ends<'m>,
    pub now: Instant,
    pub net: Vec<Packet>,
    pub lost: u8,
    pub duplicated: u8,
    /// Next call of each side's script, counted across incarnations.
    pub cursor: [u8; 2],
    pub ghost: Ghost,
    bounds: Bounds,
}

/// Worlds hash by what determines their future: times are taken relative to `now` (timer
/// deadlines, segment ages, the last FIN in TIME-WAIT), so runs that differ only in *when* things
/// happened meet, and a run that can go on forever shows as a cycle. Absolute time is part of the
/// state only while a user still has an OPEN to make: clock-driven ISNs depend on it.
impl Hash for World<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let now = self.now;
        self.ends.a.hash_at(now, h);
        self.ends.b.hash_at(now, h);
        if self.opens_pending() {
            now.hash(h);
        }
        for p in &self.net {
            (p.to, &p.segment, now.since(p.sent), p.incarnation, p.copy).hash(h);
        }
        (self.lost, self.duplicated, self.cursor).hash(h);
        for fin in self.ghost.last_fin {
            fin.map(|t| now.since(t)).hash(h);
        }
        self.ghost.incarnation.hash(h);
    }
}

impl<'m> World<'m> {
    pub fn new(model: &'m Model, bounds: Bounds) -> Self {
        let config = |local_port, remote_port, offset| Config {
            local_port,
            remote_port,
            isn: Isn::Clock { offset, per_second: 1 },
            buffer: 1024,
            mss: 1024,
            rto: TICK,
            max_retries: u32::from(bounds.retries),
            user_timeout: None,
            msl: Some(TICK.times(u64::from(bounds.msl))),
            ..Config::default()
        };
        let mut world = World {
            ends: Ends {
                a: Endpoint::new(model, config(1000, 2000, 100)),
                b: Endpoint::new(model, config(2000, 1000, 5000)),
            },
            now: Instant::ZERO,
            net: Vec::new(),
            lost: 0,
            duplicated: 0,
            cursor: [0, 0],
            ghost: Ghost::default(),
            bounds,
        };
        if bounds.workload == Workload::Simultaneous {
            world.bounds.incarnations = 1;
            world.apply(Step::User(Side::A), None);
            world.apply(Step::User(Side::B), None);
        }
        world
    }

    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    pub fn endpoint(&self, side: Side) -> &Endpoint<'m> {
        self.ends.get(side)
    }

    fn endpoint_mut(&mut self, side: Side) -> &mut Endpoint<'m> {
        self.ends.get_mut(side)
    }

    /// The next call of `side`'s workload, if it may be made now.
    fn next_call(&self, side: Side) -> Option<Call> {
        let script = script(self.bounds.workload, side, self.bounds.data > 0);
        let cursor = usize::from(self.cursor[side as usize]);
        if cursor >= script.len() * usize::from(self.bounds.incarnations) {
            return None;
        }
        let (call, when) = script[cursor % script.len()];
        let listening = self.ends.b.state() != State::Closed;
        if self.bounds.workload == Workload::OpenClose && call == Call::OpenActive && !listening {
            return None;
        }
        when.contains(&self.endpoint(side).state()).then_some(call)
    }

    /// Whether a user still has an OPEN to make (then absolute time matters: it picks the ISN).
    fn opens_pending(&self) -> bool {
        [Side::A, Side::B].into_iter().any(|side| {
            let script = script(self.bounds.workload, side, self.bounds.data > 0);
            let total = script.len() * usize::from(self.bounds.incarnations);
            (usize::from(self.cursor[side as usize])..total)
                .any(|c| matches!(script[c % script.len()].0, Call::OpenActive | Call::OpenPassive))
        })
    }

    /// Whether anything is still going on: a timer or a segment in flight.
    pub fn busy(&self) -> bool {
        !self.net.is_empty() || self.ends.a.poll_timeout().is_some() || self.ends.b.poll_timeout().is_some()
    }

    /// The enabled steps, in the fixed order paths are replayed in.
    pub fn steps(&self, out: &mut Vec<Step>) {
        out.clear();
        for side in [Side::A, Side::B] {
            if self.next_call(side).is_some() {
                out.push(Step::User(side));
            }
        }
        for (i, p) in self.net.iter().enumerate() {
            // Originals arrive in order per direction (unless --reorder); a copy made by the
            // network took another path and may arrive at any time: an old duplicate.
            let oldest = !self.net[..i].iter().any(|q| q.to == p.to && !q.copy);
            if self.bounds.reorder || p.copy || oldest {
                out.push(Step::Deliver(i));
            }
        }
        if self.lost < self.bounds.loss {
            out.extend((0..self.net.len()).map(Step::Lose));
        }
        if self.duplicated < self.bounds.dup {
            out.extend((0..self.net.len()).map(Step::Duplicate));
        }
        let delay = TICK.times(u64::from(self.bounds.delay));
        let next = self.now.after(TICK);
        let in_time = self.net.iter().all(|p| p.copy || next.since(p.sent) <= delay);
        if self.busy() && in_time {
            out.push(Step::Tick);
        }
    }

    /// The fairness class of `step` (bit index): 0 tick, 1 delivery to A, 2 delivery to B,
    /// 3 user A, 4 user B; `None` for the adversary's losses and duplications.
    pub fn class(&self, step: Step) -> Option<u8> {
        match step {
            Step::Tick => Some(0),
            Step::Deliver(i) => self.net.get(i).map(|p| 1 + p.to as u8),
            Step::User(side) => Some(3 + side as u8),
            Step::Lose(_) | Step::Duplicate(_) => None,
        }
    }

    /// Whether both endpoints are idle: CLOSED or LISTEN.
    pub fn idle(&self) -> bool {
        [self.ends.a.state(), self.ends.b.state()].iter().all(|s| matches!(s, State::Closed | State::Listen))
    }

    /// A short description of `step` taken from this world: `B: CLOSE`, `deliver SYN to B`, `tick`.
    pub fn describe(&self, step: Step) -> String {
        let seg = |i: usize| self.net.get(i).map(|p| (p.segment.flags(), p.to.name()));
        match step {
            Step::User(side) => format!("{}: {}", side.name(), self.next_call(side).map_or("-", |c| c.name())),
            Step::Deliver(i) => seg(i).map_or_else(String::new, |(f, to)| format!("deliver {f} to {to}")),
            Step::Lose(i) => seg(i).map_or_else(String::new, |(f, to)| format!("lose {f} to {to}")),
            Step::Duplicate(i) => seg(i).map_or_else(String::new, |(f, to)| format!("duplicate {f} to {to}")),
            Step::Tick => format!("tick to {}", self.now.after(TICK)),
        }
    }

    /// Takes `step`, returning what the properties need; `trace` records it for a diagram.
    pub fn apply(&mut self, step: Step, mut trace: Option<&mut Vec<Entry>>) -> Effects {
        let mut fx = Effects { last_fin_before: self.ghost.last_fin, ..Effects::default() };
        let now = self.now;
        match step {
            Step::User(side) => {
                let Some(call) = self.next_call(side) else { return fx };
                self.cursor[side as usize] += 1;
                if matches!(call, Call::OpenActive | Call::OpenPassive) {
                    self.ghost.incarnation[side as usize] += 1;
                }
                // Scripts have a SEND only when there is data to send.
                let bytes = usize::from(self.bounds.data);
                if let Some(t) = trace.as_deref_mut() {
                    t.push(Entry::Call { at: now, side, call, bytes: if call == Call::Send { bytes } else { 0 } });
                }
                if call == Call::Send {
                    let data: Vec<u8> = (0..self.bounds.data).map(|i| b'a' + i % 26).collect();
                    self.endpoint_mut(side).send(now, &data);
                } else {
                    self.endpoint_mut(side).handle_user(now, call);
                }
                self.settle(side, &mut fx, trace);
            }
            Step::Deliver(i) => {
                let packet = self.net.remove(i);
                let side = packet.to;
                let before = self.endpoint(side).accepted();
                self.endpoint_mut(side).handle_segment(now, &packet.segment);
                if self.endpoint(side).accepted() != before {
                    fx.accepted_from = Some((side, packet));
                }
                self.settle(side, &mut fx, trace);
            }
            Step::Lose(i) => {
                let packet = self.net.remove(i);
                self.lost += 1;
                if let Some(t) = trace {
                    t.push(Entry::Lost { at: now, from: packet.to.other(), segment: packet.segment });
                }
            }
            Step::Duplicate(i) => {
                let packet = Packet { copy: true, ..self.net[i].clone() };
                self.duplicated += 1;
                if let Some(t) = trace {
                    t.push(Entry::Duplicated { at: now, from: packet.to.other(), segment: packet.segment.clone() });
                }
                self.net.push(packet);
            }
            Step::Tick => {
                self.now = now.after(TICK);
                let msl = TICK.times(u64::from(self.bounds.msl));
                let now = self.now;
                let (alive, dead): (Vec<Packet>, Vec<Packet>) =
                    self.net.drain(..).partition(|p| now.since(p.sent) <= msl);
                self.net = alive;
                if let Some(t) = trace.as_deref_mut() {
                    t.extend(dead.into_iter().map(|p| Entry::Expired {
                        at: now,
                        from: p.to.other(),
                        segment: p.segment,
                    }));
                }
                for side in [Side::A, Side::B] {
                    if self.endpoint(side).poll_timeout().is_some_and(|d| d <= now) {
                        self.endpoint_mut(side).handle_timeout(now);
                        self.settle(side, &mut fx, trace.as_deref_mut());
                    }
                }
            }
        }
        fx
    }

    /// Collects what `side` did: fired rows, ghost updates, segments onto the network.
    fn settle(&mut self, side: Side, fx: &mut Effects, mut trace: Option<&mut Vec<Entry>>) {
        let now = self.now;
        let i = side as usize;
        let fired = self.endpoint(side).transitions().to_vec();
        self.endpoint_mut(side).clear_log();
        for t in &fired {
            let fin = matches!(t.input, Input::Segment(f) if f.contains(Flags::FIN));
            if t.to == State::TimeWait && (t.from != State::TimeWait || fin) {
                self.ghost.last_fin[i] = Some(now);
            }
            if t.to != State::TimeWait {
                self.ghost.last_fin[i] = None;
            }
            if let Some(tr) = trace.as_deref_mut() {
                tr.push(Entry::Transition { at: now, side, transition: *t });
            }
        }
        fx.fired[i].extend(fired);
        while let Some(event) = self.endpoint_mut(side).poll_event() {
            if let Some(tr) = trace.as_deref_mut() {
                tr.push(Entry::Told { at: now, side, event });
            }
        }
        let incarnation = self.ghost.incarnation[i];
        while let Some(segment) = self.endpoint_mut(side).poll_transmit() {
            if let Some(tr) = trace.as_deref_mut() {
                tr.push(Entry::Sent { at: now, from: side, segment: segment.clone(), lost: false, forged: false });
            }
            self.net.push(Packet { to: side.other(), segment, sent: now, incarnation, copy: false });
        }
    }
}
