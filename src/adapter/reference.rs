//! The reference stack: our endpoint executing a table, behind the adapter trait. With the
//! oracle's own model it must never draw a verdict; with a mutant it is a stack with a known bug.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::conform::{Clock, Params, Stack};
use crate::endpoint::{Config, Endpoint, Event, Isn};
use crate::model::{Call, Model, State};
use crate::time::{Duration, Instant};
use crate::wire::Segment;

/// The addresses of the stack under test and of the peer the harness plays (TEST-NET-1).
pub const STACK_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 8080);
pub const PEER_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 40000);

/// Our endpoint as a stack under test.
pub struct Reference<'m> {
    model: &'m Model,
    params: Params,
    seed: u64,
    endpoint: Endpoint<'m>,
    outbox: VecDeque<Segment>,
    /// Text the endpoint handed its user, kept until a RECEIVE, as a socket keeps it.
    readable: Vec<u8>,
}

impl<'m> Reference<'m> {
    /// A stack executing `model`; `seed` picks its initial sequence numbers.
    pub fn new(model: &'m Model, seed: u64) -> Self {
        let cfg = Config::default();
        let params = Params {
            name: format!("reference ({})", model.name()),
            clock: Clock::Virtual,
            stack: STACK_ADDR,
            peer: PEER_ADDR,
            msl: model.table().msl,
            time_wait: None,
            rto: cfg.rto,
            max_retries: cfg.max_retries,
            user_timeout: cfg.user_timeout,
            window: cfg.buffer,
            mss: cfg.mss,
            ack_delay: Duration::default(),
            isn: format!("pseudo-random, seeded ({seed})"),
        };
        let endpoint = Endpoint::new(model, Self::config(&params, seed));
        Reference { model, params, seed, endpoint, outbox: VecDeque::new(), readable: Vec::new() }
    }

    fn config(params: &Params, seed: u64) -> Config {
        Config {
            local_port: params.stack.port(),
            remote_port: params.peer.port(),
            foreign_known: false,
            isn: Isn::Seeded(seed),
            msl: Some(params.msl),
            log: false,
            ..Config::default()
        }
    }

    fn drain(&mut self) {
        while let Some(seg) = self.endpoint.poll_transmit() {
            self.outbox.push_back(seg);
        }
        while let Some(event) = self.endpoint.poll_event() {
            if let Event::Data(d) = event {
                self.readable.extend_from_slice(&d);
            }
        }
        // Text a queued RECEIVE took waits for the next RECEIVE call, but not past its
        // connection: the oracle reads it the same way.
        if matches!(self.endpoint.state(), State::Closed | State::Listen) {
            self.readable.clear();
        }
    }
}

impl Stack for Reference<'_> {
    fn params(&self) -> &Params {
        &self.params
    }

    fn reset(&mut self) {
        self.endpoint = Endpoint::new(self.model, Self::config(&self.params, self.seed));
        self.outbox.clear();
        self.readable.clear();
    }

    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
        if call == Call::Send {
            self.endpoint.send(now, data);
        } else {
            self.endpoint.handle_user(now, call);
        }
        self.drain();
        if call == Call::Receive {
            std::mem::take(&mut self.readable)
        } else {
            Vec::new()
        }
    }

    fn inject(&mut self, now: Instant, packet: &[u8]) {
        // A stack drops what it cannot parse; so does this one.
        if let Ok(packet) = Segment::from_ipv4(packet) {
            self.endpoint.handle_segment(now, &packet.segment);
            self.drain();
        }
    }

    fn advance(&mut self, to: Instant) {
        self.endpoint.handle_timeout(to);
        self.drain();
    }

    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(seg) = self.outbox.pop_front() else { return false };
        out.clear();
        // Our segments always build; were one not to, the empty packet goes out and the
        // oracle says it is malformed.
        if seg.write_ipv4(*self.params.stack.ip(), *self.params.peer.ip(), out).is_err() {
            out.clear();
        }
        true
    }

    fn state(&self) -> Option<State> {
        Some(self.endpoint.state())
    }
}
