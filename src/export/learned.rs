//! A learned machine on the one-page layout ([`super::machine`]): each learned state sits in the
//! box of the table state the stack reported on entering it, so a reader finds the stack's
//! handshake where the RFC's figure draws the handshake.
//!
//! A stack's machine has many states per table state (the reference's 28 on the `core` alphabet,
//! six of them SYN-RECEIVED: reached by a passive open, a simultaneous open, a duplicate SYN...;
//! smoltcp's about 175), and every state answers every input, so one node and one edge per
//! learned state and transition would be hundreds of arrows. Here a table state's learned states
//! share its box, numbered `#1`, `#2`, … and listed with the shortest word that reaches them;
//! the transitions are gathered by (box, input, output, box): those that stay in their box or
//! end in CLOSED are lines of the box's table, the others label one edge per pair of boxes, as
//! the table's own drawing does. The grey note beside a line says which learned states take it.
//!
//! Transitions that differ from the table's projection are red; given the projection, what the
//! table does from a box and the stack never does is a dashed grey line (a mutant without
//! TIME-WAIT shows the table's edges into TIME-WAIT dashed, nothing of the stack's reaching it).
//! States whose stack reported no state, or several, share one box in the figure's empty corner.

use std::collections::BTreeSet;

use super::machine::{Edge, Ink, Line, Machine, Node, Section, Spot};
use super::palette::{GREY, INK, RED, TIMER, USER};
use crate::conform::script::Step;
use crate::learn::mapper::LETTERS;
use crate::learn::{Machine as Learned, Transition};
use crate::model::State;

/// The note of a line the table's machine has and the stack's has not.
const TABLE: &str = "table";

/// A box lists each of its learned states with its access word up to this many; beyond, one
/// line says how many there are (their words are in its tooltip).
const LISTED: usize = 6;

/// `learned` drawn on the figure's layout, titled `title`; with `table` (the projection of the
/// table on the same alphabet, as a [`Learned`]), also what the table does that the stack never
/// does.
pub fn overlay(title: &str, learned: &Learned, table: Option<&Learned>) -> Machine {
    let tags = Tags::of(learned);
    let mut lines: Vec<(Spot, Spot, Line)> = Vec::new();
    for (from, to, group) in gather(learned, &learned.transitions.iter().collect::<Vec<_>>()) {
        let differs = group.iter().any(|t| t.differs);
        let ink =
            if differs { Ink { colour: RED.into(), dashed: false, width: 2.0 } } else { Ink::solid(kind(group[0])) };
        let tip: Vec<String> = group.iter().map(|t| tags.describe(learned, t)).collect();
        lines.push((from, to, Line { text: text(&group, to), note: tags.note(&group), tip: tip.join("\n"), ink }));
    }
    if let Some(table) = table {
        let stack: BTreeSet<(Spot, &str, String, Spot)> = learned
            .transitions
            .iter()
            .map(|t| (spot(learned, t.from), t.input.as_str(), shown(t, spot(learned, t.to)), spot(learned, t.to)))
            .collect();
        let missing: Vec<&Transition> = table
            .transitions
            .iter()
            .filter(|t| {
                let (from, to) = (spot(table, t.from), spot(table, t.to));
                !stack.contains(&(from, t.input.as_str(), shown(t, to), to))
            })
            .collect();
        let table_tags = Tags::of(table);
        for (from, to, group) in gather(table, &missing) {
            let tip: Vec<String> =
                group.iter().map(|t| format!("the table: {}", table_tags.describe(table, t))).collect();
            let ink = Ink { colour: GREY.into(), dashed: true, width: 1.2 };
            let line = Line { text: text(&group, to), note: TABLE.into(), tip: tip.join("\n"), ink };
            lines.push((from, to, line));
        }
    }

    let table_only = lines.iter().any(|(_, _, l)| l.note == TABLE);
    let mut spots: Vec<Spot> = learned.states.iter().map(|s| spot(learned, s.id)).collect();
    spots.extend(lines.iter().flat_map(|(from, to, _)| [*from, *to]));
    spots.sort();
    spots.dedup();
    let mut nodes: Vec<Node> = spots
        .iter()
        .map(|&at| Node {
            spot: at,
            sections: vec![Section { title: String::new(), lines: tags.listing(learned, at) }],
        })
        .collect();
    let mut edges: Vec<Edge> = Vec::new();
    for (from, to, line) in lines {
        let title = match (from == to, to) {
            (true, _) => "stays",
            (false, Spot::State(State::Closed)) => "→ CLOSED",
            (false, _) => {
                match edges.iter_mut().find(|e| e.from == from && e.to == to) {
                    Some(edge) => edge.lines.push(line),
                    None => edges.push(Edge { from, to, ink: line.ink.clone(), lines: vec![line] }),
                }
                continue;
            }
        };
        let Some(node) = nodes.iter_mut().find(|n| n.spot == from) else { continue };
        match node.sections.iter_mut().find(|s| s.title == title) {
            Some(section) => section.lines.push(line),
            None => node.sections.push(Section { title: title.into(), lines: vec![line] }),
        }
    }
    for edge in &mut edges {
        edge.ink = edge_ink(&edge.lines);
    }
    let differing = learned.transitions.iter().filter(|t| t.differs).count();
    let mut key = vec![
        (Ink::solid(USER), "user call".to_string()),
        (Ink::solid(INK), "segment".to_string()),
        (Ink::solid(TIMER), "wait".to_string()),
        (Ink { colour: RED.into(), dashed: false, width: 2.0 }, "differs from the table".to_string()),
    ];
    if table_only {
        key.push((Ink { colour: GREY.into(), dashed: true, width: 1.2 }, "the table's, never the stack's".into()));
    }
    Machine {
        name: title.to_string(),
        title: format!(
            "{title}: {} states on {} inputs, {differing} transitions differ",
            learned.states.len(),
            learned.inputs.len()
        ),
        key,
        notes: "grey: the learned states (#k, listed in each box) taking a line; hover for each transition".into(),
        nodes,
        edges,
    }
}

