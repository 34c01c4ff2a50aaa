//! The words packetdrill and tcpcheck share, in both directions: tcpdump's flag letters, the
//! `tcpi_state` names of Linux's `TCP_INFO`, and seconds as packetdrill writes them. The
//! exporter (`crate::export::packetdrill`) writes with these and the parser reads with them, so
//! what one writes the other reads back.

use crate::model::State;
use crate::time::Duration;

/// The letters in the order the exporter writes them, with their bit in the flags byte. `.`
/// (ACK, 0x10) comes last, as tcpdump prints it.
pub const FLAG_LETTERS: [(char, u8); 7] =
    [('S', 0x02), ('F', 0x01), ('R', 0x04), ('P', 0x08), ('U', 0x20), ('E', 0x40), ('W', 0x80)];

/// The ACK bit in the flags byte.
pub const ACK: u8 = 0x10;

/// A TCP option as a script writes it: `mss 1460`, `sackOK`, `TS val 1 ecr 0`, `sack 1:2`.
pub fn option_text(option: &super::ast::TcpOption) -> String {
    use super::ast::TcpOption;
    match option {
        TcpOption::Mss(m) => format!("mss {m}"),
        TcpOption::WScale(w) => format!("wscale {w}"),
        TcpOption::Timestamp { val, ecr } => format!("TS val {val} ecr {ecr}"),
        TcpOption::Sack(blocks) => std::iter::once("sack".to_string())
            .chain(blocks.iter().map(|(l, r)| format!("{l}:{r}")))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.name().to_string(),
    }
}

/// Letters as the exporter writes a flags byte: `S.`, `FP.`, `R`, `-` for none.
pub fn letters(flags: u8) -> String {
    let mut text: String = FLAG_LETTERS.iter().filter(|(_, bit)| flags & bit != 0).map(|(l, _)| *l).collect();
    if flags & ACK != 0 {
        text.push('.');
    }
    if text.is_empty() {
        text.push('-');
    }
    text
}

/// Why flag letters do not make a flags byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagError {
    /// AccECN's `A` (AE) or an ACE digit: packetdrill knows it, tcpcheck's wire does not.
    AccEcn(char),
    /// Not one of packetdrill's letters.
    Unknown(char),
}

/// The flags byte of packetdrill's letters (`.FSRPEWU`, plus AccECN's `A` and digits).
pub fn flags_from_letters(text: &str) -> Result<u8, FlagError> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            '.' => ACK,
            'A' | '0'..='7' => return Err(FlagError::AccEcn(c)),
            _ => match FLAG_LETTERS.iter().find(|(l, _)| *l == c) {
                Some((_, bit)) => *bit,
                None => return Err(FlagError::Unknown(c)),
            },
        };
    }
    Ok(flags)
}

/// Linux's `tcpi_state` names (`include/net/tcp_states.h`) for the RFC's states. Linux has no
/// name of its own for a listener's half-open connection other than `TCP_SYN_RECV`, and its
/// TIME-WAIT is `TCP_TIME_WAIT`.
pub const TCPI_STATES: [(&str, State); 11] = [
    ("TCP_ESTABLISHED", State::Established),
    ("TCP_SYN_SENT", State::SynSent),
    ("TCP_SYN_RECV", State::SynReceived),
    ("TCP_FIN_WAIT1", State::FinWait1),
    ("TCP_FIN_WAIT2", State::FinWait2),
    ("TCP_TIME_WAIT", State::TimeWait),
    ("TCP_CLOSE", State::Closed),
    ("TCP_CLOSE_WAIT", State::CloseWait),
    ("TCP_LAST_ACK", State::LastAck),
    ("TCP_LISTEN", State::Listen),
    ("TCP_CLOSING", State::Closing),
];

pub fn tcpi_name(state: State) -> &'static str {
    TCPI_STATES.iter().find(|(_, s)| *s == state).map_or("TCP_CLOSE", |(n, _)| n)
}

