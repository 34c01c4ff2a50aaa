//! What a row does when it fires: sends, timers, receive-side effects, user signals, deletion.

use std::fmt;

use super::input::{Flags, Timer};
use super::spelled::spelled;

spelled! {
    /// Where a sent segment's sequence number comes from (RFC 9293 3.10.7).
    pub enum SeqExpr {
        Iss = "ISS",
        SndNxt = "SND.NXT",
        SegAck = "SEG.ACK",
        Zero = "0",
    }
}

spelled! {
    /// Where a sent segment's acknowledgment number comes from (RFC 9293 3.10.7).
    pub enum AckExpr {
        RcvNxt = "RCV.NXT",
        SegEnd = "SEG.SEQ+SEG.LEN",
    }
}

spelled! {
    /// What the user is told (RFC 9293 3.10 responses), each with the RFC's wording in `text`.
    pub enum Signal {
        Reset = "RESET",
        Refused = "REFUSED",
        Closing = "CLOSING",
        Timeout = "TIMEOUT",
        Exists = "EXISTS",
        NoConnection = "NO-CONNECTION",
        Unspecified = "UNSPECIFIED",
    }
}

impl Signal {
    /// The RFC's wording of this response.
    pub const fn text(self) -> &'static str {
        match self {
            Signal::Reset => "connection reset",
            Signal::Refused => "connection refused",
            Signal::Closing => "connection closing",
            Signal::Timeout => "connection aborted due to user timeout",
            Signal::Exists => "error: connection already exists",
            Signal::NoConnection => "error: connection does not exist",
            Signal::Unspecified => "error: foreign socket unspecified",
        }
    }
}

/// A segment to send: control bits, payload, and the RFC's rules for its numbers.
///
/// The ACK bit is present exactly when `ack` is: a RST without ACK cannot carry an ack rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendSpec {
    /// SYN, FIN, RST and DATA; never ACK (see `ack`).
    pub ctl: Flags,
    pub seq: SeqExpr,
    pub ack: Option<AckExpr>,
}

impl SendSpec {
    /// The usual numbers for these bits: ISS for a SYN, SND.NXT otherwise; RCV.NXT if ACK.
    pub fn with_defaults(flags: Flags) -> SendSpec {
        SendSpec {
            ctl: flags.without(Flags::ACK),
            seq: SendSpec::default_seq(flags),
            ack: flags.contains(Flags::ACK).then_some(AckExpr::RcvNxt),
        }
    }

    pub fn default_seq(flags: Flags) -> SeqExpr {
        if flags.contains(Flags::SYN) {
            SeqExpr::Iss
        } else {
            SeqExpr::SndNxt
        }
    }

    /// All bits including ACK.
    pub fn flags(&self) -> Flags {
        match self.ack {
            Some(_) => self.ctl.union(Flags::ACK),
            None => self.ctl,
        }
    }
}

impl fmt::Display for SendSpec {
    /// `RST|ACK(seq=0, ack=SEG.SEQ+SEG.LEN)`; numbers that follow the defaults are omitted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = self.flags();
        write!(f, "{flags}")?;
        let mut rules = Vec::new();
        if self.seq != SendSpec::default_seq(flags) {
            rules.push(format!("seq={}", self.seq));
        }
        if let Some(ack) = self.ack.filter(|&a| a != AckExpr::RcvNxt) {
            rules.push(format!("ack={ack}"));
        }
        if !rules.is_empty() {
            write!(f, "({})", rules.join(", "))?;
        }
        Ok(())
    }
}

spelled! {
    /// How `reopen` picks the ISS of the connection it starts from TIME-WAIT.
    pub enum ReopenIsn {
        /// From the ISN clock, as any new connection (RFC 9293 3.4.1).
        Clock = "clock",
        /// The old connection's SND.NXT: above every sequence number it used, the least RFC
        /// 1122 4.2.2.13 (1) allows (BSD adds TCP_ISSINCR to it).
        AboveOld = "above-old",
        /// The old connection's ISS again: what an ISN made only of a hash of the 4-tuple (RFC
        /// 6528's F without the clock M) would give.
        Same = "same",
    }
}

