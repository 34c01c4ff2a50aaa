//! The reference endpoint on hand-built segments: paths through the table where what the rows
//! leave to the endpoint (queued calls, timers, sequence numbers) matters.

use tcpcheck::endpoint::{Config, Endpoint};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::{Call, Model, State, Timer};
use tcpcheck::time::Instant;
use tcpcheck::wire::{Control, Segment, SeqNum};

fn rfc9293() -> Model {
    Shipped::find("rfc9293").unwrap().load().unwrap()
}

const PEER_ISS: SeqNum = SeqNum(5000);

fn from_peer(ep: &Endpoint<'_>, seq: SeqNum, ack: Option<SeqNum>, ctl: Control, text: &[u8]) -> Segment {
    let cfg = ep.config();
    Segment {
        src_port: cfg.remote_port,
        dst_port: cfg.local_port,
        seq,
        ack,
        ctl,
        window: 4096,
        mss: (ctl.contains(Control::SYN)).then_some(536),
        options: Vec::new(),
        payload: text.to_vec(),
    }
}

fn drain(ep: &mut Endpoint<'_>) -> Vec<Segment> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

/// A passive open that is in SYN-RECEIVED, its SYN|ACK taken off the wire.
fn syn_received(model: &Model) -> Endpoint<'_> {
    let mut ep = Endpoint::new(model, Config::default());
    ep.handle_user(Instant::ZERO, Call::OpenPassive);
    let syn = from_peer(&ep, PEER_ISS, None, Control::SYN, b"");
    ep.handle_segment(Instant::ZERO, &syn);
    assert_eq!(ep.state(), State::SynReceived);
    drain(&mut ep);
    ep
}

#[test]
fn syn_received_fin_ack_runs_the_queued_send_and_times_it() {
    // SEND in SYN-RECEIVED is queued (3.10.2); the peer's ACK of our SYN comes with its FIN,
    // so the connection lands in CLOSE-WAIT. The queued text goes out there, and the RTO that
    // retransmits it runs.
    let model = rfc9293();
    let mut ep = syn_received(&model);
    ep.send(Instant::ZERO, b"abc");
    assert!(drain(&mut ep).is_empty(), "queued until ESTABLISHED");
    let fin = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(1)), Control::FIN, b"");
    ep.handle_segment(Instant::ZERO, &fin);
    assert_eq!(ep.state(), State::CloseWait);
    let out = drain(&mut ep);
    assert!(out.iter().any(|s| s.payload == b"abc"), "{out:?}");
    let rto = ep.deadline(Timer::Rto).expect("the RTO times the text");
    ep.handle_timeout(rto);
    let again = drain(&mut ep);
    assert!(again.iter().any(|s| s.payload == b"abc" && s.seq == ep.iss().add(1)), "{again:?}");
}

#[test]
fn syn_received_fin_ack_runs_a_queued_close() {
    // CLOSE after a SEND in SYN-RECEIVED is queued behind it (3.10.4); in CLOSE-WAIT it sends
    // our FIN after the text and enters LAST-ACK.
    let model = rfc9293();
    let mut ep = syn_received(&model);
    ep.send(Instant::ZERO, b"abc");
    ep.handle_user(Instant::ZERO, Call::Close);
    assert_eq!(ep.state(), State::SynReceived);
    let fin = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(1)), Control::FIN, b"");
    ep.handle_segment(Instant::ZERO, &fin);
    assert_eq!(ep.state(), State::LastAck);
    let out = drain(&mut ep);
    let fin_at = ep.iss().add(4);
    assert!(out.iter().any(|s| s.ctl.contains(Control::FIN) && s.seq == fin_at), "{out:?}");
}

#[test]
fn established_seq_ahead_takes_its_ack() {
    // An out-of-order segment in the window is acceptable: its text is dropped, its ACK is not
    // (RFC 9293 3.10.7.4, fifth check). Once it acknowledges all our text, nothing is left to
    // retransmit.
    let model = rfc9293();
    let mut ep = syn_received(&model);
    let ack = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(1)), Control::NONE, b"");
    ep.handle_segment(Instant::ZERO, &ack);
    assert_eq!(ep.state(), State::Established);
    ep.send(Instant::ZERO, b"abc");
    drain(&mut ep);
    assert!(ep.deadline(Timer::Rto).is_some());
    let ahead = from_peer(&ep, PEER_ISS.add(11), Some(ep.iss().add(4)), Control::PSH, b"xyz");
    ep.handle_segment(Instant::ZERO, &ahead);
    let out = drain(&mut ep);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, Some(PEER_ISS.add(1)), "the text ahead is not taken");
    assert_eq!(ep.view().snd_una, ep.iss().add(4));
    assert_eq!(ep.deadline(Timer::Rto), None, "nothing outstanding");
}