pub fn tcpi_state(name: &str) -> Option<State> {
    TCPI_STATES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The states a `%{ ... }%` block asserts, if it does nothing else: one or more statements
/// `assert tcpi_state == TCP_X[, message]` or `assert tcpi_state in (TCP_X, TCP_Y)[, message]`,
/// separated by `;` or newlines. `None` for any other code (it is then unsupported).
pub fn state_assertion(code: &str) -> Option<Vec<String>> {
    let mut states: Option<Vec<String>> = None;
    for statement in code.split([';', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
        let rest = statement.strip_prefix("assert")?.trim_start().strip_prefix("tcpi_state")?.trim_start();
        let names: Vec<String> = if let Some(rest) = rest.strip_prefix("==") {
            let name = rest.split(',').next()?.trim();
            vec![name.to_string()]
        } else if let Some(rest) = rest.strip_prefix("in") {
            let inner = rest.trim_start().strip_prefix('(')?;
            let inner = &inner[..inner.find(')')?];
            inner.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        } else {
            return None;
        };
        if names.is_empty() || names.iter().any(|n| tcpi_state(n).is_none()) {
            return None;
        }
        // Two assertions at one instant must both hold: keep the states they share.
        states = Some(match states {
            None => names,
            Some(old) => old.into_iter().filter(|n| names.contains(n)).collect(),
        });
    }
    states
}

/// `tcpi_state` assertion code as the exporter writes it: the state, or for TIME-WAIT also
/// `TCP_CLOSE`, because Linux hands a connection in TIME-WAIT to a timewait socket and the
/// user's socket then reads closed (README, the Linux adapter).
pub fn state_code(state: State) -> String {
    match state {
        State::TimeWait => "assert tcpi_state in (TCP_TIME_WAIT, TCP_CLOSE), tcpi_state".to_string(),
        s => format!("assert tcpi_state == {}, tcpi_state", tcpi_name(s)),
    }
}

/// Seconds as packetdrill writes them: `0`, `1.500`, `0.000250`.
pub fn seconds(d: Duration) -> String {
    let us = d.as_micros();
    let (s, frac) = (us / 1_000_000, us % 1_000_000);
    match frac {
        0 if s == 0 => "0".to_string(),
        _ if frac % 1000 == 0 => format!("{s}.{:03}", frac / 1000),
        _ => format!("{s}.{frac:06}"),
    }
}

/// Microseconds of a decimal number of seconds (`0.100`, `.1`, `12.000250`); digits past the
/// sixth decimal are dropped, as packetdrill's conversion truncates. `None` on overflow or a
/// malformed number.
pub fn micros(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(6).collect();
    while digits.len() < 6 {
        digits.push('0');
    }
    whole.checked_mul(1_000_000)?.checked_add(digits.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_every_flags_byte() {
        for flags in 0..=255u8 {
            assert_eq!(flags_from_letters(&letters(flags).replace('-', "")), Ok(flags), "{flags:#x}");
        }
        assert_eq!(letters(0x12), "S.");
        assert_eq!(letters(0x19), "FP.");
        assert_eq!(letters(0), "-");
        assert_eq!(flags_from_letters("Q"), Err(FlagError::Unknown('Q')));
        assert_eq!(flags_from_letters("SA"), Err(FlagError::AccEcn('A')));
    }

    #[test]
    fn state_assertions_read_what_the_exporter_writes() {
        for (name, state) in TCPI_STATES {
            assert_eq!(tcpi_state(name), Some(state));
            let read = state_assertion(&state_code(state)).unwrap();
            assert!(read.contains(&tcpi_name(state).to_string()), "{read:?}");
        }
        assert_eq!(state_assertion("assert tcpi_state == TCP_LISTEN"), Some(vec!["TCP_LISTEN".into()]));
        assert_eq!(state_assertion("assert tcpi_snd_cwnd == 10"), None);
        assert_eq!(state_assertion("print(tcpi_state)"), None);
        assert_eq!(state_assertion("assert tcpi_state == TCP_BOGUS"), None);
    }

    #[test]
    fn seconds_and_micros_agree() {
        for us in [0u64, 250, 1_500_000, 120_000_000, 1_000_001] {
            assert_eq!(micros(&seconds(Duration::from_micros(us))), Some(us));
        }
        assert_eq!(micros(".1"), Some(100_000));
        assert_eq!(micros("0.1234567"), Some(123_456));
        assert_eq!(micros("99999999999999999999.0"), None);
    }
}
