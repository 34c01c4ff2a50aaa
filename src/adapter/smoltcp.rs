//! smoltcp under test, in process: one [`tcp::Socket`] on an [`Interface`] with `Medium::Ip`
//! over a [`Device`] of ours, in IPv4 or, through smoltcp's IPv6 interface, IPv6
//! ([`Smoltcp::on`]). [`Stack::inject`] feeds the device's receive queue and
//! [`Stack::transmit`] drains what smoltcp sent; smoltcp's clock *is* the harness's virtual
//! clock (`crate::time::Instant` microseconds become `smoltcp::time::Instant::from_micros`), so
//! runs are deterministic and TIME-WAIT or backoff take no real time.
//!
//! The harness plays the socket's user as a blocking BSD-socket user would:
//! - OPEN-PASSIVE is [`tcp::Socket::listen`], OPEN-ACTIVE [`tcp::Socket::connect`], CLOSE
//!   [`tcp::Socket::close`] (smoltcp's half-close, `shutdown(SHUT_WR)`), ABORT
//!   [`tcp::Socket::abort`]. A call smoltcp refuses (a second `listen`) is the RFC's error
//!   signal and changes nothing.
//! - SEND goes through [`tcp::Socket::send_slice`]. What smoltcp cannot take yet — its
//!   transmit buffer is full, or the connection is still opening (smoltcp only takes text in
//!   ESTABLISHED and CLOSE-WAIT, RFC 9293 3.10.2 *queues* it in SYN-SENT and SYN-RECEIVED) —
//!   waits in the adapter and is offered again after every poll, as a blocking `write` would
//!   complete later. A CLOSE behind such text waits for it, as `shutdown` after a blocking
//!   `write` does. Text left when the connection can no longer send is dropped: the user's
//!   write failed.
//! - RECEIVE reads with [`tcp::Socket::recv_slice`] until the buffer is empty (it is a ring:
//!   one call returns only the contiguous part).
//! - Nagle is off (`TCP_NODELAY`): the harness judges what each SEND puts on the wire, and
//!   holding a small segment behind unacknowledged text is a sender-side choice (RFC 9293
//!   3.7.4) that the table does not model. Everything else is smoltcp's default.
//!
//! smoltcp is polled after every input, and [`Stack::advance`] steps through its own
//! `poll_at` deadlines up to the target time, at most [`MAX_POLLS`] of them per call, so a
//! stack that never settles costs a bounded amount of work and shows up as a verdict instead
//! of a hang. Bytes smoltcp cannot parse are dropped by smoltcp (its checksum and length
//! checks run before any socket sees them); none of it can panic here.

use std::collections::VecDeque;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::conform::{Clock, Hosts, Params, Stack};
use crate::model::{Call, State};
use crate::time::{Duration, Instant};
use crate::wire::Family;

/// The smoltcp release under test: `Cargo.toml` pins it exactly, so a verdict names the code
/// it was found in, and `tests/smoltcp.rs` notices when an upgrade changes behaviour.
pub const VERSION: &str = "0.14.0";

/// The socket's receive buffer: the window a fresh connection advertises.
pub const RX_BUFFER: usize = 4096;

/// The socket's transmit buffer. Larger than anything a short script sends before the peer
/// ACKs, so the adapter's own queue is the exception.
pub const TX_BUFFER: usize = 16 * 1024;

/// The IP MTU of our device in IPv4. 576 is the datagram every IPv4 host must accept (RFC 791);
/// with 40 octets of headers smoltcp announces MSS 536, the RFC 9293 3.7.1 default.
pub const MTU: usize = 576;

/// The device's MTU in `family`: in IPv6, 20 octets more than [`MTU`] for the longer header,
/// so that smoltcp announces the same MSS in both families and a script's `<mss 536>` holds in
/// both, as packetdrill's `run_all.py` gives IPv6 `--mtu=1520` for the same MSS 1460. (Below
/// IPv6's minimum link MTU of 1280, RFC 8200 5, which smoltcp does not enforce: the MSS, not
/// the link, is what the harness sees.)
pub fn mtu(family: Family) -> usize {
    MTU - Family::V4.header_len() + family.header_len()
}

