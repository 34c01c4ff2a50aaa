//! The world the checker explores: two reference endpoints executing the table, a network that
//! loses, duplicates and (optionally) reorders segments and ages them, a discrete clock, and the
//! users' workload. Successors are generated in a fixed order, so a path is replayable from the
//! indices of the actions taken.

use std::hash::{Hash, Hasher};

use super::fingerprint::endpoint_hash;
use crate::endpoint::{pack, Config, Endpoint, Isn, Transition};
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
    /// B listens, A opens; both send; B, the server, closes first and so ends in TIME-WAIT; A
    /// closes once it has B's FIN. B's next passive OPEN may come while it is in TIME-WAIT: a
    /// listener beside the old connection (`Endpoint::listen_beside`), which a new SYN from A
    /// on the same 4-tuple can reopen it for (RFC 1122 4.2.2.13).
    ServerClose,
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
    /// How far the ISN clock advances per tick (RFC 9293 3.4.1's clock, in ticks of the
    /// world). A fast clock lets a new connection's ISN pass the old one's sequence space
    /// before the old duplicates die, as real ISN clocks (4 µs) do for short connections.
    pub isn_rate: u16,
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
            isn_rate: 1,
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

impl Packet {
    /// Makes this packet a copy of `from`, reusing its buffers (`clone_from` without a call
    /// for the lists that are empty, as nearly all are).
    fn assign(&mut self, from: &Packet) {
        let Segment { src_port, dst_port, seq, ack, ctl, window, mss, options, payload } = &from.segment;
        let s = &mut self.segment;
        if !(options.is_empty() && s.options.is_empty()) {
            s.options.clone_from(options);
        }
        (s.src_port, s.dst_port, s.seq, s.ack, s.ctl, s.window, s.mss) =
            (*src_port, *dst_port, *seq, *ack, *ctl, *window, *mss);
        if payload.is_empty() {
            s.payload.clear();
        } else {
            s.payload.clone_from(payload);
        }
        (self.to, self.sent, self.incarnation, self.copy) = (from.to, from.sent, from.incarnation, from.copy);
    }
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
    const LISTEN_AGAIN: (Call, &[State]) = (Call::OpenPassive, &[Closed, TimeWait]);
    const CLOSE_FIRST: (Call, &[State]) = (Call::Close, &[Established]);
    const SEND: (Call, &[State]) = (Call::Send, &[Established, CloseWait]);
    const CLOSE_ANY: (Call, &[State]) = (Call::Close, &[Established, CloseWait]);
    const CLOSE_SECOND: (Call, &[State]) = (Call::Close, &[CloseWait]);
    match (workload, side, data) {
        (Workload::OpenClose, Side::A, true) => &[OPEN_ACTIVE, SEND, CLOSE_ANY],
        (Workload::OpenClose, Side::A, false) => &[OPEN_ACTIVE, CLOSE_ANY],
        (Workload::OpenClose, Side::B, true) => &[OPEN_PASSIVE, SEND, CLOSE_SECOND],
        (Workload::OpenClose, Side::B, false) => &[OPEN_PASSIVE, CLOSE_SECOND],
        (Workload::ServerClose, Side::A, true) => &[OPEN_ACTIVE, SEND, CLOSE_SECOND],
        (Workload::ServerClose, Side::A, false) => &[OPEN_ACTIVE, CLOSE_SECOND],
        (Workload::ServerClose, Side::B, true) => &[LISTEN_AGAIN, SEND, CLOSE_FIRST],
        (Workload::ServerClose, Side::B, false) => &[LISTEN_AGAIN, CLOSE_FIRST],
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

impl Effects {
    /// Empties the effects for the next step, keeping their buffers.
    fn reset(&mut self, last_fin: [Option<Instant>; 2]) {
        self.fired[0].clear();
        self.fired[1].clear();
        self.accepted_from = None;
        self.last_fin_before = last_fin;
    }
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
    /// Per side, the last script position with an OPEN (`opens_pending`, precomputed).
    last_open: [Option<usize>; 2],
    removed: Removed,
}

/// The packet the last step took off the network (a delivery the receiver accepted nothing
/// from, or a loss) and where it was: [`World::restore`] puts it back rather than copying the
/// packets after it again and allocating a payload for the last. Not part of the world: a
/// clone has none, and `Debug` does not show it.
#[derive(Default)]
struct Removed(Option<(usize, Packet)>);

impl Clone for Removed {
    fn clone(&self) -> Self {
        Removed::default()
    }
}

impl std::fmt::Debug for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

/// A world restored from packings ([`World::pack`]) and only read in between, with the
/// packing it was last restored from and its endpoints' hashes. The next restore leaves alone
/// an endpoint packed as it was there (at the same `now`), neither parsing it again (a tenth
/// of the search's work) nor hashing it: the worlds of a frontier come in runs that share one,
/// as a step leaves at least one endpoint alone and the new successors of a state are stored
/// side by side (at `--workload reopen`, 57% of each endpoint's restores are left alone). A
/// successor's packing takes what it shares with this one from these bytes
/// ([`Unpacked::parent_of`]).
pub struct Unpacked<'m> {
    world: World<'m>,
    /// The packing and where its endpoints end in it; empty when a restore failed (and then
    /// nothing may be taken from it).
    bytes: Vec<u8>,
    ends: [usize; 2],
    /// Where each packet begins in the packing, and where the last ends.
    packets: Vec<usize>,
    hashes: [u64; 2],
}

/// What a successor's packing takes from its parent's, as packed there
/// ([`Unpacked::parent_of`]): each endpoint its step left alone, and the packets it kept (the
/// first `kept`).
#[derive(Clone, Copy, Default)]
pub struct Parent<'a> {
    ends: [Option<&'a [u8]>; 2],
    packets: &'a [u8],
    kept: usize,
}

impl<'m> std::ops::Deref for Unpacked<'m> {
    type Target = World<'m>;

