//! The model checker on every shipped model: pinned state counts and shortest counterexample
//! lengths, so a change to a table, the endpoint or the checker's semantics fails loudly here.

use std::sync::atomic::AtomicBool;

use tcpcheck::explore::{bfs, replay, Bounds, Property, Request, Spill, Workload};
use tcpcheck::model::shipped::Shipped;

fn bounds(workload: Workload, loss: u8, dup: u8, incarnations: u8) -> Bounds {
    Bounds { workload, loss, dup, incarnations, data: 0, ..Bounds::default() }
}

/// Runs the checker; returns (distinct states, counterexample: (property, steps)). With a
/// counterexample, the distinct states are those of the levels explored before its level.
#[track_caller]
fn check(model: &str, bounds: Bounds, properties: &[Property]) -> (u64, Option<(Property, usize)>) {
    check_with(model, bounds, properties, 2)
}

#[track_caller]
fn check_with(
    model: &str,
    bounds: Bounds,
    properties: &[Property],
    threads: usize,
) -> (u64, Option<(Property, usize)>) {
    check_model(&Shipped::find(model).unwrap().load().unwrap(), bounds, properties, threads)
}

#[track_caller]
fn check_model(
    model: &tcpcheck::model::Model,
    bounds: Bounds,
    properties: &[Property],
    threads: usize,
) -> (u64, Option<(Property, usize)>) {
    let request = Request::new(bounds, properties, threads);
    let outcome = bfs(model, request, &AtomicBool::new(false), &());
    assert!(outcome.stopped.is_none());
    let cx = outcome.counterexample.map(|cx| {
        // The path replays: the same steps are enabled again, in the same order.
        let replayed = replay(model, bounds, &cx.steps);
        assert_eq!(replayed.path.len(), cx.steps.len());
        assert!(!replayed.entries.is_empty());
        (cx.violation.property, cx.steps.len())
    });
    (outcome.stats.distinct, cx)
}

const ALL: &[Property] = Property::ALL;
const OPEN_CLOSE: Workload = Workload::OpenClose;

