//! gVisor's netstack (Debian's snapshot 20221219) under the conformance harness, through the
//! stack protocol (`stacks/gvisor/`): every named seed, determinism, what the harness declares,
//! the committed findings replayed, the TIME-WAIT probe and the fuzz loop from the command line.
//!
//! Seeds where gVisor conforms must draw no verdict; seeds where it deviates pin the exact
//! verdict (check and row), so a gVisor upgrade or a harness change that changes behaviour fails
//! here first. `docs/findings/gvisor.md` explains each deviation with the gVisor source that
//! causes it.
//!
//! gVisor is not in this repository: `scripts/setup` builds the harness (`stacks/gvisor/build.sh`,
//! from Debian's golang-gvisor-gvisor-dev). Where it is not built, each test says so on stderr
//! and passes.

mod common;

use std::process::Command;

use tcpcheck::adapter::Exec;
use tcpcheck::conform::finding::{self, Input, Triage};
use tcpcheck::conform::{Check, Clock, Stack};
use tcpcheck::time::Duration;

/// The harness, if it is built.
fn harness() -> Option<String> {
    common::child_harness("gvisor")
}

/// gVisor's harness as a stack, everything it draws at random seeded by `seed`.
fn gvisor(seed: u64) -> Option<Exec> {
    harness().map(|path| Exec::spawn(&path, seed).expect("the gVisor harness starts"))
}

/// What each seed draws from gVisor 20221219: `None` where it conforms, else (check, row).
const EXPECTED: &[(&str, Option<(Check, &str)>)] = &[
    ("passive-data-close", None),
    // gVisor's TIME-WAIT is 60 s (DefaultTCPTimeWaitTimeout), not 2 * MSL (240 s): finding 21.
    ("active-time-wait", Some((Check::TimeWait2Msl, "models/rfc9293.tcp:200"))),
    // The retransmitted FIN is ACKed and restarts TIME-WAIT, for 60 s again: finding 21.
    ("time-wait-fin-again", Some((Check::TimeWait2Msl, "models/rfc9293.tcp:200"))),
    // RFC 1337: gVisor ignores a RST in TIME-WAIT (the seed ends before 60 s).
    ("time-wait-rst", None),
    // An in-window RST that is not exact resets (RFC 793's check, no RFC 5961 challenge ACK):
    // finding 3.
    ("challenge-acks", Some((Check::ChallengeAck, "models/rfc9293.tcp:152"))),
    ("simultaneous-close", None),
    // Six SYN retransmissions, 1 s doubling, then given up at 127 s without a RST: as declared.
    ("retransmit-and-give-up", None),
    ("closed-port", None),
];

#[test]
fn every_seed_draws_its_pinned_verdict() {
    let Some(mut stack) = gvisor(1) else { return };
    common::assert_seeds_pinned(&mut stack, EXPECTED);
}

#[test]
fn runs_are_deterministic() {
    let (Some(mut a), Some(mut b)) = (gvisor(3), gvisor(3)) else { return };
    common::assert_deterministic(&mut a, &mut b);
}

/// The same finding replayed twice from the command line, each time in a fresh child: the same
/// diagram and the same packets, byte for byte (gVisor's ISNs, IP IDs and timers are seeded).
#[test]
fn a_replay_is_the_same_diagram_and_the_same_packets() {
    if harness().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/findings/gvisor/fin-retransmission-enters-fin-wait-1.json");
    let run = |pcap: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
            .args(["replay", file, "--pcap", pcap])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        (out.stdout, std::fs::read(dir.path().join(pcap)).unwrap())
    };
    let (a, b) = (run("a.pcap"), run("b.pcap"));
    assert!(!a.1.is_empty());
    assert_eq!(String::from_utf8_lossy(&a.0), String::from_utf8_lossy(&b.0));
    assert!(a.1 == b.1, "the two replays' packets differ");
}