/// Polls one [`Stack::advance`] may make before it gives up on the stack settling.
pub const MAX_POLLS: usize = 1024;

/// Packets the device holds for the harness before it reports itself busy. smoltcp's
/// `Interface::poll` keeps dispatching while a socket has something to send, and some inputs
/// make a socket send for ever (docs/findings/smoltcp.md, finding 16): a busy device is the
/// only thing that ends that loop. Well above [`crate::conform::oracle::MAX_BURST`], so the
/// oracle still sees the flood and names it `chatter`.
pub const TX_LIMIT: usize = 256;

/// smoltcp's constants for the pinned release, read from `src/socket/tcp.rs` of
/// smoltcp 0.14.0 (line numbers of that file):
/// `CLOSE_DELAY` (301): TIME-WAIT is a fixed 10 s, not 2·MSL.
pub const CLOSE_DELAY: Duration = Duration::from_secs(10);
/// `RTTE_INITIAL_RTO` (144) and `RTTE_MIN_RTO` (155): 1 s, RFC 6298 2.1 and 2.4.
pub const RTO: Duration = Duration::from_secs(1);
/// `RTTE_MAX_RTO` (159): backoff doubles up to 60 s (RFC 6298 2.5).
pub const MAX_RTO: Duration = Duration::from_secs(60);
/// `ACK_DELAY_DEFAULT` (300): a pure ACK of text may wait 10 ms.
pub const ACK_DELAY: Duration = Duration::from_micros(10_000);
/// `challenge_ack_reply` (1539-1553): at most one challenge ACK per second, and the same
/// limiter answers out-of-window segments without text and ACKs of unsent data.
pub const CHALLENGE_ACK_INTERVAL: Duration = Duration::from_secs(1);

/// smoltcp as a stack under test.
pub struct Smoltcp {
    params: Params,
    seed: u64,
    device: Wire,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    /// smoltcp's clock: the last time it was polled at.
    now: smoltcp::time::Instant,
    /// SENT text smoltcp has not taken yet (see the module doc).
    unsent: Vec<u8>,
    /// A CLOSE waits behind `unsent`.
    close_pending: bool,
    /// smoltcp's `poll_at` after the last poll: when it next acts on its own.
    deadline: Option<Instant>,
    /// A listener stays open beside the connection ([`Stack::serve`]): smoltcp's socket is
    /// its own listener, so when its connection is gone it listens again.
    serving: bool,
}

impl Smoltcp {
    /// smoltcp with `seed` as its interface's random seed (which picks its ISNs).
    pub fn new(seed: u64) -> Self {
        let params = Params {
            name: format!("smoltcp {VERSION}"),
            clock: Clock::Virtual,
            hosts: Hosts::test(Family::V4),
            // smoltcp has no MSL of its own: a segment lives as long in the network whatever
            // the host. The oracle holds TIME-WAIT to RFC 9293's 2·MSL and the fixed 10 s is
            // declared below, so the difference is a finding, not a tolerance.
            msl: Duration::from_secs(120),
            time_wait: Some(CLOSE_DELAY),
            rto: RTO,
            // smoltcp has no R2: without `set_timeout` it retransmits for ever, backing off
            // to MAX_RTO (tcp.rs 2475-2493 never counts retries).
            max_retries: u32::MAX,
            user_timeout: None,
            window: RX_BUFFER as u32,
            // The same in both families ([`mtu`]).
            mss: (MTU - 40) as u16,
            ack_delay: ACK_DELAY,
            granularity: Duration::default(),
            isn: format!("smoltcp's interface PRNG (Config::random_seed = {seed}), one draw per SYN (tcp.rs 1075)"),
        };
        let mut device = Wire { mtu: MTU, ..Wire::default() };
        let (iface, sockets, handle) = Self::fresh(seed, params.hosts, &mut device);
        Smoltcp {
            params,
            seed,
            device,
            iface,
            sockets,
            handle,
            now: smoltcp::time::Instant::ZERO,
            unsent: Vec::new(),
            close_pending: false,
            deadline: None,
            serving: false,
        }
    }