#[test]
fn syn_received_seq_ahead_establishes_or_resets_by_its_ack() {
    let model = rfc9293();
    let mut ep = syn_received(&model);
    let ahead = from_peer(&ep, PEER_ISS.add(11), Some(ep.iss().add(1)), Control::PSH, b"xyz");
    ep.handle_segment(Instant::ZERO, &ahead);
    assert_eq!(ep.state(), State::Established);
    let out = drain(&mut ep);
    assert_eq!(out.iter().map(|s| (s.ctl, s.ack)).collect::<Vec<_>>(), [(Control::NONE, Some(PEER_ISS.add(1)))]);

    let mut ep = syn_received(&model);
    let bad = ep.iss().add(7);
    let ahead = from_peer(&ep, PEER_ISS.add(11), Some(bad), Control::PSH, b"xyz");
    ep.handle_segment(Instant::ZERO, &ahead);
    assert_eq!(ep.state(), State::SynReceived);
    let out = drain(&mut ep);
    assert_eq!(out.iter().map(|s| (s.ctl, s.seq)).collect::<Vec<_>>(), [(Control::RST, bad)]);
}

#[test]
fn fin_wait_1_seq_ahead_that_acks_our_fin_enters_fin_wait_2() {
    let model = rfc9293();
    let mut ep = syn_received(&model);
    let ack = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(1)), Control::NONE, b"");
    ep.handle_segment(Instant::ZERO, &ack);
    ep.handle_user(Instant::ZERO, Call::Close);
    assert_eq!(ep.state(), State::FinWait1);
    drain(&mut ep);
    let ahead = from_peer(&ep, PEER_ISS.add(11), Some(ep.iss().add(2)), Control::PSH, b"xyz");
    ep.handle_segment(Instant::ZERO, &ahead);
    assert_eq!(ep.state(), State::FinWait2);
    assert_eq!(ep.deadline(Timer::Rto), None);
}

#[test]
fn send_octet_reads_flight_then_unsent() {
    // What a probe or retransmission at a number must carry: in flight first, then queued.
    let model = rfc9293();
    let mut ep = syn_received(&model);
    let ack = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(1)), Control::NONE, b"");
    let ack = Segment { window: 2, ..ack };
    ep.handle_segment(Instant::ZERO, &ack);
    ep.send(Instant::ZERO, b"abcd");
    let out = drain(&mut ep);
    assert_eq!(out.iter().map(|s| s.payload.clone()).collect::<Vec<_>>(), [b"ab".to_vec()], "a window of 2");
    let at = |n: u32| ep.send_octet(ep.iss().add(n));
    assert_eq!(
        (at(0), at(1), at(2), at(3), at(4), at(5)),
        (None, Some(b'a'), Some(b'b'), Some(b'c'), Some(b'd'), None)
    );
}

/// An active close in TIME-WAIT: opened to the peer (ISS 5000), our FIN acknowledged with the
/// peer's FIN. RCV.NXT is then PEER_ISS + 2.
fn time_wait(model: &Model) -> Endpoint<'_> {
    let mut ep = Endpoint::new(model, Config::default());
    ep.handle_user(Instant::ZERO, Call::OpenActive);
    drain(&mut ep);
    let syn_ack = from_peer(&ep, PEER_ISS, Some(ep.iss().add(1)), Control::SYN, b"");
    ep.handle_segment(Instant::ZERO, &syn_ack);
    ep.handle_user(Instant::ZERO, Call::Close);
    drain(&mut ep);
    let fin = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(2)), Control::FIN, b"");
    ep.handle_segment(Instant::ZERO, &fin);
    assert_eq!(ep.state(), State::TimeWait);
    drain(&mut ep);
    ep
}

