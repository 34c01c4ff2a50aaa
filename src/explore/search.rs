//! Breadth-first search over worlds: every state is reached by a shortest path, so the first
//! violation found is a shortest counterexample.
//!
//! Visited states are kept as 64-bit fingerprints (FxHash of the whole world) with the index of
//! their parent and the step taken, 16 bytes a state plus the hash table's own; the states
//! themselves live only in the frontier. A path is rebuilt by replaying the steps from the start,
//! which is also how the diagram is drawn. Two different worlds with one fingerprint would merge
//! (probability about n^2 / 2^65 for n states).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::property::{check_final, check_step, Property, Violation};
use super::world::{Bounds, Step, World};
use crate::model::{Model, State};
use crate::simulate::Entry;

/// Limits of a search.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Stop after this many distinct states.
    pub max_states: Option<u64>,
    /// Stop when the visited set and frontier are estimated to exceed this many bytes.
    pub mem_cap: Option<u64>,
}

/// A step of the reachable graph collapsed to (state of A, state of B) pairs.
pub type PairEdge = ((State, State), (State, State));

/// What the search reports while it runs (states, depth, queue), for a progress bar.
pub trait Progress {
    fn update(&self, stats: &Stats);
}

impl Progress for () {
    fn update(&self, _: &Stats) {}
}

/// Why a search stopped before exploring everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    MaxStates,
    MemCap,
    Interrupted,
}

/// TLC-style figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Successor states generated (with repeats).
    pub generated: u64,
    /// Distinct states.
    pub distinct: u64,
    /// Depth of the deepest level completed or reached.
    pub depth: u32,
    /// States still waiting in the frontier when the search ended.
    pub left: u64,
    /// Estimated bytes per stored state (fingerprint table and parent links).
    pub bytes_per_state: u64,
}

/// A path to a violation.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub violation: Violation,
    pub steps: Vec<Step>,
    /// For a liveness violation: the steps from this index on repeat forever (a lasso).
    pub loop_from: Option<usize>,
}

/// How a search ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub stats: Stats,
    pub counterexample: Option<Counterexample>,
    pub stopped: Option<Stopped>,
    /// Edge counts of the pair graph, when asked for.
    pub pairs: Option<FxHashMap<PairEdge, u64>>,
    /// The whole explored graph, when asked for: each state's pair, and the steps between states
    /// with their fairness class (`None`: a loss or duplication).
    pub full: Option<FullGraph>,
}

/// The explored graph, state by state.
#[derive(Clone, Debug, Default)]
pub struct FullGraph {
    pub states: Vec<(State, State)>,
    pub edges: Vec<(u32, u32, Option<u8>)>,
}

/// What to search and how.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub bounds: Bounds,
    pub properties: &'a [Property],
    pub limits: Limits,
    /// Count the steps between (state A, state B) pairs, for `--graph-dot`.
    pub pair_graph: bool,
    /// Keep the whole graph, for `--graph-dot --graph-full`.
    pub full_graph: bool,
    /// Worker threads (at least 1).
    pub threads: usize,
}

fn fingerprint(world: &World<'_>) -> u64 {
    let mut h = FxHasher::default();
    world.hash(&mut h);
    h.finish()
}

/// A visited state: where it was reached from and how.
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    step: u16,
}

const ROOT: u32 = u32::MAX;

fn pair(world: &World<'_>) -> (State, State) {
    (world.ends.a.state(), world.ends.b.state())
}

/// What one worker found expanding a contiguous slice of a BFS level.
struct Expanded<'m> {
    /// New-looking successors: (parent id, step index, fingerprint, world).
    successors: Vec<(u32, u16, u64, World<'m>)>,
    /// The slice's earliest violation: position in the level, the violation, and the step that
    /// caused it (`None`: the state itself has no successor and is judged final).
    violation: Option<(usize, Violation, Option<u16>)>,
    generated: u64,
    pairs: FxHashMap<PairEdge, u64>,
    /// With liveness: every step (parent, step index, fairness class, target fingerprint)…
    edges: Vec<(u32, u16, Option<u8>, u64)>,
    /// …and every expanded state's marks.
    marks: Vec<Mark>,
}

/// What the graph keeps of an expanded state: its fairness classes enabled (bit mask), whether
/// both endpoints are idle, and their states.
#[derive(Clone, Copy)]
struct Mark {
    id: u32,
    enabled: u8,
    idle: bool,
    pair: (State, State),
}

