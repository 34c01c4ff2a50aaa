//! The Linux kernel under test: its TCP in a private network namespace ([`netns`]), reached
//! through a TUN device ([`tun`]) whose far end is the harness, and used through ordinary
//! sockets created inside that namespace.
//!
//! ```text
//!   harness (peer 192.0.2.2:40000)  ==TUN tcpcheck0==  kernel (192.0.2.1:port of this run)
//!                                                        ^ sockets: listen / connect / send ...
//! ```
//!
//! In IPv6 ([`Linux::with_family`]) the same with the IPv6 test hosts (`2001:db8::2` and
//! `2001:db8::1`, [`Hosts::test`]), `AF_INET6` sockets and an MTU 20 octets larger, so the
//! kernel announces the same MSS. The namespace's IPv6 is configured to say nothing of its own:
//! no link-local address (so no router solicitations), no duplicate address detection, no
//! router advertisements taken; anything else it sends that is not TCP (an MLD report) is not
//! the conversation and is dropped before the harness sees it. In IPv4 the namespace's IPv6 is
//! off.
//!
//! The harness plays the socket's user as a BSD-socket user does, as the smoltcp adapter does:
//! - OPEN-PASSIVE is `listen` (backlog 1); the connection is `accept`ed as soon as the kernel
//!   has it, and the listening socket is then closed, so that there is one connection, as the
//!   table has one TCB. A listener that stays ([`Stack::serve`]) is not closed: once the
//!   connection is gone it has the port, and the next connection it completes is accepted.
//!   OPEN-ACTIVE is a non-blocking `connect` from the run's port.
//! - SEND is a non-blocking `send(MSG_NOSIGNAL)`. What the kernel cannot take yet (the
//!   connection is still opening: Linux takes text only in ESTABLISHED and CLOSE-WAIT, where
//!   RFC 9293 3.10.2 *queues* it in SYN-SENT and SYN-RECEIVED; or a passive connection not yet
//!   accepted) waits in the adapter and is offered again after every input, as a blocking
//!   `write` would complete later. Text the kernel refuses for good (EPIPE, ECONNRESET) is
//!   dropped: the user's write failed.
//! - RECEIVE reads with `recv(MSG_DONTWAIT)` until nothing is left.
//! - CLOSE is `shutdown(SHUT_WR)` (on a listener with no connection, or a connection still
//!   in SYN-SENT: `close`, which deletes it as RFC 9293 3.10.4 does). A CLOSE behind
//!   queued text waits for it, as `shutdown` after a blocking `write` would.
//! - ABORT is `SO_LINGER` {on, 0} and `close`: the kernel sends a RST.
//! - What a socket user cannot do ([`Stack::can_call`] says so, and the oracle ends the run
//!   there): CLOSE or ABORT a passive connection before `accept` (there is no descriptor yet),
//!   ABORT in TIME-WAIT (the kernel has handed the connection to a timewait socket; the user's
//!   descriptor no longer reaches it), and OPEN-ACTIVE on a listener (`connect` fails, as in BSD).
//! - `TCP_NODELAY` is set, as in the smoltcp adapter: holding a small segment behind
//!   unacknowledged text (Nagle) is a sender's choice the table does not model.
//!
//! [`Stack::state`] asks the namespace's kernel for the run's connection by its 4-tuple
//! ([`diag`], as `ss` does) rather than asking `TCP_INFO` on the user's socket: when Linux
//! enters TIME-WAIT (and orphaned FIN-WAIT-2) it hands the connection to a separate timewait
//! socket and the user's socket reads `TCP_CLOSE`, and a passive connection before `accept` is
//! a request socket the user has no descriptor for. The lookup finds all three by address.
//!
//! **Time.** The kernel's clock is the wall clock. Virtual `now` is mapped to real time as
//! "the run's origin + now": [`Stack::advance`] sleeps until then. Inputs happen at real instants
//! a little after their virtual ones (the harness takes time to compute); when an input comes
//! late, the origin moves forward by the lag, so every input happens at exactly its virtual time
//! and the kernel's timers, armed by inputs, come due at their virtual times. The harness's own
//! slowness is not the stack's time. Kernel timers fire *late*, never early (the timer wheel
//! rounds a deadline up to its level's granularity, up to 1/8 of the timeout: about 30 ms on a
//! 1 s RTO at HZ=250). [`Stack::next_deadline`] tells the harness when the connection's timer
//! is due, as the kernel reports it (in milliseconds counted from `jiffies`, less a jiffy: a
//! lower bound), and keeps telling it the same instant until the harness has waited past it or
//! an input re-arms it. A wait that ends at or
//! after that instant goes on until the timer has fired, up to [`TIMER_GRACE`], and the packet
//! counts as sent at the instant told; a wait that ends before it does not wait (nothing can
//! come before a lower bound). A script's wait for its next input or call
//! ([`Stack::advance_within`]) never goes on past its end: packetdrill makes the line happen at
//! its time whatever the kernel's timers do, and a kernel timer told due a little before it
//! (a RACK reordering timer that re-arms itself, an RTO a few milliseconds after the line)
//! may fire after it, or not at all once the line's packet has come. When nothing was told, a wait that ends with a retransmission,
//! keepalive or zero-window timer due within the tick is waited out the same way.
//!
//! **Runs are cheap to reset.** The namespace and TUN device live as long as the adapter; a run
//! only has sockets. Each run uses a fresh local port (the harness still sees
//! [`Params::hosts`]' port: the adapter rewrites the port, and the checksum incrementally, in both
//! directions), so a TIME-WAIT or an orphan of an earlier run is a different 4-tuple and cannot
//! answer for this one; packets such leftovers send (a SYN|ACK retransmitted by a request of an
//! earlier run) are dropped before the harness sees them.

pub mod diag;
pub mod netns;
pub mod tun;

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    accept4, bind, connect, listen, recv, send, setsockopt, shutdown, socket, sockopt, AddressFamily, Backlog,
    MsgFlags, Shutdown, SockFlag, SockProtocol, SockType, SockaddrIn, SockaddrIn6,
};

