//! Property tests of the reference endpoint against the table.
//!
//! 1. `test_endpoint_fires_the_row_the_table_names`: random user calls, segments with sequence
//!    and acknowledgment numbers chosen *relative* to the TCB (exact, in the window, old, future,
//!    random) and timeouts. Before each step the test computes, with its own transcription of the
//!    guard definitions, which row the table says must fire; the endpoint must fire exactly that
//!    row, end in its target state, never panic, and emit only well-formed segments.
//! 2. `test_lossless_pair_*`: two endpoints over a lossless link under random call schedules
//!    always end in matching states.

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use tcpcheck::endpoint::{Config, Endpoint, TcbView};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::{Atom, Call, Family, Flags, Input, Model, State, Timer, Valuation};
use tcpcheck::simulate::{Side, Sim};
use tcpcheck::time::{Duration, Instant};
use tcpcheck::wire::{Addrs, Control, Segment, SeqNum};

fn model(name: &'static str) -> &'static Model {
    static MODELS: OnceLock<Vec<(&'static str, Model)>> = OnceLock::new();
    let all = MODELS.get_or_init(|| {
        ["rfc9293", "rfc793", "no-time-wait", "two-packet-handshake", "no-2msl-restart", "rst-closes-time-wait"]
            .into_iter()
            .map(|n| (n, Shipped::find(n).unwrap().load().unwrap()))
            .collect()
    });
    &all.iter().find(|(n, _)| *n == name).unwrap().1
}

/// A number chosen relative to what the TCB expects.
#[derive(Clone, Copy, Debug)]
enum Rel {
    Exact,
    Ahead(u16),
    Old(u16),
    Future(u16),
    Random(u32),
}

#[derive(Clone, Debug)]
enum Step {
    Call(Call),
    Send(u8),
    Segment {
        flags: u8,
        seq: Rel,
        ack: Rel,
        len: u8,
    },
    /// Jump to the next timer deadline.
    Timeout,
}

fn rel() -> impl Strategy<Value = Rel> {
    prop_oneof![
        6 => Just(Rel::Exact),
        1 => any::<u16>().prop_map(Rel::Ahead),
        1 => any::<u16>().prop_map(Rel::Old),
        1 => any::<u16>().prop_map(Rel::Future),
        1 => any::<u32>().prop_map(Rel::Random),
    ]
}

/// Any flag set, with the ones a conversation is made of more often.
fn flags() -> impl Strategy<Value = u8> {
    let bits = |f: &[Flags]| f.iter().fold(Flags::NONE, |a, &b| a.union(b)).bits();
    let usual = vec![
        bits(&[Flags::SYN]),
        bits(&[Flags::SYN, Flags::ACK]),
        bits(&[Flags::ACK]),
        bits(&[Flags::ACK, Flags::DATA]),
        bits(&[Flags::FIN, Flags::ACK]),
        bits(&[Flags::RST]),
    ];
    prop_oneof![proptest::sample::select(usual), 0u8..32]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => proptest::sample::select(Call::ALL).prop_map(Step::Call),
        1 => (1u8..20).prop_map(Step::Send),
        6 => (flags(), rel(), rel(), 1u8..12).prop_map(|(flags, seq, ack, len)| Step::Segment { flags, seq, ack, len }),
        1 => Just(Step::Timeout),
    ]
}

/// The segment `step` describes, with numbers placed relative to `tcb`.
fn realize(tcb: &TcbView, flags: u8, seq: Rel, ack: Rel, len: u8) -> Segment {
    let f = Flags::from_bits(flags);
    let payload = if f.contains(Flags::DATA) { vec![0x61; usize::from(len)] } else { Vec::new() };
    let seg_len = payload.len() as u32 + u32::from(f.contains(Flags::SYN)) + u32::from(f.contains(Flags::FIN));
    let wnd = tcb.rcv_wnd.max(2);
    let seq = match seq {
        Rel::Exact => tcb.rcv_nxt,
        Rel::Ahead(k) => tcb.rcv_nxt.add(1 + u32::from(k) % (wnd - 1)),
        Rel::Old(k) => tcb.rcv_nxt.sub(seg_len + 1 + u32::from(k)),
        Rel::Future(k) => tcb.rcv_nxt.add(wnd + u32::from(k)),
        Rel::Random(x) => SeqNum(x),
    };
    let in_flight = tcb.snd_nxt.distance_from(tcb.snd_una).max(0) as u32;
    let ack = match ack {
        Rel::Exact => tcb.snd_nxt,
        Rel::Ahead(k) => tcb.snd_una.add(u32::from(k) % (in_flight + 1)),
        Rel::Old(k) => tcb.snd_una.sub(1 + u32::from(k)),
        Rel::Future(k) => tcb.snd_nxt.add(1 + u32::from(k)),
        Rel::Random(x) => SeqNum(x),
    };
    let mut ctl = Control::NONE;
    for (flag, bit) in [(Flags::SYN, Control::SYN), (Flags::FIN, Control::FIN), (Flags::RST, Control::RST)] {
        if f.contains(flag) {
            ctl = ctl.with(bit);
        }
    }
    Segment {
        src_port: 2000,
        dst_port: 1000,
        seq,
        ack: f.contains(Flags::ACK).then_some(ack),
        ctl,
        window: 4096,
        mss: f.contains(Flags::SYN).then_some(536),
        options: Vec::new(),
        payload,
    }
}

/// The guard definitions, transcribed independently of `endpoint::classify` with 64-bit signed
/// offsets instead of modular sequence numbers (README "Guards" table, RFC 9293 3.10.7.4).
fn expected_valuation(tcb: &TcbView, seg: Option<&Segment>) -> Valuation {
    let mut v = Valuation::default();
    let yes_no = |b: bool| if b { 0 } else { 1 };
    v.set(Family::RetriesLeft, yes_no(tcb.retries_left));
    v.set(Family::Passive, yes_no(tcb.passive));
    v.set(Family::ForeignKnown, yes_no(tcb.foreign_known));
    v.set(Family::SendQueued, yes_no(tcb.send_queued));
    v.set(Family::RcvBuffered, yes_no(tcb.rcv_buffered));
    v.set(Family::Listening, yes_no(tcb.listening));
    let Some(seg) = seg else { return v };
    let off = |x: SeqNum, base: SeqNum| i64::from(x.0.wrapping_sub(base.0) as i32);
    let len = i64::from(seg.len());
    let wnd = i64::from(tcb.rcv_wnd);
    let s = off(seg.seq, tcb.rcv_nxt);
    let inside = |x: i64| 0 <= x && x < wnd;
    let acceptable = match (len, wnd) {
        (0, 0) => s == 0,
        (0, _) => inside(s),
        (_, 0) => false,
        _ => inside(s) || inside(s + len - 1),
    };
    let seq_atom = match (acceptable, s <= 0, s + len <= 0) {
        (true, true, _) => Atom::SeqOk,
        (true, false, _) => Atom::SeqAhead,
        (false, _, true) => Atom::SeqOld,
        (false, _, false) => Atom::SeqFuture,
    };
    v.set(Family::Seq, seq_atom.value());
    let rst = if s == 0 {
        Atom::RstExact
    } else if inside(s) {
        Atom::RstInWindow
    } else {
        Atom::RstOutside
    };
    v.set(Family::Rst, rst.value());
    v.set(Family::FinAcked, 1);
    if let Some(ack) = seg.ack {
        let a = off(ack, tcb.snd_una);
        let nxt = off(tcb.snd_nxt, tcb.snd_una);
        let atom = if a == 0 {
            Atom::AckDup
        } else if a < 0 {
            Atom::AckOld
        } else if a <= nxt {
            Atom::AckOk
        } else {
            Atom::AckFuture
        };
        v.set(Family::Ack, atom.value());
        if let (Atom::AckOk, Some(fin)) = (atom, tcb.fin_seq) {
            v.set(Family::FinAcked, yes_no(off(ack, fin) >= 1));
        }
    }
    v
}

const A_TO_B: Addrs = Addrs::V4 { src: Ipv4Addr::new(10, 0, 0, 1), dst: Ipv4Addr::new(10, 0, 0, 2) };

/// Runs `steps` against a fresh endpoint of `model`, checking every step; returns the rows fired.
fn check_steps(model: &'static Model, steps: &[Step], short_user_timeout: bool) -> Result<Vec<usize>, TestCaseError> {
    // Short timers, so that giving up (R2) or, when it is shorter, the user timeout happen.
    let user_timeout =
        Some(if short_user_timeout { Duration::from_micros(2_500_000) } else { Duration::from_secs(300) });
    let config = Config { max_retries: 2, rto: Duration::from_secs(1), user_timeout, ..Config::default() };
    let mut ep = Endpoint::new(model, config);
    let mut now = Instant::ZERO;
    let mut fired = Vec::new();
    for step in steps {
        let before = ep.transitions().len();
        let tcb = ep.view();
        let (input, valuation) = match *step {
            Step::Call(call) => {
                ep.handle_user(now, call);
                (Input::Call(call), expected_valuation(&tcb, None))
            }
            Step::Send(n) => {
                ep.send(now, &vec![0x62; usize::from(n)]);
                (Input::Call(Call::Send), expected_valuation(&tcb, None))
            }
            Step::Segment { flags, seq, ack, len } => {
                let seg = realize(&tcb, flags, seq, ack, len);
                ep.handle_segment(now, &seg);
                (Input::Segment(seg.flags()), expected_valuation(&tcb, Some(&seg)))
            }
            Step::Timeout => {
                let Some(at) = ep.poll_timeout() else { continue };
                let timer = Timer::ALL.iter().copied().filter(|&t| ep.deadline(t) == Some(at)).min().unwrap();
                now = at;
                ep.handle_timeout(now);
                (Input::Timeout(timer), expected_valuation(&tcb, None))
            }
        };
        let (index, row) = model
            .fire(tcb.state, input, &valuation)
            .ok_or_else(|| TestCaseError::fail(format!("no row for {} {input}", tcb.state)))?;
        let log = &ep.transitions()[before..];
        prop_assert!(!log.is_empty(), "{step:?}: nothing fired in {}", tcb.state);
        prop_assert_eq!(
            log[0].row,
            index,
            "{:?} in {}: fired line {}, table says line {}",
            step,
            tcb.state,
            model.rows()[log[0].row].line,
            row.line
        );
        prop_assert_eq!(log[0].to, row.rule.to);
        prop_assert_eq!(ep.state(), log[log.len() - 1].to);
        fired.extend(log.iter().map(|t| t.row));
        while let Some(out) = ep.poll_transmit() {
            let bytes = out.to_ip(A_TO_B).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = Segment::from_ip(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back.segment, &out);
            prop_assert!(!out.ctl.contains(Control::RST) || out.payload.is_empty(), "RST with data: {out}");
        }
        while ep.poll_event().is_some() {}
    }
    Ok(fired)
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn test_endpoint_fires_the_row_the_table_names(steps in steps(), short in any::<bool>()) {
        check_steps(model("rfc9293"), &steps, short)?;
    }

    #[test]
    fn test_endpoint_fires_the_row_the_table_names_rfc793(steps in steps(), short in any::<bool>()) {
        check_steps(model("rfc793"), &steps, short)?;
    }

    #[test]
    fn test_endpoint_fires_the_row_the_table_names_mutants(steps in steps(), short in any::<bool>(), which in 0usize..4) {
        let name = ["no-time-wait", "two-packet-handshake", "no-2msl-restart", "rst-closes-time-wait"][which];
        check_steps(model(name), &steps, short)?;
    }
}

/// Guards the generator: random steps must reach most of the table, or the test above proves
/// little. The rows never reached need facts the generator does not vary (an OPEN without a
/// foreign socket) or long specific histories.
#[test]
fn test_random_steps_cover_most_rows() {
    let m = model("rfc9293");
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig::default(),
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let mut hit = vec![false; m.rows().len()];
    for i in 0..3000 {
        let steps = steps().new_tree(&mut runner).unwrap().current();
        for row in check_steps(m, &steps, i % 2 == 0).unwrap() {
            hit[row] = true;
        }
    }
    let covered = hit.iter().filter(|h| **h).count();
    let missing: Vec<usize> = m.rows().iter().zip(&hit).filter(|(_, h)| !**h).map(|(r, _)| r.line).collect();
    assert!(covered * 100 >= m.rows().len() * 80, "{covered}/{} rows; never fired: lines {missing:?}", m.rows().len());
}

/// What the user does on one side: some sends, then maybe a close or an abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Stay,
    Close,
    Abort,
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![Just(End::Stay), Just(End::Close), Just(End::Abort)]
}