/// Expands `slice` (starting at `offset` in its level), checking every step.
fn expand<'m>(
    slice: &[(u32, World<'m>)],
    offset: usize,
    seen: &FxHashMap<u64, u32>,
    properties: &[Property],
    (pair_graph, record): (bool, bool),
) -> Expanded<'m> {
    let mut out = Expanded {
        successors: Vec::new(),
        violation: None,
        generated: 0,
        pairs: FxHashMap::default(),
        edges: Vec::new(),
        marks: Vec::new(),
    };
    let mut local: FxHashSet<u64> = FxHashSet::default();
    let mut steps = Vec::new();
    for (k, (id, world)) in slice.iter().enumerate() {
        world.steps(&mut steps);
        if record {
            let enabled = steps.iter().filter_map(|&s| world.class(s)).fold(0u8, |m, c| m | 1 << c);
            out.marks.push(Mark { id: *id, enabled, idle: world.idle(), pair: pair(world) });
        }
        if steps.is_empty() {
            if let Some(v) = check_final(properties, world) {
                out.violation = Some((offset + k, v, None));
                return out;
            }
            continue;
        }
        for (i, &step) in steps.iter().enumerate() {
            let mut next = world.clone();
            let fx = next.apply(step, None);
            out.generated += 1;
            if pair_graph {
                *out.pairs.entry((pair(world), pair(&next))).or_default() += 1;
            }
            if let Some(v) = check_step(properties, &fx, &next) {
                out.violation = Some((offset + k, v, Some(i as u16)));
                return out;
            }
            let fp = fingerprint(&next);
            if record {
                out.edges.push((*id, i as u16, world.class(step), fp));
            }
            // Earlier levels are read-only while a level is expanded: drop their states here.
            if !seen.contains_key(&fp) && local.insert(fp) {
                out.successors.push((*id, i as u16, fp, next));
            }
        }
    }
    out
}

/// The step indices that lead from the start to node `at`.
fn indices_to(nodes: &[Node], mut at: u32) -> Vec<u16> {
    let mut indices = Vec::new();
    while at != ROOT && nodes[at as usize].parent != ROOT {
        indices.push(nodes[at as usize].step);
        at = nodes[at as usize].parent;
    }
    indices.reverse();
    indices
}

/// The steps that `indices` (each into the enabled steps of the world reached so far) stand for.
fn steps_of(model: &Model, bounds: Bounds, indices: &[u16]) -> Vec<Step> {
    let mut world = World::new(model, bounds);
    let mut enabled = Vec::new();
    indices
        .iter()
        .map(|&i| {
            world.steps(&mut enabled);
            let step = enabled[usize::from(i)];
            world.apply(step, None);
            step
        })
        .collect()
}

/// Explores every world reachable within the request's bounds, checking its properties.
///
/// Level by level: each level is split into contiguous slices expanded in parallel, then merged
/// in order, so the states found, their numbering and the counterexample reported do not depend
/// on the number of threads. `interrupt` (set by Ctrl-C) stops the search cleanly between levels.
pub fn bfs(model: &Model, request: Request<'_>, interrupt: &AtomicBool, progress: &dyn Progress) -> Outcome {
    let Request { bounds, properties, limits, pair_graph, full_graph, threads } = request;
    let threads = threads.max(1);
    let mut pairs: Option<FxHashMap<PairEdge, u64>> = pair_graph.then(FxHashMap::default);
    let start = World::new(model, bounds);
    let mut seen: FxHashMap<u64, u32> = FxHashMap::default();
    let mut nodes: Vec<Node> = vec![Node { parent: ROOT, step: 0 }];
    seen.insert(fingerprint(&start), 0);
    let mut level: Vec<(u32, World<'_>)> = vec![(0, start)];
    let mut stats = Stats::default();
    let mut stopped = None;
    let liveness = properties.contains(&Property::EventuallyClosed);
    let record = liveness || full_graph;
    let mut graph = Graph::default();
    while !level.is_empty() {
        if interrupt.load(Ordering::Relaxed) {
            stopped = Some(Stopped::Interrupted);
            break;
        }
        let slice = level.len().div_ceil(threads).max(256);
        let known = &seen;
        let results: Vec<Expanded<'_>> = if level.len() <= slice {
            vec![expand(&level, 0, &seen, properties, (pair_graph, record))]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = level
                    .chunks(slice)
                    .enumerate()
                    .map(|(c, part)| {
                        scope.spawn(move || expand(part, c * slice, known, properties, (pair_graph, record)))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
            })
        };
        for r in &results {
            stats.generated += r.generated;
            if record {
                graph.add(&r.edges, &r.marks);
            }
            if let Some(all) = pairs.as_mut() {
                for (edge, n) in &r.pairs {
                    *all.entry(*edge).or_default() += n;
                }
            }
        }
        if let Some((position, violation, step)) = results.iter().find_map(|r| r.violation.clone()) {
            let mut indices = indices_to(&nodes, level[position].0);
            indices.extend(step);
            let steps = steps_of(model, bounds, &indices);
            stats.left = level.len() as u64;
            return Outcome {
                stats: finish(stats, &seen, &nodes),
                counterexample: Some(Counterexample { violation, steps, loop_from: None }),
                stopped,
                pairs,
                full: full_graph.then(|| graph.full(&seen, nodes.len())),
            };
        }
        let mut next_level = Vec::new();
        for r in results {
            for (parent, step, fp, world) in r.successors {
                if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(fp) {
                    let id = nodes.len() as u32;
                    slot.insert(id);
                    nodes.push(Node { parent, step });
                    next_level.push((id, world));
                }
            }
        }
        level = next_level;
        if !level.is_empty() {
            stats.depth += 1;
        }
        stats.distinct = nodes.len() as u64;
        stats.left = level.len() as u64;
        progress.update(&stats);
        if limits.max_states.is_some_and(|m| stats.distinct >= m) {
            stopped = Some(Stopped::MaxStates);
            break;
        }
        if limits.mem_cap.is_some_and(|cap| estimate_bytes(&seen, &nodes, level.len()) >= cap) {
            stopped = Some(Stopped::MemCap);
            break;
        }
    }
    stats.left = level.len() as u64;
    let full = full_graph.then(|| graph.full(&seen, nodes.len()));
    let counterexample = if liveness && stopped.is_none() {
        graph.fair_cycle(&seen, nodes.len()).map(|(entry, cycle)| {
            let mut indices = indices_to(&nodes, entry);
            let loop_from = indices.len();
            indices.extend(cycle);
            let steps = steps_of(model, bounds, &indices);
            let violation = Violation {
                property: Property::EventuallyClosed,
                what: format!(
                    "a fair run repeats the last {} steps forever without both endpoints CLOSED or LISTEN",
                    steps.len() - loop_from
                ),
            };
            Counterexample { violation, steps, loop_from: Some(loop_from) }
        })
    } else {
        None
    };
    Outcome { stats: finish(stats, &seen, &nodes), counterexample, stopped, pairs, full }
}