use self::diag::{Diag, Entry};
use self::netns::Netns;
use self::tun::Tun;
use crate::conform::{Clock, Hosts, Params, Stack, Sysctl};
use crate::model::{Call, State};
use crate::time::{Duration, Instant};
use crate::wire::{Control, Family, Segment};

pub use self::netns::{cleanup_all, live_names};

/// The TUN interface's name inside the namespace (each namespace has its own).
pub const TUN_NAME: &str = "tcpcheck0";

/// The TUN device's MTU in IPv4: Ethernet's, so the kernel announces its everyday MSS (1460).
pub const MTU: u16 = 1500;

/// The device's MTU in `family`: 20 octets more in IPv6 (1520), for the same MSS in both, as
/// packetdrill's `run_all.py` runs IPv6 with `--mtu=1520`.
pub fn mtu(family: Family) -> u16 {
    MTU - Family::V4.header_len() as u16 + family.header_len() as u16
}

/// What the namespace's IPv6 is told before the device exists (`/proc/sys/net/ipv6/conf/
/// default/…`, which a new device copies): in IPv4 to be off; in IPv6 to send nothing of its
/// own. `addr_gen_mode` 1 makes no link-local address, without which there are no router
/// solicitations; DAD and router advertisements are off.
fn ipv6_defaults(family: Family) -> &'static [(&'static str, &'static str)] {
    match family {
        Family::V4 => &[("disable_ipv6", "1")],
        Family::V6 => &[
            ("disable_ipv6", "0"),
            ("addr_gen_mode", "1"),
            ("accept_dad", "0"),
            ("dad_transmits", "0"),
            ("accept_ra", "0"),
            ("router_solicitations", "0"),
        ],
    }
}

/// Local ports of runs: run n uses `PORT_BASE + n mod PORT_SPAN`. At the few runs per second
/// real time allows, a port comes back long after the 60 s TIME-WAIT of its last use.
pub const PORT_BASE: u16 = 10_000;
pub const PORT_SPAN: u16 = 50_000;

/// The port the constructor opens a connection from to read the kernel's SYN (its MSS and window).
const CALIBRATION_PORT: u16 = 9;

/// Linux's fixed TIME-WAIT, `TCP_TIMEWAIT_LEN` (include/net/tcp.h: `60*HZ`). Not a sysctl.
pub const TIME_WAIT: Duration = Duration::from_secs(60);
/// `TCP_TIMEOUT_INIT` (include/net/tcp.h): 1 s, RFC 6298 2.1.
pub const RTO_INIT: Duration = Duration::from_secs(1);
/// `TCP_RTO_MIN` (include/net/tcp.h): 200 ms, below RFC 6298 2.4's 1 s (a SHOULD).
pub const RTO_MIN: Duration = Duration::from_micros(200_000);
/// `TCP_DELACK_MIN`: the delayed-ACK timer starts at 40 ms.
pub const DELACK_MIN: Duration = Duration::from_micros(40_000);
/// `TCP_DELACK_MAX`: 200 ms, the longest a delayed ACK waits in interactive ("pingpong")
/// mode. Declared as the stack's ACK delay: RFC 9293 3.8.6.3 allows up to 0.5 s, and with the
/// harness answering in microseconds Linux caps its delay near 40 ms (srtt-bounded), so this
/// bound is generous rather than tight.
pub const ACK_DELAY: Duration = Duration::from_micros(200_000);

/// How long past a wait the adapter waits for a kernel timer that is due but has not fired:
/// the timer wheel's granularity at the level of a 32 s timeout is 2 s at HZ=250.
pub const TIMER_GRACE: std::time::Duration = std::time::Duration::from_millis(2_500);

/// After an input, how long to wait for the kernel's answer when none is queued yet. The
/// kernel answers a TUN write and a socket call synchronously (in the system call), so this
/// only guards against scheduling noise.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(1);

/// How often a wait for a kernel timer that is due but has not fired asks again.
const TIMER_POLL: std::time::Duration = std::time::Duration::from_millis(4);

/// What the kernel told us about itself, read inside the namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kernel {
    /// `uname -r` (`/proc/sys/kernel/osrelease`).
    pub release: String,
    /// `net.ipv4.tcp_rfc1337`: 1 ignores a RST in TIME-WAIT (RFC 1337), 0 (default) obeys it.
    pub rfc1337: Option<u64>,
    /// `net.ipv4.tcp_challenge_ack_limit`: challenge ACKs per second for the namespace.
    pub challenge_ack_limit: Option<u64>,
    /// `net.ipv4.tcp_invalid_ratelimit` (ms): at most one challenge or duplicate ACK per
    /// socket per this long (RFC 5961 7 allows throttling).
    pub invalid_ratelimit_ms: Option<u64>,
    /// `net.ipv4.tcp_syn_retries`, `tcp_synack_retries`, `tcp_retries2`.
    pub syn_retries: Option<u64>,
    pub synack_retries: Option<u64>,
    pub retries2: Option<u64>,
    /// `net.ipv4.tcp_syn_linear_timeouts` (Linux 6.5+): this many SYN retransmissions at the
    /// initial RTO before the backoff doubles (1, 1, 1, 1, 1, 2, 4 … s with 4).
    pub syn_linear_timeouts: Option<u64>,
    /// `net.ipv4.tcp_rto_min_us` and `tcp_rto_max_ms` (Linux 6.x): the RTO's bounds.
    pub rto_min_us: Option<u64>,
    pub rto_max_ms: Option<u64>,
    /// `net.ipv4.tcp_timestamps`, `tcp_sack`, `tcp_window_scaling` (options it offers).
    pub timestamps: Option<u64>,
    pub sack: Option<u64>,
    pub window_scaling: Option<u64>,
}

impl Kernel {
    /// R2 as the table counts it, for an active open: `tcp_write_timeout` allows
    /// `tcp_syn_retries` + `tcp_syn_linear_timeouts` SYN retransmissions.
    fn max_retries(&self) -> u32 {
        self.syn_retries
            .map(|n| n.saturating_add(self.syn_linear_timeouts.unwrap_or(0)))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(6)
    }