fn pair(name: &'static str, sends: (u8, u8), ends: (End, End), gaps: (u8, u8)) -> Result<(), TestCaseError> {
    let m = model(name);
    let mut sim = Sim::new(m, Some(Duration::from_secs(1)));
    sim.call(Side::B, Call::OpenPassive);
    sim.call(Side::A, Call::OpenActive);
    sim.run_until(1000, "both ESTABLISHED", |s| {
        s.state(Side::A) == State::Established && s.state(Side::B) == State::Established
    })
    .map_err(|e| TestCaseError::fail(e.0))?;
    // Sends, then the ends, with random numbers of events in between (data still in flight).
    sim.send(Side::A, &vec![0x63; usize::from(sends.0)]);
    for _ in 0..gaps.0 {
        sim.step();
    }
    sim.send(Side::B, &vec![0x64; usize::from(sends.1)]);
    for _ in 0..gaps.1 {
        sim.step();
    }
    for (side, e) in [(Side::A, ends.0), (Side::B, ends.1)] {
        match e {
            End::Stay => {}
            End::Close => sim.call(side, Call::Close),
            End::Abort => sim.call(side, Call::Abort),
        }
    }
    sim.run_until_quiet(100_000).map_err(|e| TestCaseError::fail(e.0))?;
    let (a, b) = (sim.state(Side::A), sim.state(Side::B));
    let expected = match ends {
        (End::Stay, End::Stay) => (State::Established, State::Established),
        (End::Abort, _) | (_, End::Abort) | (End::Close, End::Close) => (State::Closed, State::Closed),
        (End::Close, End::Stay) => (State::FinWait2, State::CloseWait),
        (End::Stay, End::Close) => (State::CloseWait, State::FinWait2),
    };
    prop_assert_eq!((a, b), expected, "{:?} {:?} {:?}", sends, ends, gaps);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn test_lossless_pair_ends_in_matching_states_rfc9293(sends in (0u8..50, 0u8..50), ends in (end(), end()), gaps in (0u8..8, 0u8..8)) {
        pair("rfc9293", sends, ends, gaps)?;
    }

    #[test]
    fn test_lossless_pair_ends_in_matching_states_rfc793(sends in (0u8..50, 0u8..50), ends in (end(), end()), gaps in (0u8..8, 0u8..8)) {
        pair("rfc793", sends, ends, gaps)?;
    }
}
