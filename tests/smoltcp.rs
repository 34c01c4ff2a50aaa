//! smoltcp under the conformance harness: every named seed, the TIME-WAIT facts measured on the
//! wire, the fuzz loop from the command line, and the committed findings replayed.
//!
//! Seeds where smoltcp conforms must draw no verdict; seeds where it deviates pin the exact
//! verdict (check and row), so a smoltcp upgrade that changes behaviour fails here first.
//! `docs/findings/smoltcp.md` explains each deviation with the smoltcp source that causes it.

mod common;

use tcpcheck::adapter::Smoltcp;
use tcpcheck::conform::{Check, Oracle, Stack};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::{Call, Model, State};
use tcpcheck::time::{Duration, Instant};
use tcpcheck::wire::{Control, Segment, SeqNum};

fn rfc9293() -> Model {
    Shipped::find("rfc9293").unwrap().load().unwrap()
}

/// What each seed draws from smoltcp 0.14.0: `None` where it conforms, else (check, row).
const EXPECTED: &[(&str, Option<(Check, &str)>)] = &[
    ("passive-data-close", None),
    // CLOSE_DELAY: TIME-WAIT lasts 10 s, not 2*MSL.
    ("active-time-wait", Some((Check::TimeWait2Msl, "models/rfc9293.tcp:200"))),
    // The same 10 s end it before the first retransmitted FIN comes at 1 MSL.
    ("time-wait-fin-again", Some((Check::TimeWait2Msl, "models/rfc9293.tcp:200"))),
    // Any in-window RST closes, TIME-WAIT included (RFC 1337).
    ("time-wait-rst", Some((Check::RstTimeWait, "models/rfc9293.tcp:249"))),
    // An in-window RST that is not exact resets instead of drawing a challenge ACK.
    ("challenge-acks", Some((Check::ChallengeAck, "models/rfc9293.tcp:152"))),
    ("simultaneous-close", None),
    // smoltcp never gives up (no R2), and declares so; the backoff is followed by the oracle.
    ("retransmit-and-give-up", None),
    ("closed-port", None),
];

#[test]
fn every_seed_draws_its_pinned_verdict() {
    common::assert_seeds_pinned(&mut Smoltcp::new(1), EXPECTED);
}

#[test]
fn runs_are_deterministic() {
    common::assert_deterministic(&mut Smoltcp::new(3), &mut Smoltcp::new(3));
}

// ---- TIME-WAIT on the wire --------------------------------------------------------------------

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn sent(stack: &mut Smoltcp) -> Vec<Segment> {
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    while stack.transmit(&mut buf) {
        out.push(Segment::from_ip(&buf).expect("smoltcp sends valid packets").segment);
    }
    out
}

fn from_peer(stack: &mut Smoltcp, now: Instant, seq: SeqNum, ack: SeqNum, ctl: Control) {
    from_peer_window(stack, now, seq, ack, ctl, 8192);
}

fn from_peer_window(stack: &mut Smoltcp, now: Instant, seq: SeqNum, ack: SeqNum, ctl: Control, window: u16) {
    let hosts = stack.params().hosts;
    let seg = Segment {
        src_port: hosts.peer().port(),
        dst_port: hosts.stack().port(),
        seq,
        ack: Some(ack),
        ctl,
        window,
        mss: ctl.contains(Control::SYN).then_some(1000),
        options: Vec::new(),
        payload: Vec::new(),
    };
    let mut bytes = Vec::new();
    seg.write_ip(hosts.inbound(), &mut bytes).unwrap();
    stack.inject(now, &bytes);
}

const PEER_ISS: SeqNum = SeqNum(5000);

/// An active close into TIME-WAIT at 10 ms; the stack's FIN is at `iss + 1`.
fn time_wait() -> (Smoltcp, SeqNum) {
    let mut stack = Smoltcp::new(1);
    stack.call(Instant::ZERO, Call::OpenActive, &[]);
    let iss = sent(&mut stack)[0].seq;
    from_peer(&mut stack, at(1), PEER_ISS, iss.add(1), Control::SYN);
    stack.call(at(2), Call::Close, &[]);
    from_peer(&mut stack, at(3), PEER_ISS.add(1), iss.add(2), Control::NONE);
    from_peer(&mut stack, at(10), PEER_ISS.add(1), iss.add(2), Control::FIN);
    assert_eq!(stack.state(), Some(State::TimeWait));
    // The ACK of the FIN may wait for the delayed-ACK timer (10 ms): let it out.
    stack.advance(at(100));
    let _ = sent(&mut stack);
    (stack, iss)
}

