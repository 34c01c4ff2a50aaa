//! The model checker on every shipped model: pinned state counts and shortest counterexample
//! lengths, so a change to a table, the endpoint or the checker's semantics fails loudly here.

use std::sync::atomic::AtomicBool;

use tcpcheck::explore::{bfs, replay, Bounds, Limits, Property, Request, Workload};
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
    let model = Shipped::find(model).unwrap().load().unwrap();
    let request = Request { bounds, properties, limits: Limits::default(), pair_graph: false, threads };
    let outcome = bfs(&model, request, &AtomicBool::new(false), &());
    assert!(outcome.stopped.is_none());
    let cx = outcome.counterexample.map(|cx| {
        // The path replays: the same steps are enabled again, in the same order.
        let replayed = replay(&model, bounds, &cx.steps);
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
    assert_eq!(check("rfc9293", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (5700, None));
    assert_eq!(check("rfc9293", bounds(Workload::Simultaneous, 0, 0, 1), ALL), (3601, None));
}

#[test]
fn no_time_wait_lost_last_ack_ends_in_a_rst() {
    assert_eq!(check("no-time-wait", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (3293, Some((Property::OrderlyClose, 14))));
}

#[test]
fn no_time_wait_accepts_an_old_duplicate_in_a_new_connection() {
    let found = check("no-time-wait", bounds(OPEN_CLOSE, 0, 1, 2), &[Property::NoStaleDelivery]);
    assert_eq!(found, (55973, Some((Property::NoStaleDelivery, 16))));
}

#[test]
fn two_packet_handshake_opens_a_connection_nobody_asked_for() {
    let found = check("two-packet-handshake", bounds(OPEN_CLOSE, 0, 1, 2), ALL);
    assert_eq!(found, (7855, Some((Property::Agreement, 14))));
}

#[test]
fn no_2msl_restart_cuts_time_wait_short() {
    assert_eq!(check("no-2msl-restart", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (5348, Some((Property::TimeWait2Msl, 17))));
}

#[test]
fn rst_in_time_wait_assassinates_it() {
    assert_eq!(
        check("rst-closes-time-wait", bounds(OPEN_CLOSE, 1, 0, 1), ALL),
        (4191, Some((Property::TimeWait2Msl, 15)))
    );
    assert_eq!(check("rfc793", bounds(OPEN_CLOSE, 1, 0, 1), ALL), (4191, Some((Property::TimeWait2Msl, 15))));
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    for threads in [1, 3] {
        assert_eq!(check_with("rfc9293", bounds(OPEN_CLOSE, 1, 0, 1), ALL, threads), (5700, None));
        let found = check_with("no-time-wait", bounds(OPEN_CLOSE, 0, 1, 2), &[Property::NoStaleDelivery], threads);
        assert_eq!(found, (55973, Some((Property::NoStaleDelivery, 16))));
    }
}
