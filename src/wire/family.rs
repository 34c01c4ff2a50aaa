//! Address families: which IP version a run's packets carry, and a packet's two addresses, of
//! one family. A packet from an IPv4 address to an IPv6 one cannot be written down, so neither
//! can a run that mixes the two.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IP version under the TCP segments of a run. packetdrill runs every script in both
/// (`run_all.py`); TCP itself is the same in both except for the checksum's pseudo-header
/// (RFC 9293 3.1) and the MSS, which counts from a header 20 octets longer (RFC 8200 8.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Family {
    #[default]
    #[serde(rename = "ipv4")]
    V4,
    #[serde(rename = "ipv6")]
    V6,
}

impl Family {
    /// Both, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// Octets of the fixed IP header: what a stack takes off its MTU, with the TCP header's 20,
    /// for the MSS it announces.
    pub const fn header_len(self) -> usize {
        match self {
            Family::V4 => 20,
            Family::V6 => 40,
        }
    }

    /// `ipv4` or `ipv6`: packetdrill's `--ip_version` names, as finding files record them.
    pub const fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// A packet's source and destination, of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addrs {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl Addrs {
    /// The pair if both are of one family.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Addrs> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Addrs::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Addrs::V6 { src, dst }),
            _ => None,
        }
    }

    pub fn family(self) -> Family {
        match self {
            Addrs::V4 { .. } => Family::V4,
            Addrs::V6 { .. } => Family::V6,
        }
    }

    pub fn src(self) -> IpAddr {
        match self {
            Addrs::V4 { src, .. } => src.into(),
            Addrs::V6 { src, .. } => src.into(),
        }
    }

    pub fn dst(self) -> IpAddr {
        match self {
            Addrs::V4 { dst, .. } => dst.into(),
            Addrs::V6 { dst, .. } => dst.into(),
        }
    }

    /// The way back: source and destination swapped.
    #[must_use]
    pub fn reversed(self) -> Addrs {
        match self {
            Addrs::V4 { src, dst } => Addrs::V4 { src: dst, dst: src },
            Addrs::V6 { src, dst } => Addrs::V6 { src: dst, dst: src },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_families_are_no_pair() {
        let (v4, v6) = (IpAddr::from(Ipv4Addr::LOCALHOST), IpAddr::from(Ipv6Addr::LOCALHOST));
        assert_eq!(Addrs::new(v4, v6), None);
        assert_eq!(Addrs::new(v6, v4), None);
        let pair = Addrs::new(v6, IpAddr::from(Ipv6Addr::UNSPECIFIED)).unwrap();
        assert_eq!((pair.family(), pair.reversed().src()), (Family::V6, IpAddr::from(Ipv6Addr::UNSPECIFIED)));
    }

    #[test]
    fn names_are_packetdrills() {
        let names: Vec<String> = Family::ALL.iter().map(|f| serde_json::to_string(f).unwrap()).collect();
        assert_eq!(names, ["\"ipv4\"", "\"ipv6\""]);
        assert_eq!(Family::ALL.map(Family::name), ["ipv4", "ipv6"]);
    }
}