#[test]
fn time_wait_lasts_10_s_from_the_last_fin() {
    let (mut stack, _) = time_wait();
    stack.advance(at(10_009));
    assert_eq!(stack.state(), Some(State::TimeWait));
    stack.advance(at(10_010));
    assert_eq!(stack.state(), Some(State::Closed), "CLOSE_DELAY is 10 s, against 2*MSL = 240 s");
}

#[test]
fn time_wait_re_acks_a_retransmitted_fin_and_restarts() {
    let (mut stack, iss) = time_wait();
    from_peer(&mut stack, at(5_000), PEER_ISS.add(1), iss.add(2), Control::FIN);
    let ack = sent(&mut stack);
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!(ack[0].ack, Some(PEER_ISS.add(2)));
    stack.advance(at(14_999));
    assert_eq!(stack.state(), Some(State::TimeWait), "the retransmitted FIN restarted the 10 s");
    stack.advance(at(15_000));
    assert_eq!(stack.state(), Some(State::Closed));
}

#[test]
fn time_wait_restarts_on_a_fin_it_does_not_re_ack() {
    // The re-ACK goes through the challenge-ACK limiter (one per second); the restart does not.
    let (mut stack, iss) = time_wait();
    from_peer(&mut stack, at(5_000), PEER_ISS.add(1), iss.add(2), Control::FIN);
    assert_eq!(sent(&mut stack).len(), 1);
    from_peer(&mut stack, at(5_500), PEER_ISS.add(1), iss.add(2), Control::FIN);
    assert!(sent(&mut stack).is_empty(), "second FIN within 1 s: throttled");
    stack.advance(at(15_499));
    assert_eq!(stack.state(), Some(State::TimeWait));
    stack.advance(at(15_500));
    assert_eq!(stack.state(), Some(State::Closed));
}

#[test]
fn an_in_window_rst_ends_time_wait_an_old_one_does_not() {
    let (mut stack, iss) = time_wait();
    from_peer(&mut stack, at(20), PEER_ISS, iss.add(2), Control::RST);
    assert_eq!(stack.state(), Some(State::TimeWait), "an out-of-window RST is dropped");
    from_peer(&mut stack, at(30), PEER_ISS.add(2), iss.add(2), Control::RST);
    assert_eq!(stack.state(), Some(State::Closed), "RFC 1337 TIME-WAIT assassination");
    assert!(sent(&mut stack).is_empty());
}

/// Finding 16: text and FIN in flight, the peer ACKs part of the text with a zero window (the
/// zero-window-probe timer starts), then everything with a zero window (FIN-WAIT-2, the timer is
/// left armed). When it expires, every `dispatch` sends an ACK and never rewinds it, so one
/// `Interface::poll` floods until the device refuses: here [`TX_LIMIT`] identical ACKs.
#[test]
fn a_probe_timer_left_armed_in_fin_wait_2_floods_acks() {
    use tcpcheck::adapter::smoltcp::TX_LIMIT;
    let mut stack = Smoltcp::new(1);
    stack.call(Instant::ZERO, Call::OpenActive, &[]);
    let iss = sent(&mut stack)[0].seq;
    from_peer(&mut stack, at(1), PEER_ISS, iss.add(1), Control::SYN);
    stack.call(at(2), Call::Send, b"0123456789");
    stack.call(at(2), Call::Close, &[]);
    assert_eq!(stack.state(), Some(State::FinWait1));
    let _ = sent(&mut stack);
    from_peer_window(&mut stack, at(3), PEER_ISS.add(1), iss.add(6), Control::NONE, 0);
    from_peer_window(&mut stack, at(4), PEER_ISS.add(1), iss.add(12), Control::NONE, 0);
    assert_eq!(stack.state(), Some(State::FinWait2));
    let _ = sent(&mut stack);
    stack.advance(at(2_000));
    let flood = sent(&mut stack);
    assert_eq!(flood.len(), TX_LIMIT, "the flood is cut only by the device limit");
    assert!(flood.iter().all(|s| s.ctl == Control::NONE && s.payload.is_empty() && s.ack == Some(PEER_ISS.add(1))));
}

/// An ESTABLISHED active open with ten octets sent at 2 ms (at `iss + 1`), not yet ACKed.
fn ten_octets_in_flight() -> (Smoltcp, SeqNum) {
    let mut stack = Smoltcp::new(1);
    stack.call(Instant::ZERO, Call::OpenActive, &[]);
    let iss = sent(&mut stack)[0].seq;
    from_peer(&mut stack, at(1), PEER_ISS, iss.add(1), Control::SYN);
    stack.call(at(2), Call::Send, b"0123456789");
    let out = sent(&mut stack);
    assert!(out.iter().any(|s| s.payload.len() == 10), "{out:?}");
    (stack, iss)
}

