//! The guard vocabulary: a fixed set of predicates over (TCB, input), defined once here.
//!
//! Atoms come in *families* whose values are mutually exclusive and together exhaustive: a
//! segment's sequence number is exactly one of `seq-ok`, `seq-ahead`, `seq-old`, `seq-future`.
//! A boolean family has one atom that holds or not. A guard is a conjunction of literals
//! (`ack-ok & !fin-acked`); disjunction is written as several rows. Because every family is
//! finite, the validator can enumerate every valuation, as rustc does for a `match`.

use std::fmt;

use super::input::{Flags, Pattern, Timer};
use super::spelled::spelled;
use super::state::State;

spelled! {
    /// One predicate of the vocabulary, in table spelling.
    pub enum Atom {
        SeqOk = "seq-ok",
        SeqAhead = "seq-ahead",
        SeqOld = "seq-old",
        SeqFuture = "seq-future",
        RstExact = "rst-exact",
        RstInWindow = "rst-in-window",
        RstOutside = "rst-outside",
        AckOk = "ack-ok",
        AckDup = "ack-dup",
        AckOld = "ack-old",
        AckFuture = "ack-future",
        FinAcked = "fin-acked",
        RetriesLeft = "retries-left",
        Passive = "passive",
        ForeignKnown = "foreign-known",
        SendQueued = "send-queued",
        RcvBuffered = "rcv-buffered",
        Listening = "listening",
    }
}

/// A group of atoms of which exactly one value holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Seq,
    Rst,
    Ack,
    FinAcked,
    RetriesLeft,
    Passive,
    ForeignKnown,
    SendQueued,
    RcvBuffered,
    Listening,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::Seq,
        Family::Rst,
        Family::Ack,
        Family::FinAcked,
        Family::RetriesLeft,
        Family::Passive,
        Family::ForeignKnown,
        Family::SendQueued,
        Family::RcvBuffered,
        Family::Listening,
    ];
    pub const COUNT: usize = Family::ALL.len();

    /// The atoms of this family. A family of one atom is boolean.
    pub const fn atoms(self) -> &'static [Atom] {
        use Atom::*;
        match self {
            Family::Seq => &[SeqOk, SeqAhead, SeqOld, SeqFuture],
            Family::Rst => &[RstExact, RstInWindow, RstOutside],
            Family::Ack => &[AckOk, AckDup, AckOld, AckFuture],
            Family::FinAcked => &[FinAcked],
            Family::RetriesLeft => &[RetriesLeft],
            Family::Passive => &[Passive],
            Family::ForeignKnown => &[ForeignKnown],
            Family::SendQueued => &[SendQueued],
            Family::RcvBuffered => &[RcvBuffered],
            Family::Listening => &[Listening],
        }
    }

    /// Where this family's values start in [`Valuation::bits`]: after every family before it.
    pub const fn offset(self) -> u8 {
        const OFFSETS: [u8; Family::COUNT] = {
            let mut offsets = [0; Family::COUNT];
            let mut i = 1;
            while i < Family::COUNT {
                offsets[i] = offsets[i - 1] + Family::ALL[i - 1].size();
                i += 1;
            }
            offsets
        };
        OFFSETS[self as usize]
    }

    /// How many values the family takes: its atoms, or true/false for a boolean family.
    pub const fn size(self) -> u8 {
        match self.atoms().len() {
            1 => 2,
            n => n as u8,
        }
    }

    /// Whether this family means something for `pattern` in `state`; `Err` says why not.
    pub fn applies(self, state: State, pattern: Pattern) -> Result<(), String> {
        let need_rcv = || {
            if state.has_rcv_nxt() {
                Ok(())
            } else {
                Err(format!("{state} has no RCV.NXT yet: the peer's sequence space is unknown"))
            }
        };
        let need_bits = |bits: Flags| {
            if pattern.requires(bits) {
                Ok(())
            } else {
                Err(format!("input `{pattern}` does not always carry {bits}; write `{bits}|…`"))
            }
        };
        match self {
            Family::Seq => {
                if pattern.is_segment() {
                    need_rcv()
                } else {
                    Err(format!("input `{pattern}` is not a segment"))
                }
            }
            Family::Rst => need_bits(Flags::RST).and_then(|()| need_rcv()),
            Family::Ack => need_bits(Flags::ACK).and_then(|()| {
                if state == State::SynSent || state.has_rcv_nxt() {
                    Ok(())
                } else {
                    Err(format!("{state} has sent nothing that could be acknowledged"))
                }
            }),
            Family::FinAcked => need_bits(Flags::ACK).and_then(|()| {
                if state.fin_outstanding() {
                    Ok(())
                } else {
                    Err(format!("{state} has no FIN of ours awaiting acknowledgment"))
                }
            }),
            Family::RetriesLeft => match pattern {
                Pattern::Timeout(Timer::Rto) => Ok(()),
                _ => Err("only a retransmission timeout has retries".into()),
            },
            Family::Passive => match state {
                State::SynReceived => Ok(()),
                _ => Err("only SYN-RECEIVED remembers whether it came from LISTEN".into()),
            },
            Family::ForeignKnown => match state {
                State::Listen => Ok(()),
                _ => Err("only LISTEN may lack a foreign socket".into()),
            },
            Family::SendQueued => match state {
                State::SynSent | State::SynReceived => Ok(()),
                _ => Err("SENDs are queued only before ESTABLISHED (SYN-SENT, SYN-RECEIVED)".into()),
            },
            Family::RcvBuffered => match pattern {
                Pattern::Call(_) => need_rcv(),
                _ => Err(format!("input `{pattern}` is not a user call")),
            },
            Family::Listening => match state {
                State::TimeWait => Ok(()),
                _ => Err("only a connection in TIME-WAIT can have a listener beside it".into()),
            },
        }
    }
}

