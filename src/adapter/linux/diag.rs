//! One socket's state and timer, asked of the kernel by its 4-tuple through `NETLINK_SOCK_DIAG`
//! (`ss` uses the same interface; linux/inet_diag.h).
//!
//! `/proc/net/tcp` would tell the same, but reading it walks the kernel's whole established
//! hash table — shared by every namespace on the host, so hundreds of thousands of buckets —
//! for every question: with many fuzz jobs that walk was 90% of the machine's time. An exact
//! request (no `NLM_F_DUMP`) is one hash lookup (`inet_diag_find_one_icsk`), and finds what
//! the run needs: the connection, its TIME-WAIT (a separate timewait socket once Linux enters
//! it), a request socket not yet accepted, and, when no connection has the 4-tuple, the listener
//! on the port (the lookup falls back to it, as a SYN's would).
//!
//! Messages are built and read as bytes: no `unsafe`, and a malformed answer is `None`.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};

use crate::conform::Hosts;
use crate::wire::Addrs;

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLM_F_REQUEST`; no `NLM_F_DUMP`: an exact lookup.
const NLM_F_REQUEST: u16 = 1;
/// `NLMSG_ERROR`: the answer when no socket has the 4-tuple (`-ENOENT`).
const NLMSG_ERROR: u16 = 2;
/// `INET_DIAG_NOCOOKIE`: match by address, not by a cookie from an earlier answer.
const NO_COOKIE: u32 = !0;
const NLMSG_HDR: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, then the socket id.
const REQ_LEN: usize = 8 + SOCKID_LEN;
/// `struct inet_diag_sockid`: ports, 4+4 address words, interface, cookie.
const SOCKID_LEN: usize = 48;
/// `struct inet_diag_msg`: family, state, timer, retrans, the socket id, expires, queues, uid, inode.
const MSG_LEN: usize = 4 + SOCKID_LEN + 20;

/// What the kernel says about one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The kernel's `TCP_*` state number.
    pub st: u8,
    /// Which timer runs: 0 none, 1 retransmission (or a request's SYN|ACK), 2 keepalive or
    /// FIN-WAIT-2, 3 TIME-WAIT, 4 zero-window probe.
    pub timer: u8,
    /// When it is due, in milliseconds from when the kernel answered (counted in jiffies):
    /// 0 is "due now".
    pub expires_ms: u32,
    /// Timeouts so far without progress (`icsk_retransmits`; a request's SYN|ACK count).
    pub retransmits: u8,
}

/// A `NETLINK_SOCK_DIAG` socket of one namespace.
pub struct Diag {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Diag {
    /// Opens it; must run inside the namespace to ask about (a netlink socket answers for the
    /// namespace it was made in).
    pub fn open() -> Result<Diag, String> {
        let fd =
            socket(AddressFamily::Netlink, SockType::Datagram, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkSockDiag)
                .map_err(|e| format!("cannot open a NETLINK_SOCK_DIAG socket: {e}"))?;
        Ok(Diag { fd, seq: std::cell::Cell::new(0) })
    }

    /// The socket with this 4-tuple (the stack's side local), else the listener on the stack's
    /// port, else `Some(None)`; `None` if the kernel could not be asked or answered something
    /// unreadable.
    pub fn lookup(&self, hosts: Hosts) -> Option<Option<Entry>> {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        send(self.fd.as_raw_fd(), &request(seq, hosts), MsgFlags::empty()).ok()?;
        let mut buf = [0u8; 512];
        // Bounded: an answer to an earlier, abandoned question may come first.
        for _ in 0..8 {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
            match answer(&buf[..n], seq) {
                Answer::Stale => continue,
                Answer::Found(entry) => return Some(Some(entry)),
                Answer::None => return Some(None),
                Answer::Garbled => return None,
            }
        }
        None
    }
}

fn request(seq: u32, hosts: Hosts) -> [u8; NLMSG_HDR + REQ_LEN] {
    let mut m = [0u8; NLMSG_HDR + REQ_LEN];
    m[0..4].copy_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    let r = &mut m[NLMSG_HDR..];
    // The source and destination are four words each: an IPv4 address fills the first.
    let (family, local, remote) = match hosts.outbound() {
        Addrs::V4 { src, dst } => (nix::libc::AF_INET, src.octets().to_vec(), dst.octets().to_vec()),
        Addrs::V6 { src, dst } => (nix::libc::AF_INET6, src.octets().to_vec(), dst.octets().to_vec()),
    };
    r[0] = family as u8;
    r[1] = nix::libc::IPPROTO_TCP as u8;
    r[4..8].copy_from_slice(&u32::MAX.to_ne_bytes()); // every state
    let id = &mut r[8..];
    id[0..2].copy_from_slice(&hosts.stack().port().to_be_bytes());
    id[2..4].copy_from_slice(&hosts.peer().port().to_be_bytes());
    id[4..4 + local.len()].copy_from_slice(&local);
    id[20..20 + remote.len()].copy_from_slice(&remote);
    id[40..44].copy_from_slice(&NO_COOKIE.to_ne_bytes());
    id[44..48].copy_from_slice(&NO_COOKIE.to_ne_bytes());
    m
}

enum Answer {
    Found(Entry),
    None,
    /// For another question.
    Stale,
    Garbled,
}

fn answer(buf: &[u8], seq: u32) -> Answer {
    let word = |at: usize| buf.get(at..at + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let (Some(len), Some(kind), Some(got)) = (word(0), buf.get(4..6), word(8)) else { return Answer::Garbled };
    if got != seq {
        return Answer::Stale;
    }
    if (len as usize) > buf.len() {
        return Answer::Garbled;
    }
    if u16::from_ne_bytes([kind[0], kind[1]]) == NLMSG_ERROR {
        return Answer::None;
    }
    let Some(msg) = buf.get(NLMSG_HDR..NLMSG_HDR + MSG_LEN) else { return Answer::Garbled };
    let expires = u32::from_ne_bytes([msg[52], msg[53], msg[54], msg[55]]);
    Answer::Found(Entry { st: msg[1], timer: msg[2], expires_ms: expires, retransmits: msg[3] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Family;

    #[test]
    fn a_request_names_the_4_tuple_in_network_order() {
        let m = request(7, Hosts::test(Family::V4).with_stack_port(10_000));
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 72);
        assert_eq!(m[16], nix::libc::AF_INET as u8);
        assert_eq!(&m[24..28], &[0x27, 0x10, 0x9c, 0x40]);
        assert_eq!(&m[28..32], &[192, 0, 2, 1]);
        assert_eq!(&m[44..48], &[192, 0, 2, 2]);
        let m = request(7, Hosts::test(Family::V6).with_stack_port(10_000));
        assert_eq!(m[16], nix::libc::AF_INET6 as u8);
        assert_eq!(&m[24..28], &[0x27, 0x10, 0x9c, 0x40]);
        let octets = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        assert_eq!(&m[28..44], &octets("2001:db8::1"));
        assert_eq!(&m[44..60], &octets("2001:db8::2"));
    }

    fn reply(seq: u32, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn answers_are_read_and_garbage_is_refused() {
        let mut msg = [0u8; MSG_LEN];
        (msg[1], msg[2], msg[3]) = (6, 3, 0);
        msg[52..56].copy_from_slice(&59_996u32.to_ne_bytes());
        let want = Entry { st: 6, timer: 3, expires_ms: 59_996, retransmits: 0 };
        assert!(matches!(answer(&reply(3, SOCK_DIAG_BY_FAMILY, &msg), 3), Answer::Found(e) if e == want));
        assert!(matches!(answer(&reply(3, NLMSG_ERROR, &[0; 20]), 3), Answer::None));
        assert!(matches!(answer(&reply(2, SOCK_DIAG_BY_FAMILY, &msg), 3), Answer::Stale));
        let whole = reply(3, SOCK_DIAG_BY_FAMILY, &msg);
        for n in 0..whole.len() {
            assert!(matches!(answer(&whole[..n], 3), Answer::Garbled | Answer::Stale), "{n}");
        }
    }
}