/// A step between two numbered states, with the step's index and fairness class.
#[derive(Clone, Copy)]
struct Edge {
    from: u32,
    to: u32,
    step: u16,
    class: Option<u8>,
}

/// The reachable graph, kept for liveness: edges with their fairness class, and per state the
/// classes enabled there and whether both endpoints are idle.
#[derive(Default)]
struct Graph {
    edges: Vec<(u32, u16, Option<u8>, u64)>,
    marks: Vec<Mark>,
}

impl Graph {
    fn add(&mut self, edges: &[(u32, u16, Option<u8>, u64)], marks: &[Mark]) {
        self.edges.extend_from_slice(edges);
        self.marks.extend_from_slice(marks);
    }

    /// Edges between numbered states (targets looked up by fingerprint).
    fn resolve(&self, seen: &FxHashMap<u64, u32>) -> Vec<Edge> {
        self.edges
            .iter()
            .filter_map(|&(from, step, class, fp)| seen.get(&fp).map(|&to| Edge { from, to, step, class }))
            .collect()
    }

    fn full(&self, seen: &FxHashMap<u64, u32>, states: usize) -> FullGraph {
        let mut pairs = vec![(State::Closed, State::Closed); states];
        for m in &self.marks {
            pairs[m.id as usize] = m.pair;
        }
        let edges = self.resolve(seen).into_iter().map(|e| (e.from, e.to, e.class)).collect();
        FullGraph { states: pairs, edges }
    }

    /// A reachable cycle that is fair and never idle: its entry state and the step indices
    /// that go round it. Weak fairness, judged per strongly connected component (Tarjan): a
    /// class enabled in every state of the component must be taken inside it.
    fn fair_cycle(&self, seen: &FxHashMap<u64, u32>, states: usize) -> Option<(u32, Vec<u16>)> {
        use petgraph::graph::{DiGraph, NodeIndex};
        let mut enabled = vec![0u8; states];
        let mut idle = vec![true; states];
        for m in &self.marks {
            enabled[m.id as usize] = m.enabled;
            idle[m.id as usize] = m.idle;
        }
        let edges = self.resolve(seen);
        let mut g: DiGraph<(), usize, u32> = DiGraph::with_capacity(states, edges.len());
        for _ in 0..states {
            g.add_node(());
        }
        for (k, e) in edges.iter().enumerate() {
            g.add_edge(NodeIndex::new(e.from as usize), NodeIndex::new(e.to as usize), k);
        }
        let mut component = vec![usize::MAX; states];
        let sccs = petgraph::algo::tarjan_scc(&g);
        for (c, scc) in sccs.iter().enumerate() {
            for n in scc {
                component[n.index()] = c;
            }
        }
        let mut inside: Vec<Vec<Edge>> = vec![Vec::new(); sccs.len()];
        for e in &edges {
            let c = component[e.from as usize];
            if c == component[e.to as usize] {
                inside[c].push(*e);
            }
        }
        let mut best: Option<(u32, Vec<u16>)> = None;
        for (c, scc) in sccs.iter().enumerate() {
            let inside = &inside[c];
            if inside.is_empty() || scc.iter().any(|n| idle[n.index()]) {
                continue;
            }
            let always = scc.iter().fold(0xffu8, |m, n| m & enabled[n.index()]);
            let taken = inside.iter().filter_map(|e| e.class).fold(0u8, |m, cl| m | 1 << cl);
            if always & !taken != 0 {
                continue; // some class is always enabled here but never taken: not a fair cycle
            }
            let entry = scc.iter().map(|n| n.index() as u32).min().unwrap_or(0);
            if best.as_ref().is_some_and(|(b, _)| *b <= entry) {
                continue;
            }
            let ever = scc.iter().fold(0u8, |m, n| m | enabled[n.index()]);
            if let Some(cycle) = Self::tour(entry, inside, taken, ever & !taken, &enabled) {
                best = Some((entry, cycle));
            }
        }
        best
    }

