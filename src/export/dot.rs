//! A model as a Graphviz graph (built with petgraph): states as nodes in RFC spelling, one edge
//! per row labelled `input [guard] / actions`, coloured by input kind. Node ids follow the RFC
//! order of states, so a `.dot` diff between two models means something.

use std::fmt::Write;

use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{Model, Pattern, Row, State};

/// Options for [`to_dot`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DotOptions {
    /// Leave out rows that do not change the state (drops, errors, challenge ACKs).
    pub no_loops: bool,
}

fn colour(input: Pattern) -> &'static str {
    match input {
        Pattern::Call(_) => "blue",
        Pattern::Segment { .. } => "black",
        Pattern::Timeout(_) => "red",
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `line N` for a row of the model's own file, `file:N` for one it inherits.
fn edge_label(row: &Row, own: &crate::model::Source) -> String {
    let rule = &row.rule;
    let mut label = rule.input.to_string();
    if !rule.guard.is_empty() {
        let _ = write!(label, " [{}]", rule.guard);
    }
    let actions: Vec<String> = rule.actions.iter().map(|a| a.to_string()).collect();
    if !actions.is_empty() {
        let _ = write!(label, "\n/ {}", actions.join("; "));
    }
    if row.source.same_file(own) {
        let _ = write!(label, "\n(line {}, {})", row.line, rule.cite);
    } else {
        let _ = write!(label, "\n({}, {})", row.location(), rule.cite);
    }
    label
}

/// The DOT text of `model`.
pub fn to_dot(model: &Model, options: DotOptions) -> String {
    table_graph(model, options, None)
}

/// `model` with each row's edge coloured by how often it fired (`hits[row]`): never in dashed
/// red, then from grey to green on a log scale, the count in the label. What a fuzz run left
/// untested shows at a glance.
pub fn coverage(model: &Model, hits: &[u32]) -> String {
    table_graph(model, DotOptions::default(), Some(hits))
}

fn hit_colour(hits: u32, max: u32) -> String {
    if hits == 0 {
        return "red, style=dashed".into();
    }
    let level = f64::from(hits).ln_1p() / f64::from(max.max(1)).ln_1p();
    // HSV: hue 0.33 is green; saturation grows with the count.
    format!("\"0.33 {:.2} 0.6\", penwidth={:.1}", 0.2 + 0.8 * level, 1.0 + 2.0 * level)
}

fn table_graph(model: &Model, options: DotOptions, hits: Option<&[u32]>) -> String {
    let mut graph: DiGraph<State, (usize, &Row)> = DiGraph::new();
    let mut node = [NodeIndex::end(); State::COUNT];
    for &state in model.states() {
        node[state.index()] = graph.add_node(state);
    }
    for (index, row) in model.rows().iter().enumerate() {
        let rule = &row.rule;
        if options.no_loops && rule.from == rule.to {
            continue;
        }
        graph.add_edge(node[rule.from.index()], node[rule.to.index()], (index, row));
    }
    let max = hits.map_or(0, |h| h.iter().copied().max().unwrap_or(0));
    let own = &model.table().source;
    let edge_attrs = |_: &DiGraph<State, (usize, &Row)>, edge: petgraph::graph::EdgeReference<'_, (usize, &Row)>| {
        let (index, row) = *edge.weight();
        match hits {
            None => {
                let c = colour(row.rule.input);
                format!("label=\"{}\", color={c}, fontcolor={c}", escape(&edge_label(row, own)))
            }
            Some(hits) => {
                let n = hits.get(index).copied().unwrap_or(0);
                let label = format!("{}\n{n} hits", edge_label(row, own));
                format!("label=\"{}\", color={}", escape(&label), hit_colour(n, max))
            }
        }
    };
    let node_attrs = |_: &DiGraph<State, (usize, &Row)>, (_, state): (NodeIndex, &State)| {
        let shape = if *state == State::Closed { "doublecircle" } else { "ellipse" };
        format!("label=\"{state}\", shape={shape}")
    };
    let body = Dot::with_attr_getters(&graph, &CONTENT_ONLY, &edge_attrs, &node_attrs);
    let key = match hits {
        None => "blue = user call, black = segment, red = timeout",
        Some(_) => "coverage: dashed red = never fired, grey to green = fired rarely to often",
    };
    let from = match &model.table().variant {
        Some(v) => format!("{}, a variant of {}", own.name, v.base_name),
        None => own.name.to_string(),
    };
    let caption = format!("{} ({from}): {key}", model.name());
    document(model.name(), &caption, &format!("{body:?}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;

    #[test]
    fn one_edge_per_row_and_a_node_per_state() {
        let model = Shipped::default_model().load().unwrap();
        let dot = to_dot(&model, DotOptions::default());
        assert_eq!(dot.matches(" -> ").count(), model.rows().len());
        assert_eq!(dot.matches("shape=").count(), model.states().len());
        let fewer = to_dot(&model, DotOptions { no_loops: true });
        assert!(fewer.matches(" -> ").count() < model.rows().len());
    }

    #[test]
    fn a_trace_is_one_graph() {
        let pair = (State::Closed, State::Listen);
        let dot = trace("m: p violated", (State::Closed, State::Closed), &[("B: OPEN-PASSIVE".into(), pair)]);
        assert_eq!(dot.matches("digraph").count(), 1, "{dot}");
        assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "{dot}");
        assert!(dot.contains("s0 -> s1 [label=\"B: OPEN-PASSIVE\", color=red"), "{dot}");
    }

    #[test]
    fn coverage_marks_rows_never_fired() {
        let model = Shipped::default_model().load().unwrap();
        let mut hits = vec![0; model.rows().len()];
        hits[0] = 5;
        let dot = coverage(&model, &hits);
        assert_eq!(dot.matches("style=dashed").count(), model.rows().len() - 1);
        assert!(dot.contains("5 hits"));
    }
}
