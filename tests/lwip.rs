//! lwIP 2.1.3 under the conformance harness, through the stack protocol (`stacks/lwip/`): every
//! named seed, determinism, what the harness declares, the committed findings replayed, and the
//! fuzz loop from the command line.
//!
//! Seeds where lwIP conforms must draw no verdict; seeds where it deviates pin the exact verdict
//! (check and row), so an lwIP upgrade or a harness change that changes behaviour fails here
//! first. `docs/findings/lwip.md` explains each deviation with the lwIP source that causes it.
//!
//! lwIP is not in this repository: `scripts/setup` builds it (`stacks/lwip/build.sh`). Where it
//! is not built, each test says so on stderr and passes.

mod common;

use tcpcheck::adapter::Exec;
use tcpcheck::conform::finding::{self, Input};
use tcpcheck::conform::{Check, Stack};
use tcpcheck::time::Duration;

/// The harness, if it is built.
fn harness() -> Option<String> {
    common::child_harness("lwip")
}

/// lwIP's harness as a stack, its ISNs seeded by `seed`.
fn lwip(seed: u64) -> Option<Exec> {
    harness().map(|path| Exec::spawn(&path, seed).expect("the lwIP harness starts"))
}

/// What each seed draws from lwIP 2.1.3: `None` where it conforms, else (check, row).
const EXPECTED: &[(&str, Option<(Check, &str)>)] = &[
    ("passive-data-close", None),
    // lwIP's TIME-WAIT is 2 * its own MSL (60 s), judged by that MSL: it conforms.
    ("active-time-wait", None),
    ("time-wait-fin-again", None),
    // RFC 1337: lwIP ignores a RST in TIME-WAIT.
    ("time-wait-rst", None),
    ("challenge-acks", None),
    ("simultaneous-close", None),
    // lwIP gives up on a SYN after 6 retransmissions 3 s apart (TCP_SYNMAXRTX, no backoff in
    // SYN-SENT), where the shadow, told R2 = 12, expects a seventh: finding 15.
    ("retransmit-and-give-up", Some((Check::Output, "models/rfc9293.tcp:260"))),
    ("closed-port", None),
];

#[test]
fn every_seed_draws_its_pinned_verdict() {
    let Some(mut stack) = lwip(1) else { return };
    common::assert_seeds_pinned(&mut stack, EXPECTED);
}

#[test]
fn runs_are_deterministic() {
    let (Some(mut a), Some(mut b)) = (lwip(3), lwip(3)) else { return };
    common::assert_deterministic(&mut a, &mut b);
}

#[test]
fn lwip_declares_what_its_source_says() {
    let Some(stack) = lwip(1) else { return };
    let p = stack.params();
    assert_eq!(p.name, "lwip 2.1.3");
    assert_eq!(p.msl, Duration::from_secs(60), "TCP_MSL");
    assert_eq!(p.time_wait, Some(Duration::from_secs(120)), "2 * TCP_MSL");
    assert_eq!(p.rto, Duration::from_secs(3), "3000 / TCP_SLOW_INTERVAL ticks");
    assert_eq!(p.max_retries, 12, "TCP_MAXRTX");
    assert_eq!(p.granularity, Duration::from_micros(500_000), "TCP_SLOW_INTERVAL");
    assert_eq!(p.ack_delay, Duration::from_micros(250_000), "TCP_FAST_INTERVAL");
    assert_eq!((p.window, p.mss), (2144, 536), "TCP_WND = 4 * TCP_MSS");
    assert_eq!(p.user_timeout, None);
    assert_eq!(stack.ack_throttle(), None, "lwIP does not rate-limit its ACKs");
}

#[test]
fn each_committed_finding_replays_to_its_verdict() {
    let Some(path) = harness() else { return };
    common::assert_findings_replay("lwip", 20, |seed| Exec::spawn(&path, seed).unwrap(), |_, _| {});
}

/// The one lwIP assertion the fuzzer reaches (docs/findings/lwip.md, finding 17); any other
/// crash, a hang or a protocol error is the harness's.
const LWIP_ASSERTION: &str = "persist ticking with empty send buffer";

#[test]
fn the_fuzz_loop_runs_lwip_without_harness_faults() {
    if harness().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    common::fuzz_finds("lwip", dir.path());
    let findings = dir.path().join("out/findings");
    for entry in std::fs::read_dir(&findings).unwrap() {
        let file = entry.unwrap().path();
        let name = file.display().to_string();
        let Input::Finding(f) = finding::read(&name, &std::fs::read(&file).unwrap()).unwrap() else {
            panic!("{name}: not a finding file");
        };
        let fault = matches!(f.verdict.check, Check::Crash | Check::Hang | Check::Protocol);
        let lwips_own = f.verdict.check == Check::Crash && f.verdict.actual.contains(LWIP_ASSERTION);
        assert!(!fault || lwips_own, "{name}: {} {}: {}", f.verdict.check, f.verdict.row, f.verdict.actual);
    }
}
