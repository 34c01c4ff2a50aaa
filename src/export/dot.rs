//! A model as a Graphviz graph (built with petgraph): states as nodes in RFC spelling, one edge
//! per row labelled `input [guard] / actions`, coloured by input kind. Node ids follow the RFC
//! order of states, so a `.dot` diff between two models means something.

use std::fmt::Write;

use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

use super::machine::{Fold, Machine, Paint};
use crate::model::{Model, State};

/// Options for [`to_dot`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DotOptions {
    /// Leave out rows that do not change the state (drops, errors, challenge ACKs).
    pub no_loops: bool,
}

/// The DOT text of `model`: the state machine on one page ([`super::machine`]).
pub fn to_dot(model: &Model, options: DotOptions) -> String {
    Machine::of_model(model, Paint::Kind, Fold { no_loops: options.no_loops }).dot()
}

/// `model` with each row coloured by how often it fired (`hits[row]`): never in dashed red,
/// then from pale to deep green on a log scale, the count beside it. What a fuzz run left
/// untested shows at a glance.
pub fn coverage(model: &Model, hits: &[u32]) -> String {
    Machine::of_model(model, Paint::Coverage(hits), Fold::default()).dot()
}

/// A DOT string's text, quotes and backslashes escaped.
pub(crate) fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Our attributes only, and no `digraph {}` wrapper: [`document`] adds it with a caption.
const CONTENT_ONLY: [Config; 3] = [Config::EdgeNoLabel, Config::NodeNoLabel, Config::GraphContentOnly];

/// A complete DOT document around `body`: name, fonts, caption.
fn document(name: &str, caption: &str, body: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(name));
    let _ = writeln!(out, "    rankdir=TB; fontname=\"Helvetica\";");
    let _ = writeln!(out, "    node [fontname=\"Helvetica\"]; edge [fontname=\"Helvetica\", fontsize=9];");
    let _ = writeln!(out, "    label=\"{}\";", escape(caption));
    out.push_str(body);
    out.push_str("}\n");
    out
}

/// The states of A and B together.
pub type Pair = (State, State);

/// The reachable graph collapsed to (state of A, state of B) pairs, each edge labelled with how
/// many steps it stands for; the edges of `highlight` (a counterexample's path) drawn in red.
pub fn pair_graph(title: &str, edges: &[(Pair, Pair, u64)], highlight: &[(Pair, Pair)]) -> String {
    let mut nodes: Vec<(State, State)> = edges.iter().flat_map(|(a, b, _)| [*a, *b]).collect();
    nodes.sort();
    nodes.dedup();
    let mut graph: DiGraph<(State, State), u64> = DiGraph::new();
    let index: Vec<NodeIndex> = nodes.iter().map(|&n| graph.add_node(n)).collect();
    let at = |n: &(State, State)| index[nodes.binary_search(n).unwrap_or(0)];
    for (a, b, count) in edges {
        graph.add_edge(at(a), at(b), *count);
    }
    let edge_attrs = |g: &DiGraph<(State, State), u64>, e: petgraph::graph::EdgeReference<'_, u64>| {
        use petgraph::visit::EdgeRef;
        let on_path = highlight.contains(&(g[e.source()], g[e.target()]));
        format!("label=\"{}\"{}", e.weight(), if on_path { ", color=red, penwidth=2" } else { "" })
    };
    let node_attrs = |_: &DiGraph<(State, State), u64>, (_, (a, b)): (NodeIndex, &(State, State))| {
        let on_path = highlight.iter().any(|(x, y)| *x == (*a, *b) || *y == (*a, *b));
        let style = if on_path { ", color=red, fontcolor=red" } else { "" };
        format!("label=\"A: {a}\\nB: {b}\", shape=box{style}")
    };
    let body = Dot::with_attr_getters(&graph, &CONTENT_ONLY, &edge_attrs, &node_attrs);
    document(title, &format!("{title}: reachable (A, B) state pairs, edges counted"), &format!("{body:?}"))
}

/// The whole explored graph: one node per distinct state (numbered in BFS order, labelled with
/// both endpoints' states), one edge per step, labelled with its kind.
pub fn full_graph(title: &str, states: &[Pair], edges: &[(u32, u32, Option<u8>)]) -> String {
    let mut out = String::new();
    for (i, (a, b)) in states.iter().enumerate() {
        let _ = writeln!(out, "    s{i} [label=\"{i}\\nA: {a}\\nB: {b}\", shape=box];");
    }
    for (from, to, class) in edges {
        let label = match class {
            Some(0) => "tick",
            Some(1) => "to A",
            Some(2) => "to B",
            Some(3) => "user A",
            Some(4) => "user B",
            _ => "lose/dup",
        };
        let _ = writeln!(out, "    s{from} -> s{to} [label=\"{label}\"];");
    }
    document(title, &format!("{title}: every explored state, numbered in breadth-first order"), &out)
}

