//! Breadth-first search over worlds: every state is reached by a shortest path, so the first
//! violation found is a shortest counterexample.
//!
//! Visited states are kept as 64-bit fingerprints (FxHash of the whole world) with the index of
//! their parent and the step taken, 16 bytes a state plus the hash table's own; the states
//! themselves live only in the frontier. A path is rebuilt by replaying the steps from the start,
//! which is also how the diagram is drawn. Two different worlds with one fingerprint would merge
//! (probability about n^2 / 2^65 for n states).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::{FxHashMap, FxHasher};

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
}

/// How a search ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub stats: Stats,
    pub counterexample: Option<Counterexample>,
    pub stopped: Option<Stopped>,
    /// Edge counts of the pair graph, when asked for.
    pub pairs: Option<FxHashMap<PairEdge, u64>>,
}

/// What to search and how.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub bounds: Bounds,
    pub properties: &'a [Property],
    pub limits: Limits,
    /// Count the steps between (state A, state B) pairs, for `--graph-dot`.
    pub pair_graph: bool,
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
    (world.a.state(), world.b.state())
}

/// Explores every world reachable within the request's bounds, checking its properties.
/// `interrupt` (set by Ctrl-C) stops the search cleanly with partial statistics.
pub fn bfs(model: &Model, request: Request<'_>, interrupt: &AtomicBool, progress: &dyn Progress) -> Outcome {
    let Request { bounds, properties, limits, pair_graph } = request;
    let mut pairs: Option<FxHashMap<PairEdge, u64>> = pair_graph.then(FxHashMap::default);
    let start = World::new(model, bounds);
    let mut seen: FxHashMap<u64, u32> = FxHashMap::default();
    let mut nodes: Vec<Node> = vec![Node { parent: ROOT, step: 0 }];
    seen.insert(fingerprint(&start), 0);
    let mut frontier: VecDeque<(u32, u32, World<'_>)> = VecDeque::from([(0, 0, start)]);
    let mut stats = Stats::default();
    let mut steps = Vec::new();
    let path = |nodes: &[Node], mut at: u32, steps: &mut Vec<Step>, model: &Model| -> Vec<Step> {
        let mut indices = Vec::new();
        while at != ROOT {
            let n = nodes[at as usize];
            if n.parent == ROOT {
                break;
            }
            indices.push(n.step);
            at = n.parent;
        }
        indices.reverse();
        let mut world = World::new(model, bounds);
        let mut out = Vec::new();
        for i in indices {
            world.steps(steps);
            let step = steps[usize::from(i)];
            world.apply(step, None);
            out.push(step);
        }
        out
    };
    let mut stopped = None;
    while let Some((index, depth, world)) = frontier.pop_front() {
        stats.depth = stats.depth.max(depth);
        if interrupt.load(Ordering::Relaxed) {
            stopped = Some(Stopped::Interrupted);
            frontier.push_front((index, depth, world));
            break;
        }
        world.steps(&mut steps);
        if steps.is_empty() {
            if let Some(violation) = check_final(properties, &world) {
                stats.left = frontier.len() as u64;
                let steps = path(&nodes, index, &mut steps, model);
                return Outcome {
                    stats: finish(stats, &seen, &nodes),
                    counterexample: Some(Counterexample { violation, steps }),
                    stopped,
                    pairs,
                };
            }
            continue;
        }
        let enabled = steps.clone();
        for (i, &step) in enabled.iter().enumerate() {
            let mut next = world.clone();
            let fx = next.apply(step, None);
            stats.generated += 1;
            if let Some(pairs) = pairs.as_mut() {
                *pairs.entry((pair(&world), pair(&next))).or_default() += 1;
            }
            if let Some(violation) = check_step(properties, &fx, &next) {
                let mut p = path(&nodes, index, &mut steps, model);
                p.push(step);
                stats.left = frontier.len() as u64;
                return Outcome {
                    stats: finish(stats, &seen, &nodes),
                    counterexample: Some(Counterexample { violation, steps: p }),
                    stopped,
                    pairs,
                };
            }
            let fp = fingerprint(&next);
            if seen.contains_key(&fp) {
                continue;
            }
            let id = nodes.len() as u32;
            seen.insert(fp, id);
            nodes.push(Node { parent: index, step: i as u16 });
            frontier.push_back((id, depth + 1, next));
        }
        let distinct = nodes.len() as u64;
        if distinct % 4096 < enabled.len() as u64 {
            stats.distinct = distinct;
            stats.left = frontier.len() as u64;
            progress.update(&stats);
        }
        if limits.max_states.is_some_and(|m| distinct >= m) {
            stopped = Some(Stopped::MaxStates);
            break;
        }
        if limits.mem_cap.is_some_and(|cap| estimate_bytes(&seen, &nodes, frontier.len()) >= cap) {
            stopped = Some(Stopped::MemCap);
            break;
        }
    }
    stats.left = frontier.len() as u64;
    Outcome { stats: finish(stats, &seen, &nodes), counterexample: None, stopped, pairs }
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
    pub world: World<'m>,
    pub start: (State, State),
    pub path: Vec<(String, (State, State))>,
}

/// Replays `steps` from the start.
pub fn replay<'m>(model: &'m Model, bounds: Bounds, steps: &[Step]) -> Replayed<'m> {
    let mut world = World::new(model, bounds);
    let start = pair(&world);
    let mut entries = Vec::new();
    let mut path = Vec::new();
    for &step in steps {
        let label = world.describe(step);
        world.apply(step, Some(&mut entries));
        path.push((label, pair(&world)));
    }
    Replayed { entries, world, start, path }
}