impl Atom {
    pub const fn family(self) -> Family {
        use Atom::*;
        match self {
            SeqOk | SeqAhead | SeqOld | SeqFuture => Family::Seq,
            RstExact | RstInWindow | RstOutside => Family::Rst,
            AckOk | AckDup | AckOld | AckFuture => Family::Ack,
            FinAcked => Family::FinAcked,
            RetriesLeft => Family::RetriesLeft,
            Passive => Family::Passive,
            ForeignKnown => Family::ForeignKnown,
            SendQueued => Family::SendQueued,
            RcvBuffered => Family::RcvBuffered,
            Listening => Family::Listening,
        }
    }

    /// This atom's value index within its family (0 = "holds" for a boolean family). Read
    /// from a table built at compile time: every guard literal asks, each time a row is tried.
    pub const fn value(self) -> u8 {
        const VALUES: [u8; Atom::ALL.len()] = {
            let mut values = [0; Atom::ALL.len()];
            let mut i = 0;
            while i < Atom::ALL.len() {
                let atom = Atom::ALL[i];
                let atoms = atom.family().atoms();
                let mut k = 0;
                while atoms[k] as usize != atom as usize {
                    k += 1;
                }
                values[i] = k as u8;
                i += 1;
            }
            values
        };
        VALUES[self as usize]
    }