    /// Reads it; must run inside the namespace (`/proc/sys/net` is the reader's namespace's).
    fn read() -> Kernel {
        let text = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
        let num = |name: &str| text(&format!("/proc/sys/net/ipv4/{name}")).and_then(|s| s.parse().ok());
        Kernel {
            release: text("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
            rfc1337: num("tcp_rfc1337"),
            challenge_ack_limit: num("tcp_challenge_ack_limit"),
            invalid_ratelimit_ms: num("tcp_invalid_ratelimit"),
            syn_retries: num("tcp_syn_retries"),
            synack_retries: num("tcp_synack_retries"),
            retries2: num("tcp_retries2"),
            syn_linear_timeouts: num("tcp_syn_linear_timeouts"),
            rto_min_us: num("tcp_rto_min_us"),
            rto_max_ms: num("tcp_rto_max_ms"),
            timestamps: num("tcp_timestamps"),
            sack: num("tcp_sack"),
            window_scaling: num("tcp_window_scaling"),
        }
    }
}

/// The Linux kernel as a stack under test.
pub struct Linux {
    params: Params,
    kernel: Kernel,
    /// Runs since construction; picks the run's port.
    run: u32,
    /// The run's real local port (the harness sees [`Params::hosts`]' stack port).
    port: u16,
    /// Real time of virtual zero for this run (see the module doc).
    origin: std::time::Instant,
    listener: Option<OwnedFd>,
    conn: Option<OwnedFd>,
    /// The listener stays open beside the connection it accepted ([`Stack::serve`]), as a
    /// server's does: it is not closed on `accept`, and a connection that comes to it after
    /// the last one is gone is accepted in its place.
    serving: bool,
    /// SENT text the kernel has not taken yet, and a CLOSE behind it.
    unsent: Vec<u8>,
    close_pending: bool,
    /// An input happened since the TUN was last found empty: worth waiting a moment for answers.
    fresh: bool,
    /// Packets read off the TUN while the harness waited, each with the virtual instant it was
    /// seen leaving ([`Stack::sent_at`]), for [`Stack::transmit`] to hand out first.
    seen: std::collections::VecDeque<(Instant, Vec<u8>)>,
    /// The instant of the packet [`Stack::transmit`] last handed out, if it was seen early.
    last_sent_at: Option<Instant>,
    /// The deadline [`Stack::next_deadline`] told the harness for the timer it names (kind and
    /// retransmission count), kept until an input or until that timer has fired: the estimate
    /// must not move between the harness's questions, and a wait that ends before it must not
    /// wait for that timer (the harness holds its own for it), or a packet it expects later
    /// would come early.
    told: Cell<Option<(Instant, TimerKey)>>,
    /// Asks the namespace's kernel about the run's socket.
    diag: Diag,
    /// The sysctls a script set ([`Stack::sysctls`]), each with the value it replaced, to put
    /// back before the next script's.
    applied: Vec<(String, String)>,
    // Dropped in this order, after [`Drop::drop`] has closed the sockets: the device, then the
    // namespace.
    tun: Tun,
    netns: Netns,
}

/// The wall clock. Only this adapter lives in real time, so only it may read the clock.
#[allow(clippy::disallowed_methods)]
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

fn std_duration(at: Instant) -> std::time::Duration {
    std::time::Duration::from_micros(at.as_micros())
}

impl Linux {
    /// A namespace with a TUN device and the kernel's TCP behind it, in IPv4. Fails with a
    /// message naming what is missing (root, CAP_NET_ADMIN, `/dev/net/tun`, iproute2).
    pub fn new() -> Result<Linux, String> {
        Linux::with_family(Family::V4)
    }

    /// [`Linux::new`] with the device, addresses and sockets of `family`.
    pub fn with_family(family: Family) -> Result<Linux, String> {
        if !std::path::Path::new(tun::CLONE_DEVICE).exists() {
            return Err(format!(
                "the linux stack needs {}, which does not exist\n  help: load the tun driver \
                 (`modprobe tun`) or run where it is available (in a container: --device /dev/net/tun)",
                tun::CLONE_DEVICE
            ));
        }
        let netns = Netns::create()?;
        let (tun, diag, kernel) = netns.run(|| -> Result<_, String> {
            // The namespace's IPv6 would send router solicitations and MLD reports out of the
            // TUN device: noise that is not the conversation. Told before the device exists.
            for (name, value) in ipv6_defaults(family) {
                let path = format!("/proc/sys/net/ipv6/conf/default/{name}");
                let set = std::fs::write(&path, value);
                if family == Family::V6 {
                    set.map_err(|e| format!("cannot write {value} to {path} in the namespace: {e}"))?;
                }
            }
            let tun = Tun::open(TUN_NAME)?;
            Ok((tun, Diag::open()?, Kernel::read()))
        })??;
        let hosts = Hosts::test(family);
        let mtu = mtu(family).to_string();
        let (stack_ip, peer_ip) = (hosts.stack().ip().to_string(), hosts.peer().ip().to_string());
        let host_bits = match family {
            Family::V4 => "32",
            Family::V6 => "128",
        };
        netns.ip(&["link", "set", TUN_NAME, "mtu", &mtu, "up"])?;
        let stack_cidr = format!("{stack_ip}/{host_bits}");
        let mut addr = vec!["addr", "add", stack_cidr.as_str(), "dev", TUN_NAME];
        if family == Family::V6 {
            // No duplicate address detection: the address is usable at once, and no neighbour
            // solicitation for it goes out.
            addr.push("nodad");
        }
        netns.ip(&addr)?;
        netns.ip(&["route", "add", &format!("{peer_ip}/{host_bits}"), "dev", TUN_NAME])?;
        let params = Params {
            name: format!("linux {}", kernel.release),
            clock: Clock::Real,
            hosts,
            // Linux has no MSL: a segment lives as long in the network whatever the host. The
            // oracle holds TIME-WAIT to RFC 9293's 2·MSL and the fixed 60 s is declared below,
            // so the difference is a finding, not a tolerance (as for smoltcp's 10 s).
            msl: Duration::from_secs(120),
            time_wait: Some(TIME_WAIT),
            rto: RTO_INIT,
            // Short scripts retransmit SYNs. tcp_write_timeout allows an active open
            // tcp_syn_retries + tcp_syn_linear_timeouts retransmissions (6 + 4: SYNs at 1, 2, 3,
            // 4, 5, 7, 11, 19, 35 and 67 s, then it gives up). Text is retransmitted up to
            // tcp_retries2 (15, about 15 minutes), which no script waits for.
            max_retries: kernel.max_retries(),
            // TCP_USER_TIMEOUT is not set: R2 alone ends a connection.
            user_timeout: None,
            // Read from the kernel's SYN below.
            window: 0,
            mss: MTU - 40,
            ack_delay: ACK_DELAY,
            // Late firing on a real clock is the harness's business (TIMER_GRACE, the probe's jitter).
            granularity: Duration::default(),
            isn: "the kernel's: a keyed hash of the 4-tuple plus a 64 ns clock (RFC 6528, secure_tcp_seq)".into(),
        };
        let mut linux = Linux {
            params,
            kernel,
            run: 0,
            port: CALIBRATION_PORT,
            origin: wall(),
            listener: None,
            serving: false,
            applied: Vec::new(),
            conn: None,
            unsent: Vec::new(),
            close_pending: false,
            fresh: false,
            seen: std::collections::VecDeque::new(),
            last_sent_at: None,
            told: Cell::new(None),
            diag,
            tun,
            netns,
        };
        linux.calibrate()?;
        Ok(linux)
    }

