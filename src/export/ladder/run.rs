//! A ladder from a conformance run (`replay`, `run`): the harness's peer on the left, the stack
//! under test on the right with the states the oracle expected of it, and the step of the
//! verdict in red with the verdict under it.

use super::{Ladder, Lane, Style};
use crate::conform::diagram::{call_text, steps};
use crate::conform::oracle::{show_inbound, show_outbound};
use crate::conform::{Params, Record, Verdict};
use crate::model::Model;
use crate::simulate::diagram::told;
use crate::time::Instant;
use crate::wire::SeqNum;

/// The ladder of a run of `trace` judged by `model`, with its verdict if any.
pub fn from_run(
    title: &str,
    trace: &[Record],
    model: &Model,
    params: &Params,
    stack_iss: Option<SeqNum>,
    verdict: Option<&Verdict>,
) -> Ladder {
    let table = model.table();
    let mut ladder = Ladder::new(
        title,
        format!("peer {} (harness)", params.hosts.peer()),
        format!("{} {} (expected: {})", params.name, params.hosts.stack(), model.name()),
    );
    let steps = steps(trace);
    let mut shown = false;
    for (index, record) in trace.iter().enumerate() {
        let hot = verdict.is_some_and(|v| steps[index] == Some(v.step));
        ladder.set_hot(hot);
        let at = record.at();
        match record {
            Record::Call { call, .. } => ladder.note(at, Lane::Right, call_text(*call)),
            Record::Read { data, .. } => {
                ladder.note(at, Lane::Right, format!("RECEIVE returned {} octets", data.len()))
            }
            Record::Inbound { segment, .. } => {
                let arrow = ladder.send(at, Lane::Left, show_inbound(segment, stack_iss), Style::Sent);
                ladder.arrive(at, arrow);
            }
            Record::Outbound { segment, .. } => {
                let arrow = ladder.send(at, Lane::Right, show_outbound(segment, stack_iss), Style::Sent);
                ladder.arrive(at, arrow);
            }
            Record::Garbled { bytes, .. } => {
                let arrow = ladder.send(at, Lane::Right, format!("malformed, {} bytes", bytes.len()), Style::Sent);
                ladder.arrive(at, arrow);
            }
            Record::Row { transition, .. } => ladder.transition(Lane::Right, table, transition),
            Record::Told { event, .. } => ladder.note(at, Lane::Right, format!("expected {}", told(event))),
            Record::Waited { at, to } => ladder.note(*at, Lane::Left, format!("wait {}", to.since(*at))),
            // The stack's own report of its state is in the verdict and the JSON.
            Record::Stack { .. } => {}
        }
        let step_ends = trace.get(index + 1).is_none_or(Record::starts_step);
        if let Some(v) = verdict.filter(|_| hot && step_ends && !shown) {
            ladder.verdict(at, verdict_lines(v));
            shown = true;
        }
    }
    ladder.set_hot(false);
    if let Some(v) = verdict.filter(|_| !shown) {
        ladder.verdict(trace.last().map_or(Instant::from_micros(v.at_us), Record::at), verdict_lines(v));
    }
    ladder
}

fn verdict_lines(v: &Verdict) -> Vec<String> {
    let mut lines = vec![format!("VERDICT at step {}", v.step.saturating_add(1))];
    lines.extend(v.to_string().lines().map(str::to_string));
    lines
}