    /// The RFC definition the endpoint implements for this atom.
    pub const fn definition(self) -> &'static str {
        use Atom::*;
        match self {
            SeqOk => {
                "acceptable by the four-case test of RFC 9293 3.10.7.4 and SEG.SEQ =< RCV.NXT: \
                 the segment continues the byte stream (it may overlap data already received)"
            }
            SeqAhead => {
                "acceptable by the test of RFC 9293 3.10.7.4 but SEG.SEQ > RCV.NXT: in the window, \
                 out of order (RFC 9293: \"may be held for later processing\")"
            }
            SeqOld => {
                "not acceptable, and SEG.SEQ+SEG.LEN =< RCV.NXT: an old duplicate of what was \
                 already received, e.g. a retransmitted FIN"
            }
            SeqFuture => "not acceptable, and not old: beyond the receive window",
            RstExact => "SEG.SEQ = RCV.NXT: the RST may be honoured (RFC 5961 3.2)",
            RstInWindow => "RCV.NXT < SEG.SEQ < RCV.NXT+RCV.WND: answer with a challenge ACK (RFC 5961 3.2)",
            RstOutside => "SEG.SEQ outside the receive window: silently dropped (RFC 5961 3.2)",
            AckOk => "SND.UNA < SEG.ACK =< SND.NXT: acknowledges something new (RFC 9293 3.10.7.4)",
            AckDup => "SEG.ACK = SND.UNA: acknowledges nothing new (RFC 9293 3.10.7.4)",
            AckOld => "SEG.ACK < SND.UNA: an old acknowledgment, ignored (RFC 9293 3.10.7.4)",
            AckFuture => {
                "SEG.ACK > SND.NXT: acknowledges something not yet sent (RFC 9293 3.10.7.4); \
                 in SYN-SENT, SEG.ACK =< ISS is ack-dup or ack-old"
            }
            FinAcked => "SEG.ACK acknowledges our FIN: SEG.ACK = SND.NXT after the FIN (RFC 9293 3.10.7.4)",
            RetriesLeft => "the segment has been retransmitted fewer than R2 times (RFC 9293 3.8.3, RFC 1122 4.2.3.5)",
            Passive => "the connection came from LISTEN by a passive OPEN (RFC 9293 3.10.7.4, RST and SYN checks)",
            ForeignKnown => "the OPEN named the foreign socket (RFC 9293 3.10.2, SEND in LISTEN)",
            SendQueued => "SENDs or data are queued awaiting ESTABLISHED (RFC 9293 3.10.4, CLOSE in SYN-RECEIVED)",
            RcvBuffered => "received text is waiting for a RECEIVE (RFC 9293 3.10.3, RECEIVE in CLOSE-WAIT)",
            Listening => {
                "in TIME-WAIT: the user has a passive OPEN waiting on the same port, a listener beside \
                 the old connection that a new SYN may reopen it for (RFC 1122 4.2.2.13)"
            }
        }
    }
}

/// `atom` or `!atom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Literal {
    pub atom: Atom,
    pub negated: bool,
}

impl Literal {
    pub fn holds(self, valuation: &Valuation) -> bool {
        (valuation.get(self.atom.family()) == self.atom.value()) != self.negated
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("!")?;
        }
        write!(f, "{}", self.atom)
    }
}

/// A conjunction of literals; the empty guard always holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guard(pub Vec<Literal>);

impl Guard {
    pub fn holds(&self, valuation: &Valuation) -> bool {
        self.0.iter().all(|lit| lit.holds(valuation))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This guard as bits over [`Valuation::bits`]: it holds exactly when every bit of the
    /// first mask is set (its literals) and none of the second (its negated literals).
    pub fn masks(&self) -> GuardMasks {
        let mut masks = GuardMasks::default();
        for lit in &self.0 {
            let bit = 1 << (lit.atom.family().offset() + lit.atom.value());
            if lit.negated {
                masks.forbidden |= bit;
            } else {
                masks.required |= bit;
            }
        }
        masks
    }

    /// The families this guard reads.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        self.0.iter().map(|lit| lit.atom.family())
    }

    /// The same conjunction with literals sorted, so `a & b` and `b & a` compare equal.
    pub fn normalized(&self) -> Guard {
        let mut lits = self.0.clone();
        lits.sort();
        lits.dedup();
        Guard(lits)
    }
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, lit) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" & ")?;
            }
            write!(f, "{lit}")?;
        }
        Ok(())
    }
}

/// A guard compiled to bits (see [`Guard::masks`]). The endpoint tries rows for every event,
/// and reaching a row's literals through the row and the guard's own allocation missed the
/// cache (perf: most of `Model::fire`'s samples on those loads); a model keeps its guards'
/// masks side by side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardMasks {
    required: u32,
    forbidden: u32,
}

impl GuardMasks {
    /// Whether the guard holds under the valuation whose [`Valuation::bits`] are `bits`.
    pub fn holds(self, bits: u32) -> bool {
        bits & self.required == self.required && bits & self.forbidden == 0
    }
}