#[test]
fn time_wait_in_window_segment_without_ack_bit_is_dropped() {
    // RFC 9293 3.10.7.4, fifth check: "if the ACK bit is off, drop the segment and return" -
    // in TIME-WAIT as in every synchronized state. Only the first check (an unacceptable
    // segment) and the SYN check answer a segment whatever its ACK bit.
    let model = rfc9293();
    let mut ep = time_wait(&model);
    let ahead = PEER_ISS.add(10);
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, ahead, None, Control::NONE, b"xyz"));
    assert_eq!(drain(&mut ep), [], "text ahead without the ACK bit draws nothing");
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, ahead, Some(ep.iss().add(2)), Control::NONE, b""));
    assert_eq!(drain(&mut ep), [], "a pure ACK ahead draws nothing, as in ESTABLISHED");
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, ahead, Some(ep.iss().add(2)), Control::NONE, b"xyz"));
    assert_eq!(drain(&mut ep).len(), 1, "text ahead with an ACK is acknowledged (held nowhere)");
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, PEER_ISS.add(100_000), None, Control::NONE, b"xyz"));
    assert_eq!(drain(&mut ep).len(), 1, "an unacceptable segment is acknowledged, ACK bit or not");
    assert_eq!(ep.state(), State::TimeWait);
}

#[test]
fn rfc793_synchronized_in_window_syn_draws_a_rst_the_peer_accepts() {
    // RFC 793 p.71: an in-window SYN in a synchronized state is an error; the RST follows Reset
    // Generation (p.36-37). A bare SYN comes from a peer in SYN-SENT (it lost its connection,
    // Figure 10), which validates a RST by its ACK (p.66-67), not its sequence number: so
    // RST|ACK with seq=0 and ack=SEG.SEQ+SEG.LEN, acknowledging exactly that SYN, resets it.
    let model = Shipped::find("rfc793").unwrap().load().unwrap();
    let mut established = Endpoint::new(&model, Config::default());
    established.handle_user(Instant::ZERO, Call::OpenActive);
    drain(&mut established);
    let iss = established.iss();
    let syn_ack = from_peer(&established, PEER_ISS, Some(iss.add(1)), Control::SYN, b"");
    established.handle_segment(Instant::ZERO, &syn_ack);
    drain(&mut established);

    // The peer restarted: a fresh endpoint in SYN-SENT whose SYN lands in the window.
    let peer_cfg = Config {
        local_port: established.config().remote_port,
        remote_port: established.config().local_port,
        ..Config::default()
    };
    let mut peer = Endpoint::new(&model, peer_cfg);
    peer.handle_user(Instant::ZERO, Call::OpenActive);
    let mut syn = drain(&mut peer).remove(0);
    let shift = PEER_ISS.add(3).0.wrapping_sub(syn.seq.0);
    peer.rebase_iss(syn.seq.add(shift));
    syn.seq = peer.iss();
    established.handle_segment(Instant::ZERO, &syn);
    assert_eq!(established.state(), State::Closed, "p.71: enter CLOSED");
    let rst = drain(&mut established).remove(0);
    assert!(rst.ctl.contains(Control::RST) && rst.ack == Some(syn.end()), "{rst:?}");
    peer.handle_segment(Instant::ZERO, &rst);
    assert_eq!(peer.state(), State::Closed, "the peer in SYN-SENT takes the RST");
}

#[test]
fn time_wait_syn_above_rcv_nxt_reopens_for_a_listener_beside_it() {
    // RFC 1122 4.2.2.13 with `time-wait-reuse`: only with a listener beside the connection, and
    // only for a SYN above the old RCV.NXT; the new ISS is the old SND.NXT (`reopen above-old`).
    let model = Shipped::find("time-wait-reuse").unwrap().load().unwrap();
    let mut ep = time_wait(&model);
    let old_nxt = ep.iss().add(2);
    let above = PEER_ISS.add(50_000);
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, above, None, Control::SYN, b""));
    assert_eq!(ep.state(), State::TimeWait, "nobody listens: the SYN draws a challenge ACK");
    assert_eq!(drain(&mut ep).len(), 1);

    assert!(ep.listen_beside() && ep.has_listener());
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, PEER_ISS.add(1), None, Control::SYN, b""));
    assert_eq!(ep.state(), State::TimeWait, "a SYN at or below RCV.NXT does not reopen");
    drain(&mut ep);
    ep.handle_segment(Instant::ZERO, &from_peer(&ep, above, None, Control::SYN, b""));
    assert_eq!(ep.state(), State::SynReceived);
    let syn_ack = drain(&mut ep).remove(0);
    assert_eq!((syn_ack.seq, syn_ack.ack), (old_nxt, Some(above.add(1))), "ISS above the old connection");
    assert!(!ep.has_listener(), "the listener took the SYN");
}