/// The box of learned state `id`: its table state's, or the unnamed states'.
fn spot(machine: &Learned, id: u32) -> Spot {
    match machine.states.get(id as usize).and_then(|s| s.table_state) {
        Some(state) => Spot::State(state),
        None => Spot::Unnamed,
    }
}

/// Transitions gathered into lines: by (from box, to box, output as shown, differs), in the
/// order of their first transition; within that, inputs taken by the same learned states share
/// a line (`syn, syn-ack / ACK(nxt,old)`).
fn gather<'t>(machine: &Learned, transitions: &[&'t Transition]) -> Vec<(Spot, Spot, Vec<&'t Transition>)> {
    type Key = (Spot, Spot, String, bool);
    let mut groups: Vec<(Key, Vec<&Transition>)> = Vec::new();
    for &t in transitions {
        let (from, to) = (spot(machine, t.from), spot(machine, t.to));
        let key = (from, to, shown(t, to), t.differs);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(t),
            None => groups.push((key, vec![t])),
        }
    }
    let mut out = Vec::new();
    for ((from, to, ..), group) in groups {
        // Per input, the learned states that take it; inputs with the same states share a line.
        let mut inputs: Vec<(&str, Vec<u32>)> = Vec::new();
        for t in &group {
            match inputs.iter_mut().find(|(i, _)| *i == t.input) {
                Some((_, states)) => states.push(t.from),
                None => inputs.push((t.input.as_str(), vec![t.from])),
            }
        }
        let mut lines: Vec<(Vec<u32>, Vec<&Transition>)> = Vec::new();
        for (input, states) in inputs {
            let taking = group.iter().copied().filter(|t| t.input == input);
            match lines.iter_mut().find(|(s, _)| *s == states) {
                Some((_, line)) => line.extend(taking),
                None => lines.push((states, taking.collect())),
            }
        }
        out.extend(lines.into_iter().map(|(_, line)| (from, to, line)));
    }
    out
}