    /// Opens a connection and reads the kernel's SYN: its window and MSS are what it declares.
    /// Also proves the device, addresses and route work before any verdict depends on them.
    fn calibrate(&mut self) -> Result<(), String> {
        self.drop_sockets();
        self.port = CALIBRATION_PORT;
        self.origin = wall();
        self.call(Instant::ZERO, Call::OpenActive, &[]);
        let mut buf = Vec::new();
        let mut syn = None;
        for _ in 0..100 {
            while syn.is_none() && self.transmit(&mut buf) {
                syn = Segment::from_ip(&buf).ok().map(|p| p.segment).filter(|s| s.ctl == Control::SYN);
            }
            if syn.is_some() {
                break;
            }
            self.tun.readable_within(std::time::Duration::from_millis(10));
        }
        self.drop_sockets();
        self.drain();
        let syn = syn.ok_or_else(|| {
            format!(
                "the kernel sent no SYN out of {TUN_NAME} in namespace {} within a second of connect()",
                self.netns.name()
            )
        })?;
        self.params.window = u32::from(syn.window);
        self.params.mss = syn.mss.unwrap_or(MTU - 40);
        Ok(())
    }

    /// What the kernel is and how it is configured, in lines, for the report.
    pub fn describe(&self) -> String {
        let k = &self.kernel;
        let v = |x: Option<u64>| x.map_or("unreadable".to_string(), |n| n.to_string());
        format!(
            "linux {} in network namespace {} (TUN {TUN_NAME}, {} <-> {}, MTU {})\n  \
             net.ipv4.tcp_rfc1337 = {} (0: a RST ends TIME-WAIT, the RFC 1337 hazard; 1: ignored)\n  \
             net.ipv4.tcp_challenge_ack_limit = {} per second in the namespace\n  \
             net.ipv4.tcp_invalid_ratelimit = {} ms (one challenge or duplicate ACK per socket per that)\n  \
             net.ipv4.tcp_syn_retries = {}, tcp_synack_retries = {}, tcp_retries2 = {}, \
             tcp_syn_linear_timeouts = {}\n  \
             net.ipv4.tcp_rto_min_us = {}, tcp_rto_max_ms = {}\n  \
             net.ipv4.tcp_timestamps = {}, tcp_sack = {}, tcp_window_scaling = {} (the harness offers none)\n  \
             TIME-WAIT {TIME_WAIT} fixed (TCP_TIMEWAIT_LEN); RTO initial {RTO_INIT} (TCP_TIMEOUT_INIT), \
             min {RTO_MIN} (TCP_RTO_MIN); delayed ACK from {DELACK_MIN}, declared bound {ACK_DELAY}\n  \
             MSS {}, window {} (read from its SYN); clock: real",
            k.release,
            self.netns.name(),
            self.params.hosts.stack().ip(),
            self.params.hosts.peer().ip(),
            mtu(self.params.hosts.family()),
            v(k.rfc1337),
            v(k.challenge_ack_limit),
            v(k.invalid_ratelimit_ms),
            v(k.syn_retries),
            v(k.synack_retries),
            v(k.retries2),
            v(k.syn_linear_timeouts),
            v(k.rto_min_us),
            v(k.rto_max_ms),
            v(k.timestamps),
            v(k.sack),
            v(k.window_scaling),
            self.params.mss,
            self.params.window,
        )
    }

    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The namespace's name (`ip netns exec NAME …` looks inside).
    pub fn netns_name(&self) -> &str {
        self.netns.name()
    }

    /// Sleeps until virtual `now`, or, if it has passed, moves the origin so that it is now.
    fn catch_up(&mut self, now: Instant) {
        let wall = wall();
        // Beyond the clock's range is centuries away: nothing to wait for in this process.
        let Some(target) = self.origin.checked_add(std_duration(now)) else { return };
        if wall < target {
            self.watch_until(target);
        } else if let Some(origin) = wall.checked_sub(std_duration(now)) {
            self.origin = origin;
        }
    }