#[test]
fn the_listener_beside_time_wait_listens_once_the_connection_is_gone() {
    let model = rfc9293();
    let mut ep = time_wait(&model);
    assert!(ep.listen_beside());
    let end = ep.deadline(Timer::TwoMsl).expect("2MSL runs");
    ep.handle_timeout(end);
    assert_eq!(ep.state(), State::Listen, "TIME-WAIT's TIMEOUT-2MSL row, then CLOSED's OPEN-PASSIVE row");
    assert!(!ep.listen_beside(), "only a connection in TIME-WAIT has a listener beside it");
}

#[test]
fn a_serving_listener_takes_the_port_again_whenever_its_connection_is_gone() {
    // A socket user's listener that stays open: the connection it accepted ends (here in TIME-WAIT
    // by 2MSL, and by the peer's RST), the port listens again; once the listener is closed,
    // the next connection's end leaves the port closed, and a listener alone is closed with it.
    let model = rfc9293();
    let mut ep = time_wait(&model);
    ep.serve(Instant::ZERO);
    assert!(ep.serving() && ep.view().listening, "the listening guard sees it");
    assert_eq!(ep.state(), State::TimeWait, "the passive OPEN beside a connection only listens");
    let end = ep.deadline(Timer::TwoMsl).expect("2MSL runs");
    ep.handle_timeout(end);
    assert_eq!(ep.state(), State::Listen);
    ep.handle_segment(end, &from_peer(&ep, PEER_ISS, None, Control::SYN, b""));
    assert_eq!(ep.state(), State::SynReceived);
    drain(&mut ep);
    ep.handle_segment(end, &from_peer(&ep, PEER_ISS.add(1), None, Control::RST, b""));
    assert_eq!(ep.state(), State::Listen, "RFC 9293's own SYN-RECEIVED RST row, the listener unchanged");
    ep.handle_user(end, Call::Close);
    assert_eq!(ep.state(), State::Listen, "a CLOSE of no connection leaves the listener");
    ep.stop_serving(end);
    assert_eq!((ep.state(), ep.serving()), (State::Closed, false), "the listener alone is closed");
    // An input to the closed port does not open it.
    ep.handle_segment(end, &from_peer(&ep, PEER_ISS, None, Control::SYN, b""));
    assert_eq!(ep.state(), State::Closed);
}

#[test]
fn established_ack_scales_the_peers_window_only_when_both_syns_announced_a_shift() {
    // RFC 7323 2.2: with a shift on both SYNs, the windows after them are scaled, ours by our
    // shift and the peer's by its; the SYN's own window never is. An endpoint that follows a
    // stack takes its shift from that stack's SYN (learn_wscale).
    let model = rfc9293();
    for (ours, peer, snd_wnd, window) in
        [(Some(8), Some(7), 257 << 7, 4096 >> 8), (None, Some(7), 257, 4096), (Some(8), None, 257, 4096)]
    {
        let mut ep = Endpoint::new(&model, Config::default());
        ep.learn_wscale(ours);
        ep.handle_user(Instant::ZERO, Call::OpenPassive);
        let mut syn = from_peer(&ep, PEER_ISS, None, Control::SYN, b"");
        syn.options.extend(peer.map(tcpcheck::wire::TcpOpt::WindowScale));
        ep.handle_segment(Instant::ZERO, &syn);
        assert_eq!(ep.snd_wnd(), 4096, "the SYN's window is never scaled");
        let syn_ack = drain(&mut ep).remove(0);
        assert_eq!(syn_ack.window, 4096, "{ours:?} {peer:?}");
        let mut ack = from_peer(&ep, PEER_ISS.add(1), Some(ep.iss().add(1)), Control::NONE, b"");
        ack.window = 257;
        ep.handle_segment(Instant::ZERO, &ack);
        assert_eq!(ep.state(), State::Established);
        assert_eq!(ep.snd_wnd(), snd_wnd, "{ours:?} {peer:?}");
        ep.send(Instant::ZERO, b"x");
        let text = drain(&mut ep).remove(0);
        assert_eq!(text.window, window, "{ours:?} {peer:?}");
    }
    // A shift beyond 14 is taken as 14 (RFC 7323 2.3).
    let mut ep = Endpoint::new(&model, Config::default());
    ep.learn_wscale(Some(20));
    assert_eq!(ep.config().wscale, Some(14));
}