/// Open issue "zero window with text in flight", confirmed: the peer closes its window with an
/// ACK that acknowledges nothing new. The retransmission timer keeps running (the probe timer
/// starts only on an ACK of new data or from idle, `process` 2194-2199); when it expires,
/// `dispatch` rewinds to SND.UNA and sets the timer idle (2505-2509), cannot send into the
/// closed window and has no probe to send: nothing goes out, ever, and nothing is scheduled.
/// RFC 9293 3.8.6.1 (MUST-36) asks the sender to keep probing; if the peer's window update is
/// lost, the connection stalls for good.
#[test]
fn a_window_closed_without_new_ack_is_never_probed() {
    let (mut stack, iss) = ten_octets_in_flight();
    from_peer_window(&mut stack, at(3), PEER_ISS.add(1), iss.add(1), Control::NONE, 0);
    let mut out = sent(&mut stack);
    for s in [1, 2, 5, 10, 30, 60, 120, 300] {
        stack.advance(at(s * 1000));
        out.extend(sent(&mut stack));
    }
    assert!(out.is_empty(), "smoltcp sent {out:?}");
    assert_eq!(stack.next_deadline(), None, "no timer left: the connection waits for the peer");
    assert_eq!(stack.state(), Some(State::Established));
}

/// The contrast: the same closed window announced with an ACK of new data (five of the ten
/// octets) starts the probe timer. With nothing unsent, smoltcp's probe is a pure ACK at SND.NXT
/// (`dispatch` 2659-2661 asks for one octet, the buffer has none beyond the flight), which a
/// receiver with a closed window finds unacceptable and answers: it works as a probe.
#[test]
fn a_window_closed_with_new_ack_is_probed() {
    let (mut stack, iss) = ten_octets_in_flight();
    from_peer_window(&mut stack, at(3), PEER_ISS.add(1), iss.add(6), Control::NONE, 0);
    let _ = sent(&mut stack);
    let mut probes = Vec::new();
    for s in 1..=30 {
        stack.advance(at(s * 1000));
        probes.extend(sent(&mut stack));
    }
    assert!(probes.len() >= 3, "{probes:?}");
    assert!(probes.iter().all(|p| p.seq == iss.add(11) && p.payload.is_empty()), "{probes:?}");
}

#[test]
fn smoltcp_declares_what_its_source_says() {
    let stack = Smoltcp::new(1);
    let p = stack.params();
    assert_eq!(p.name, "smoltcp 0.14.0");
    assert_eq!(p.time_wait, Some(Duration::from_secs(10)));
    assert_eq!((p.rto, p.window, p.mss), (Duration::from_secs(1), 4096, 536));
    assert_eq!(p.ack_delay, Duration::from_micros(10_000));
    assert_eq!(p.max_retries, u32::MAX, "no R2 without set_timeout");
    assert_eq!(stack.ack_throttle(), Some(Duration::from_secs(1)));
}

// ---- the fuzz loop and the findings ------------------------------------------------------------

#[test]
fn the_fuzz_loop_runs_smoltcp_without_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = common::fuzz_finds("smoltcp", dir.path());
    assert!(stdout.contains("time-wait-2msl"), "{stdout}");
}

#[test]
fn each_committed_finding_replays_to_its_verdict() {
    common::assert_findings_replay("smoltcp", 5, Smoltcp::new, |_, _| {});
}

/// The fuzz loop's speed on smoltcp against the reference stack, measured in one run so the
/// machine's load is the same for both (best of three rounds each). Run it optimised:
/// `cargo test --release --test smoltcp throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: run it with --release"]
#[allow(clippy::disallowed_methods)]
fn throughput_against_the_reference() {
    use tcpcheck::adapter::Reference;
    use tcpcheck::conform::fuzz::Fuzzer;

    fn rate(oracle: &Oracle<'_>, stack: &mut dyn Stack, runs: u64) -> f64 {
        (0..3)
            .map(|_| {
                let mut fuzzer = Fuzzer::new(oracle, stack, 1, true);
                let start = std::time::Instant::now();
                fuzzer.round(runs);
                fuzzer.stats.runs as f64 / start.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max)
    }
    let model = rfc9293();
    let mut reference = Reference::new(&model, 3);
    let reference_oracle = Oracle::new(&model, reference.params().clone());
    let mut smoltcp = Smoltcp::new(3);
    let smoltcp_oracle = Oracle::new(&model, smoltcp.params().clone());
    let runs = 200_000;
    let r = rate(&reference_oracle, &mut reference, runs);
    let s = rate(&smoltcp_oracle, &mut smoltcp, runs);
    println!("fuzz loop, one thread, {runs} runs: reference {r:.0} runs/s, smoltcp {s:.0} runs/s ({:.2}x)", s / r);
}
