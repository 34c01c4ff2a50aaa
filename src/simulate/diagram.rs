//! A simulation as a sequence diagram (A | network | B, virtual clock in the margin) or JSON.
//! Sequence numbers are shown relative to each side's ISS, as packetdrill and Wireshark do.

use serde_json::{json, Value};

use super::columns::{Column, Grid, Width};
use super::{Entry, Side};
use crate::endpoint::{Event, Transition};
use crate::model::{Model, State, Table};
use crate::wire::{Control, Segment, SeqNum};

/// The columns: the clock, A, the network, B.
fn grid(width: Width) -> Grid<4> {
    match width {
        Width::Wide => Grid {
            columns: [Column::right(10, "  "), Column::left(46), Column::left(50), Column::left(0)],
            wrap: false,
        },
        Width::Fit => {
            Grid { columns: [Column::right(8, "  "), Column::left(44), Column::left(28), Column::left(38)], wrap: true }
        }
    }
}

/// ISS of each side, learnt from the first SYN it sent, for relative numbering.
#[derive(Default)]
pub(crate) struct Bases([Option<SeqNum>; 2]);

impl Bases {
    /// The ISS `side` sent in its first SYN, once seen.
    pub(crate) fn of(&self, side: Side) -> Option<SeqNum> {
        self.0[side as usize]
    }

    pub(crate) fn learn(&mut self, from: Side, seg: &Segment) {
        if seg.ctl.contains(Control::SYN) && self.0[from as usize].is_none() {
            self.0[from as usize] = Some(seg.seq);
        }
    }

    fn rel(&self, side: Side, n: SeqNum) -> String {
        match self.0[side as usize] {
            Some(base) => n.distance_from(base).to_string(),
            None => format!("{}(abs)", n.0),
        }
    }

    /// The segment with relative numbers: in full when the diagram is wide
    /// (`SYN|ACK seq=0 ack=1 win=4096 len=0 <mss 1024>`), else in brief (`SYN|ACK seq=0 ack=1`).
    fn show(&self, from: Side, seg: &Segment, width: Width) -> String {
        if width == Width::Fit {
            return seg.brief(self.of(from), self.of(from.other()));
        }
        let mut text = seg.to_string();
        // Replace the absolute numbers Segment's Display printed with relative ones.
        text = text.replacen(&format!("seq={}", seg.seq), &format!("seq={}", self.rel(from, seg.seq)), 1);
        if let Some(ack) = seg.ack {
            text = text.replacen(&format!("ack={ack}"), &format!("ack={}", self.rel(from.other(), ack)), 1);
        }
        text
    }
}

/// What a user was told, as the diagrams write it: `user told: connection reset`.
pub(crate) fn told(event: &Event) -> String {
    match event {
        Event::Signal(s) => format!("user told: {}", s.text()),
        Event::Data(d) => format!("user reads {} bytes {:?}", d.len(), String::from_utf8_lossy(d)),
    }
}

/// What a diagram is drawn from: the entries, each side's port, and where each side ended.
#[derive(Clone, Copy, Debug)]
pub struct Trace<'a> {
    pub entries: &'a [Entry],
    pub ports: [u16; 2],
    pub last: [State; 2],
    /// For a lasso: the index of the first entry of the part that repeats forever.
    pub loop_at: Option<usize>,
}

/// A fired row as the diagrams show it: `FROM=>TO on INPUT / actions` (`FROM on INPUT` when the
/// state stays), and where the row is written with what it cites: `file:line RFC 9293 3.10.7.4`.
pub(crate) fn transition_lines(table: &Table, t: &Transition) -> (String, String) {
    let Some(row) = table.rows.get(t.row) else {
        return (
            format!("{}=>{} on {}", t.from, t.to, t.input),
            format!("{} (row {} unknown)", table.source.name, t.row),
        );
    };
    let mut head = if t.from == t.to {
        format!("{} on {}", t.from, t.input)
    } else {
        format!("{}=>{} on {}", t.from, t.to, t.input)
    };
    let actions: Vec<String> = row.rule.actions.iter().map(|a| a.to_string()).collect();
    if !actions.is_empty() {
        head = format!("{head} / {}", actions.join("; "));
    }
    (head, format!("{} {}", table.row_location(row), row.rule.cite.qualified(table.rfc)))
}

/// A segment's text in the network column, pointing its way.
fn network(from: Side, text: &str) -> String {
    match from {
        Side::A => format!("{text} -->"),
        Side::B => format!("<-- {text}"),
    }
}