    /// Sleeps until `target` on the wall clock, watching the device: each packet the kernel
    /// sends meanwhile is read at once and kept with the instant it was seen, so that it is
    /// timed when it was sent, not when the harness next looks (as packetdrill times a packet
    /// by its kernel timestamp). Packets not for the harness are dropped here.
    fn watch_until(&mut self, target: std::time::Instant) {
        let mut buf = Vec::new();
        loop {
            let now = wall();
            if now >= target {
                return;
            }
            if self.tun.readable_within(target - now) {
                let seen = wall().checked_duration_since(self.origin).unwrap_or_default();
                let at = Instant::from_micros(u64::try_from(seen.as_micros()).unwrap_or(u64::MAX));
                // Bounded: the device's queue is finite (its txqueuelen).
                for _ in 0..10_000 {
                    if !self.tun.recv(&mut buf) {
                        break;
                    }
                    if self.outbound(&mut buf) {
                        self.seen.push_back((at, std::mem::take(&mut buf)));
                    }
                }
            }
        }
    }

    /// [`Stack::advance`]: watches the device until `to`; then, if a timer the kernel runs is
    /// due by `to` but has not fired (see [`Linux::timer_pending`]), goes on until it has, up
    /// to [`TIMER_GRACE`], but never past `limit` ([`Stack::advance_within`]).
    fn wait(&mut self, to: Instant, limit: Option<Instant>) {
        let now = wall();
        if let Some(target) = self.origin.checked_add(std_duration(to)).filter(|&t| t > now) {
            self.watch_until(target);
        }
        let start = wall();
        let end = limit.and_then(|limit| self.origin.checked_add(std_duration(limit)));
        loop {
            let now = wall();
            let left = end.map_or(TIMER_POLL, |end| end.saturating_duration_since(now).min(TIMER_POLL));
            if left.is_zero() || now.duration_since(start) >= TIMER_GRACE || !self.timer_pending(to) {
                break;
            }
            if self.tun.readable_within(left) {
                break;
            }
        }
        // Waited past the told timer: it has fired (or is late beyond the grace, or the wait's
        // limit came first); the next question reads the timer as it is then.
        if self.told.get().is_some_and(|(at, _)| at <= to) {
            self.told.set(None);
        }
        let (fresh, queued) = (self.fresh, (self.unsent.len(), self.close_pending));
        self.after_input();
        // A script's time is up and nothing was input (no queued text or CLOSE handed over):
        // what the kernel sends from now on is seen with the next line, and a settle here would
        // only make that line late by as much.
        if limit.is_some() && (self.unsent.len(), self.close_pending) == queued {
            self.fresh = fresh;
        }
    }

    /// A TCP socket of the namespace, of the run's family, bound to the run's port.
    fn socket(&self) -> Result<OwnedFd, Errno> {
        let family = match self.params.hosts.family() {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        };
        let fd = self
            .netns
            .run(|| {
                socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, SockProtocol::Tcp)
            })
            .map_err(|_| Errno::EIO)??;
        // A port still in TIME-WAIT from earlier in this run may be bound again (RFC 9293
        // 3.10.7.4 lets a new SYN reopen it, and a listener does not share its 4-tuple).
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        setsockopt(&fd, sockopt::TcpNoDelay, &true)?;
        match self.params.hosts.with_stack_port(self.port).stack() {
            SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
            SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
        }
        Ok(fd)
    }

    fn open_passive(&mut self, now: Instant) {
        if self.listener.is_some() || self.conn.is_some() {
            return; // "connection already exists"
        }
        let Ok(fd) = self.socket() else { return };
        self.catch_up(now);
        if listen(&fd, Backlog::new(1).unwrap_or(Backlog::MAXCONN)).is_ok() {
            self.listener = Some(fd);
        }
    }

    fn open_active(&mut self, now: Instant) {
        if self.listener.is_some() || self.conn.is_some() {
            return; // "connection already exists"; a socket cannot turn a listener active
        }
        let Ok(fd) = self.socket() else { return };
        // The socket is made (a thread, a few system calls): now is when the SYN goes, so the
        // kernel's RTO starts at the virtual instant of the OPEN.
        self.catch_up(now);
        let connected = match self.params.hosts.peer() {
            SocketAddr::V4(a) => connect(fd.as_raw_fd(), &SockaddrIn::from(a)),
            SocketAddr::V6(a) => connect(fd.as_raw_fd(), &SockaddrIn6::from(a)),
        };
        match connected {
            Ok(()) | Err(Errno::EINPROGRESS) => self.conn = Some(fd),
            // The 4-tuple is still in TIME-WAIT (EADDRNOTAVAIL) or the like: the OPEN failed.
            Err(_) => {}
        }
    }

    fn send_text(&mut self, data: &[u8]) {
        let opening = self.conn.is_none() && self.listener.is_some() && self.state() == Some(State::SynReceived);
        if self.conn.is_some() || opening {
            self.unsent.extend_from_slice(data);
        }
        // Otherwise CLOSED or LISTEN: RFC 9293 3.10.2 answers SEND with an error.
    }

    fn close(&mut self) {
        let state = self.state();
        if self.conn.is_none() {
            if !self.serving {
                self.listener = None; // LISTEN: delete the TCB
            }
            return;
        }
        if state == Some(State::SynSent) {
            // RFC 9293 3.10.4: delete the TCB. `shutdown` would leave the socket, and the next
            // OPEN would find "connection already exists"; `close` of a connecting socket
            // sends nothing (tcp_close_state: SYN-SENT -> CLOSED, no FIN).
            self.conn = None;
            self.unsent.clear();
            return;
        }
        let waits = matches!(state, Some(State::SynReceived | State::Established | State::CloseWait));
        if waits && !self.unsent.is_empty() {
            self.close_pending = true;
        } else {
            self.unsent.clear();
            if let Some(conn) = &self.conn {
                let _ = shutdown(conn.as_raw_fd(), Shutdown::Write);
            }
        }
    }

