//! The scripted scenarios of `tcpcheck simulate`. Each drives the two endpoints with user calls,
//! losses and forged segments; the table decides everything else.

use super::{Side, Sim, Stuck};
use crate::model::{Call, State};
use crate::wire::{Control, Segment};

/// Events a scenario may process before it counts as stuck.
const STEPS: usize = 10_000;

/// A named script.
#[derive(Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&mut Sim<'_>) -> Result<(), Stuck>,
}

impl Scenario {
    pub fn find(name: &str) -> Option<Scenario> {
        SCENARIOS.iter().copied().find(|s| s.name == name)
    }
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "handshake", about: "B listens, A opens: the three-way handshake", run: handshake },
    Scenario {
        name: "simultaneous-open",
        about: "A and B open actively at the same instant (RFC 9293 Figure 7)",
        run: simultaneous_open,
    },
    Scenario {
        name: "data",
        about: "after the handshake each side sends a few bytes and receives the other's",
        run: data,
    },
    Scenario {
        name: "close",
        about: "A closes, then B: FIN-WAIT, CLOSE-WAIT, LAST-ACK and 2*MSL of TIME-WAIT",
        run: close,
    },
    Scenario {
        name: "simultaneous-close",
        about: "A and B close at the same instant: both pass CLOSING",
        run: simultaneous_close,
    },
    Scenario {
        name: "lost-last-ack",
        about: "the ACK of B's FIN is lost: B retransmits its FIN, and TIME-WAIT (if any) answers it",
        run: lost_last_ack,
    },
    Scenario { name: "refused", about: "A sends a SYN to a port where nothing listens", run: refused },
    Scenario {
        name: "rst-in-window",
        about: "a forged RST in A's window but not at RCV.NXT: challenge ACK (RFC 5961) or reset (RFC 793)",
        run: rst_in_window,
    },
];

fn both(sim: &Sim<'_>, state: State) -> bool {
    sim.state(Side::A) == state && sim.state(Side::B) == state
}

fn handshake(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    sim.call(Side::B, Call::OpenPassive);
    sim.call(Side::A, Call::OpenActive);
    sim.run_until(STEPS, "both sides ESTABLISHED", |s| both(s, State::Established))?;
    sim.run_until_quiet(STEPS)
}

fn simultaneous_open(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    sim.call(Side::A, Call::OpenActive);
    sim.call(Side::B, Call::OpenActive);
    sim.run_until(STEPS, "both sides ESTABLISHED", |s| both(s, State::Established))?;
    sim.run_until_quiet(STEPS)
}

fn data(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    handshake(sim)?;
    sim.send(Side::A, b"hello, B");
    sim.send(Side::B, b"hello, A");
    sim.run_until_quiet(STEPS)?;
    sim.call(Side::A, Call::Receive);
    sim.call(Side::B, Call::Receive);
    Ok(())
}

/// Handshake, then A closes and B, once it has A's FIN, closes too.
fn close(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    handshake(sim)?;
    sim.call(Side::A, Call::Close);
    sim.run_until(STEPS, "B to learn of A's FIN", |s| s.state(Side::B) != State::Established)?;
    sim.call(Side::B, Call::Close);
    sim.run_until_quiet(STEPS)
}

fn simultaneous_close(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    handshake(sim)?;
    sim.call(Side::A, Call::Close);
    sim.call(Side::B, Call::Close);
    sim.run_until_quiet(STEPS)
}

/// A pure acknowledgment: no control bits, no text.
fn pure_ack(s: &Segment) -> bool {
    s.ack.is_some() && s.payload.is_empty() && s.ctl == Control::NONE
}

fn lost_last_ack(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    handshake(sim)?;
    sim.call(Side::A, Call::Close);
    sim.run_until(STEPS, "B to learn of A's FIN", |s| s.state(Side::B) == State::CloseWait)?;
    // A's next pure ACK answers B's FIN: the last ACK of the connection.
    sim.lose(Side::A, 0, pure_ack);
    sim.call(Side::B, Call::Close);
    sim.run_until_quiet(STEPS)
}

fn refused(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    sim.call(Side::A, Call::OpenActive);
    sim.run_until_quiet(STEPS)
}

