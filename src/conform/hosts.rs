//! Where the stack under test and the peer the harness plays are: two socket addresses of one
//! family, carried by a run's [`super::Params`]. Every packet of a run is written between these
//! two, so a run is all IPv4 or all IPv6 by construction.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::wire::{Addrs, Family};

/// The stack's address and port (the port a passive open listens on) and the peer's. The two
/// addresses are one [`Addrs`], so they are of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hosts {
    /// From the stack to the peer.
    outbound: Addrs,
    stack_port: u16,
    peer_port: u16,
}

/// The ports every in-process stack uses.
const STACK_PORT: u16 = 8080;
const PEER_PORT: u16 = 40000;

impl Hosts {
    /// The addresses of the in-process stacks, from the ranges reserved for documentation: in
    /// IPv4 TEST-NET-1 (RFC 5737) `192.0.2.1:8080` and the peer `192.0.2.2:40000`, in IPv6
    /// (RFC 3849) `[2001:db8::1]:8080` and `[2001:db8::2]:40000`. The same ports in both, so
    /// that a script's verdicts, diagrams and exports differ between families only in addresses.
    pub const fn test(family: Family) -> Hosts {
        let outbound = match family {
            Family::V4 => Addrs::V4 { src: Ipv4Addr::new(192, 0, 2, 1), dst: Ipv4Addr::new(192, 0, 2, 2) },
            Family::V6 => Addrs::V6 {
                src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            },
        };
        Hosts { outbound, stack_port: STACK_PORT, peer_port: PEER_PORT }
    }

    /// The pair if both are of one family.
    pub fn new(stack: SocketAddr, peer: SocketAddr) -> Option<Hosts> {
        let outbound = Addrs::new(stack.ip(), peer.ip())?;
        Some(Hosts { outbound, stack_port: stack.port(), peer_port: peer.port() })
    }

    pub fn family(self) -> Family {
        self.outbound.family()
    }

    pub fn stack(self) -> SocketAddr {
        SocketAddr::new(self.outbound.src(), self.stack_port)
    }

    pub fn peer(self) -> SocketAddr {
        SocketAddr::new(self.outbound.dst(), self.peer_port)
    }

    /// The same with the stack on `port`: the Linux adapter's real port of a run.
    #[must_use]
    pub fn with_stack_port(self, port: u16) -> Hosts {
        Hosts { stack_port: port, ..self }
    }

    /// The addresses of a packet from the peer to the stack.
    pub fn inbound(self) -> Addrs {
        self.outbound.reversed()
    }

    /// The addresses of a packet from the stack to the peer.
    pub fn outbound(self) -> Addrs {
        self.outbound
    }
}

impl fmt::Display for Hosts {
    /// `192.0.2.1:8080 <-> 192.0.2.2:40000`, `[2001:db8::1]:8080 <-> [2001:db8::2]:40000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.stack(), self.peer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_hosts_differ_between_families_only_in_addresses() {
        let (four, six) = (Hosts::test(Family::V4), Hosts::test(Family::V6));
        assert_eq!((four.family(), six.family()), (Family::V4, Family::V6));
        assert_eq!((four.stack().port(), four.peer().port()), (six.stack().port(), six.peer().port()));
        assert_eq!(six.to_string(), "[2001:db8::1]:8080 <-> [2001:db8::2]:40000");
        assert_eq!(four.outbound().src(), four.stack().ip());
        assert_eq!(Hosts::new(four.stack(), six.peer()), None);
        assert_eq!(Hosts::new(six.stack(), six.peer()), Some(six));
        assert_eq!(six.with_stack_port(9).stack().port(), 9);
        assert_eq!(six.with_stack_port(9).peer(), six.peer());
    }
}