    fn receive(&mut self) -> Vec<u8> {
        let mut text = Vec::new();
        let Some(conn) = &self.conn else { return text };
        let mut chunk = [0u8; 4096];
        // Bounded: the receive buffer is finite, and so is what a script can have sent.
        for _ in 0..1024 {
            match recv(conn.as_raw_fd(), &mut chunk, MsgFlags::MSG_DONTWAIT) {
                Ok(n) if n > 0 => text.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        text
    }

    /// ABORT: the connection is closed with `SO_LINGER` 0, and so is the listener unless it
    /// stays beside the connection ([`Stack::serve`]).
    fn abort(&mut self) {
        let listener = if self.serving { None } else { self.listener.take() };
        for fd in [self.conn.take(), listener].into_iter().flatten() {
            let _ = setsockopt(&fd, sockopt::Linger, &libc::linger { l_onoff: 1, l_linger: 0 });
        }
        self.unsent.clear();
        self.close_pending = false;
    }

    /// Closes every socket of the run with `SO_LINGER` 0: the end of a run.
    fn drop_sockets(&mut self) {
        self.serving = false;
        self.abort();
    }

    /// After every input: take a passive connection the kernel has completed, then hand the
    /// kernel queued text and a CLOSE behind it.
    fn after_input(&mut self) {
        self.fresh = true;
        // A listener that stays: once the run's 4-tuple has no connection (the lookup finds the
        // listener), the descriptor of the last one names a socket that is gone; the next
        // connection the listener completes is accepted in its place.
        if self.serving && self.conn.is_some() && self.state() == Some(State::Listen) {
            self.conn = None;
            self.unsent.clear();
            self.close_pending = false;
        }
        if self.conn.is_none() {
            if let Some(listener) = &self.listener {
                if let Ok(child) = accept4(listener, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC) {
                    let _ = setsockopt(&child, sockopt::TcpNoDelay, &true);
                    self.conn = Some(child);
                    // One connection, one TCB: nobody listens any more, unless the listener
                    // stays.
                    if !self.serving {
                        self.listener = None;
                    }
                }
            }
        }
        let Some(conn) = &self.conn else { return };
        if !self.unsent.is_empty() {
            match send(conn.as_raw_fd(), &self.unsent, MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT) {
                Ok(n) => {
                    self.unsent.drain(..n.min(self.unsent.len()));
                }
                // Still opening, or the buffer is full: offered again after the next input.
                Err(Errno::EAGAIN) => {}
                // The connection can no longer send: the blocking write failed.
                Err(_) => {
                    self.unsent.clear();
                }
            }
        }
        if self.close_pending && self.unsent.is_empty() {
            self.close_pending = false;
            let _ = shutdown(conn.as_raw_fd(), Shutdown::Write);
        }
    }

    /// Discards everything queued on the device.
    fn drain(&mut self) {
        let mut buf = Vec::new();
        for _ in 0..10_000 {
            if !self.tun.recv(&mut buf) {
                break;
            }
        }
    }

    /// The run's connection (or its TIME-WAIT, or a request not yet accepted), else its
    /// listener: `Some(None)` if there is neither, `None` if the kernel could not be asked.
    fn run_socket(&self) -> Option<Option<Entry>> {
        self.diag.lookup(self.params.hosts.with_stack_port(self.port))
    }

    /// Whether a wait that ends at `to` should go on for a kernel timer that has not fired: the
    /// one [`Stack::next_deadline`] told the harness about, if it said it is due by `to` and it
    /// is still pending (same state, kind and retransmission count); else, if it told nothing,
    /// a retransmission, keepalive/FIN-WAIT-2 or zero-window timer that the kernel says is due now.
    ///
    /// A timer the kernel has re-armed beyond `to` is not pending: the told one fired without a
    /// packet (Linux's loss-probe and RACK reordering timers share the retransmission timer's
    /// slot and re-arm it as the RTO when they find nothing to send), and waiting for a packet
    /// then would wait for the next timer, the RTO, and make the stack retransmit.
    fn timer_pending(&self, to: Instant) -> bool {
        let asked = wall().checked_duration_since(self.origin).unwrap_or_default();
        let Some(e) = self.run_socket().flatten().filter(|e| e.st != ST_LISTEN) else { return false };
        // When the timer is now due, as an upper bound (`expires_ms` counts from `jiffies`, up to
        // a jiffy behind the clock read before asking).
        // An overdue timer reads 0 ms left (the kernel clamps): still pending, however late this
        // look comes (a loaded machine polls late), and never one re-armed beyond `to`.
        let due = asked + std::time::Duration::from_millis(u64::from(e.expires_ms));
        let due_by_then = e.expires_ms == 0 || due <= std_duration(to) + std::time::Duration::from_millis(JIFFY_MS);
        match self.told.get() {
            Some((told, key)) => told <= to && (e.st, e.timer, e.retransmits) == key && due_by_then,
            None => matches!(e.timer, 1 | 2 | 4) && e.expires_ms == 0,
        }
    }

    /// Rewrites a packet the kernel sent for the harness: the run's port becomes the declared
    /// one. False if it is not for the harness: not of the run's family (in IPv4 the
    /// namespace's IPv6 is off, but a packet that is not the conversation is never a verdict),
    /// ICMPv6 (neighbour discovery and MLD, the namespace's own business), or from an earlier
    /// run's port.
    fn outbound(&self, packet: &mut [u8]) -> bool {
        let family = self.params.hosts.family();
        let version = match family {
            Family::V4 => 4,
            Family::V6 => 6,
        };
        if packet.first().map(|b| b >> 4) != Some(version) {
            return false;
        }
        if family == Family::V6 && packet.get(6) == Some(&ICMPV6) {
            return false;
        }
        let Some(tcp) = tcp_offset(packet) else { return true };
        match read16(packet, tcp) {
            Some(port) if port == self.port => {
                patch16(packet, tcp, tcp + 16, self.params.hosts.stack().port());
                true
            }
            Some(port) => !(PORT_BASE..PORT_BASE.saturating_add(PORT_SPAN)).contains(&port) && port != CALIBRATION_PORT,
            None => true,
        }
    }
}

impl Stack for Linux {
    fn params(&self) -> &Params {
        &self.params
    }

    fn reset(&mut self) {
        self.drop_sockets();
        self.drain();
        self.seen.clear();
        self.last_sent_at = None;
        self.run = self.run.wrapping_add(1);
        self.port = PORT_BASE + (self.run % u32::from(PORT_SPAN)) as u16;
        self.fresh = false;
        self.told.set(None);
        self.origin = wall();
    }

    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
        self.told.set(None);
        if !matches!(call, Call::OpenPassive | Call::OpenActive) {
            self.catch_up(now);
        }
        let mut read = Vec::new();
        match call {
            Call::OpenPassive => self.open_passive(now),
            Call::OpenActive => self.open_active(now),
            Call::Send => self.send_text(data),
            Call::Receive => read = self.receive(),
            Call::Close => self.close(),
            Call::Abort => self.abort(),
        }
        self.after_input();
        read
    }

    fn inject(&mut self, now: Instant, packet: &[u8]) {
        self.told.set(None);
        self.catch_up(now);
        let mut bytes = packet.to_vec();
        if let Some(tcp) = tcp_offset(&bytes) {
            if read16(&bytes, tcp + 2) == Some(self.params.hosts.stack().port()) {
                patch16(&mut bytes, tcp + 2, tcp + 16, self.port);
            }
        }
        self.tun.send(&bytes);
        self.after_input();
    }

    fn advance(&mut self, to: Instant) {
        self.wait(to, None);
    }

    fn advance_within(&mut self, to: Instant, limit: Instant) {
        self.wait(to, Some(limit));
    }

    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        self.last_sent_at = None;
        if let Some((at, packet)) = self.seen.pop_front() {
            *out = packet;
            self.last_sent_at = Some(at);
            return true;
        }
        // Bounded: the device's queue is finite (its txqueuelen).
        for _ in 0..10_000 {
            if self.tun.recv(out) {
                if self.outbound(out) {
                    return true;
                }
                continue;
            }
            if !self.fresh {
                return false;
            }
            self.fresh = false;
            if !self.tun.readable_within(SETTLE) {
                return false;
            }
        }
        false
    }

