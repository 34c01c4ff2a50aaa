//! Your own Rust stack under tcpcheck, from your own crate, with tcpcheck as a library:
//!
//! ```toml
//! [dev-dependencies]
//! tcpcheck = { git = "...", version = "0.1" }
//! ```
//!
//! A stack implements [`Stack`]: reset, user calls, packets in, time, packets out, its state.
//! Then the same oracle, fuzz loop, findings and replays that judge the stacks built into
//! tcpcheck judge it, in process (`fuzz` below), or from `tcpcheck` itself through the stack
//! protocol (`serve` below: `tcpcheck fuzz --stack 'exec:target/debug/examples/own_stack serve'`).
//! A `cargo fuzz` target is three lines on top, as README.md shows.
//!
//! The stack here is the smallest TCP there is: a host with no sockets. Every segment reaches a
//! closed port and draws the RST of RFC 9293 3.10.7.1, and every user call is refused. It is
//! right about a closed port, and the oracle says where it is wrong: it cannot LISTEN or
//! CONNECT.
//!
//!     cargo run --example own_stack            # fuzz it in process, print what was found
//!     cargo run --example own_stack -- serve   # speak the stack protocol on stdin/stdout

use std::collections::VecDeque;

use tcpcheck::adapter::exec::serve::{offered_memory, serve_stdio, Serving};
use tcpcheck::conform::fuzz::Fuzzer;
use tcpcheck::conform::{Clock, Hosts, Oracle, Params, Stack};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::{Call, State};
use tcpcheck::time::{Duration, Instant};
use tcpcheck::wire::{Control, Family, Segment, SeqNum};

/// A host whose every port is closed.
struct ClosedPorts {
    params: Params,
    sent: VecDeque<Vec<u8>>,
}

impl ClosedPorts {
    fn new() -> Self {
        let params = Params {
            name: "closed ports 1.0".into(),
            clock: Clock::Virtual,
            hosts: Hosts::test(Family::V4),
            msl: Duration::from_secs(120),
            time_wait: None,
            rto: Duration::from_secs(1),
            max_retries: 5,
            user_timeout: None,
            window: 4096,
            mss: 536,
            ack_delay: Duration::default(),
            granularity: Duration::default(),
            isn: "never chooses one".into(),
        };
        ClosedPorts { params, sent: VecDeque::new() }
    }
}

impl Stack for ClosedPorts {
    fn params(&self) -> &Params {
        &self.params
    }

    fn reset(&mut self) {
        self.sent.clear();
    }

    /// Every call is refused: there is no socket to make it on.
    fn call(&mut self, _now: Instant, _call: Call, _text: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    /// RFC 9293 3.10.7.1: a RST is dropped; a segment with ACK draws <SEQ=SEG.ACK><CTL=RST>,
    /// one without draws <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Bytes that are not a
    /// segment are dropped, as a stack must.
    fn inject(&mut self, _now: Instant, packet: &[u8]) {
        let Ok(packet) = Segment::from_ip(packet) else { return };
        let seg = packet.segment;
        if seg.ctl.contains(Control::RST) {
            return;
        }
        let (seq, ack) = match seg.ack {
            Some(ack) => (ack, None),
            None => (SeqNum(0), Some(seg.seq.add(seg.len()))),
        };
        let rst = Segment {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            seq,
            ack,
            ctl: Control::RST,
            window: 0,
            mss: None,
            options: Vec::new(),
            payload: Vec::new(),
        };
        if let Ok(bytes) = rst.to_ip(self.params.hosts.outbound()) {
            self.sent.push_back(bytes);
        }
    }

    /// No timers: time passing changes nothing.
    fn advance(&mut self, _to: Instant) {}

    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(packet) = self.sent.pop_front() else { return false };
        *out = packet;
        true
    }

    fn state(&self) -> Option<State> {
        Some(State::Closed)
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        // The stack protocol on stdin and stdout, for `tcpcheck --stack exec:...`.
        Some("serve") => {
            let serving = Serving { shared: offered_memory(), ..Serving::default() };
            let served = serve_stdio(|_seed| Box::new(ClosedPorts::new()), serving);
            if let Err(e) = served {
                eprintln!("own_stack: {e}");
                std::process::exit(2);
            }
        }
        // The fuzz loop in process, judged by RFC 9293's table.
        _ => {
            let model = Shipped::find("rfc9293").expect("shipped").load().expect("valid");
            let mut stack = ClosedPorts::new();
            let oracle = Oracle::new(&model, stack.params().clone());
            let mut fuzzer = Fuzzer::new(&oracle, &mut stack, 1, true);
            fuzzer.round(5_000);
            println!("{} runs, {} findings", fuzzer.stats.runs, fuzzer.found().len());
            for found in fuzzer.found() {
                println!("\n{}", found.verdict);
            }
        }
    }
}