/// One action of a row. Actions run left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `send FLAGS(seq=…, ack=…)`: emit a segment.
    Send(SendSpec),
    /// `send challenge-ACK`: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, rate-limited (RFC 5961 3.2).
    ChallengeAck,
    /// Resend the oldest unacknowledged segment (RFC 9293 3.10.8).
    Retransmit,
    /// Start the timer unless it is running (RFC 6298 5.1). RTO and USER time outstanding
    /// data, so they start only while something sent is unacknowledged.
    Start(Timer),
    Stop(Timer),
    /// Start the timer afresh even if it is running (TIME-WAIT on a retransmitted FIN).
    Restart(Timer),
    /// IRS <- SEG.SEQ, RCV.NXT <- SEG.SEQ+1; learn the peer's window and MSS.
    AcceptSyn,
    /// SND.UNA <- SEG.ACK if it acknowledges something new; update SND.WND.
    AcceptAck,
    /// Accept the segment's text in order: RCV.NXT advances over it.
    Deliver,
    /// Advance RCV.NXT over the peer's FIN.
    AcceptFin,
    /// Queue this user call until ESTABLISHED (RFC 9293 3.10.2-3.10.4).
    Queue,
    /// Hand received text to the user, or keep the RECEIVE pending.
    Read,
    Signal(Signal),
    /// Forget the connection but keep listening (SYN-RECEIVED back to LISTEN).
    Flush,
    /// Delete the TCB: every timer stops, every queue is flushed.
    Delete,
    /// Forget the connection in TIME-WAIT and start a new one on the same TCB for the listener
    /// beside it, with the ISS the rule picks (RFC 1122 4.2.2.13). Timers stop.
    Reopen(ReopenIsn),
}

impl Action {
    /// The keyword that starts this action and, for the parser, what may follow it.
    pub const KEYWORDS: [&'static str; 15] = [
        "send",
        "retransmit",
        "start",
        "stop",
        "restart",
        "accept-syn",
        "accept-ack",
        "deliver",
        "accept-fin",
        "queue",
        "read",
        "signal",
        "flush",
        "delete",
        "reopen",
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Send(spec) => write!(f, "send {spec}"),
            Action::ChallengeAck => f.write_str("send challenge-ACK"),
            Action::Retransmit => f.write_str("retransmit"),
            Action::Start(t) => write!(f, "start {t}"),
            Action::Stop(t) => write!(f, "stop {t}"),
            Action::Restart(t) => write!(f, "restart {t}"),
            Action::AcceptSyn => f.write_str("accept-syn"),
            Action::AcceptAck => f.write_str("accept-ack"),
            Action::Deliver => f.write_str("deliver"),
            Action::AcceptFin => f.write_str("accept-fin"),
            Action::Queue => f.write_str("queue"),
            Action::Read => f.write_str("read"),
            Action::Signal(s) => write!(f, "signal {s}"),
            Action::Flush => f.write_str("flush"),
            Action::Delete => f.write_str("delete"),
            Action::Reopen(isn) => write!(f, "reopen {isn}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_prints_only_non_default_rules() {
        let syn_ack = SendSpec::with_defaults(Flags::SYN.union(Flags::ACK));
        assert_eq!(Action::Send(syn_ack).to_string(), "send SYN|ACK");
        let rst = SendSpec { ctl: Flags::RST, seq: SeqExpr::SegAck, ack: None };
        assert_eq!(rst.to_string(), "RST(seq=SEG.ACK)");
        let rst_ack = SendSpec { ctl: Flags::RST, seq: SeqExpr::Zero, ack: Some(AckExpr::SegEnd) };
        assert_eq!(rst_ack.to_string(), "RST|ACK(seq=0, ack=SEG.SEQ+SEG.LEN)");
    }
}
