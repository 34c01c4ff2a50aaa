//! Two reference endpoints over a virtual network, driven by a script: the engine behind
//! `tcpcheck simulate`. Time jumps from event to event; nothing sleeps.
//!
//! The network delivers each direction in order after a fixed latency, loses the segments a
//! script marks, and lets a script inject forged segments (an off-path attacker).

pub mod columns;
pub mod diagram;
pub mod scenario;

use crate::endpoint::{Config, Endpoint, Event, Isn};
use crate::model::{Call, Model, State};
use crate::time::{Duration, Instant};
use crate::wire::Segment;

/// One of the two endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::A => "A",
            Side::B => "B",
        }
    }
}

/// The two endpoints of a run.
#[derive(Clone, Debug)]
pub struct Ends<'m> {
    pub a: Endpoint<'m>,
    pub b: Endpoint<'m>,
}

impl<'m> Ends<'m> {
    pub fn get(&self, side: Side) -> &Endpoint<'m> {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    pub fn get_mut(&mut self, side: Side) -> &mut Endpoint<'m> {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}

/// What happened, in order: the material of a sequence diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A user call made on `side`.
    Call { at: Instant, side: Side, call: Call, bytes: usize },
    /// A row fired on `side`.
    Transition { at: Instant, side: Side, transition: crate::endpoint::Transition },
    /// `from` sent a segment (or the network forged one towards `from.other()` when `forged`).
    Sent { at: Instant, from: Side, segment: Segment, lost: bool, forged: bool },
    /// The user of `side` was told something.
    Told { at: Instant, side: Side, event: Event },
    /// The network delivered a segment `from` sent earlier; the receiver's rows follow. The
    /// text diagram leaves it implicit; a ladder needs it to end the arrow.
    Delivered { at: Instant, from: Side, segment: Segment },
    /// The network lost a segment `from` sent earlier.
    Lost { at: Instant, from: Side, segment: Segment },
    /// The network duplicated a segment in flight.
    Duplicated { at: Instant, from: Side, segment: Segment },
    /// A segment outlived the maximum segment lifetime and died.
    Expired { at: Instant, from: Side, segment: Segment },
}

impl Entry {
    pub fn at(&self) -> Instant {
        match self {
            Entry::Call { at, .. }
            | Entry::Transition { at, .. }
            | Entry::Sent { at, .. }
            | Entry::Told { at, .. }
            | Entry::Delivered { at, .. }
            | Entry::Lost { at, .. }
            | Entry::Duplicated { at, .. }
            | Entry::Expired { at, .. } => *at,
        }
    }
}

/// Which of a side's segments the network loses: the `nth` (0-based) one matching `matches`.
struct Loss {
    from: Side,
    matches: fn(&Segment) -> bool,
    nth: usize,
}

struct InFlight {
    due: Instant,
    to: Side,
    segment: Segment,
}

/// The simulation: two endpoints, a network and a clock.
pub struct Sim<'m> {
    ends: Ends<'m>,
    now: Instant,
    latency: Duration,
    in_flight: Vec<InFlight>,
    losses: Vec<Loss>,
    trace: Vec<Entry>,
    logged: [usize; 2],
}

/// The run did not settle: a script waited for something that never happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck(pub String);

impl<'m> Sim<'m> {
    /// Two endpoints of `model` facing each other (A on port 1000, B on port 2000).
    pub fn new(model: &'m Model, msl: Option<Duration>) -> Self {
        let config = |local_port, remote_port, seed| Config {
            local_port,
            remote_port,
            isn: Isn::Seeded(seed),
            msl,
            ..Config::default()
        };
        Sim {
            ends: Ends {
                a: Endpoint::new(model, config(1000, 2000, 1)),
                b: Endpoint::new(model, config(2000, 1000, 2)),
            },
            now: Instant::ZERO,
            latency: Duration::from_micros(10_000),
            in_flight: Vec::new(),
            losses: Vec::new(),
            trace: Vec::new(),
            logged: [0, 0],
        }
    }