    fn deref(&self) -> &World<'m> {
        &self.world
    }
}

impl<'m> Unpacked<'m> {
    pub fn new(world: World<'m>) -> Self {
        Unpacked { world, bytes: Vec::new(), ends: [0; 2], packets: Vec::new(), hashes: [0; 2] }
    }

    /// Restores a world packed by [`World::pack`] in the same search; `None` if `bytes` is not
    /// such a packing.
    pub fn unpack(&mut self, bytes: &[u8]) -> Option<()> {
        let before = (!self.bytes.is_empty()).then_some((&self.bytes[..], self.ends));
        let restored = self.world.unpack(bytes, before, &mut self.packets);
        self.bytes.clear();
        let (ends, parsed) = restored?;
        self.bytes.extend_from_slice(bytes);
        self.ends = ends;
        for side in [Side::A, Side::B].into_iter().filter(|&side| parsed[side as usize]) {
            self.hashes[side as usize] = endpoint_hash(&self.world, side);
        }
        Some(())
    }

    /// What the packing of the world `step` leads to takes from this one's.
    pub fn parent_of(&self, step: Step) -> Parent<'_> {
        let touched = self.touches(step);
        let [a, b] = self.ends;
        let kept = self.kept(step);
        Parent {
            ends: [(!touched[0]).then(|| &self.bytes[..a]), (!touched[1]).then(|| &self.bytes[a..b])],
            packets: &self.bytes[self.packets[0]..self.packets[kept]],
            kept,
        }
    }

    /// Each endpoint's hash (`fingerprint::endpoint_hash`).
    pub fn hashes(&self) -> [u64; 2] {
        self.hashes
    }
}

/// Worlds hash by what determines their future: times are taken relative to `now` (timer
/// deadlines, segment ages, the last FIN in TIME-WAIT), so runs that differ only in *when* things
/// happened meet, and a run that can go on forever shows as a cycle. Absolute time is part of the
/// state only while a user still has an OPEN to make: clock-driven ISNs depend on it.
impl Hash for World<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.ends.a.hash_at(self.now, h);
        self.ends.b.hash_at(self.now, h);
        self.hash_rest(h);
    }
}

