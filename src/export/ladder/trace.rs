//! A ladder from a `simulate` run or a `check` counterexample: A on the left, B on the right.

use super::{ArrowId, Ladder, Lane, Style};
use crate::model::{Call, Model};
use crate::simulate::diagram::{told, Bases, Trace};
use crate::simulate::{Entry, Side};
use crate::wire::Segment;

fn lane(side: Side) -> Lane {
    match side {
        Side::A => Lane::Left,
        Side::B => Lane::Right,
    }
}

/// A segment in the network, waiting for the entry that says what became of it.
struct InFlight {
    arrow: ArrowId,
    from: Side,
    segment: Segment,
}

/// Takes the oldest segment in flight from `from` equal to `segment`: the network's entries
/// name a segment by its content, and equal copies are interchangeable on the picture.
fn take(flight: &mut Vec<InFlight>, from: Side, segment: &Segment) -> Option<ArrowId> {
    let i = flight.iter().position(|f| f.from == from && f.segment == *segment)?;
    Some(flight.remove(i).arrow)
}

/// The ladder of `trace`, which ran `model`, titled `title`.
pub fn from_trace(title: &str, trace: Trace<'_>, model: &Model) -> Ladder {
    let table = model.table();
    let name = |side: Side| format!("{} ({}, port {})", side.name(), model.name(), trace.ports[side as usize]);
    let mut ladder = Ladder::new(title, name(Side::A), name(Side::B));
    let mut bases = Bases::default();
    let mut flight: Vec<InFlight> = Vec::new();
    for (index, entry) in trace.entries.iter().enumerate() {
        if trace.loop_at == Some(index) {
            ladder.loop_here();
        }
        let at = entry.at();
        let label =
            |bases: &Bases, from: Side, segment: &Segment| segment.brief(bases.of(from), bases.of(from.other()));
        match entry {
            Entry::Call { side, call, bytes, .. } => {
                let text = match (call, bytes) {
                    (Call::Send, 1) => "user: SEND 1 byte".to_string(),
                    (Call::Send, n) => format!("user: SEND {n} bytes"),
                    _ => format!("user: {call}"),
                };
                ladder.note(at, lane(*side), text);
            }
            Entry::Transition { side, transition, .. } => ladder.transition(lane(*side), table, transition),
            Entry::Told { side, event, .. } => ladder.note(at, lane(*side), told(event)),
            Entry::Sent { from, segment, lost, forged, .. } => {
                bases.learn(*from, segment);
                let text = label(&bases, *from, segment);
                let (text, style) =
                    if *forged { (format!("forged {text}"), Style::Forged) } else { (text, Style::Sent) };
                let arrow = ladder.send(at, lane(*from), text, style);
                if *lost {
                    ladder.lose(at, arrow);
                } else {
                    flight.push(InFlight { arrow, from: *from, segment: segment.clone() });
                }
            }
            Entry::Duplicated { from, segment, .. } => {
                let arrow =
                    ladder.send(at, lane(*from), format!("copy: {}", label(&bases, *from, segment)), Style::Copy);
                flight.push(InFlight { arrow, from: *from, segment: segment.clone() });
            }
            Entry::Delivered { from, segment, .. } => {
                if let Some(arrow) = take(&mut flight, *from, segment) {
                    ladder.arrive(at, arrow);
                }
            }
            Entry::Lost { from, segment, .. } => {
                if let Some(arrow) = take(&mut flight, *from, segment) {
                    ladder.lose(at, arrow);
                }
            }
            Entry::Expired { from, segment, .. } => {
                if let Some(arrow) = take(&mut flight, *from, segment) {
                    ladder.expire(at, arrow);
                }
            }
        }
    }
    ladder
}