/// A transition's output as a line shows it: the state it reports left out where it is the box
/// the line leads to, and a segment sent several times in a row counted (`5×SYN(isn)`).
fn shown(t: &Transition, to: Spot) -> String {
    let mut output = t.output.as_str();
    if let (Some(state), Spot::State(box_state)) = (crate::learn::reported_state(output), to) {
        if state == box_state {
            output = output.rsplit_once(" [").map_or(output, |(head, _)| head);
        }
    }
    let mut runs: Vec<(&str, usize)> = Vec::new();
    for word in output.split(' ') {
        match runs.last_mut() {
            Some((last, n)) if *last == word => *n += 1,
            _ => runs.push((word, 1)),
        }
    }
    let words: Vec<String> =
        runs.iter().map(|&(word, n)| if n == 1 { word.to_string() } else { format!("{n}×{word}") }).collect();
    words.join(" ")
}

/// A line's text: its inputs, then what they output, then, for a line into CLOSED from another
/// box, nothing more (its section says so).
fn text(group: &[&Transition], to: Spot) -> String {
    let mut inputs: Vec<&str> = Vec::new();
    for t in group {
        if !inputs.contains(&t.input.as_str()) {
            inputs.push(&t.input);
        }
    }
    format!("{} / {}", inputs.join(", "), shown(group[0], to))
}

/// The colour of a letter's kind: a user call, a segment, or a wait.
fn kind(t: &Transition) -> &'static str {
    match LETTERS.iter().find(|l| l.name == t.input).map(|l| l.step) {
        Some(Step::User(_)) => USER,
        Some(Step::Wait(_)) => TIMER,
        _ => INK,
    }
}

/// An edge's ink: red if a line differs, dashed grey if every line is the table's alone, one
/// kind's colour, else grey.
fn edge_ink(lines: &[Line]) -> Ink {
    if let Some(red) = lines.iter().find(|l| l.ink.colour == RED) {
        return red.ink.clone();
    }
    let first = &lines[0].ink;
    if lines.iter().all(|l| l.ink == *first) {
        return first.clone();
    }
    let dashed = lines.iter().all(|l| l.ink.dashed);
    Ink { colour: GREY.into(), dashed, width: 1.2 }
}

/// Each learned state's number within its box (`#1`, `#2`, … in the order of their ids), as
/// [`crate::learn::Machine::new`] names them.
struct Tags {
    number: Vec<usize>,
    /// How many states share each state's box.
    of: Vec<usize>,
}

impl Tags {
    fn of(machine: &Learned) -> Tags {
        let spots: Vec<Spot> = machine.states.iter().map(|s| spot(machine, s.id)).collect();
        let number = (0..spots.len()).map(|i| spots[..i].iter().filter(|&&s| s == spots[i]).count() + 1).collect();
        let of = spots.iter().map(|s| spots.iter().filter(|&t| t == s).count()).collect();
        Tags { number, of }
    }

    fn tag(&self, id: u32) -> String {
        format!("#{}", self.number.get(id as usize).copied().unwrap_or(0))
    }

    /// `SYN-RECEIVED #2 syn / ACK(nxt,old) [SYN-RECEIVED] → SYN-RECEIVED #4`.
    fn describe(&self, machine: &Learned, t: &Transition) -> String {
        let name = |id: u32| format!("{} {}", spot(machine, id), self.tag(id));
        let differs = if t.differs { "  (differs from the table)" } else { "" };
        format!("{} {} / {} → {}{differs}", name(t.from), t.input, t.output, name(t.to))
    }