/// A counterexample as a chain of (A, B) state pairs, each edge the step taken.
pub fn trace(title: &str, start: (State, State), path: &[(String, (State, State))]) -> String {
    // The header is `document`'s; a second `digraph` line inside it was a Graphviz syntax error.
    let mut out = String::from("    node [shape=box];\n");
    let node = |i: usize, (a, b): (State, State)| format!("    s{i} [label=\"{i}: A {a}\\nB {b}\"];");
    let _ = writeln!(out, "{}", node(0, start));
    for (i, (label, pair)) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let _ = writeln!(out, "{}", node(i + 1, *pair));
        let style = if last { ", color=red, fontcolor=red" } else { "" };
        let _ = writeln!(out, "    s{i} -> s{} [label=\"{}\"{style}];", i + 1, escape(label));
    }
    document(title, title, &out)
}

/// Above this many states a learned machine's edges carry their words as tooltips, not labels,
/// and `dot` is told to stop its crossing and ranking searches early: laid out with labels, a
/// 288-state smoltcp machine (1,708 edges) did not finish in 5 minutes; without, it takes
/// seconds. Nobody reads that many labels on one page anyway (`--svg` groups the states by table
/// state instead).
const LABELLED_STATES: usize = 60;

/// A learned machine ([`crate::learn::Machine`]): states named by the table state the stack
/// reported (else by their access word), the initial one doubled; transitions between the same
/// two states share one edge labelled `input / output` per line, and those that differ from the
/// table's projection get an edge of their own in red. A large machine's edges are unlabelled
/// ([`LABELLED_STATES`]): their words are tooltips, which an SVG rendering keeps.
pub fn learned(title: &str, machine: &crate::learn::Machine) -> String {
    use std::collections::BTreeMap;
    let labelled = machine.states.len() <= LABELLED_STATES;
    let mut out = String::new();
    if !labelled {
        out.push_str("    mclimit=0.1; nslimit=1; nslimit1=1; remincross=false;\n");
    }
    for state in &machine.states {
        let shape = if state.id == 0 { "doublecircle" } else { "ellipse" };
        let _ = writeln!(out, "    s{} [label=\"{}\", shape={shape}];", state.id, escape(&state.name));
    }
    let mut edges: BTreeMap<(u32, u32, bool), Vec<String>> = BTreeMap::new();
    for t in &machine.transitions {
        edges.entry((t.from, t.to, t.differs)).or_default().push(format!("{} / {}", t.input, t.output));
    }
    for ((from, to, differs), lines) in edges {
        let label: Vec<String> = lines.iter().map(|l| escape(l)).collect();
        let style = if differs { ", color=red, fontcolor=red, penwidth=2" } else { "" };
        let words = if labelled { "label" } else { "tooltip" };
        let _ = writeln!(out, "    s{from} -> s{to} [{words}=\"{}\\l\"{style}];", label.join("\\l"));
    }
    let differing = machine.transitions.iter().filter(|t| t.differs).count();
    let unlabelled = if labelled { "" } else { "; each edge's transitions are its tooltip" };
    let caption = format!(
        "{title}: {} states, {} inputs; {differing} transitions differ from the table (red){unlabelled}",
        machine.states.len(),
        machine.inputs.len()
    );
    document(title, &caption, &out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;

    #[test]
    fn the_model_is_one_pinned_page() {
        let model = Shipped::default_model().load().unwrap();
        let dot = to_dot(&model, DotOptions::default());
        assert_eq!(dot.matches("!\", label=<").count(), model.states().len());
        let fewer = to_dot(&model, DotOptions { no_loops: true });
        assert!(fewer.len() < dot.len());
    }

    #[test]
    fn a_trace_is_one_graph() {
        let pair = (State::Closed, State::Listen);
        let dot = trace("m: p violated", (State::Closed, State::Closed), &[("B: OPEN-PASSIVE".into(), pair)]);
        assert_eq!(dot.matches("digraph").count(), 1, "{dot}");
        assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "{dot}");
        assert!(dot.contains("s0 -> s1 [label=\"B: OPEN-PASSIVE\", color=red"), "{dot}");
    }

    /// A chain of `n` learned states, each transition differing from the table.
    fn chain(n: u32) -> crate::learn::Machine {
        use crate::learn::{Machine, MachineState, Transition};
        let state = |id| MachineState { id, table_state: None, access: vec![], name: format!("q{id}") };
        let step = |from| Transition { from, input: "syn".into(), output: "RST".into(), to: from + 1, differs: true };
        Machine {
            inputs: vec!["syn".into()],
            states: (0..n).map(state).collect(),
            transitions: (0..n - 1).map(step).collect(),
        }
    }

    #[test]
    fn a_large_learned_machine_keeps_its_words_in_tooltips() {
        let small = learned("s", &chain(3));
        assert!(small.contains("s0 -> s1 [label=\"syn / RST\\l\", color=red"), "{small}");
        assert!(!small.contains("nslimit"), "{small}");
        let large = learned("s", &chain(LABELLED_STATES as u32 + 1));
        assert!(large.contains("s0 -> s1 [tooltip=\"syn / RST\\l\", color=red"), "{large}");
        assert!(!large.contains("label=\"syn"), "{large}");
        assert!(large.contains("nslimit=1;") && large.contains("transitions are its tooltip"), "{large}");
    }

    #[test]
    fn coverage_marks_rows_never_fired() {
        let model = Shipped::default_model().load().unwrap();
        let mut hits = vec![0; model.rows().len()];
        hits[0] = 5;
        let dot = coverage(&model, &hits);
        assert!(dot.contains("×5"), "{dot}");
        assert!(dot.contains("style=dashed"));
    }
}
