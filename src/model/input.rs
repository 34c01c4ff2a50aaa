//! What can happen to a connection: user calls, segment arrivals and timeouts.
//!
//! A concrete [`Input`] is one event; a row matches events with a [`Pattern`]. Segments are
//! classified by their control bits SYN, FIN, RST, ACK and by whether they carry data (`DATA`);
//! PSH, URG, ECE and CWR never change the connection state and are not part of the alphabet.

use std::fmt;

use super::spelled::spelled;

spelled! {
    /// The user calls of RFC 9293 section 3.9.1 that can change a connection (STATUS cannot).
    pub enum Call {
        OpenActive = "OPEN-ACTIVE",
        OpenPassive = "OPEN-PASSIVE",
        Send = "SEND",
        Receive = "RECEIVE",
        Close = "CLOSE",
        Abort = "ABORT",
    }
}

spelled! {
    /// The timers of RFC 9293 section 3.10.8.
    pub enum Timer {
        /// Retransmission timeout (RFC 6298).
        Rto = "RTO",
        /// The TIME-WAIT timeout, twice the maximum segment lifetime.
        TwoMsl = "2MSL",
        /// The user timeout: how long sent data may stay unacknowledged.
        User = "USER",
    }
}

/// A set of segment control bits plus the `DATA` pseudo-bit (the segment carries payload).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flags(u8);

impl Flags {
    pub const SYN: Flags = Flags(1);
    pub const FIN: Flags = Flags(2);
    pub const RST: Flags = Flags(4);
    pub const ACK: Flags = Flags(8);
    pub const DATA: Flags = Flags(16);
    pub const NONE: Flags = Flags(0);

    /// Each bit with its written name, in printing order.
    pub const NAMED: [(Flags, &'static str); 5] =
        [(Flags::SYN, "SYN"), (Flags::FIN, "FIN"), (Flags::RST, "RST"), (Flags::ACK, "ACK"), (Flags::DATA, "DATA")];

    /// Number of distinct flag sets: the segment part of the input alphabet.
    pub const COUNT: usize = 32;

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The flag set with these bits; bits beyond the five known ones are dropped.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits & 31)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// The bit with this name, if any.
    pub fn from_name(name: &str) -> Option<Flags> {
        Flags::NAMED.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    /// Every flag set, in bit order.
    pub fn all() -> impl Iterator<Item = Flags> {
        (0..Flags::COUNT as u8).map(Flags)
    }
}

impl fmt::Display for Flags {
    /// `SYN|ACK`; the empty set prints as `NONE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        let mut first = true;
        for (flag, name) in Flags::NAMED {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// One concrete event: the alphabet the validator enumerates and the endpoint classifies into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Input {
    Call(Call),
    Segment(Flags),
    Timeout(Timer),
}

impl Input {
    /// Size of the alphabet: 6 calls, 32 flag sets, 3 timeouts.
    pub const COUNT: usize = Call::ALL.len() + Flags::COUNT + Timer::ALL.len();

    /// Dense index in `0..COUNT`, for per-input tables.
    pub const fn index(self) -> usize {
        match self {
            Input::Call(c) => c as usize,
            Input::Segment(f) => Call::ALL.len() + f.bits() as usize,
            Input::Timeout(t) => Call::ALL.len() + Flags::COUNT + t as usize,
        }
    }

    /// The whole alphabet, in index order.
    pub fn all() -> impl Iterator<Item = Input> {
        let calls = Call::ALL.iter().map(|&c| Input::Call(c));
        let segments = Flags::all().map(Input::Segment);
        calls.chain(segments).chain(Timer::ALL.iter().map(|&t| Input::Timeout(t)))
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Call(c) => write!(f, "{c}"),
            Input::Segment(flags) => write!(f, "{flags}"),
            Input::Timeout(t) => write!(f, "TIMEOUT-{t}"),
        }
    }
}

/// What a row's INPUT column matches.
///
/// A segment pattern lists the bits that must be set; without `*` every other bit must be clear
/// (`SYN|ACK` is exactly a SYN-ACK without data), with `*` the others are free (`RST|*` is any
/// segment with RST). `*` alone matches every segment, `NONE` one with no bits and no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    Call(Call),
    Segment { flags: Flags, rest: bool },
    Timeout(Timer),
}

impl Pattern {
    pub fn matches(self, input: Input) -> bool {
        match (self, input) {
            (Pattern::Call(a), Input::Call(b)) => a == b,
            (Pattern::Timeout(a), Input::Timeout(b)) => a == b,
            (Pattern::Segment { flags, rest }, Input::Segment(seg)) => {
                if rest {
                    seg.contains(flags)
                } else {
                    seg == flags
                }
            }
            _ => false,
        }
    }

    /// Whether every segment this pattern matches has all of `bits` set.
    pub fn requires(self, bits: Flags) -> bool {
        matches!(self, Pattern::Segment { flags, .. } if flags.contains(bits))
    }

    pub fn is_segment(self) -> bool {
        matches!(self, Pattern::Segment { .. })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Pattern::Call(c) => write!(f, "{c}"),
            Pattern::Timeout(t) => write!(f, "TIMEOUT-{t}"),
            Pattern::Segment { flags, rest: false } => write!(f, "{flags}"),
            Pattern::Segment { flags, rest: true } if flags.is_empty() => f.write_str("*"),
            Pattern::Segment { flags, rest: true } => write!(f, "{flags}|*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_indices_are_dense_and_distinct() {
        let indices: Vec<usize> = Input::all().map(Input::index).collect();
        assert_eq!(indices, (0..Input::COUNT).collect::<Vec<_>>());
    }

    #[test]
    fn wildcard_matches_supersets_only() {
        let rst_any = Pattern::Segment { flags: Flags::RST, rest: true };
        assert!(rst_any.matches(Input::Segment(Flags::RST.union(Flags::ACK))));
        assert!(!rst_any.matches(Input::Segment(Flags::ACK)));
        let syn_ack = Pattern::Segment { flags: Flags::SYN.union(Flags::ACK), rest: false };
        assert!(syn_ack.matches(Input::Segment(Flags::SYN.union(Flags::ACK))));
        assert!(!syn_ack.matches(Input::Segment(Flags::SYN.union(Flags::ACK).union(Flags::DATA))));
        assert!(!syn_ack.matches(Input::Call(Call::Close)));
    }

    #[test]
    fn flags_print_in_rfc_order() {
        assert_eq!(Flags::ACK.union(Flags::FIN).to_string(), "FIN|ACK");
        assert_eq!(Flags::NONE.to_string(), "NONE");
        let any = Pattern::Segment { flags: Flags::NONE, rest: true };
        assert_eq!(any.to_string(), "*");
    }
}
