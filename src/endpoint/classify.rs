//! The one abstraction function: a concrete event plus what the TCB knows becomes the table's
//! input and guard valuation. The endpoint uses it to pick a row; the oracle will use it to judge
//! a real stack; the checker's states are built from the same types.

use crate::model::{Atom, Family, Input, State, Valuation};
use crate::wire::{Segment, SeqNum};

/// What the guards read from a TCB. Plain numbers and facts, so a shadow of a real stack can
/// fill one in as easily as our own endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcbView {
    pub state: State,
    pub rcv_nxt: SeqNum,
    pub rcv_wnd: u32,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// The sequence number of our FIN, once sent.
    pub fin_seq: Option<SeqNum>,
    pub retries_left: bool,
    pub passive: bool,
    pub foreign_known: bool,
    pub send_queued: bool,
    pub rcv_buffered: bool,
    /// In TIME-WAIT: a passive OPEN waits beside the connection (RFC 1122 4.2.2.13).
    pub listening: bool,
}

/// RFC 9293 3.10.7.4, "There are four cases for the acceptability test for an incoming segment".
pub fn acceptable(seq: SeqNum, len: u32, rcv_nxt: SeqNum, rcv_wnd: u32) -> bool {
    match (len, rcv_wnd) {
        (0, 0) => seq == rcv_nxt,
        (0, _) => seq.in_window(rcv_nxt, rcv_wnd),
        (_, 0) => false,
        _ => seq.in_window(rcv_nxt, rcv_wnd) || seq.add(len - 1).in_window(rcv_nxt, rcv_wnd),
    }
}

/// The guard valuation of `seg` (or of a user call or timeout when `None`) against `tcb`.
/// Every family gets a value; the table reads only those that mean something where it is used.
///
/// Inlined: the endpoint builds the view just before it asks, and through memory the view's
/// separately stored flags read back as one word stalled the store forwarding (perf put most of
/// this function's samples on that load).
#[inline]
pub fn valuation(tcb: &TcbView, seg: Option<&Segment>) -> Valuation {
    let mut v = Valuation::default();
    let boolean = |holds: bool| if holds { 0 } else { 1 };
    v.set(Family::RetriesLeft, boolean(tcb.retries_left));
    v.set(Family::Passive, boolean(tcb.passive));
    v.set(Family::ForeignKnown, boolean(tcb.foreign_known));
    v.set(Family::SendQueued, boolean(tcb.send_queued));
    v.set(Family::RcvBuffered, boolean(tcb.rcv_buffered));
    v.set(Family::Listening, boolean(tcb.listening));
    let Some(seg) = seg else { return v };

    let seq = if acceptable(seg.seq, seg.len(), tcb.rcv_nxt, tcb.rcv_wnd) {
        if seg.seq.distance_from(tcb.rcv_nxt) <= 0 {
            Atom::SeqOk
        } else {
            Atom::SeqAhead
        }
    } else if seg.end().distance_from(tcb.rcv_nxt) <= 0 {
        Atom::SeqOld
    } else {
        Atom::SeqFuture
    };
    v.set(Family::Seq, seq.value());

    let rst = if seg.seq == tcb.rcv_nxt {
        Atom::RstExact
    } else if seg.seq.in_window(tcb.rcv_nxt, tcb.rcv_wnd) {
        Atom::RstInWindow
    } else {
        Atom::RstOutside
    };
    v.set(Family::Rst, rst.value());

    if let Some(ack) = seg.ack {
        let d = ack.distance_from(tcb.snd_una);
        let in_flight = tcb.snd_nxt.distance_from(tcb.snd_una);
        let a = match d {
            0 => Atom::AckDup,
            d if d < 0 => Atom::AckOld,
            d if d <= in_flight => Atom::AckOk,
            _ => Atom::AckFuture,
        };
        v.set(Family::Ack, a.value());
        let fin_acked = a == Atom::AckOk && tcb.fin_seq.is_some_and(|f| ack.distance_from(f) >= 1);
        v.set(Family::FinAcked, boolean(fin_acked));
    } else {
        v.set(Family::FinAcked, 1);
    }
    v
}

