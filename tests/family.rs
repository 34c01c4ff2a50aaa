//! IPv4 and IPv6 judged alike. The oracle never looks at addresses: it sees segments, and the
//! wire writes the same segment in both families (`wire`'s tests). So the same script on the
//! same stack must draw the same segments, states, table rows and verdicts in both, and every
//! packet of an IPv6 run must be IPv6 between the run's two hosts. One test body, generic over
//! the adapter: the reference stack (on the table, and on a mutant so that verdicts are
//! compared too) and smoltcp through its IPv6 interface.

use tcpcheck::adapter::{Reference, Smoltcp};
use tcpcheck::conform::fuzz::Fuzzer;
use tcpcheck::conform::script::SEEDS;
use tcpcheck::conform::{Check, Oracle, Params, Script, Stack};
use tcpcheck::model::shipped::Shipped;
use tcpcheck::model::{Call, Model, State};
use tcpcheck::time::Instant;
use tcpcheck::wire::{Family, Segment};

fn model(name: &str) -> Model {
    Shipped::find(name).unwrap().load().unwrap()
}

/// A stack seen through the wire only (the trait's required methods; the segment shortcuts
/// take their defaults, so every segment is written and parsed as bytes), that checks every
/// packet it sends is of its run's family, from the stack's host to the peer's. Its `params`
/// are the stack's, or others to declare (a stack that says IPv6 and answers in IPv4).
struct Wired<'m> {
    stack: Box<dyn Stack + 'm>,
    params: Params,
}

impl<'m> Wired<'m> {
    fn new(stack: Box<dyn Stack + 'm>) -> Self {
        Wired { params: stack.params().clone(), stack }
    }
}

impl Stack for Wired<'_> {
    fn params(&self) -> &Params {
        &self.params
    }
    fn reset(&mut self) {
        self.stack.reset()
    }
    fn call(&mut self, now: Instant, call: Call, data: &[u8]) -> Vec<u8> {
        self.stack.call(now, call, data)
    }
    fn inject(&mut self, now: Instant, packet: &[u8]) {
        self.stack.inject(now, packet)
    }
    fn advance(&mut self, to: Instant) {
        self.stack.advance(to)
    }
    fn transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let sent = self.stack.transmit(out);
        if sent {
            let hosts = self.stack.params().hosts;
            let packet = Segment::from_ip(out).unwrap_or_else(|e| panic!("{}: {e}", self.params.name));
            assert_eq!(packet.addrs, hosts.outbound(), "{}", self.params.name);
        }
        sent
    }
    fn state(&self) -> Option<State> {
        self.stack.state()
    }
}

#[test]
fn a_packet_of_the_other_family_is_malformed() {
    // The reference stack in IPv4, declaring the IPv6 hosts.
    let rfc9293 = model("rfc9293");
    let mut stack = Wired::new(Box::new(Reference::new(&rfc9293, 3)));
    stack.params.hosts = Reference::new(&rfc9293, 3).on(Family::V6).params().hosts;
    let oracle = Oracle::new(&rfc9293, stack.params.clone());
    let passive = SEEDS.iter().find(|s| s.name == "passive-data-close").unwrap().script();
    let verdict = oracle.run(&mut stack, &passive, false).verdict.expect("an IPv4 SYN|ACK in an IPv6 run");
    assert_eq!(verdict.check, Check::Malformed, "{verdict}");
    assert!(verdict.actual.contains("an IPv4 packet where IPv6 was expected"), "{verdict}");
}

/// Scripts that reach most of the table: the named seeds and what the fuzz loop keeps from a
/// few thousand runs (its corpus and findings) on `stack`.
fn scripts(oracle: &Oracle, stack: &mut dyn Stack) -> Vec<Script> {
    let mut fuzzer = Fuzzer::new(oracle, stack, 11, true);
    fuzzer.round(3000);
    let mut scripts: Vec<Script> = SEEDS.iter().map(|s| s.script()).collect();
    scripts.extend(fuzzer.corpus().iter().cloned());
    scripts.extend(fuzzer.found().iter().map(|f| f.script.clone()));
    scripts
}