/// One value for every family: which atom holds, or for a boolean family 0 = holds, 1 = not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Valuation([u8; Family::COUNT]);

impl Valuation {
    pub fn get(&self, family: Family) -> u8 {
        self.0[family as usize]
    }

    pub fn set(&mut self, family: Family, value: u8) {
        self.0[family as usize] = value;
    }

    /// One bit per family, at the family's [`Family::offset`] plus its value.
    pub fn bits(&self) -> u32 {
        Family::ALL.iter().fold(0, |bits, &f| bits | 1 << (f.offset() + self.get(f)))
    }

    /// Whether this valuation of `families` can happen at all. The families are independent
    /// except that a segment acknowledging our FIN necessarily acknowledges something new.
    pub fn feasible(&self, families: &[Family]) -> bool {
        let both = families.contains(&Family::FinAcked) && families.contains(&Family::Ack);
        let fin_acked = self.get(Family::FinAcked) == Atom::FinAcked.value();
        !both || !fin_acked || self.get(Family::Ack) == Atom::AckOk.value()
    }

    /// Every feasible valuation of `families` (the others stay at value 0), in a stable order.
    pub fn enumerate(families: &[Family]) -> Vec<Valuation> {
        let mut out = vec![Valuation::default()];
        for &family in families {
            out = out
                .into_iter()
                .flat_map(|v| {
                    (0..family.size()).map(move |value| {
                        let mut next = v;
                        next.set(family, value);
                        next
                    })
                })
                .collect();
        }
        out.retain(|v| v.feasible(families));
        out
    }

    /// The valuation restricted to `families`, as a guard that holds exactly there.
    pub fn describe(&self, families: &[Family]) -> Guard {
        let lits = families.iter().map(|&family| {
            let value = self.get(family);
            let atoms = family.atoms();
            match atoms {
                [atom] => Literal { atom: *atom, negated: value != 0 },
                _ => Literal { atom: atoms[value as usize], negated: false },
            }
        });
        Guard(lits.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_atom_belongs_to_exactly_its_family() {
        for &atom in Atom::ALL {
            let family = atom.family();
            assert_eq!(family.atoms()[atom.value() as usize], atom);
        }
        let listed: usize = Family::ALL.iter().map(|f| f.atoms().len()).sum();
        assert_eq!(listed, Atom::ALL.len());
    }

    #[test]
    fn masks_hold_exactly_where_the_literals_do() {
        // Every guard of every shipped table, under every valuation of every family.
        let valuations = Valuation::enumerate(&Family::ALL);
        assert_eq!(valuations.len(), 4 * 3 * 5 * 2 * 2 * 2 * 2 * 2 * 2, "(ack, fin-acked) has 5 feasible pairs");
        for shipped in crate::model::shipped::SHIPPED {
            let model = shipped.load().unwrap();
            for row in model.rows() {
                let (guard, masks) = (&row.rule.guard, row.rule.guard.masks());
                for v in &valuations {
                    assert_eq!(masks.holds(v.bits()), guard.holds(v), "{guard} under {v:?}");
                }
            }
        }
    }

    #[test]
    fn enumeration_skips_infeasible_valuations() {
        let all = Valuation::enumerate(&[Family::Ack, Family::FinAcked]);
        // 4 ack values x 2 fin-acked values, minus fin-acked with ack-dup/old/future.
        assert_eq!(all.len(), 5);
        let fin_not_ok =
            Guard(vec![Literal { atom: Atom::FinAcked, negated: false }, Literal { atom: Atom::AckOk, negated: true }]);
        assert!(all.iter().all(|v| !fin_not_ok.holds(v)));
    }

    #[test]
    fn describe_names_the_values() {
        let mut v = Valuation::default();
        v.set(Family::Seq, Atom::SeqOld.value());
        v.set(Family::RetriesLeft, 1);
        let g = v.describe(&[Family::Seq, Family::RetriesLeft]);
        assert_eq!(g.to_string(), "seq-old & !retries-left");
        assert!(g.holds(&v));
    }
}