/// The diagram as text, within 120 columns or `Width::Wide`.
pub fn render(trace: Trace<'_>, model: &Model, width: Width) -> String {
    let table = model.table();
    let grid = grid(width);
    let side = |time: &str, side: Side, text: &str| match side {
        Side::A => grid.row([time, text, "", ""]),
        Side::B => grid.row([time, "", "", text]),
    };
    let a = format!("A ({}, port {})", model.name(), trace.ports[0]);
    let b = format!("B ({}, port {})", model.name(), trace.ports[1]);
    let mut out = grid.row(["time", &a, "network (seq/ack relative to each ISS)", &b]);
    let indent = " ".repeat(grid.columns[0].width + grid.columns[0].gap.len());
    let mut bases = Bases::default();
    let mut last_time = None;
    for (index, entry) in trace.entries.iter().enumerate() {
        if trace.loop_at == Some(index) {
            out.push(format!("{indent}---- from here on the run repeats forever ----"));
        }
        // The receiver's rows show the delivery.
        if matches!(entry, Entry::Delivered { .. }) {
            continue;
        }
        let at = entry.at();
        let time = if last_time == Some(at) { String::new() } else { at.to_string() };
        last_time = Some(at);
        let lines = match entry {
            Entry::Call { side: s, call, bytes, .. } => {
                let text = if *bytes > 0 { format!("user: {call} ({bytes} bytes)") } else { format!("user: {call}") };
                side(&time, *s, &text)
            }
            Entry::Transition { side: s, transition: t, .. } => {
                let (head, cite) = transition_lines(table, t);
                let mut lines = side(&time, *s, &head);
                lines.extend(side("", *s, &format!("  {cite}")));
                lines
            }
            Entry::Sent { from, segment, lost, forged, .. } => {
                bases.learn(*from, segment);
                let mut text = bases.show(*from, segment, width);
                if *forged {
                    text = format!("forged {text}");
                }
                let net = match (from, lost) {
                    (_, false) => network(*from, &text),
                    (Side::A, true) => format!("{text} --X lost"),
                    (Side::B, true) => format!("lost X-- {text}"),
                };
                grid.row([&time, "", &net, ""])
            }
            Entry::Told { side: s, event, .. } => side(&time, *s, &told(event)),
            Entry::Delivered { .. } => Vec::new(),
            Entry::Lost { from, segment, .. } => {
                let text = format!("lost: {}", bases.show(*from, segment, width));
                grid.row([&time, "", &network(*from, &text), ""])
            }
            Entry::Duplicated { from, segment, .. } => {
                let text = format!("duplicated: {}", bases.show(*from, segment, width));
                grid.row([&time, "", &network(*from, &text), ""])
            }
            Entry::Expired { from, segment, .. } => {
                let text = format!("expired (older than MSL): {}", bases.show(*from, segment, width));
                grid.row([&time, "", &network(*from, &text), ""])
            }
        };
        out.extend(lines);
    }
    out.extend(grid.row(["end", trace.last[0].name(), "", trace.last[1].name()]));
    out.join("\n") + "\n"
}

/// The trace as JSON, with absolute numbers and each transition's row and citation.
pub fn to_json(trace: Trace<'_>, model: &Model) -> Value {
    let table = model.table();
    let entries: Vec<Value> = trace
        .entries
        .iter()
        .map(|entry| match entry {
            Entry::Call { at, side, call, bytes } => {
                json!({"at_us": at.as_micros(), "side": side.name(), "call": call.name(), "bytes": bytes})
            }
            Entry::Transition { at, side, transition: t } => {
                let row = &table.rows[t.row];
                json!({
                    "at_us": at.as_micros(), "side": side.name(), "input": t.input.to_string(),
                    "from": t.from.name(), "to": t.to.name(),
                    "row": table.row_location(row), "cite": row.rule.cite.qualified(table.rfc),
                })
            }
            Entry::Sent { at, from, segment, lost, forged } => json!({
                "at_us": at.as_micros(), "from": from.name(), "segment": segment.to_string(),
                "seq": segment.seq.0, "ack": segment.ack.map(|a| a.0), "len": segment.payload.len(),
                "lost": lost, "forged": forged,
            }),
            Entry::Told { at, side, event } => {
                json!({"at_us": at.as_micros(), "side": side.name(), "told": told(event)})
            }
            Entry::Delivered { at, from, segment } => network_json(*at, *from, segment, "delivered"),
            Entry::Lost { at, from, segment } => network_json(*at, *from, segment, "lost"),
            Entry::Duplicated { at, from, segment } => network_json(*at, *from, segment, "duplicated"),
            Entry::Expired { at, from, segment } => network_json(*at, *from, segment, "expired"),
        })
        .collect();
    json!({
        "format": "tcpcheck-simulate/1",
        "model": model.name(),
        "final": {"A": trace.last[0].name(), "B": trace.last[1].name()},
        "trace": entries,
    })
}

fn network_json(at: crate::time::Instant, from: Side, segment: &Segment, what: &str) -> Value {
    json!({"at_us": at.as_micros(), "from": from.name(), "segment": segment.to_string(), "network": what})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;
    use crate::simulate::columns::FIT;
    use crate::simulate::scenario::SCENARIOS;
    use crate::simulate::Sim;

    #[test]
    fn every_scenario_fits_120_columns_unless_wide() {
        let mut widest = 0;
        for name in Shipped::names() {
            let model = Shipped::find(name).unwrap().load().unwrap();
            for scenario in SCENARIOS {
                let mut sim = Sim::new(&model, None);
                let _ = (scenario.run)(&mut sim);
                let fit = render(sim.diagram(), &model, Width::Fit);
                for line in fit.lines() {
                    assert!(
                        line.chars().count() <= FIT,
                        "{} under {name}: {} columns\n{line}",
                        scenario.name,
                        line.len()
                    );
                }
                // Wrapping keeps every row's words: the row that answers the retransmitted FIN.
                if scenario.name == "lost-last-ack" && name == "rfc9293" {
                    assert!(fit.contains("TIME-WAIT on FIN|ACK / send ACK;"), "{fit}");
                    assert!(fit.contains("ACK seq=2 ack=2 --X lost"), "{fit}");
                }
                let wide = render(sim.diagram(), &model, Width::Wide);
                widest = widest.max(wide.lines().map(|l| l.chars().count()).max().unwrap_or(0));
            }
        }
        assert!(widest > FIT, "--wide draws one line per event, wider than {FIT} columns: {widest}");
    }
}