impl World<'_> {
    /// What `Hash` feeds after the two endpoints: the network, counters and ghost (and `now`
    /// while an OPEN is pending).
    pub fn hash_rest<H: Hasher>(&self, h: &mut H) {
        let now = self.now;
        if self.opens_pending() {
            now.hash(h);
        }
        // A packet's fields packed into four words, each field in bits of its own, so the words
        // say exactly what the fields do: few words to hash, for a hasher that spreads every
        // bit of a word (the fingerprint's, `fingerprint::Words`; FxHash would not: a
        // difference confined to a word's high bits stays there).
        h.write_usize(self.net.len());
        for p in &self.net {
            let s = &p.segment;
            let bits = p.to as u64 | u64::from(p.copy) << 1 | u64::from(s.ack.is_some()) << 2;
            let bits = bits | u64::from(s.mss.is_some()) << 3 | u64::from(p.incarnation) << 8;
            h.write_u64(
                bits | u64::from(s.ctl.bits()) << 16 | u64::from(s.window) << 24 | u64::from(s.mss.unwrap_or(0)) << 40,
            );
            h.write_u64(u64::from(s.seq.0) | u64::from(s.ack.map_or(0, |a| a.0)) << 32);
            h.write_u64(u64::from(s.src_port) | u64::from(s.dst_port) << 16 | (s.payload.len() as u64) << 32);
            h.write_u64(now.since(p.sent).as_micros());
            if !s.payload.is_empty() {
                h.write(&s.payload);
            }
        }
        let [a, b] = self.ghost.incarnation;
        let counters = [self.lost, self.duplicated, self.cursor[0], self.cursor[1], a, b];
        let mut word = 0;
        for (i, n) in counters.into_iter().enumerate() {
            word |= u64::from(n) << (8 * i);
        }
        for (i, fin) in self.ghost.last_fin.into_iter().enumerate() {
            word |= u64::from(fin.is_some()) << (48 + i);
        }
        h.write_u64(word);
        for t in self.ghost.last_fin.into_iter().flatten() {
            h.write_u64(now.since(t).as_micros());
        }
    }
}