#[test]
fn gvisor_declares_what_its_source_says() {
    let Some(stack) = gvisor(1) else { return };
    let p = stack.params();
    assert_eq!(p.name, "gvisor 20221219");
    assert_eq!(p.clock, Clock::Virtual);
    assert_eq!(p.msl, Duration::from_secs(120), "no MSL in gVisor: RFC 9293's, as for Linux");
    assert_eq!(p.time_wait, Some(Duration::from_secs(60)), "DefaultTCPTimeWaitTimeout");
    assert_eq!(p.rto, Duration::from_secs(1), "InitialRTO");
    assert_eq!(p.max_retries, 6, "6 SYN retransmissions up to MaxRTO; TCPMaxRetriesOption 6 for text");
    assert_eq!(p.window, 10720, "min(receive buffer / 2, InitialCwnd * MSS * 2)");
    assert_eq!(p.mss, 536, "MTU 576 less the headers");
    assert_eq!(p.ack_delay, Duration::from_micros(0), "quick ACK, no delayed-ACK timer");
    assert_eq!(p.granularity, Duration::from_micros(0), "timers fire at their own time");
    assert_eq!(p.user_timeout, None);
    assert_eq!(stack.ack_throttle(), Some(Duration::from_micros(500_000)), "TCPInvalidRateLimitOption");
}

#[test]
fn each_committed_finding_replays_to_its_verdict() {
    let Some(path) = harness() else { return };
    common::assert_findings_replay(
        "gvisor",
        25,
        |seed| Exec::spawn(&path, seed).unwrap(),
        |file, f| {
            // Every committed finding is triaged, and the oracle's gaps are named so.
            let name = file.display();
            let oracle_file = file.file_name().unwrap().to_string_lossy().starts_with("oracle-");
            assert_eq!(f.triage == Some(Triage::Oracle), oracle_file, "{name}: {:?}", f.triage);
            assert!(f.triage.is_some(), "{name}: no triage");
        },
    );
}

/// `tcpcheck probe time-wait --stack gvisor`: 60 s where 2 * MSL is 240 s (a FAIL, exit 1), a FIN
/// half-way restarts it, an exact RST is ignored (RFC 1337 F1).
#[test]
fn probe_measures_a_60_s_time_wait() {
    if harness().is_none() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
        .args(["probe", "time-wait", "--stack", "gvisor"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("FAIL lasts 60.000s after the peer's FIN (2*MSL = 240.000s)"), "{stdout}");
    assert!(stdout.contains("ok   a FIN half-way is re-ACKed and restarts the timer (then lasts 60.000s)"), "{stdout}");
    assert!(stdout.contains("ok   an exact RST is ignored"), "{stdout}");
}

/// The one gVisor panic the fuzzer reaches (docs/findings/gvisor.md, finding 1); any other
/// crash, a hang or a protocol error is the harness's.
const GVISOR_PANIC: &str = "resetConnectionLocked";

#[test]
fn the_fuzz_loop_runs_gvisor_without_harness_faults() {
    if harness().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::fuzz_finds("gvisor", dir.path());
    let findings = dir.path().join("out/findings");
    for entry in std::fs::read_dir(&findings).unwrap() {
        let file = entry.unwrap().path();
        let name = file.display().to_string();
        let Input::Finding(f) = finding::read(&name, &std::fs::read(&file).unwrap()).unwrap() else {
            panic!("{name}: not a finding file");
        };
        let fault = matches!(f.verdict.check, Check::Crash | Check::Hang | Check::Protocol);
        let gvisors_own = f.verdict.check == Check::Crash && f.verdict.actual.contains(GVISOR_PANIC);
        assert!(!fault || gvisors_own, "{name}: {} {}: {}", f.verdict.check, f.verdict.row, f.verdict.actual);
    }
}

/// A listener that stays (most packetdrill scripts never close theirs): the protocol has no
/// call for it, so the adapter opens the child's listener again once its connection is gone.
#[test]
fn a_script_whose_listener_stays_passes() {
    let Some(path) = harness() else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_tcpcheck"))
        .args(["run", "--stack", "gvisor", "tests/packetdrill/pass/listener-stays.pkt"])
        .env("TCPCHECK_GVISOR", path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}