    /// The run's connection's pending timer (retransmission, keepalive or FIN-WAIT-2,
    /// TIME-WAIT, zero-window probe) as the kernel reports it ([`diag`]), as a lower bound: the
    /// timer fires at or after this, and [`Stack::advance`] waits out the rest.
    fn next_deadline(&self) -> Option<Instant> {
        // A told timer stands until the harness has waited past it, even once it has fired:
        // the kernel may have acted (its packet queued on the device) between the harness's
        // last wait and this question, and the harness must still see it happen at that instant,
        // not learn the timer after it as the next one.
        if let Some((at, _)) = self.told.get() {
            return Some(at);
        }
        // The clock is read before asking: the kernel counted `expires_ms` from later than this.
        let asked = wall().checked_duration_since(self.origin).unwrap_or_default();
        let entry = self.run_socket().flatten().filter(|e| e.timer != 0 && e.st != ST_LISTEN)?;
        let key = (entry.st, entry.timer, entry.retransmits);
        // A lower bound: the timer fires at or after it. `expires_ms` counts from `jiffies`,
        // which lags the real clock by up to one jiffy (10 ms at HZ=100, the slowest), so that
        // much is taken off.
        let at = asked + std::time::Duration::from_millis(u64::from(entry.expires_ms).saturating_sub(JIFFY_MS));
        let at = Instant::from_micros(u64::try_from(at.as_micros()).unwrap_or(u64::MAX));
        self.told.set(Some((at, key)));
        Some(at)
    }

    fn sent_at(&self) -> Option<Instant> {
        self.last_sent_at
    }

    /// Challenge ACKs and the ACKs out-of-window segments draw share one per-socket limit,
    /// `tcp_invalid_ratelimit` (`__tcp_oow_rate_limited`); the namespace-wide
    /// `tcp_challenge_ack_limit` is INT_MAX (off) by default since Linux 6.0.
    fn profile(&self) -> Option<&'static str> {
        // tcp_rfc1337 = 0 (the default): an exact RST ends TIME-WAIT, as rfc1337-off says.
        (self.kernel.rfc1337 == Some(0)).then_some("linux-profile")
    }

    fn ack_throttle(&self) -> Option<Duration> {
        self.kernel.invalid_ratelimit_ms.filter(|&ms| ms > 0).map(|ms| Duration::from_micros(ms.saturating_mul(1000)))
    }

    /// A socket user has no descriptor for a connection not yet accepted, nor for one the
    /// kernel has handed to a timewait socket, and `connect` on a listening socket fails.
    fn can_call(&self, call: Call) -> bool {
        match call {
            Call::OpenActive => self.listener.is_none(),
            Call::Close | Call::Abort => {
                let state = self.state();
                let unaccepted = self.conn.is_none() && self.listener.is_some() && state == Some(State::SynReceived);
                let handed_to_time_wait = call == Call::Abort && state == Some(State::TimeWait);
                !(unaccepted || handed_to_time_wait)
            }
            _ => true,
        }
    }

    fn state(&self) -> Option<State> {
        Some(self.run_socket()?.map_or(State::Closed, |e| state_of(e.st).unwrap_or(State::Closed)))
    }

    /// Writes each setting under `/proc/sys/net/` inside the namespace, where only the
    /// namespace's own sysctls are (the host's are never touched), after putting back what the
    /// last script's changed. A setting the namespace lacks or refuses is an error unless it is
    /// optional; on an error nothing of these settings stays.
    fn sysctls(&mut self, settings: &[Sysctl]) -> Result<(), String> {
        let restore = std::mem::take(&mut self.applied);
        if restore.is_empty() && settings.is_empty() {
            return Ok(());
        }
        for s in settings {
            let plain = s.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
            if !s.name.starts_with("net.") || !plain || s.name.contains("..") {
                return Err(format!(
                    "sysctl `{}` (the linux stack takes only the `net.*` sysctls of its namespace)",
                    s.name
                ));
            }
        }
        let path = |name: &str| format!("/proc/sys/{}", name.replace('.', "/"));
        let result = self.netns.run(|| {
            for (name, old) in restore.iter().rev() {
                let _ = std::fs::write(path(name), old);
            }
            let mut applied: Vec<(String, String)> = Vec::new();
            for s in settings {
                let set = std::fs::read_to_string(path(&s.name))
                    .and_then(|old| std::fs::write(path(&s.name), &s.value).map(|()| old.trim_end().to_string()));
                match set {
                    Ok(old) => applied.push((s.name.clone(), old)),
                    Err(_) if s.optional => {}
                    Err(e) => {
                        for (name, old) in applied.iter().rev() {
                            let _ = std::fs::write(path(name), old);
                        }
                        return Err(format!("sysctl `{}` = `{}`: {e} in the linux stack's namespace", s.name, s.value));
                    }
                }
            }
            Ok(applied)
        });
        self.applied = result??;
        // What the stack declares follows the settings (a script's `tcp_syn_retries`, its
        // `tcp_invalid_ratelimit`, `tcp_rfc1337`), as read back from the namespace.
        if let Ok(kernel) = self.netns.run(Kernel::read) {
            self.params.max_retries = kernel.max_retries();
            self.kernel = kernel;
        }
        Ok(())
    }

    fn serve(&mut self, now: Instant, open: bool) -> bool {
        self.told.set(None);
        self.catch_up(now);
        if open {
            // Refused beside a connection of the socket's own making (a `connect`): that
            // would be a second socket on the port, which the harness does not drive.
            self.open_passive(now);
            if self.listener.is_none() {
                return false;
            }
            self.serving = true;
        } else {
            self.serving = false;
            // The listener's own `close`; a connection it accepted goes on.
            self.listener = None;
        }
        self.after_input();
        true
    }
}