    /// Which of its box's learned states take a line: none said when the box has one state or
    /// all take it, else their numbers, runs shortened (`#1–3,5`), or a count when long.
    fn note(&self, group: &[&Transition]) -> String {
        let mut numbers: Vec<usize> = group.iter().map(|t| self.number[t.from as usize]).collect();
        numbers.sort();
        numbers.dedup();
        let of = self.of[group[0].from as usize];
        if numbers.len() == of {
            return if of == 1 { String::new() } else { "all".into() };
        }
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for n in numbers.iter().copied() {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == n => *last = n,
                _ => runs.push((n, n)),
            }
        }
        if runs.len() > 4 {
            return format!("{} of {of}", numbers.len());
        }
        let runs: Vec<String> = runs
            .iter()
            .map(|&(a, b)| match b - a {
                0 => a.to_string(),
                1 => format!("{a},{b}"),
                _ => format!("{a}–{b}"),
            })
            .collect();
        format!("#{}", runs.join(","))
    }

    /// The first lines of a box: its learned states with the shortest word reaching each, or,
    /// when there are more than [`LISTED`], their count (the words in the tooltip).
    fn listing(&self, machine: &Learned, at: Spot) -> Vec<Line> {
        let states: Vec<_> = machine.states.iter().filter(|s| spot(machine, s.id) == at).collect();
        let word = |s: &crate::learn::MachineState| match s.access.is_empty() {
            true => "(initial)".to_string(),
            false => s.access.join(" "),
        };
        let tip = |s: &crate::learn::MachineState| {
            format!("{at} {}: learned state {}, reached by {}", self.tag(s.id), s.id, word(s))
        };
        let ink = Ink::solid(GREY);
        if states.len() <= LISTED {
            return states
                .iter()
                .map(|s| Line { text: word(s), note: self.tag(s.id), tip: tip(s), ink: ink.clone() })
                .collect();
        }
        let tips: Vec<String> = states.iter().map(|s| tip(s)).collect();
        vec![Line {
            text: format!("{} learned states (hover for their words)", states.len()),
            note: format!("#1–{}", states.len()),
            tip: tips.join("\n"),
            ink,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::{MachineState, Transition};

    fn state(id: u32, table_state: Option<State>, access: &[&str]) -> MachineState {
        MachineState { id, table_state, access: access.iter().map(|s| s.to_string()).collect(), name: String::new() }
    }

    fn step(from: u32, input: &str, output: &str, to: u32, differs: bool) -> Transition {
        Transition { from, input: input.into(), output: output.into(), to, differs }
    }

    /// CLOSED, LISTEN twice (after listen, after listen listen), SYN-RECEIVED, and a state
    /// with no name; syn from either LISTEN goes to SYN-RECEIVED, rst from SYN-RECEIVED
    /// differs.
    fn machine() -> Learned {
        Learned {
            inputs: vec!["listen".into(), "syn".into(), "rst".into()],
            states: vec![
                state(0, Some(State::Closed), &[]),
                state(1, Some(State::Listen), &["listen"]),
                state(2, Some(State::Listen), &["listen", "listen"]),
                state(3, Some(State::SynReceived), &["listen", "syn"]),
                state(4, None, &["rst"]),
            ],
            transitions: vec![
                step(0, "listen", "- [LISTEN]", 1, false),
                step(0, "syn", "RST|ACK(0,nxt) [CLOSED]", 0, false),
                step(0, "rst", "-", 4, false),
                step(1, "listen", "- [LISTEN]", 2, false),
                step(1, "syn", "SYN|ACK(isn,nxt) [SYN-RECEIVED]", 3, false),
                step(1, "rst", "- [LISTEN]", 1, false),
                step(2, "listen", "- [LISTEN]", 2, false),
                step(2, "syn", "SYN|ACK(isn,nxt) [SYN-RECEIVED]", 3, false),
                step(2, "rst", "- [LISTEN]", 2, false),
                step(3, "listen", "- [SYN-RECEIVED]", 3, false),
                step(3, "syn", "ACK(nxt,nxt) ACK(nxt,nxt) ACK(nxt,nxt) [SYN-RECEIVED]", 3, false),
                step(3, "rst", "- [CLOSED]", 0, true),
                step(4, "listen", "-", 4, false),
                step(4, "syn", "-", 4, false),
                step(4, "rst", "-", 4, false),
            ],
        }
    }

    fn all_lines(m: &Machine) -> Vec<&Line> {
        m.nodes
            .iter()
            .flat_map(|n| &n.sections)
            .flat_map(|s| &s.lines)
            .chain(m.edges.iter().flat_map(|e| &e.lines))
            .collect()
    }

    #[test]
    fn learned_states_share_their_table_states_box() {
        let m = overlay("t", &machine(), None);
        let spots: Vec<Spot> = m.nodes.iter().map(|n| n.spot).collect();
        assert_eq!(
            spots,
            [Spot::State(State::Closed), Spot::State(State::Listen), Spot::State(State::SynReceived), Spot::Unnamed]
        );
        let listen = &m.nodes[1].sections[0].lines;
        assert_eq!(
            listen.iter().map(|l| (&*l.text, &*l.note)).collect::<Vec<_>>(),
            [("listen", "#1"), ("listen listen", "#2")]
        );
    }

    #[test]
    fn every_transition_is_on_one_line() {
        let learned = machine();
        let m = overlay("t", &learned, None);
        let listed: usize = m.nodes.iter().map(|n| n.sections[0].lines.len()).sum();
        let tips: usize = all_lines(&m).iter().map(|l| l.tip.lines().count()).sum();
        assert_eq!(tips - listed, learned.transitions.len());
    }

    #[test]
    fn transitions_between_boxes_are_edges_with_the_states_taking_them() {
        let m = overlay("t", &machine(), None);
        let edge = m.edges.iter().find(|e| e.to == Spot::State(State::SynReceived)).unwrap();
        assert_eq!(edge.from, Spot::State(State::Listen));
        // Both LISTEN states take syn: one line, said to be all of them.
        assert_eq!(edge.lines.len(), 1);
        assert_eq!((&*edge.lines[0].text, &*edge.lines[0].note), ("syn / SYN|ACK(isn,nxt)", "all"));
        assert_eq!(edge.lines[0].tip.lines().count(), 2);
    }

    #[test]
    fn a_differing_transition_is_red_and_repeats_are_counted() {
        let m = overlay("t", &machine(), None);
        let syn_received = m.nodes.iter().find(|n| n.spot == Spot::State(State::SynReceived)).unwrap();
        let closing = syn_received.sections.iter().find(|s| s.title == "→ CLOSED").unwrap();
        assert_eq!(closing.lines[0].text, "rst / -");
        assert_eq!(closing.lines[0].ink.colour, RED);
        let stays = syn_received.sections.iter().find(|s| s.title == "stays").unwrap();
        assert!(stays.lines.iter().any(|l| l.text == "syn / 3×ACK(nxt,nxt)"), "{stays:?}");
        assert!(m.title.ends_with("1 transitions differ"), "{}", m.title);
    }

    #[test]
    fn what_only_the_table_does_is_dashed() {
        let learned = machine();
        let mut table = learned.clone();
        // The table answers rst in SYN-RECEIVED by going back to LISTEN.
        table.transitions[11] = step(3, "rst", "- [LISTEN]", 1, false);
        let m = overlay("t", &learned, Some(&table));
        let back = m.edges.iter().find(|e| e.from == Spot::State(State::SynReceived)).unwrap();
        assert_eq!(back.to, Spot::State(State::Listen));
        assert!(back.ink.dashed && back.lines[0].note == "table", "{back:?}");
        // Everything else the table does, the stack does too.
        assert_eq!(all_lines(&m).iter().filter(|l| l.note == "table").count(), 1);
    }

    #[test]
    fn notes_shorten_runs_of_states() {
        let tags = Tags { number: (1..=9).collect(), of: vec![9; 9] };
        let t = |from: u32| step(from, "syn", "-", 0, false);
        let group: Vec<Transition> = [0, 1, 2, 4, 6, 7].into_iter().map(t).collect();
        assert_eq!(tags.note(&group.iter().collect::<Vec<_>>()), "#1–3,5,7,8");
        let scattered: Vec<Transition> = [0, 2, 4, 6, 8].into_iter().map(t).collect();
        assert_eq!(tags.note(&scattered.iter().collect::<Vec<_>>()), "5 of 9");
    }
}
