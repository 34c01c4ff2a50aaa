//! The reference stack: our endpoint executing a table, behind the adapter trait. With the
//! oracle's own model it must never draw a verdict; with a mutant it is a stack with a known bug.

use crate::conform::{Clock, Hosts, Params, Stack};
use crate::endpoint::{Config, Endpoint, Event, Isn};
use crate::model::{Call, Model, State};
use crate::time::{Duration, Instant};
use crate::wire::{Family, Segment, WireError};

/// Our endpoint as a stack under test.
pub struct Reference<'m> {
    params: Params,
    endpoint: Endpoint<'m>,
    /// The endpoint as [`Stack::reset`] makes it again, into the buffers `endpoint` has.
    fresh: Endpoint<'m>,
    /// Text the endpoint handed its user, kept until a RECEIVE, as a socket keeps it.
    readable: Vec<u8>,
}

impl<'m> Reference<'m> {
    /// A stack executing `model`; `seed` picks its initial sequence numbers.
    pub fn new(model: &'m Model, seed: u64) -> Self {
        Self::with_isn(model, Isn::Seeded(seed), format!("pseudo-random, seeded ({seed})"))
    }

    /// A stack executing `model` whose initial sequence numbers come from `isn` (`about` says
    /// how, in words). The learner's projection of the table gives every incarnation the same
    /// ISN, so that configurations that differ only in it are one.
    pub fn with_isn(model: &'m Model, isn: Isn, about: String) -> Self {
        let cfg = Config::default();
        let params = Params {
            name: format!("reference ({})", model.name()),
            clock: Clock::Virtual,
            hosts: Hosts::test(Family::V4),
            msl: model.table().msl,
            time_wait: None,
            rto: cfg.rto,
            max_retries: cfg.max_retries,
            user_timeout: cfg.user_timeout,
            window: cfg.buffer,
            mss: cfg.mss,
            ack_delay: Duration::default(),
            granularity: Duration::default(),
            isn: about,
        };
        let fresh = Endpoint::new(model, Self::config(&params, isn));
        Reference { params, endpoint: fresh.clone(), fresh, readable: Vec::new() }
    }

    /// The same stack with its packets in `family` ([`Hosts::test`]): the endpoint sees
    /// segments, so nothing else changes (both families' test hosts have the same ports).
    #[must_use]
    pub fn on(mut self, family: Family) -> Self {
        self.params.hosts = Hosts::test(family);
        self
    }

    fn config(params: &Params, isn: Isn) -> Config {
        Config {
            local_port: params.hosts.stack().port(),
            remote_port: params.hosts.peer().port(),
            foreign_known: false,
            isn,
            msl: Some(params.msl),
            log: false,
            ..Config::default()
        }
    }

    /// The endpoint as it is between inputs, and the text it holds for the next RECEIVE: what
    /// the learner's projection of the table reads its configuration from.
    pub fn endpoint(&self) -> (&Endpoint<'m>, &[u8]) {
        (&self.endpoint, &self.readable)
    }

    /// Takes the text the endpoint handed its user. What it sends stays in its outbox until
    /// [`Stack::transmit`] takes it.
    fn drain(&mut self) {
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
        self.endpoint.assign(&self.fresh);
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
        if let Ok(packet) = Segment::from_ip(packet) {
            self.endpoint.handle_segment(now, &packet.segment);
            self.drain();
        }
    }

    /// The segment as it is: the endpoint takes segments, and the bytes [`Stack::inject`]
    /// would parse are this segment again.
    fn inject_segment(&mut self, now: Instant, segment: &Segment, _: &mut Vec<u8>) -> Result<(), WireError> {
        self.endpoint.handle_segment(now, segment);
        self.drain();
        Ok(())
    }

    /// The segment as the endpoint sent it, without writing bytes to parse them back.
    fn transmit_segment(&mut self, _: &mut Vec<u8>) -> Option<Result<Segment, WireError>> {
        self.endpoint.poll_transmit().map(Ok)
    }

    fn advance(&mut self, to: Instant) {
        self.endpoint.handle_timeout(to);
        self.drain();
    }

    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(seg) = self.endpoint.poll_transmit() else { return false };
        out.clear();
        // Our segments always build; were one not to, the empty packet goes out and the
        // oracle says it is malformed.
        if seg.write_ip(self.params.hosts.outbound(), out).is_err() {
            out.clear();
        }
        true
    }

    fn state(&self) -> Option<State> {
        Some(self.endpoint.state())
    }

    fn serve(&mut self, now: Instant, open: bool) -> bool {
        if open {
            self.endpoint.serve(now);
        } else {
            self.endpoint.stop_serving(now);
        }
        self.drain();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::fuzz::Fuzzer;
    use crate::conform::{Oracle, Plain};
    use crate::model::shipped::Shipped;

    #[test]
    fn segments_without_the_wire_are_the_segments_on_it() {
        // The fuzz loop's scripts, on the table and on a mutant (so verdicts too): the same
        // runs, record by record, whether the segments go through bytes or not.
        let oracle_model = Shipped::find("rfc9293").unwrap().load().unwrap();
        for stack_model in ["rfc9293", "no-2msl-restart"] {
            let stack_model = Shipped::find(stack_model).unwrap().load().unwrap();
            let mut direct = Reference::new(&stack_model, 3);
            let oracle = Oracle::new(&oracle_model, direct.params().clone());
            let mut fuzzer = Fuzzer::new(&oracle, &mut direct, 1, true);
            fuzzer.round(2000);
            let mut scripts = fuzzer.corpus().to_vec();
            scripts.extend(fuzzer.found().iter().map(|f| f.script.clone()));
            assert_eq!(fuzzer.found().is_empty(), stack_model.name() == "rfc9293");
            // Through bytes: the trait's default segment methods.
            let mut wired = Plain(Reference::new(&stack_model, 3));
            for script in &scripts {
                let a = oracle.run(&mut direct, script, true);
                let b = oracle.run(&mut wired, script, true);
                assert_eq!((&a.trace, &a.verdict, &a.features), (&b.trace, &b.verdict, &b.features), "{script:?}");
            }
        }
    }
}