impl Drop for Linux {
    fn drop(&mut self) {
        // RSTs for what is open, so nothing lingers in the namespace; the device and the
        // namespace go with the fields.
        self.drop_sockets();
    }
}

const ST_LISTEN: u8 = 0x0A;

/// The longest jiffy (HZ=100): how far the kernel's `jiffies`, which timer expiries count from,
/// may lag the clock.
const JIFFY_MS: u64 = 10;

/// Which timer a deadline is for: (state, timer kind, retransmissions so far).
type TimerKey = (u8, u8, u8);

/// The kernel's `TCP_*` states (include/net/tcp_states.h) in the table's words. A request
/// socket (`TCP_NEW_SYN_RECV`) is listed as SYN_RECV.
fn state_of(st: u8) -> Option<State> {
    Some(match st {
        0x01 => State::Established,
        0x02 => State::SynSent,
        0x03 | 0x0C => State::SynReceived,
        0x04 => State::FinWait1,
        0x05 => State::FinWait2,
        0x06 => State::TimeWait,
        0x07 => State::Closed,
        0x08 => State::CloseWait,
        0x09 => State::LastAck,
        0x0A => State::Listen,
        0x0B => State::Closing,
        _ => return None,
    })
}

/// ICMPv6's next-header number (RFC 4443).
const ICMPV6: u8 = 58;

/// Where the TCP header starts, if `packet` is an unfragmented (first-fragment) IPv4 TCP
/// packet, or an IPv6 one whose first header is TCP (the kernel adds no extension headers to
/// TCP), long enough to hold the ports and the checksum.
fn tcp_offset(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    let at = match first >> 4 {
        4 if *packet.get(9)? == 6 && read16(packet, 6)? & 0x1fff == 0 => usize::from(first & 0x0f) * 4,
        6 if *packet.get(6)? == 6 => 40,
        _ => return None,
    };
    (at >= 20 && packet.len() >= at + 18).then_some(at)
}

fn read16(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

/// Replaces the 16-bit word at `at` with `new` and updates the ones'-complement checksum at
/// `sum` to match, without recomputing it (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')). A
/// packet whose checksum was wrong stays exactly as wrong. Out-of-range offsets change nothing.
fn patch16(packet: &mut [u8], at: usize, sum: usize, new: u16) {
    let (Some(old), Some(hc)) = (read16(packet, at), read16(packet, sum)) else { return };
    let mut acc = u32::from(!hc) + u32::from(!old) + u32::from(new);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    let hc = !(acc as u16);
    packet[at..at + 2].copy_from_slice(&new.to_be_bytes());
    packet[sum..sum + 2].copy_from_slice(&hc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SeqNum;

    fn packet(src_port: u16, dst_port: u16) -> Vec<u8> {
        packet_in(Family::V4, src_port, dst_port)
    }

    fn packet_in(family: Family, src_port: u16, dst_port: u16) -> Vec<u8> {
        let seg = Segment {
            src_port,
            dst_port,
            seq: SeqNum(7),
            ack: Some(SeqNum(9)),
            ctl: Control::NONE,
            window: 100,
            mss: None,
            options: Vec::new(),
            payload: b"abc".to_vec(),
        };
        let mut out = Vec::new();
        seg.write_ip(Hosts::test(family).inbound(), &mut out).unwrap();
        out
    }

    #[test]
    fn port_rewrite_keeps_the_checksum_right() {
        for family in Family::ALL {
            for (from, to) in [(8080, 10_001), (40000, 1), (1, 65535), (0, 0xfffe)] {
                let mut bytes = packet_in(family, 40000, from);
                let tcp = tcp_offset(&bytes).unwrap();
                assert_eq!(tcp, family.header_len());
                patch16(&mut bytes, tcp + 2, tcp + 16, to);
                assert_eq!(bytes, packet_in(family, 40000, to), "{family} {from} -> {to}");
                assert!(Segment::from_ip(&bytes).is_ok());
            }
        }
    }

    #[test]
    fn rewriting_never_panics_on_short_or_odd_packets() {
        let good = packet(1, 2);
        for n in 0..good.len() {
            let mut bytes = good[..n].to_vec();
            if let Some(tcp) = tcp_offset(&bytes) {
                patch16(&mut bytes, tcp + 2, tcp + 16, 5);
            }
            patch16(&mut bytes, 1000, 2000, 5);
        }
        let mut odd = good.clone();
        odd[0] = 0x4f; // IHL 60 > the packet's header
        assert_eq!(tcp_offset(&odd), None);
    }
}