    pub fn endpoint(&self, side: Side) -> &Endpoint<'m> {
        self.ends.get(side)
    }

    fn endpoint_mut(&mut self, side: Side) -> &mut Endpoint<'m> {
        self.ends.get_mut(side)
    }

    pub fn state(&self, side: Side) -> State {
        self.endpoint(side).state()
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn trace(&self) -> &[Entry] {
        &self.trace
    }

    /// The run so far, for [`diagram::render`].
    pub fn diagram(&self) -> diagram::Trace<'_> {
        diagram::Trace {
            entries: &self.trace,
            ports: [self.ends.a.config().local_port, self.ends.b.config().local_port],
            last: [self.ends.a.state(), self.ends.b.state()],
            loop_at: None,
        }
    }

    /// Loses the `nth` (0-based) segment from `from` for which `matches` holds, from now on.
    pub fn lose(&mut self, from: Side, nth: usize, matches: fn(&Segment) -> bool) {
        self.losses.push(Loss { from, matches, nth });
    }

    /// A user call on `side`.
    pub fn call(&mut self, side: Side, call: Call) {
        self.trace.push(Entry::Call { at: self.now, side, call, bytes: 0 });
        let now = self.now;
        self.endpoint_mut(side).handle_user(now, call);
        self.settle(side);
    }

    /// SEND with data on `side`.
    pub fn send(&mut self, side: Side, data: &[u8]) {
        self.trace.push(Entry::Call { at: self.now, side, call: Call::Send, bytes: data.len() });
        let now = self.now;
        self.endpoint_mut(side).send(now, data);
        self.settle(side);
    }

    /// A segment forged by the network, arriving at `to` after the usual latency.
    pub fn inject(&mut self, to: Side, segment: Segment) {
        self.trace.push(Entry::Sent {
            at: self.now,
            from: to.other(),
            segment: segment.clone(),
            lost: false,
            forged: true,
        });
        self.in_flight.push(InFlight { due: self.now.after(self.latency), to, segment });
    }

    /// Runs until `done` holds, at most `max_steps` events.
    pub fn run_until(&mut self, max_steps: usize, what: &str, done: impl Fn(&Sim<'m>) -> bool) -> Result<(), Stuck> {
        for _ in 0..max_steps {
            if done(self) {
                return Ok(());
            }
            if !self.step() {
                break;
            }
        }
        if done(self) {
            Ok(())
        } else {
            Err(Stuck(format!(
                "gave up waiting for {what} at {} (A in {}, B in {})",
                self.now,
                self.state(Side::A),
                self.state(Side::B)
            )))
        }
    }

    /// Runs until nothing is in flight and no timer is running.
    pub fn run_until_quiet(&mut self, max_steps: usize) -> Result<(), Stuck> {
        self.run_until(max_steps, "the network and timers to go quiet", |s| s.next_event().is_none())
    }

    fn next_event(&self) -> Option<Instant> {
        let flight = self.in_flight.iter().map(|f| f.due).min();
        [flight, self.ends.a.poll_timeout(), self.ends.b.poll_timeout()].into_iter().flatten().min()
    }

    /// Processes the next event (a delivery or a timer); false if there is none.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_event() else { return false };
        self.now = at;
        // Deliveries first, in the order sent; then timers.
        if let Some(i) = self.in_flight.iter().position(|f| f.due == at) {
            let f = self.in_flight.remove(i);
            self.trace.push(Entry::Delivered { at, from: f.to.other(), segment: f.segment.clone() });
            self.endpoint_mut(f.to).handle_segment(at, &f.segment);
            self.settle(f.to);
            return true;
        }
        for side in [Side::A, Side::B] {
            if self.endpoint(side).poll_timeout().is_some_and(|d| d <= at) {
                self.endpoint_mut(side).handle_timeout(at);
                self.settle(side);
            }
        }
        true
    }

    /// Records what `side` did and puts its segments on the network.
    fn settle(&mut self, side: Side) {
        let at = self.now;
        let i = side as usize;
        let new: Vec<_> = self.endpoint(side).transitions()[self.logged[i]..].to_vec();
        self.logged[i] += new.len();
        self.trace.extend(new.into_iter().map(|transition| Entry::Transition { at, side, transition }));
        while let Some(event) = self.endpoint_mut(side).poll_event() {
            self.trace.push(Entry::Told { at, side, event });
        }
        while let Some(segment) = self.endpoint_mut(side).poll_transmit() {
            let lost = self.take_loss(side, &segment);
            if !lost {
                self.in_flight.push(InFlight {
                    due: at.after(self.latency),
                    to: side.other(),
                    segment: segment.clone(),
                });
            }
            self.trace.push(Entry::Sent { at, from: side, segment, lost, forged: false });
        }
    }

    fn take_loss(&mut self, from: Side, segment: &Segment) -> bool {
        let mut lost = false;
        self.losses.retain_mut(|loss| {
            if lost || loss.from != from || !(loss.matches)(segment) {
                return true;
            }
            if loss.nth == 0 {
                lost = true;
                return false;
            }
            loss.nth -= 1;
            true
        });
        lost
    }
}