/// The input a segment is: its flags.
pub fn input(seg: &Segment) -> Input {
    Input::Segment(seg.flags())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9293 Table 6, transcribed independently with plain integers relative to RCV.NXT.
    fn table6(seq_off: u64, len: u64, wnd: u64) -> bool {
        let in_wnd = |x: u64| x < wnd;
        match (len, wnd) {
            (0, 0) => seq_off == 0,
            (0, _) => in_wnd(seq_off),
            (_, 0) => false,
            _ => in_wnd(seq_off) || in_wnd(seq_off + len - 1),
        }
    }

    proptest! {
        #[test]
        fn acceptability_matches_rfc_table_6(rcv_nxt in any::<u32>(), off in 0u32..200_000, len in 0u32..70_000, wnd in 0u32..70_000) {
            let seq = SeqNum(rcv_nxt).add(off);
            prop_assert_eq!(acceptable(seq, len, SeqNum(rcv_nxt), wnd), table6(off.into(), len.into(), wnd.into()));
        }

        #[test]
        fn segments_before_rcv_nxt_are_acceptable_only_if_they_reach_the_window(rcv_nxt in any::<u32>(), back in 1u32..1000, len in 0u32..2000, wnd in 1u32..1000) {
            let seq = SeqNum(rcv_nxt).sub(back);
            // Only the last octet can be in the window: at offset len-1-back from RCV.NXT.
            let expected = len > back && len - 1 - back < wnd;
            prop_assert_eq!(acceptable(seq, len, SeqNum(rcv_nxt), wnd), expected);
        }
    }

    fn tcb() -> TcbView {
        TcbView { rcv_nxt: SeqNum(1000), rcv_wnd: 100, snd_una: SeqNum(50), snd_nxt: SeqNum(60), ..TcbView::default() }
    }

    fn seg(seq: u32, ack: Option<u32>, payload: usize) -> Segment {
        Segment { seq: SeqNum(seq), ack: ack.map(SeqNum), payload: vec![0; payload], ..Segment::default() }
    }

    #[track_caller]
    fn holds(v: &Valuation, atom: Atom) {
        assert_eq!(v.get(atom.family()), atom.value(), "expected {atom}");
    }

    #[test]
    fn sequence_positions() {
        holds(&valuation(&tcb(), Some(&seg(1000, None, 0))), Atom::SeqOk);
        holds(&valuation(&tcb(), Some(&seg(990, None, 20))), Atom::SeqOk);
        holds(&valuation(&tcb(), Some(&seg(1010, None, 5))), Atom::SeqAhead);
        holds(&valuation(&tcb(), Some(&seg(990, None, 10))), Atom::SeqOld);
        holds(&valuation(&tcb(), Some(&seg(1100, None, 0))), Atom::SeqFuture);
    }

    #[test]
    fn reset_positions() {
        holds(&valuation(&tcb(), Some(&seg(1000, None, 0))), Atom::RstExact);
        holds(&valuation(&tcb(), Some(&seg(1001, None, 0))), Atom::RstInWindow);
        holds(&valuation(&tcb(), Some(&seg(999, None, 0))), Atom::RstOutside);
    }

    #[test]
    fn acknowledgment_positions_and_fin() {
        holds(&valuation(&tcb(), Some(&seg(1000, Some(55), 0))), Atom::AckOk);
        holds(&valuation(&tcb(), Some(&seg(1000, Some(50), 0))), Atom::AckDup);
        holds(&valuation(&tcb(), Some(&seg(1000, Some(49), 0))), Atom::AckOld);
        holds(&valuation(&tcb(), Some(&seg(1000, Some(61), 0))), Atom::AckFuture);
        let closing = TcbView { fin_seq: Some(SeqNum(59)), ..tcb() };
        let v = valuation(&closing, Some(&seg(1000, Some(60), 0)));
        assert_eq!(v.get(Family::FinAcked), 0);
        let v = valuation(&closing, Some(&seg(1000, Some(59), 0)));
        assert_eq!(v.get(Family::FinAcked), 1);
    }
}
