//! The properties the checker verifies, each with the RFC reason it encodes. All are safety
//! properties judged on a single step (or a state without successors), so breadth-first search
//! finds a shortest counterexample.

use super::world::{Effects, World, TICK};
use crate::model::spelled::spelled;
use crate::model::{Call, Flags, Input, State, Timer};
use crate::simulate::Side;

spelled! {
    /// A named property.
    pub enum Property {
        TimeWait2Msl = "time-wait-2msl",
        NoStaleDelivery = "no-stale-delivery",
        OrderlyClose = "orderly-close",
        Agreement = "agreement",
        NoDeadlock = "no-deadlock",
        EventuallyClosed = "eventually-closed",
    }
}

impl Property {
    /// What the property says and why TCP needs it.
    pub const fn reason(self) -> &'static str {
        match self {
            Property::TimeWait2Msl => {
                "an endpoint leaves TIME-WAIT only by its timeout (or the user's ABORT), and only 2*MSL \
                 after the last FIN it acknowledged: RFC 9293 3.6.1 MUST-13, 3.10.7.4 (restart on a \
                 retransmitted FIN), RFC 1337 (TIME-WAIT assassination)"
            }
            Property::NoStaleDelivery => {
                "no text or FIN sent by an earlier incarnation of the connection is accepted by a later \
                 one: the reason for the quiet time and TIME-WAIT (RFC 9293 3.4.2, 3.6.1)"
            }
            Property::OrderlyClose => {
                "when both users close and nobody aborts, no endpoint ends by a RST: the lost last ACK \
                 must be repaired by TIME-WAIT re-acknowledging the FIN (RFC 9293 3.6.1)"
            }
            Property::Agreement => {
                "an endpoint becomes ESTABLISHED only on the ISN its peer chose for its current \
                 connection: what the three-way handshake is for (RFC 9293 3.4, 3.5, Figure 9)"
            }
            Property::EventuallyClosed => {
                "every run that is fair to the network, the timers and the users (a step that stays \
                 possible is eventually taken) comes back to both endpoints CLOSED or LISTEN: no \
                 livelock, such as RFC 1337's endless ACK exchange, keeps a connection open forever"
            }
            Property::NoDeadlock => {
                "no connection is stuck half-way: when nothing can happen any more, every endpoint is \
                 CLOSED or LISTEN, so nobody waits forever for a segment or a timer that will not come"
            }
        }
    }
}

/// A property broken, with what happened in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub property: Property,
    pub what: String,
}

fn violation(property: Property, what: String) -> Option<Violation> {
    Some(Violation { property, what })
}

/// Judges one step from `before` to `after` against `properties`.
pub fn check_step(properties: &[Property], fx: &Effects, after: &World<'_>) -> Option<Violation> {
    let msl2 = TICK.times(2 * u64::from(after.bounds().msl));
    for side in [Side::A, Side::B] {
        let i = side as usize;
        for t in &fx.fired[i] {
            let rst = matches!(t.input, Input::Segment(f) if f.contains(Flags::RST));
            if properties.contains(&Property::TimeWait2Msl) && t.from == State::TimeWait && t.to != State::TimeWait {
                match t.input {
                    Input::Timeout(Timer::TwoMsl) => {
                        if let Some(fin) = fx.last_fin_before[i] {
                            let lasted = after.now.since(fin);
                            if lasted < msl2 {
                                return violation(
                                    Property::TimeWait2Msl,
                                    format!(
                                        "{} left TIME-WAIT at {} by its timeout, {} after the last FIN it acknowledged (at {}): less than 2*MSL = {}",
                                        side.name(), after.now, lasted, fin, msl2
                                    ),
                                );
                            }
                        }
                    }
                    Input::Call(Call::Abort) => {}
                    input => {
                        return violation(
                            Property::TimeWait2Msl,
                            format!(
                                "{} left TIME-WAIT for {} on {input} at {}, before 2*MSL = {} had passed",
                                side.name(),
                                t.to,
                                after.now,
                                msl2
                            ),
                        );
                    }
                }
            }
            if properties.contains(&Property::OrderlyClose) && rst && t.to == State::Closed && t.from != State::Closed {
                return violation(
                    Property::OrderlyClose,
                    format!(
                        "{} went {}=>CLOSED on a RST at {} although both users close and nobody aborts",
                        side.name(),
                        t.from,
                        after.now
                    ),
                );
            }
            if properties.contains(&Property::Agreement) && t.to == State::Established && t.from != State::Established {
                let (me, peer) = (after.endpoint(side), after.endpoint(side.other()));
                let (mine, theirs) = (after.ghost.incarnation[i], after.ghost.incarnation[1 - i]);
                let gone = matches!(peer.state(), State::Closed | State::Listen | State::TimeWait);
                if me.irs() != peer.iss() || mine != theirs || gone {
                    return violation(
                        Property::Agreement,
                        format!(
                            "{} (connection #{mine}) became ESTABLISHED with IRS {} at {}, but {} is in {} on connection #{theirs} with ISS {}: a connection {} never asked for",
                            side.name(), me.irs(), after.now, side.other().name(), peer.state(), peer.iss(), side.other().name()
                        ),
                    );
                }
            }
        }
    }
    if properties.contains(&Property::NoStaleDelivery) {
        if let Some((side, packet)) = &fx.accepted_from {
            let now_inc = after.ghost.incarnation[*side as usize];
            if packet.incarnation < now_inc {
                return violation(
                    Property::NoStaleDelivery,
                    format!(
                        "{} (connection #{now_inc}) accepted {} sent at {} by connection #{} of {}",
                        side.name(),
                        packet.segment,
                        packet.sent,
                        packet.incarnation,
                        side.other().name()
                    ),
                );
            }
        }
    }
    None
}

/// Judges a state with no successor.
pub fn check_final(properties: &[Property], world: &World<'_>) -> Option<Violation> {
    let idle = |s: State| matches!(s, State::Closed | State::Listen);
    if properties.contains(&Property::NoDeadlock) && !(idle(world.ends.a.state()) && idle(world.ends.b.state())) {
        return violation(
            Property::NoDeadlock,
            format!(
                "no step is possible at {}: A in {}, B in {}, nothing in flight, no timer running",
                world.now,
                world.ends.a.state(),
                world.ends.b.state()
            ),
        );
    }
    None
}