    /// The same stack in `family` ([`Hosts::test`], the device's MTU by [`mtu`]): smoltcp's
    /// IPv6 interface instead of its IPv4 one, and nothing else changed.
    #[must_use]
    pub fn on(mut self, family: Family) -> Self {
        self.params.hosts = Hosts::test(family);
        self.device.mtu = mtu(family);
        self.reset();
        self
    }

    fn fresh(seed: u64, hosts: Hosts, device: &mut Wire) -> (Interface, SocketSet<'static>, SocketHandle) {
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, device, smoltcp::time::Instant::ZERO);
        // One address, on the peer's subnet (a /24, or a /64 in IPv6): the peer is on-link, no
        // route needed. The vector has room for it (IFACE_MAX_ADDR_COUNT >= 1), so the push
        // cannot fail.
        let prefix = match hosts.family() {
            Family::V4 => 24,
            Family::V6 => 64,
        };
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::from(hosts.stack().ip()), prefix));
        });
        let mut socket =
            tcp::Socket::new(tcp::SocketBuffer::new(vec![0; RX_BUFFER]), tcp::SocketBuffer::new(vec![0; TX_BUFFER]));
        socket.set_nagle_enabled(false);
        let mut sockets = SocketSet::new(Vec::with_capacity(1));
        let handle = sockets.add(socket);
        (iface, sockets, handle)
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    fn socket_state(&self) -> tcp::State {
        self.sockets.get::<tcp::Socket>(self.handle).state()
    }

    /// Polls smoltcp at `at` (never earlier than its clock), then hands it queued text.
    fn poll(&mut self, at: smoltcp::time::Instant) {
        self.now = self.now.max(at);
        self.iface.poll(self.now, &mut self.device, &mut self.sockets);
        if self.flush() {
            self.iface.poll(self.now, &mut self.device, &mut self.sockets);
        }
        // The one socket is both the connection and the listener beside it: once the
        // connection is gone, the listener has the port again. (Nothing can arrive between
        // the two: the harness injects one packet per poll.)
        if self.serving && self.socket_state() == tcp::State::Closed {
            let port = self.params.hosts.stack().port();
            let _ = self.socket().listen(port);
        }
        self.deadline = self.iface.poll_at(self.now, &self.sockets).map(|at| {
            // `PollAt::Now` comes back as time zero: it means now.
            Instant::from_micros(u64::try_from(at.max(self.now).total_micros()).unwrap_or(0))
        });
    }

    /// Offers the adapter's queued text (and a CLOSE behind it) to the socket; whether it
    /// took anything, so the caller polls again to let it out.
    fn flush(&mut self) -> bool {
        if self.unsent.is_empty() && !self.close_pending {
            return false;
        }
        match self.socket_state() {
            // Still opening: RFC 9293 3.10.2 queues, and so do we.
            tcp::State::SynSent | tcp::State::SynReceived => false,
            tcp::State::Established | tcp::State::CloseWait => {
                let mut took = false;
                if !self.unsent.is_empty() {
                    let unsent = std::mem::take(&mut self.unsent);
                    let n = self.socket().send_slice(&unsent).unwrap_or(0);
                    self.unsent = unsent;
                    self.unsent.drain(..n.min(self.unsent.len()));
                    took = n > 0;
                }
                if self.close_pending && self.unsent.is_empty() {
                    self.close_pending = false;
                    self.socket().close();
                    took = true;
                }
                took
            }
            // The connection can no longer send: the blocking write failed.
            _ => {
                self.unsent.clear();
                self.close_pending = false;
                false
            }
        }
    }

    fn send(&mut self, data: &[u8]) {
        match self.socket_state() {
            tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Established | tcp::State::CloseWait => {
                self.unsent.extend_from_slice(data);
            }
            // CLOSED, LISTEN and the closing states refuse a SEND (RFC 9293 3.10.2).
            _ => {}
        }
    }

    fn close(&mut self) {
        let waits =
            matches!(self.socket_state(), tcp::State::SynReceived | tcp::State::Established | tcp::State::CloseWait);
        if waits && !self.unsent.is_empty() {
            self.close_pending = true;
        } else {
            self.unsent.clear();
            self.socket().close();
        }
    }

    fn receive(&mut self) -> Vec<u8> {
        let mut text = Vec::new();
        let mut chunk = [0u8; 1024];
        // Bounded: each read takes at least one octet out of a buffer of RX_BUFFER.
        for _ in 0..=RX_BUFFER {
            match self.socket().recv_slice(&mut chunk) {
                Ok(n) if n > 0 => text.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        text
    }
}

/// Our microseconds as smoltcp's (signed) ones; the end of our time is the end of theirs.
fn smol_instant(at: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(at.as_micros()).unwrap_or(i64::MAX))
}

