//! The eleven connection states of RFC 9293 section 3.3.2.

use super::spelled::spelled;

spelled! {
    /// A connection state, printed and parsed in RFC spelling.
    pub enum State {
        Closed = "CLOSED",
        Listen = "LISTEN",
        SynSent = "SYN-SENT",
        SynReceived = "SYN-RECEIVED",
        Established = "ESTABLISHED",
        FinWait1 = "FIN-WAIT-1",
        FinWait2 = "FIN-WAIT-2",
        CloseWait = "CLOSE-WAIT",
        Closing = "CLOSING",
        LastAck = "LAST-ACK",
        TimeWait = "TIME-WAIT",
    }
}

impl State {
    pub const COUNT: usize = State::ALL.len();

    /// Dense index, for per-state arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the TCB knows the peer's sequence space (RCV.NXT): SYN-RECEIVED and every
    /// synchronized state (RFC 9293 3.10.7.4 "Otherwise" branch).
    pub const fn has_rcv_nxt(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent)
    }

    /// States in which our FIN may be unacknowledged (RFC 9293 3.10.7.4, fifth check).
    pub const fn fin_outstanding(self) -> bool {
        matches!(self, State::FinWait1 | State::Closing | State::LastAck)
    }
}

impl Default for State {
    /// Every connection begins, and ends, in CLOSED.
    fn default() -> Self {
        State::Closed
    }
}
