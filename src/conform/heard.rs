//! What the stack's own segments say about its numbers: where a peer numbers its segments
//! from once the shadow no longer knows the stack.
//!
//! Until the stack first differs from the table, the peer numbers its segments from the
//! shadow, which follows the stack. After a verdict the shadow is frozen; a run that goes on
//! ([`super::Oracle::to_the_end`]) keeps numbering from it unless the oracle
//! [follows the wire](super::Oracle::follow_wire): then the peer's sequence number is the
//! stack's last acknowledgment and its acknowledgment is all the stack has sent, as the mappers
//! of automata-learning work on TCP number theirs (Fiterău-Broştean et al., CAV 2016). The
//! learner needs that: numbers frozen at the first difference meet each later connection's ISN
//! at a distance its random draw decides, so what the stack answers would depend on how many
//! connections came before, and no finite machine describes it.

use crate::wire::{Control, Segment, SeqNum};

/// The stack's numbers as its segments showed them in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// Just after the stack's newest octet, SYN or FIN since its last SYN: its SND.NXT.
    pub next: Option<SeqNum>,
    /// The acknowledgment of the stack's last segment that carried one (its RCV.NXT), with the
    /// window it offered.
    pub acked: Option<(SeqNum, u16)>,
}

impl Heard {
    /// Takes in a segment the stack sent. A SYN starts its numbers afresh; a RST is numbered
    /// by what it answers, so it does not move them.
    pub fn saw(&mut self, s: &Segment) {
        let newer = self.next.is_none_or(|n| s.end().distance_from(n) > 0);
        if s.ctl.contains(Control::SYN) || (!s.ctl.contains(Control::RST) && newer) {
            self.next = Some(s.end());
        }
        if let Some(ack) = s.ack {
            self.acked = Some((ack, s.window));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(ctl: Control, seq: u32, ack: Option<u32>, len: usize) -> Segment {
        Segment {
            ctl,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            window: 100,
            payload: vec![0; len],
            ..Segment::default()
        }
    }

    #[test]
    fn a_syn_restarts_the_numbers_and_a_rst_leaves_them() {
        let mut heard = Heard::default();
        heard.saw(&segment(Control::SYN, 1000, None, 0));
        assert_eq!((heard.next, heard.acked), (Some(SeqNum(1001)), None));
        heard.saw(&segment(Control::NONE, 1001, Some(7), 3));
        assert_eq!((heard.next, heard.acked), (Some(SeqNum(1004)), Some((SeqNum(7), 100))));
        // A retransmission of older text, and a RST far ahead, leave SND.NXT where it was.
        heard.saw(&segment(Control::NONE, 1001, Some(8), 1));
        heard.saw(&segment(Control::RST, 5000, None, 0));
        assert_eq!((heard.next, heard.acked), (Some(SeqNum(1004)), Some((SeqNum(8), 100))));
        heard.saw(&segment(Control::SYN, 20, None, 0));
        assert_eq!(heard.next, Some(SeqNum(21)));
    }
}