/// The state smoltcp reports, in the table's words: smoltcp has all eleven RFC states.
fn state_of(state: tcp::State) -> State {
    match state {
        tcp::State::Closed => State::Closed,
        tcp::State::Listen => State::Listen,
        tcp::State::SynSent => State::SynSent,
        tcp::State::SynReceived => State::SynReceived,
        tcp::State::Established => State::Established,
        tcp::State::FinWait1 => State::FinWait1,
        tcp::State::FinWait2 => State::FinWait2,
        tcp::State::CloseWait => State::CloseWait,
        tcp::State::Closing => State::Closing,
        tcp::State::LastAck => State::LastAck,
        tcp::State::TimeWait => State::TimeWait,
    }
}

impl Stack for Smoltcp {
    fn params(&self) -> &Params {
        &self.params
    }

    fn reset(&mut self) {
        self.device.rx.clear();
        self.device.tx.clear();
        let (iface, sockets, handle) = Self::fresh(self.seed, self.params.hosts, &mut self.device);
        self.iface = iface;
        self.sockets = sockets;
        self.handle = handle;
        self.now = smoltcp::time::Instant::ZERO;
        self.unsent.clear();
        self.close_pending = false;
        self.deadline = None;
        self.serving = false;
    }

    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
        let at = smol_instant(now);
        self.now = self.now.max(at);
        let mut read = Vec::new();
        match call {
            Call::OpenPassive => {
                // Refused when already open: the RFC's "connection already exists".
                let port = self.params.hosts.stack().port();
                let _ = self.socket().listen(port);
            }
            Call::OpenActive => {
                let remote = IpEndpoint::from(self.params.hosts.peer());
                let cx = self.iface.context();
                let socket = self.sockets.get_mut::<tcp::Socket>(self.handle);
                let _ = socket.connect(cx, remote, self.params.hosts.stack().port());
            }
            Call::Send => self.send(data),
            Call::Receive => read = self.receive(),
            Call::Close => self.close(),
            Call::Abort => {
                self.unsent.clear();
                self.close_pending = false;
                self.socket().abort();
            }
        }
        self.poll(at);
        read
    }

    fn inject(&mut self, now: Instant, packet: &[u8]) {
        let mut buffer = self.device.rx_spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(packet);
        self.device.rx.push_back(buffer);
        self.poll(smol_instant(now));
    }

    fn advance(&mut self, to: Instant) {
        let to = smol_instant(to);
        let mut last = None;
        for _ in 0..MAX_POLLS {
            let Some(due) = self.iface.poll_at(self.now, &self.sockets) else { break };
            let due = due.max(self.now);
            if due > to {
                break;
            }
            // Polled at this instant already and smoltcp still asks for it: it has nothing
            // more to do now (a deadline it cannot act on); look a millisecond on.
            let due = if last == Some(due) { due + smoltcp::time::Duration::from_millis(1) } else { due };
            if due > to {
                break;
            }
            self.poll(due);
            last = Some(due);
        }
        self.poll(to);
    }

    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(packet) = self.device.tx.pop_front() else { return false };
        out.clear();
        out.extend_from_slice(&packet);
        self.device.tx_spare.push(packet);
        true
    }

    fn state(&self) -> Option<State> {
        Some(state_of(self.socket_state()))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn ack_throttle(&self) -> Option<Duration> {
        Some(CHALLENGE_ACK_INTERVAL)
    }

    fn serve(&mut self, now: Instant, open: bool) -> bool {
        self.serving = open;
        if open {
            self.call(now, Call::OpenPassive, &[]);
        } else if self.socket_state() == tcp::State::Listen {
            self.call(now, Call::Close, &[]);
        }
        true
    }
}