/// Runs every script on `make(V4)` and `make(V6)` under `judge`, through the wire, and
/// compares the runs record by record. Returns how many drew a verdict.
fn same_in_both_families<'m>(judge: &Model, make: &dyn Fn(Family) -> Box<dyn Stack + 'm>) -> usize {
    let mut four = Wired::new(make(Family::V4));
    let mut six = Wired::new(make(Family::V6));
    assert_eq!(six.params().hosts.family(), Family::V6);
    // The parameters the shadow is configured from are the same but for the hosts.
    let params = |s: &dyn Stack| Params { hosts: four.params().hosts, ..s.params().clone() };
    assert_eq!(params(&four), params(&six));
    let oracle4 = Oracle::new(judge, four.params().clone());
    let oracle6 = Oracle::new(judge, six.params().clone());
    let scripts = scripts(&oracle4, &mut four);
    assert!(scripts.len() > 50, "{} scripts", scripts.len());
    let mut verdicts = 0;
    for script in &scripts {
        let a = oracle4.run(&mut four, script, true);
        let b = oracle6.run(&mut six, script, true);
        assert_eq!((&a.trace, &a.verdict, &a.features), (&b.trace, &b.verdict, &b.features), "{script:?}");
        verdicts += usize::from(a.verdict.is_some());
    }
    verdicts
}

#[test]
fn reference_is_judged_alike_in_both_families() {
    let rfc9293 = model("rfc9293");
    assert_eq!(same_in_both_families(&rfc9293, &|f| Box::new(Reference::new(&rfc9293, 3).on(f))), 0);
    // A mutant as the stack: its verdicts, too, are the same in both.
    let mutant = model("no-2msl-restart");
    assert!(same_in_both_families(&rfc9293, &|f| Box::new(Reference::new(&mutant, 3).on(f))) > 0);
}

#[test]
fn smoltcp_is_judged_alike_in_both_families() {
    let rfc9293 = model("rfc9293");
    // smoltcp deviates from the table in places (docs/findings/smoltcp.md): the same ones.
    assert!(same_in_both_families(&rfc9293, &|f| Box::new(Smoltcp::new(5).on(f))) > 0);
}

/// The command line: a fuzz finding made in IPv6 records its family, and replay runs it in
/// IPv6 again, writing IPv6 packets to pcap and a packetdrill script that says so.
#[test]
fn a_finding_made_in_ipv6_replays_in_ipv6() {
    let bin = env!("CARGO_BIN_EXE_tcpcheck");
    let dir = tempfile::tempdir().unwrap();
    let tcpcheck = |args: &[&str]| std::process::Command::new(bin).args(args).current_dir(dir.path()).output().unwrap();
    let out = tcpcheck(&["fuzz", "--model", "no-time-wait", "--family", "6", "--runs", "2000", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let findings = dir.path().join("fuzz-out/findings");
    let file = std::fs::read_dir(&findings).unwrap().next().unwrap().unwrap().path();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("\"family\": \"ipv6\""), "{saved}");
    let file = file.to_str().unwrap();
    let out = tcpcheck(&["replay", file, "--pcap", "run.pcap", "--packetdrill", "run.pkt"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let pkt = std::fs::read_to_string(dir.path().join("run.pkt")).unwrap();
    assert!(pkt.contains("--ip_version=ipv6 --local_ip=2001:db8::1 --remote_ip=2001:db8::2"), "{pkt}");
    // The pcap's first packet (after the 24-octet file header and 16-octet record header) is
    // IPv6.
    let pcap = std::fs::read(dir.path().join("run.pcap")).unwrap();
    assert_eq!(pcap[40] >> 4, 6);
    // The same finding told to run in IPv4 draws the same verdict: the oracle is family-agnostic.
    let four = tcpcheck(&["replay", file, "--family", "4", "--json"]);
    let six = tcpcheck(&["replay", file, "--json"]);
    let verdict =
        |o: &std::process::Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["verdict"].clone();
    assert_eq!((four.status.code(), verdict(&four)), (Some(1), verdict(&six)));
}