    /// A closed walk from `entry` through `inside` edges that is itself fair: it takes an edge of
    /// every class in `take`, and for every class in `avoid` (never taken in the component) it
    /// passes a state where that class is disabled. Shortest hops between those goals.
    fn tour(entry: u32, inside: &[Edge], take: u8, avoid: u8, enabled: &[u8]) -> Option<Vec<u16>> {
        let mut out_edges: FxHashMap<u32, Vec<Edge>> = FxHashMap::default();
        for e in inside {
            out_edges.entry(e.from).or_default().push(*e);
        }
        let hop = |from: u32, goal: &dyn Fn(&Edge) -> bool| -> Option<(Vec<u16>, u32)> {
            // Breadth-first over the component's edges until an edge satisfying `goal` is taken.
            let mut queue = std::collections::VecDeque::from([(from, Vec::new())]);
            let mut visited = FxHashSet::from_iter([from]);
            while let Some((at, path)) = queue.pop_front() {
                for e in out_edges.get(&at).into_iter().flatten() {
                    let mut p = path.clone();
                    p.push(e.step);
                    if goal(e) {
                        return Some((p, e.to));
                    }
                    if visited.insert(e.to) {
                        queue.push_back((e.to, p));
                    }
                }
            }
            None
        };
        let mut at = entry;
        let mut walk = Vec::new();
        for class in (0..8).filter(|c| take & (1 << c) != 0) {
            let (p, to) = hop(at, &|e| e.class == Some(class))?;
            walk.extend(p);
            at = to;
        }
        for class in (0..8).filter(|c| avoid & (1 << c) != 0) {
            if enabled[at as usize] & (1 << class) != 0 {
                let (p, to) = hop(at, &|e| enabled[e.to as usize] & (1 << class) == 0)?;
                walk.extend(p);
                at = to;
            }
        }
        let (p, _) = hop(at, &|e| e.to == entry)?;
        walk.extend(p);
        Some(walk)
    }
}

fn estimate_bytes(seen: &FxHashMap<u64, u32>, nodes: &[Node], frontier: usize) -> u64 {
    // Table slots (key, value, control byte) plus parent links; frontier worlds ~1 KiB each.
    let table = seen.capacity() as u64 * (8 + 4 + 1);
    table + std::mem::size_of_val(nodes) as u64 + frontier as u64 * 1024
}

fn finish(mut stats: Stats, seen: &FxHashMap<u64, u32>, nodes: &[Node]) -> Stats {
    stats.distinct = nodes.len() as u64;
    stats.bytes_per_state = estimate_bytes(seen, nodes, 0) / stats.distinct.max(1);
    stats
}

/// A path replayed: the diagram's entries, the final world, and each step with the state pair
/// it led to (for `--trace-dot`).
pub struct Replayed<'m> {
    pub entries: Vec<Entry>,
    /// For each step, the index of its first entry.
    pub step_starts: Vec<usize>,
    pub world: World<'m>,
    pub start: (State, State),
    pub path: Vec<(String, (State, State))>,
}

/// Replays `steps` from the start.
pub fn replay<'m>(model: &'m Model, bounds: Bounds, steps: &[Step]) -> Replayed<'m> {
    let mut world = World::new(model, bounds);
    let start = pair(&world);
    let mut entries = Vec::new();
    let mut step_starts = Vec::new();
    let mut path = Vec::new();
    for &step in steps {
        step_starts.push(entries.len());
        let label = world.describe(step);
        world.apply(step, Some(&mut entries));
        path.push((label, pair(&world)));
    }
    Replayed { entries, step_starts, world, start, path }
}