/// The device: a raw-IP wire whose far end is the harness.
#[derive(Default)]
struct Wire {
    /// Its IP MTU ([`mtu`]).
    mtu: usize,
    /// Packets from the peer, not yet read by smoltcp.
    rx: VecDeque<Vec<u8>>,
    /// Packets smoltcp sent, not yet taken by the harness.
    tx: VecDeque<Vec<u8>>,
    /// Buffers of packets smoltcp has read, and of packets the harness has taken, for the
    /// next ones: the fuzz loop moves a few packets each way at every step.
    rx_spare: Vec<Vec<u8>>,
    tx_spare: Vec<Vec<u8>>,
}

impl Device for Wire {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        let rx = RxToken { packet, spare: &mut self.rx_spare };
        Some((rx, TxToken { tx: &mut self.tx, spare: &mut self.tx_spare }))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        (self.tx.len() < TX_LIMIT).then_some(TxToken { tx: &mut self.tx, spare: &mut self.tx_spare })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        // Checksums are computed and verified in software (the default), so a packet with a
        // bad checksum is dropped by smoltcp, as by any host.
        caps
    }
}

struct RxToken<'a> {
    packet: Vec<u8>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(&self.packet);
        self.spare.push(self.packet);
        result
    }
}

struct TxToken<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = self.spare.pop().unwrap_or_default();
        packet.clear();
        packet.resize(len, 0);
        let result = f(&mut packet);
        // A reply to an incoming packet comes through the token `receive` hands out, which
        // cannot say "busy": past the limit it is dropped, as a full NIC queue drops.
        if self.tx.len() < TX_LIMIT {
            self.tx.push_back(packet);
        } else {
            self.spare.push(packet);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Control, Segment, SeqNum};

    fn at_ms(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn packets(stack: &mut Smoltcp) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while stack.transmit(&mut buf) {
            out.push(Segment::from_ip(&buf).expect("smoltcp sends valid IP+TCP").segment);
        }
        out
    }

    fn peer(seq: u32, ack: Option<SeqNum>, ctl: Control, payload: &[u8]) -> Vec<u8> {
        peer_in(Family::V4, seq, ack, ctl, payload)
    }

    fn peer_in(family: Family, seq: u32, ack: Option<SeqNum>, ctl: Control, payload: &[u8]) -> Vec<u8> {
        let hosts = Hosts::test(family);
        let seg = Segment {
            src_port: hosts.peer().port(),
            dst_port: hosts.stack().port(),
            seq: SeqNum(seq),
            ack,
            ctl,
            window: 8192,
            mss: ctl.contains(Control::SYN).then_some(1000),
            options: Vec::new(),
            payload: payload.to_vec(),
        };
        let mut bytes = Vec::new();
        seg.write_ip(hosts.inbound(), &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn ipv6_connect_announces_the_same_mss_and_completes() {
        // smoltcp's IPv6 interface: the SYN goes from and to the IPv6 test hosts, with the MSS
        // of the IPv4 run (the device's MTU is 20 octets larger), and the handshake completes.
        let mut stack = Smoltcp::new(1).on(Family::V6);
        stack.call(Instant::ZERO, Call::OpenActive, &[]);
        let mut buf = Vec::new();
        assert!(stack.transmit(&mut buf));
        let syn = Segment::from_ip(&buf).unwrap();
        assert_eq!(syn.addrs, Hosts::test(Family::V6).outbound());
        assert_eq!((syn.segment.ctl, syn.segment.mss), (Control::SYN, Some(536)));
        let ack = Some(syn.segment.seq.add(1));
        stack.inject(at_ms(1), &peer_in(Family::V6, 100, ack, Control::SYN, &[]));
        assert_eq!(stack.state(), Some(State::Established));
        let out = packets(&mut stack);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].ack, Some(SeqNum(101)));
        // An IPv4 packet is not for this interface: smoltcp drops it.
        stack.inject(at_ms(2), &peer(101, ack, Control::RST, &[]));
        assert_eq!(stack.state(), Some(State::Established));
    }

    #[test]
    fn established_connect_sends_syn_and_completes_on_syn_ack() {
        let mut stack = Smoltcp::new(1);
        stack.call(Instant::ZERO, Call::OpenActive, &[]);
        assert_eq!(stack.state(), Some(State::SynSent));
        let syn = packets(&mut stack);
        assert_eq!(syn.len(), 1);
        assert_eq!(syn[0].ctl, Control::SYN);
        assert_eq!(syn[0].mss, Some(536));
        stack.inject(at_ms(1), &peer(100, Some(syn[0].seq.add(1)), Control::SYN, &[]));
        assert_eq!(stack.state(), Some(State::Established));
        let ack = packets(&mut stack);
        assert_eq!(ack.len(), 1, "{ack:?}");
        assert_eq!(ack[0].ack, Some(SeqNum(101)));
    }

    #[test]
    fn listen_receive_and_send_queued_before_established() {
        let mut stack = Smoltcp::new(1);
        stack.call(Instant::ZERO, Call::OpenPassive, &[]);
        assert_eq!(stack.state(), Some(State::Listen));
        stack.inject(at_ms(1), &peer(100, None, Control::SYN, &[]));
        let syn_ack = packets(&mut stack);
        assert_eq!(syn_ack.len(), 1);
        // SEND in SYN-RECEIVED is queued (RFC 9293 3.10.2) and goes out once ESTABLISHED.
        stack.call(at_ms(2), Call::Send, b"hello");
        assert!(packets(&mut stack).is_empty());
        let iss = syn_ack[0].seq;
        stack.inject(at_ms(3), &peer(101, Some(iss.add(1)), Control::PSH, b"abc"));
        assert_eq!(stack.state(), Some(State::Established));
        let out = packets(&mut stack);
        assert!(out.iter().any(|s| s.payload == b"hello"), "{out:?}");
        assert_eq!(stack.call(at_ms(4), Call::Receive, &[]), b"abc");
    }

    #[test]
    fn reset_gives_a_fresh_stack_with_the_same_isn() {
        let mut stack = Smoltcp::new(9);
        stack.call(Instant::ZERO, Call::OpenActive, &[]);
        let first = packets(&mut stack)[0].seq;
        stack.advance(at_ms(5_000));
        stack.reset();
        assert_eq!(stack.state(), Some(State::Closed));
        assert!(packets(&mut stack).is_empty());
        stack.call(Instant::ZERO, Call::OpenActive, &[]);
        assert_eq!(packets(&mut stack)[0].seq, first);
    }

    #[test]
    fn syn_sent_retransmits_with_backoff_capped_at_60_s() {
        let mut stack = Smoltcp::new(1);
        stack.call(Instant::ZERO, Call::OpenActive, &[]);
        let _ = packets(&mut stack);
        let mut times = Vec::new();
        let mut t = 0;
        while times.len() < 8 && t < 400_000 {
            t += 1;
            stack.advance(at_ms(t));
            if !packets(&mut stack).is_empty() {
                times.push(t);
            }
        }
        // 1, 2, 4, 8, 16, 32, then 60 s (RTTE_MAX_RTO), never giving up.
        assert_eq!(times, [1_000, 3_000, 7_000, 15_000, 31_000, 63_000, 123_000, 183_000]);
        assert_eq!(stack.state(), Some(State::SynSent));
    }

    #[test]
    fn malformed_packets_are_dropped() {
        let mut stack = Smoltcp::new(1);
        stack.call(Instant::ZERO, Call::OpenPassive, &[]);
        let good = peer(100, None, Control::SYN, &[]);
        for n in 0..good.len() {
            stack.inject(Instant::ZERO, &good[..n]);
        }
        let mut bad = good.clone();
        bad[30] ^= 0xff;
        stack.inject(Instant::ZERO, &bad);
        stack.inject(Instant::ZERO, &[0x45; 64]);
        stack.inject(Instant::ZERO, &[]);
        assert!(packets(&mut stack).is_empty());
        assert_eq!(stack.state(), Some(State::Listen));
    }
}