fn rst_in_window(sim: &mut Sim<'_>) -> Result<(), Stuck> {
    handshake(sim)?;
    let a = sim.endpoint(Side::A).view();
    let config = sim.endpoint(Side::A).config();
    let forged = Segment {
        src_port: config.remote_port,
        dst_port: config.local_port,
        seq: a.rcv_nxt.add(a.rcv_wnd / 2),
        ctl: Control::RST,
        ..Segment::default()
    };
    sim.inject(Side::A, forged);
    sim.run_until_quiet(STEPS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;
    use crate::model::{Model, Signal};
    use crate::simulate::Entry;
    use crate::time::Duration;

    fn model(name: &str) -> Model {
        Shipped::find(name).unwrap().load().unwrap()
    }

    fn run<'m>(model: &'m Model, scenario: &str) -> Sim<'m> {
        let mut sim = Sim::new(model, None);
        (Scenario::find(scenario).unwrap().run)(&mut sim).unwrap();
        sim
    }

    fn sent_rst(sim: &Sim<'_>) -> bool {
        sim.trace()
            .iter()
            .any(|e| matches!(e, Entry::Sent { segment, forged: false, .. } if segment.ctl.contains(Control::RST)))
    }

    fn told(sim: &Sim<'_>, side: Side, signal: Signal) -> bool {
        let wanted = crate::endpoint::Event::Signal(signal);
        sim.trace().iter().any(|e| matches!(e, Entry::Told { side: s, event, .. } if *s == side && *event == wanted))
    }

    #[test]
    fn every_scenario_settles_under_every_shipped_model() {
        for name in Shipped::names() {
            let m = model(name);
            for scenario in SCENARIOS {
                let mut sim = Sim::new(&m, None);
                if let Err(Stuck(why)) = (scenario.run)(&mut sim) {
                    panic!("{} under {name}: {why}", scenario.name);
                }
            }
        }
    }

    #[test]
    fn test_established_data_both_ways() {
        let m = model("rfc9293");
        let sim = run(&m, "data");
        let got: Vec<&[u8]> = sim
            .trace()
            .iter()
            .filter_map(|e| match e {
                Entry::Told { event: crate::endpoint::Event::Data(d), .. } => Some(d.as_slice()),
                _ => None,
            })
            .collect();
        assert_eq!(got, [b"hello, A".as_slice(), b"hello, B".as_slice()]);
    }

    #[test]
    fn test_time_wait_fin_retransmission_reacked_and_2msl_restarted() {
        let m = model("rfc9293");
        let sim = run(&m, "lost-last-ack");
        assert!(!sent_rst(&sim), "no RST may be sent when TIME-WAIT is kept");
        assert!(both(&sim, State::Closed));
        // A left TIME-WAIT 2*MSL after the retransmitted FIN, not after the first one.
        let fins_at_a: Vec<_> = sim
            .trace()
            .iter()
            .filter_map(|e| match e {
                Entry::Transition { side: Side::A, transition: t, .. }
                    if t.from == State::TimeWait || t.to == State::TimeWait =>
                {
                    Some(*t)
                }
                _ => None,
            })
            .collect();
        let last_fin = fins_at_a.iter().rev().find(|t| t.to == State::TimeWait).unwrap();
        let leave = fins_at_a.iter().find(|t| t.to == State::Closed).unwrap();
        assert!(fins_at_a.len() >= 3, "{fins_at_a:?}");
        assert_eq!(leave.at.since(last_fin.at), Duration::from_secs(240));
        assert!(!told(&sim, Side::B, Signal::Reset));
    }

    #[test]
    fn test_no_time_wait_lost_last_ack_draws_rst() {
        let m = model("no-time-wait");
        let sim = run(&m, "lost-last-ack");
        assert!(sent_rst(&sim), "the retransmitted FIN must meet CLOSED and draw a RST");
        assert!(both(&sim, State::Closed));
    }

    #[test]
    fn test_syn_sent_rst_refused() {
        let m = model("rfc9293");
        let sim = run(&m, "refused");
        assert_eq!(sim.state(Side::A), State::Closed);
        assert!(told(&sim, Side::A, Signal::Reset));
    }

    #[test]
    fn test_established_rst_in_window_challenge_ack_or_reset() {
        let m = model("rfc9293");
        let sim = run(&m, "rst-in-window");
        assert!(both(&sim, State::Established), "RFC 5961: a challenge ACK, no reset");
        let m = model("rfc793");
        let sim = run(&m, "rst-in-window");
        assert_eq!(sim.state(Side::A), State::Closed, "RFC 793: any RST in the window resets");
        assert!(told(&sim, Side::A, Signal::Reset));
    }

    #[test]
    fn test_closing_simultaneous_close_passes_closing() {
        let m = model("rfc9293");
        let sim = run(&m, "simultaneous-close");
        let passed = |side| {
            sim.trace().iter().any(|e| matches!(e, Entry::Transition { side: s, transition: t, .. } if *s == side && t.to == State::Closing))
        };
        assert!(passed(Side::A) && passed(Side::B));
        assert!(both(&sim, State::Closed));
    }

    #[test]
    fn test_syn_sent_simultaneous_open_passes_syn_received() {
        let m = model("rfc9293");
        let sim = run(&m, "simultaneous-open");
        assert!(both(&sim, State::Established));
        assert_eq!(sim.endpoint(Side::A).irs(), sim.endpoint(Side::B).iss());
        assert_eq!(sim.endpoint(Side::B).irs(), sim.endpoint(Side::A).iss());
    }
}