#[test]
fn rfc9293_holds_every_property() {
    assert_eq!(check("rfc9293", bounds(OPEN_CLOSE, 0, 0, 1), ALL), (1466, None));
    assert_eq!(check("rfc9293", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (5651, None));
    assert_eq!(check("rfc9293", bounds(Workload::Simultaneous, 0, 0, 1), ALL), (3601, None));
}

#[test]
fn no_time_wait_lost_last_ack_ends_in_a_rst() {
    assert_eq!(check("no-time-wait", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (3276, Some((Property::OrderlyClose, 14))));
}

#[test]
fn no_time_wait_accepts_an_old_duplicate_in_a_new_connection() {
    let found = check("no-time-wait", bounds(OPEN_CLOSE, 0, 1, 2), &[Property::NoStaleDelivery]);
    assert_eq!(found, (55966, Some((Property::NoStaleDelivery, 16))));
}

/// At an ISN clock of 2 per tick, where rfc9293 itself keeps `agreement` on this bound (at 1 per
/// tick a new ISS can fall inside the old connection's sequence space: README's refutations).
#[test]
fn two_packet_handshake_opens_a_connection_nobody_asked_for() {
    let found = check("two-packet-handshake", Bounds { isn_rate: 2, ..bounds(OPEN_CLOSE, 0, 1, 2) }, ALL);
    assert_eq!(found, (7855, Some((Property::Agreement, 14))));
}

#[test]
fn no_2msl_restart_cuts_time_wait_short() {
    assert_eq!(check("no-2msl-restart", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (5310, Some((Property::TimeWait2Msl, 17))));
}

#[test]
fn rst_in_time_wait_assassinates_it() {
    assert_eq!(
        check("rst-closes-time-wait", bounds(OPEN_CLOSE, 1, 0, 1), ALL),
        (4165, Some((Property::TimeWait2Msl, 15)))
    );
    assert_eq!(check("rfc793", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (4165, Some((Property::TimeWait2Msl, 15))));
}

/// TIME-WAIT reuse (RFC 1122 4.2.2.13) on the server-close workload: the server closes first,
/// listens again beside its TIME-WAIT connection, and the client reconnects on the same 4-tuple
/// while a duplicate of the old connection may still be in flight. A fast ISN clock (100 per
/// tick) lets the client's new SYN pass the reuse test (SEG.SEQ > RCV.NXT) before the old
/// duplicates die. Whether an old segment is then accepted depends on the server's new ISS:
/// RFC 1122's rule (above the old SND.NXT) keeps the spaces apart; the ISN clock alone does not
/// when the server chose its old ISS a tick after the client did; a hash-only ISN repeats it.
#[test]
fn time_wait_reuse_is_safe_only_with_an_iss_above_the_old_connection() {
    use tcpcheck::model::{Source, Table};
    let fast = Bounds { isn_rate: 100, ..bounds(Workload::ServerClose, 0, 1, 2) };
    let stale = &[Property::NoStaleDelivery];
    assert_eq!(check("time-wait-reuse", fast, stale), (735271, None));
    let with = |rule: &str| {
        let text = format!(
            "model reuse-{rule}\nextends time-wait-reuse\nreplace TIME-WAIT SYN listening & !seq-ok & !seq-old \
             -> SYN-RECEIVED reopen {rule}; accept-syn; send SYN|ACK; start RTO @ RFC1122 4.2.2.13\n"
        );
        Table::load(Source::new(format!("reuse-{rule}.tcp"), text)).unwrap()
    };
    assert_eq!(check_model(&with("clock"), fast, stale, 2), (52853, Some((Property::NoStaleDelivery, 20))));
    assert_eq!(check_model(&with("same"), fast, stale, 2), (29211, Some((Property::NoStaleDelivery, 18))));
    // At one ISN step per tick the reuse test passes only after the old duplicates died.
    let slow = Bounds { isn_rate: 1, ..fast };
    assert_eq!(check_model(&with("clock"), slow, stale, 2).1, None);
    // What the switch costs by definition: TIME-WAIT no longer lasts 2*MSL.
    let found = check("time-wait-reuse", bounds(Workload::ServerClose, 0, 0, 2), &[Property::TimeWait2Msl]);
    assert_eq!(found.1.map(|(p, _)| p), Some(Property::TimeWait2Msl));
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    for threads in [1, 3] {
        assert_eq!(check_with("rfc9293", bounds(OPEN_CLOSE, 1, 0, 1), ALL, threads), (5651, None));
        let found = check_with("no-time-wait", bounds(OPEN_CLOSE, 0, 1, 2), &[Property::NoStaleDelivery], threads);
        assert_eq!(found, (55966, Some((Property::NoStaleDelivery, 16))));
    }
}

/// A table with an ACK war: ESTABLISHED answers every pure ACK with an ACK, and CLOSE there is
/// refused, so two connected endpoints exchange ACKs forever. Safety holds; liveness must not.
fn ack_war() -> tcpcheck::model::Model {
    tcpcheck::model::shipped::load_arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/ack-war.tcp")).unwrap()
}

#[test]
fn eventually_closed_finds_a_fair_livelock_as_a_lasso() {
    let model = ack_war();
    let bounds = Bounds { loss: 0, data: 0, ..Bounds::default() };
    let request = Request::new(bounds, &[Property::EventuallyClosed], 2);
    let outcome = bfs(&model, request, &AtomicBool::new(false), &());
    let cx = outcome.counterexample.expect("the ACK war is a livelock");
    assert_eq!(cx.violation.property, Property::EventuallyClosed);
    let from = cx.loop_from.expect("a lasso");
    assert!(from < cx.steps.len());
    // The loop, replayed from its start, returns to the same state.
    let at_loop = replay(&model, bounds, &cx.steps[..from]).world;
    let after = replay(&model, bounds, &cx.steps).world;
    use std::hash::{Hash, Hasher};
    let fp = |w: &tcpcheck::explore::World<'_>| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash(&mut h);
        h.finish()
    };
    assert_eq!(fp(&at_loop), fp(&after));
    // Safety alone finds nothing: the ACK war breaks no safety property.
    let request = Request { properties: &[Property::OrderlyClose, Property::Agreement], ..request };
    assert!(bfs(&model, request, &AtomicBool::new(false), &()).counterexample.is_none());
}

#[test]
fn every_shipped_model_is_live_at_default_bounds() {
    for model in Shipped::names() {
        let bounds = Bounds { loss: 0, data: 0, ..Bounds::default() };
        assert_eq!(check(model, bounds, &[Property::EventuallyClosed]).1, None, "{model}");
    }
}

#[test]
fn counterexample_and_statistics_do_not_depend_on_the_number_of_threads() {
    // Workers take chunks of a level in turn; the merge is in chunk order, and a level with a
    // violation counts only the chunks up to it, so even the steps generated are the same.
    let model = Shipped::find("no-2msl-restart").unwrap().load().unwrap();
    let run = |threads| {
        let request = Request { pair_graph: true, ..Request::new(bounds(OPEN_CLOSE, 1, 0, 1), ALL, threads) };
        let outcome = bfs(&model, request, &AtomicBool::new(false), &());
        let mut pairs: Vec<_> = outcome.pairs.unwrap().into_iter().collect();
        pairs.sort();
        (outcome.stats, outcome.counterexample.map(|cx| cx.steps), pairs)
    };
    let one = run(1);
    assert!(one.1.is_some());
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

/// A search at `bounds(OPEN_CLOSE, 1, dup, 1)` with the reduced-memory options.
fn reduced(
    model: &str,
    dup: u8,
    properties: &[Property],
    threads: usize,
    bitstate: Option<u64>,
    spill: Option<&Spill>,
) -> tcpcheck::explore::Outcome {
    let model = Shipped::find(model).unwrap().load().unwrap();
    let request = Request { bitstate, spill, ..Request::new(bounds(OPEN_CLOSE, 1, dup, 1), properties, threads) };
    bfs(&model, request, &AtomicBool::new(false), &())
}

/// A bitstate search with room to spare finds what the exact search finds: the same states, the
/// same shortest counterexample (replayed from the step numbers it keeps), for any thread count.
/// With too few bits it explores fewer states, never more, and says it may have: its estimate
/// of the states missed is near the count actually missed.
#[test]
fn a_bitstate_search_finds_what_the_exact_search_finds_and_estimates_what_it_misses() {
    let safety: Vec<Property> = ALL.iter().copied().filter(|&p| p != Property::EventuallyClosed).collect();
    let run = |model: &str, dup: u8, bitstate: Option<u64>, threads: usize| {
        let outcome = reduced(model, dup, &safety, threads, bitstate, None);
        (outcome.stats, outcome.counterexample.map(|cx| cx.steps), outcome.coverage)
    };
    for model in ["rfc9293", "no-2msl-restart"] {
        let exact = run(model, 0, None, 2);
        assert_eq!(exact.2, None);
        for threads in [1, 3] {
            let (stats, steps, coverage) = run(model, 0, Some(1 << 20), threads);
            assert_eq!((stats, &steps), (exact.0, &exact.1), "{model}");
            let coverage = coverage.unwrap();
            assert!(coverage.expected_missed < 1e-4 && coverage.fill > 0.0, "{coverage:?}");
        }
    }
    let exact = run("rfc9293", 1, None, 2).0.distinct as f64;
    let (stats, _, coverage) = run("rfc9293", 1, Some(16 << 10), 2);
    let (found, expected) = (stats.distinct as f64, coverage.unwrap().expected_missed);
    assert!(found < exact, "{found} of {exact}");
    // The estimate counts the states taken for seen ones, not those only they lead to.
    assert!(
        expected > 0.2 * (exact - found) && expected < exact - found,
        "missed {} of {exact}, estimated {expected}",
        exact - found
    );
}

/// With its frontier in files, the search finds the same states, counterexamples and lassos,
/// for any thread count, alone or with a bitstate set, and holds fewer bytes.
#[test]
fn a_search_with_its_frontier_on_disk_finds_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let spill = Spill::in_dir(dir.path()).unwrap();
    let safety: Vec<Property> = ALL.iter().copied().filter(|&p| p != Property::EventuallyClosed).collect();
    let run = |model: &str, bitstate: Option<u64>, threads: usize, spill: Option<&Spill>| {
        let properties = if bitstate.is_some() { &safety[..] } else { ALL };
        let outcome = reduced(model, 0, properties, threads, bitstate, spill);
        let found = (outcome.stats, outcome.counterexample.map(|cx| (cx.steps, cx.loop_from)));
        (found, outcome.memory)
    };
    for model in ["rfc9293", "no-2msl-restart"] {
        for bitstate in [None, Some(1 << 20)] {
            let (in_memory, held) = run(model, bitstate, 2, None);
            for threads in [1, 3] {
                let (on_disk, memory) = run(model, bitstate, threads, Some(&spill));
                assert_eq!(on_disk, in_memory, "{model} {bitstate:?} {threads}");
                assert!(memory.on_disk > 0 && memory.peak.frontier < held.peak.frontier, "{memory:?} {held:?}");
            }
        }
    }
    assert_eq!(spill.error(), None);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the files are unlinked");
}