impl<'m> World<'m> {
    pub fn new(model: &'m Model, bounds: Bounds) -> Self {
        let config = |local_port, remote_port, offset| Config {
            local_port,
            remote_port,
            isn: Isn::Clock { offset, per_second: u32::from(bounds.isn_rate) },
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
            last_open: [None; 2],
            removed: Removed::default(),
        };
        if bounds.workload == Workload::Simultaneous {
            world.bounds.incarnations = 1;
        }
        world.last_open = [Side::A, Side::B].map(|side| {
            let script = script(world.bounds.workload, side, world.bounds.data > 0);
            let total = script.len() * usize::from(world.bounds.incarnations);
            (0..total).rev().find(|c| matches!(script[c % script.len()].0, Call::OpenActive | Call::OpenPassive))
        });
        if bounds.workload == Workload::Simultaneous {
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
        let listening = match self.bounds.workload {
            Workload::OpenClose => self.ends.b.state() != State::Closed,
            Workload::ServerClose => self.ends.b.state() == State::Listen || self.ends.b.has_listener(),
            Workload::Simultaneous => true,
        };
        if call == Call::OpenActive && !listening {
            return None;
        }
        when.contains(&self.endpoint(side).state()).then_some(call)
    }

    /// Whether a user still has an OPEN to make (then absolute time matters: it picks the ISN).
    fn opens_pending(&self) -> bool {
        (0..2).any(|i| self.last_open[i].is_some_and(|last| usize::from(self.cursor[i]) <= last))
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
    pub fn apply(&mut self, step: Step, trace: Option<&mut Vec<Entry>>) -> Effects {
        let mut fx = Effects::default();
        self.apply_into(step, trace, &mut fx);
        fx
    }

    /// [`World::apply`] into `fx` (emptied first), reusing its buffers.
    pub fn apply_into(&mut self, step: Step, mut trace: Option<&mut Vec<Entry>>, fx: &mut Effects) {
        self.removed.0 = None;
        fx.reset(self.ghost.last_fin);
        let fx = &mut *fx;
        let now = self.now;
        match step {
            Step::User(side) => {
                let Some(call) = self.next_call(side) else { return };
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
                    let mut data = [0u8; 256];
                    for (i, d) in data.iter_mut().enumerate().take(bytes) {
                        *d = b'a' + (i % 26) as u8;
                    }
                    self.endpoint_mut(side).send(now, &data[..bytes]);
                } else if call == Call::OpenPassive && self.endpoint(side).state() == State::TimeWait {
                    self.endpoint_mut(side).listen_beside();
                } else {
                    self.endpoint_mut(side).handle_user(now, call);
                }
                self.settle(side, fx, trace);
            }
            Step::Deliver(i) => {
                let packet = self.net.remove(i);
                let side = packet.to;
                if let Some(t) = trace.as_deref_mut() {
                    t.push(Entry::Delivered { at: now, from: side.other(), segment: packet.segment.clone() });
                }
                let before = self.endpoint(side).accepted();
                self.endpoint_mut(side).handle_segment(now, &packet.segment);
                if self.endpoint(side).accepted() != before {
                    fx.accepted_from = Some((side, packet));
                } else {
                    self.removed.0 = Some((i, packet));
                }
                self.settle(side, fx, trace);
            }
            Step::Lose(i) => {
                let packet = self.net.remove(i);
                self.lost += 1;
                match trace {
                    Some(t) => t.push(Entry::Lost { at: now, from: packet.to.other(), segment: packet.segment }),
                    None => self.removed.0 = Some((i, packet)),
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
                if let Some(t) = trace.as_deref_mut() {
                    let dead = self.net.iter().filter(|p| now.since(p.sent) > msl);
                    t.extend(dead.map(|p| Entry::Expired { at: now, from: p.to.other(), segment: p.segment.clone() }));
                }
                self.net.retain(|p| now.since(p.sent) <= msl);
                for side in [Side::A, Side::B] {
                    if self.endpoint(side).poll_timeout().is_some_and(|d| d <= now) {
                        self.endpoint_mut(side).handle_timeout(now);
                        self.settle(side, fx, trace.as_deref_mut());
                    }
                }
            }
        }
    }

    /// Appends a lossless packing of this world to `out`: what [`World`]'s `Hash` feeds, as
    /// bytes (times relative to `now`), then `now` itself. Returns how many of the bytes
    /// appended make the world's identity: all of them while an OPEN is pending, else all but
    /// `now` (so worlds that hash alike pack to the same identity). The bounds and the model are
    /// not packed: [`Unpacked::unpack`] restores into a world of the same search.
    pub fn pack(&self, out: &mut Vec<u8>) -> usize {
        self.pack_with(Parent::default(), out)
    }

    /// [`World::pack`], taking the parts `parent` has as they were packed there: a
    /// successor's endpoint that its step did not touch, and the packets it kept, pack as its
    /// parent's did, and copying those bytes is cheaper than packing them again.
    pub fn pack_with(&self, parent: Parent<'_>, out: &mut Vec<u8>) -> usize {
        out.reserve(256);
        let start = out.len();
        for (end, packed) in [&self.ends.a, &self.ends.b].into_iter().zip(parent.ends) {
            match packed {
                Some(bytes) => out.extend_from_slice(bytes),
                None => end.pack(self.now, out),
            }
        }
        let endpoints = out.len() - start;
        endpoints + self.pack_rest(parent, out)
    }

    /// The part of [`World::pack`] after the two endpoints: the network, counters, ghost, and
    /// `now` last. Returns how many of the bytes appended make the identity (see `pack`).
    fn pack_rest(&self, parent: Parent<'_>, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let now = self.now;
        pack::varint(out, self.net.len() as u64);
        out.extend_from_slice(parent.packets);
        for p in &self.net[parent.kept..] {
            out.extend_from_slice(&[p.to as u8 | u8::from(p.copy) << 1, p.incarnation]);
            pack::varint(out, now.as_micros().wrapping_sub(p.sent.as_micros()));
            pack::segment(out, &p.segment);
        }
        out.extend_from_slice(&[self.lost, self.duplicated, self.cursor[0], self.cursor[1]]);
        for fin in self.ghost.last_fin {
            match fin {
                None => out.push(0),
                Some(t) => {
                    out.push(1);
                    pack::varint(out, now.as_micros().wrapping_sub(t.as_micros()));
                }
            }
        }
        out.extend_from_slice(&self.ghost.incarnation);
        let identity = out.len() - start;
        out.extend_from_slice(&now.as_micros().to_le_bytes());
        if self.opens_pending() {
            out.len() - start
        } else {
            identity
        }
    }

    /// Which endpoints `step` may change, and whose hash (relative to `now`) it may change: a
    /// user's or a delivery's endpoint, both on a tick, neither on a loss or duplication.
    pub fn touches(&self, step: Step) -> [bool; 2] {
        let one = |side: Side| [side == Side::A, side == Side::B];
        match step {
            Step::User(side) => one(side),
            Step::Deliver(i) => self.net.get(i).map_or([false; 2], |p| one(p.to)),
            Step::Lose(_) | Step::Duplicate(_) => [false; 2],
            Step::Tick => [true; 2],
        }
    }

    /// Makes this world, a copy of `from` that then took `step`, a copy of `from` again:
    /// cheaper than [`World::assign`], it copies only what the step may have changed. The
    /// endpoints it did not touch (see [`World::touches`]) are left as they are, and so are the
    /// packets it kept ([`World::kept`]). A packet the step removed and kept (`Removed`) goes
    /// back in its place.
    pub fn restore(&mut self, from: &World<'m>, step: Step) {
        let touched = from.touches(step);
        if touched[0] {
            self.ends.a.assign(&from.ends.a);
        }
        if touched[1] {
            self.ends.b.assign(&from.ends.b);
        }
        let kept = match (step, self.removed.0.take()) {
            // The packets after `i` moved down one place, and the step then only appended.
            (Step::Deliver(i) | Step::Lose(i), Some((at, packet))) if at == i => {
                self.net.truncate(from.net.len() - 1);
                self.net.insert(i, packet);
                from.net.len()
            }
            _ => from.kept(step),
        };
        self.assign_rest(from, kept);
    }

    /// How many of this world's first packets `step` leaves as they are, ages included: a
    /// delivery or a loss removes packet `i`, a tick ages them all (and removes those that
    /// expire), and every step otherwise only appends.
    pub fn kept(&self, step: Step) -> usize {
        match step {
            Step::Deliver(i) | Step::Lose(i) => i,
            Step::Tick => 0,
            Step::User(_) | Step::Duplicate(_) => self.net.len(),
        }
    }

    /// Makes this world a copy of `from` (of the same search), reusing this world's buffers.
    /// A packet the last step removed is not `from`'s: it is dropped.
    pub fn assign(&mut self, from: &World<'m>) {
        self.removed.0 = None;
        self.ends.a.assign(&from.ends.a);
        self.ends.b.assign(&from.ends.b);
        self.assign_rest(from, 0);
    }

    /// [`World::assign`] but for the endpoints and for the first `kept` packets, which are
    /// already those of `from`.
    fn assign_rest(&mut self, from: &World<'m>, kept: usize) {
        self.net.truncate(from.net.len());
        for (i, p) in from.net.iter().enumerate().skip(kept) {
            match self.net.get_mut(i) {
                Some(q) => q.assign(p),
                None => self.net.push(p.clone()),
            }
        }
        self.now = from.now;
        (self.lost, self.duplicated, self.cursor) = (from.lost, from.duplicated, from.cursor);
        let Ghost { last_fin, incarnation } = &from.ghost;
        (self.ghost.last_fin, self.ghost.incarnation) = (*last_fin, *incarnation);
        (self.bounds, self.last_open) = (from.bounds, from.last_open);
    }

    /// Restores a world packed by [`World::pack`] in the same search, reusing this world's
    /// buffers; `None` if `bytes` is not such a packing. Returns where endpoint A's and B's
    /// bytes end (they are packed first, then the rest), and which it parsed; `packets` gets
    /// where each packet begins, and where the last ends. `before` is the packing this world
    /// was restored from, with where its endpoints end, if the world has not changed since: an
    /// endpoint packed there as in `bytes`, at the same `now`, is left as it is.
    fn unpack(
        &mut self,
        bytes: &[u8],
        before: Option<(&[u8], [usize; 2])>,
        packets: &mut Vec<usize>,
    ) -> Option<([usize; 2], [bool; 2])> {
        let (head, tail) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
        let now = Instant::from_micros(u64::from_le_bytes(tail.try_into().ok()?));
        let before = before.filter(|(b, _)| b.ends_with(tail));
        let input = &mut &head[..];
        self.now = now;
        let (mut ends, mut parsed) = ([0; 2], [false; 2]);
        for side in [Side::A, Side::B] {
            let i = side as usize;
            // An endpoint's packing is never empty, and no packing begins with another: input
            // that begins with the endpoint's packing in `before` holds that endpoint.
            let old = before.and_then(|(b, at)| b.get(if i == 0 { 0 } else { at[0] }..at[i]));
            match old {
                Some(old) if !old.is_empty() && input.starts_with(old) => *input = &input[old.len()..],
                _ => {
                    self.endpoint_mut(side).unpack(now, input)?;
                    parsed[i] = true;
                }
            }
            ends[i] = head.len() - input.len();
        }
        let n = usize::try_from(pack::take_varint(input)?).ok()?;
        self.net.truncate(n);
        packets.clear();
        for i in 0..n {
            packets.push(head.len() - input.len());
            if i == self.net.len() {
                let segment = Segment::default();
                self.net.push(Packet { to: Side::A, segment, sent: now, incarnation: 0, copy: false });
            }
            let p = &mut self.net[i];
            let bits = pack::take_u8(input)?;
            (p.to, p.copy) = (if bits & 1 == 0 { Side::A } else { Side::B }, bits & 2 != 0);
            p.incarnation = pack::take_u8(input)?;
            p.sent = Instant::from_micros(now.as_micros().wrapping_sub(pack::take_varint(input)?));
            pack::take_segment(input, &mut p.segment)?;
        }
        packets.push(head.len() - input.len());
        let [lost, duplicated, a, b] = pack::take(input, 4)?.try_into().ok()?;
        (self.lost, self.duplicated, self.cursor) = (lost, duplicated, [a, b]);
        for fin in &mut self.ghost.last_fin {
            *fin = match pack::take_u8(input)? {
                0 => None,
                1 => Some(Instant::from_micros(now.as_micros().wrapping_sub(pack::take_varint(input)?))),
                _ => return None,
            };
        }
        self.ghost.incarnation = pack::take(input, 2)?.try_into().ok()?;
        input.is_empty().then_some((ends, parsed))
    }

    /// Collects what `side` did: fired rows, ghost updates, segments onto the network.
    fn settle(&mut self, side: Side, fx: &mut Effects, mut trace: Option<&mut Vec<Entry>>) {
        let now = self.now;
        let i = side as usize;
        let fired = self.ends.get(side).transitions();
        for t in fired {
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
        fx.fired[i].extend_from_slice(fired);
        self.endpoint_mut(side).clear_log();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;

    /// The endpoints' `Debug` without their history (`accepted`), which packing leaves alone.
    fn state_of(world: &World<'_>) -> String {
        let text = format!("{world:?}");
        let mut out = String::new();
        for (k, part) in text.split("accepted: ").enumerate() {
            out.push_str(if k == 0 { part } else { part.trim_start_matches(|c: char| c.is_ascii_digit()) });
        }
        out
    }

    fn fingerprint(world: &World<'_>) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        world.hash(&mut h);
        h.finish()
    }

    /// Worlds reached breadth-first (without merging) from the start, at most `n`.
    fn some_worlds<'m>(model: &'m Model, bounds: Bounds, n: usize) -> Vec<World<'m>> {
        let mut worlds = vec![World::new(model, bounds)];
        let mut steps = Vec::new();
        let mut k = 0;
        while worlds.len() < n && k < worlds.len() {
            let world = worlds[k].clone();
            world.steps(&mut steps);
            for &step in &steps {
                let mut next = world.clone();
                next.apply(step, None);
                worlds.push(next);
            }
            k += 1;
        }
        worlds
    }

    #[test]
    fn packing_round_trips_and_copies_are_exact() {
        let model = Shipped::find("rfc9293").unwrap().load().unwrap();
        let bounds = Bounds { dup: 1, reorder: true, data: 2, ..Bounds::default() };
        let mut steps = Vec::new();
        // Restored from each world's packing after the one before's: endpoints are left alone
        // where their packings and `now` are the same.
        let mut scratch = Unpacked::new(World::new(&model, bounds));
        let mut copy = World::new(&model, bounds);
        // `Debug` (which prints the model too) on some worlds; packings on all.
        let exact =
            |a: &World<'_>, b: &World<'_>, k: usize| !k.is_multiple_of(64) || format!("{a:?}") == format!("{b:?}");
        let packed = |w: &World<'_>| {
            let mut bytes = Vec::new();
            let identity = w.pack(&mut bytes);
            (bytes, identity)
        };
        for (k, world) in some_worlds(&model, bounds, 3000).into_iter().enumerate() {
            let (bytes, identity) = packed(&world);
            scratch.unpack(&bytes).unwrap();
            assert!(k % 64 != 0 || state_of(&scratch) == state_of(&world), "{world:?}");
            assert_eq!(fingerprint(&scratch), fingerprint(&world));
            assert_eq!(scratch.hashes(), [Side::A, Side::B].map(|side| endpoint_hash(&world, side)));
            assert_eq!(packed(&scratch), (bytes.clone(), identity));
            assert!(scratch.unpack(&bytes[..bytes.len() - 1]).is_none());
            // The same world a tick later: endpoints packed alike are not the same endpoints,
            // their timers are packed relative to `now`.
            let mut later = bytes.clone();
            let now = world.now.after(TICK).as_micros().to_le_bytes();
            later[bytes.len() - 8..].copy_from_slice(&now);
            scratch.unpack(&bytes).unwrap();
            scratch.unpack(&later).unwrap();
            assert_eq!(packed(&scratch).0, later);
            assert_eq!(scratch.hashes(), [Side::A, Side::B].map(|side| endpoint_hash(&scratch, side)));
            // A step taken on a copy and undone by `restore` leaves the copy equal to the world.
            copy.assign(&world);
            assert!(exact(&copy, &world, k));
            world.steps(&mut steps);
            for &step in &steps {
                let touched = world.touches(step);
                let mut direct = world.clone();
                let fx = direct.apply(step, None);
                let mut fx2 = Effects::default();
                copy.apply_into(step, None, &mut fx2);
                assert_eq!(packed(&copy), packed(&direct));
                assert!(exact(&copy, &direct, k));
                assert_eq!(format!("{fx2:?}"), format!("{fx:?}"));
                for side in [Side::A, Side::B] {
                    if !touched[side as usize] {
                        let (mut x, mut y) = (Vec::new(), Vec::new());
                        copy.endpoint(side).pack(copy.now, &mut x);
                        world.endpoint(side).pack(world.now, &mut y);
                        assert_eq!(x, y, "{step:?} changed {side:?}");
                    }
                }
                scratch.unpack(&bytes).unwrap();
                let mut reused = Vec::new();
                let length = copy.pack_with(scratch.parent_of(step), &mut reused);
                assert_eq!((reused, length), packed(&copy));
                copy.restore(&world, step);
                assert_eq!(packed(&copy), (bytes.clone(), identity));
                assert!(exact(&copy, &world, k));
            }
        }
    }
}
