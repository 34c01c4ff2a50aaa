//! Breadth-first search over worlds: every state is reached by a shortest path, so the first
//! violation found is a shortest counterexample.
//!
//! Visited states are kept as 64-bit fingerprints (of what `World`'s `Hash` feeds, FxHash per
//! part, mixed) with the index of their parent and the step taken, about 19 to 25 bytes a state
//! with the table. The states themselves live only in the frontier, packed losslessly
//! ([`World::pack`], a few hundred bytes), and are unpacked once each into a reusable world per
//! worker; each step is taken in place in a copy and undone ([`World::restore`]). A path is
//! rebuilt by replaying the steps from the start, which is also how the diagram is drawn. Two
//! different worlds with one fingerprint would merge (probability about n^2 / 2^65 for n
//! states). The graph kept for liveness is in compressed sparse rows, 7 bytes a step.

use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::property::{check_final, check_step, Property, Violation};
use super::world::{Bounds, Effects, Step, World};
use crate::model::{Model, State};
use crate::simulate::{Entry, Side};

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
    /// Bytes per stored state: fingerprint table and parent links.
    pub bytes_per_state: u64,
    /// Bytes per state of the reachable graph kept for liveness (or `--graph-full`); 0 without.
    pub graph_bytes_per_state: u64,
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

/// The fingerprint of a world: of what its `Hash` feeds (so the same worlds meet), put
/// together from hashes of its three parts, endpoint A, endpoint B and the rest, so a step that
/// leaves an endpoint alone does not hash it again.
fn fingerprint(world: &World<'_>) -> u64 {
    combine(endpoint_hash(world, Side::A), endpoint_hash(world, Side::B), rest_hash(world))
}

fn combine(a: u64, b: u64, rest: u64) -> u64 {
    mix(mix(mix(a) ^ b.rotate_left(21)) ^ rest.rotate_left(42))
}

/// MurmurHash3's finalizer: every input bit affects every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn endpoint_hash(world: &World<'_>, side: Side) -> u64 {
    let mut h = FxHasher::default();
    world.endpoint(side).hash_at(world.now, &mut h);
    h.finish()
}

fn rest_hash(world: &World<'_>) -> u64 {
    let mut h = FxHasher::default();
    world.hash_rest(&mut h);
    h.finish()
}

const ROOT: u32 = u32::MAX;
const EMPTY: u32 = u32::MAX;

fn pair(world: &World<'_>) -> (State, State) {
    (world.ends.a.state(), world.ends.b.state())
}

/// The visited states: per state its fingerprint, parent and step index (14 bytes), and an
/// open-addressing table of state numbers keyed by fingerprint (4 bytes a slot, at most 3/4
/// full): about 19 to 25 bytes a state, linear in the states.
struct Seen {
    fps: Vec<u64>,
    parent: Vec<u32>,
    step: Vec<u16>,
    slots: Vec<u32>,
    shift: u32,
}

impl Seen {
    fn new() -> Self {
        Seen { fps: Vec::new(), parent: Vec::new(), step: Vec::new(), slots: vec![EMPTY; 1 << 10], shift: 64 - 10 }
    }

    fn len(&self) -> usize {
        self.fps.len()
    }

    fn home(&self, fp: u64) -> usize {
        (fp.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    fn get(&self, fp: u64) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        loop {
            let id = self.slots[i];
            if id == EMPTY {
                return None;
            }
            if self.fps[id as usize] == fp {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// The state numbered for `fp`, numbering it (reached from `parent` by step `step`) if new.
    fn insert(&mut self, fp: u64, parent: u32, step: u16) -> (u32, bool) {
        if (self.len() + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        loop {
            let id = self.slots[i];
            if id == EMPTY {
                let id = self.len() as u32;
                self.slots[i] = id;
                self.fps.push(fp);
                self.parent.push(parent);
                self.step.push(step);
                return (id, true);
            }
            if self.fps[id as usize] == fp {
                return (id, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        self.slots = vec![EMPTY; size];
        self.shift -= 1;
        let mask = size - 1;
        for (id, &fp) in self.fps.iter().enumerate() {
            let mut i = self.home(fp);
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = id as u32;
        }
    }

    fn bytes(&self) -> u64 {
        (self.slots.capacity() * 4 + self.fps.capacity() * 8 + self.parent.capacity() * 4 + self.step.capacity() * 2)
            as u64
    }
}

/// Packed worlds in one buffer.
#[derive(Default)]
struct Packed {
    bytes: Vec<u8>,
    /// Where each world's bytes end.
    ends: Vec<usize>,
}

impl Packed {
    fn get(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.bytes[start..self.ends[k]]
    }

    /// Packs a world at the end.
    fn push_with(&mut self, pack: impl FnOnce(&mut Vec<u8>) -> usize) {
        pack(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn heap_bytes(&self) -> u64 {
        (self.bytes.capacity() + self.ends.capacity() * 8) as u64
    }
}

/// A BFS level: its states, packed in the buffers the workers wrote them to (no copy), with
/// their state numbers, in the order they were numbered.
#[derive(Default)]
struct Level {
    parts: Vec<Packed>,
    /// (state number, part, index in the part).
    states: Vec<(u32, u32, u32)>,
}

impl Level {
    fn len(&self) -> usize {
        self.states.len()
    }

    fn get(&self, k: usize) -> (u32, &[u8]) {
        let (id, part, i) = self.states[k];
        (id, self.parts[part as usize].get(i as usize))
    }

    fn heap_bytes(&self) -> u64 {
        self.parts.iter().map(Packed::heap_bytes).sum::<u64>() + self.states.capacity() as u64 * 12
    }
}

/// Where a recorded step leads: a state numbered before this level, or the `k`th new-looking
/// successor found by the same worker.
#[derive(Clone, Copy)]
enum Target {
    Known(u32),
    New(u32),
}

/// What one worker found expanding its chunks of a BFS level, in the order it took them (which
/// is the chunks' order). Its buffers are kept from level to level.
#[derive(Default)]
struct Expanded {
    /// The chunks taken: the chunk's number and where its part of each list below ends.
    chunks: Vec<Chunk>,
    /// New-looking successors: (parent id, step index, fingerprint), packed in `packed`.
    successors: Vec<(u32, u16, u64)>,
    packed: Packed,
    /// The earliest violation: position in the level, the violation, and the step that caused
    /// it (`None`: the state itself has no successor and is judged final). The worker takes no
    /// chunk after it.
    violation: Option<(usize, Violation, Option<u16>)>,
    /// With `--graph-dot`: each step's pair of endpoint states before and after.
    pair_steps: Vec<PairEdge>,
    /// With liveness: every expanded state's marks, with how many of the following `edges`
    /// are its steps…
    marks: Vec<(Mark, u32)>,
    /// …and those steps (step index, fairness class, target).
    edges: Vec<(u16, Option<u8>, Target)>,
    /// The new-looking successors' fingerprints, numbered in `successors`.
    local: FxHashMap<u64, u32>,
    /// The state number given to each of `successors` at the merge.
    numbered: Vec<u32>,
}

/// A chunk of a level expanded by a worker: its number, where its entries in the worker's
/// lists end, and how many steps it generated.
#[derive(Clone, Copy)]
struct Chunk {
    index: usize,
    successors: usize,
    pair_steps: usize,
    marks: usize,
    edges: usize,
    generated: u64,
}

impl Expanded {
    fn clear(&mut self) {
        self.chunks.clear();
        self.successors.clear();
        self.packed.clear();
        self.violation = None;
        self.pair_steps.clear();
        self.marks.clear();
        self.edges.clear();
        self.local.clear();
        self.numbered.clear();
    }

    /// Bytes held, roughly (the buffers are kept for the next level).
    fn heap_bytes(&self) -> u64 {
        let lists = self.successors.capacity() * 16
            + self.pair_steps.capacity() * 4
            + self.marks.capacity() * std::mem::size_of::<(Mark, u32)>()
            + self.edges.capacity() * std::mem::size_of::<(u16, Option<u8>, Target)>()
            + self.local.capacity() * 13
            + self.numbered.capacity() * 4;
        self.packed.heap_bytes() + lists as u64
    }

    /// Where chunk `c` (an index into `chunks`) starts in each list.
    fn start(&self, c: usize) -> Chunk {
        match c.checked_sub(1) {
            Some(before) => self.chunks[before],
            None => Chunk { index: 0, successors: 0, pair_steps: 0, marks: 0, edges: 0, generated: 0 },
        }
    }
}

/// States of a level per chunk: the unit of work a worker takes.
const CHUNK: usize = 512;

/// What the graph keeps of an expanded state: its fairness classes enabled (bit mask), whether
/// both endpoints are idle, and their states.
#[derive(Clone, Copy)]
struct Mark {
    id: u32,
    enabled: u8,
    idle: bool,
    pair: (State, State),
}

/// A worker's reusable state: the unpacked state being expanded, the world its steps are taken
/// in (and undone), scratch buffers, and what it found.
struct Worker<'m> {
    base: World<'m>,
    world: World<'m>,
    fx: Effects,
    steps: Vec<Step>,
    out: Expanded,
}

impl<'m> Worker<'m> {
    fn new(model: &'m Model, bounds: Bounds) -> Self {
        let world = World::new(model, bounds);
        Worker { base: world.clone(), world, fx: Effects::default(), steps: Vec::new(), out: Expanded::default() }
    }

    /// Takes chunks of `level` in turn from `next` until none is left, or it finds a violation,
    /// or the chunk is after `stop`, the first chunk where a worker found one: every chunk
    /// before that one is still expanded in full. Each chunk goes into `self.out`, every step
    /// checked; each state is unpacked once, each step taken in place and undone.
    fn run(
        &mut self,
        level: &Level,
        (next, stop, interrupt): (&AtomicUsize, &AtomicUsize, &AtomicBool),
        seen: &Seen,
        properties: &[Property],
        (pair_graph, record): (bool, bool),
    ) {
        let Worker { base, world, fx, steps, out } = self;
        out.clear();
        let n = level.len();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index * CHUNK >= n || index > stop.load(Ordering::Relaxed) || interrupt.load(Ordering::Relaxed) {
                break;
            }
            let range = index * CHUNK..((index + 1) * CHUNK).min(n);
            let generated =
                expand((base, world, fx, steps), out, (level, range), seen, properties, (pair_graph, record));
            out.chunks.push(Chunk {
                index,
                successors: out.successors.len(),
                pair_steps: out.pair_steps.len(),
                marks: out.marks.len(),
                edges: out.edges.len(),
                generated,
            });
            if out.violation.is_some() {
                stop.fetch_min(index, Ordering::Relaxed);
                break;
            }
        }
    }
}

/// Expands the states `range` of `level` into `out`; returns how many steps it took.
fn expand<'m>(
    (base, world, fx, steps): (&mut World<'m>, &mut World<'m>, &mut Effects, &mut Vec<Step>),
    out: &mut Expanded,
    (level, range): (&Level, std::ops::Range<usize>),
    seen: &Seen,
    properties: &[Property],
    (pair_graph, record): (bool, bool),
) -> u64 {
    let mut generated = 0;
    for k in range {
        let (id, bytes) = level.get(k);
        base.unpack(bytes).expect("a packed world unpacks into a world of the same search");
        base.steps(steps);
        let before = pair(base);
        let degree = out.edges.len();
        if record {
            let enabled = steps.iter().filter_map(|&s| base.class(s)).fold(0u8, |m, c| m | 1 << c);
            out.marks.push((Mark { id, enabled, idle: base.idle(), pair: before }, 0));
        }
        if steps.is_empty() {
            if let Some(v) = check_final(properties, base) {
                out.violation = Some((k, v, None));
                return generated;
            }
            continue;
        }
        world.assign(base);
        let hashes = [endpoint_hash(base, Side::A), endpoint_hash(base, Side::B)];
        let mut touched = [false; 2];
        for (i, &step) in steps.iter().enumerate() {
            if i > 0 {
                world.restore(base, touched);
            }
            touched = base.touches(step);
            let class = base.class(step);
            world.apply_into(step, None, fx);
            generated += 1;
            if pair_graph {
                out.pair_steps.push((before, pair(world)));
            }
            if let Some(v) = check_step(properties, fx, world) {
                out.violation = Some((k, v, Some(i as u16)));
                return generated;
            }
            let part =
                |side: Side| if touched[side as usize] { endpoint_hash(world, side) } else { hashes[side as usize] };
            let fp = combine(part(Side::A), part(Side::B), rest_hash(world));
            // Earlier levels are read-only while a level is expanded: drop their states here.
            let target = match seen.get(fp) {
                Some(known) => Target::Known(known),
                None => {
                    let next = out.successors.len() as u32;
                    let new = *out.local.entry(fp).or_insert(next);
                    if new == next {
                        out.successors.push((id, i as u16, fp));
                        out.packed.push_with(|buf| world.pack(buf));
                    }
                    Target::New(new)
                }
            };
            if record {
                out.edges.push((i as u16, class, target));
                if let Some(m) = out.marks.last_mut() {
                    m.1 = (out.edges.len() - degree) as u32;
                }
            }
        }
    }
    generated
}

/// The step indices that lead from the start to state `at`.
fn indices_to(seen: &Seen, mut at: u32) -> Vec<u16> {
    let mut indices = Vec::new();
    while at != ROOT && seen.parent[at as usize] != ROOT {
        indices.push(seen.step[at as usize]);
        at = seen.parent[at as usize];
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
/// Level by level: workers take chunks of a level in turn, and the chunks are merged in order,
/// so the states found, their numbering, the counterexample reported and the statistics do not
/// depend on the number of threads or their timing. `interrupt` (set by Ctrl-C) stops the search cleanly within a chunk: the level under way is dropped.
pub fn bfs(model: &Model, request: Request<'_>, interrupt: &AtomicBool, progress: &dyn Progress) -> Outcome {
    let Request { bounds, properties, limits, pair_graph, full_graph, threads } = request;
    let threads = threads.max(1);
    let mut pairs: Option<FxHashMap<PairEdge, u64>> = pair_graph.then(FxHashMap::default);
    let start = World::new(model, bounds);
    let mut seen = Seen::new();
    seen.insert(fingerprint(&start), ROOT, 0);
    let mut root = Packed::default();
    root.push_with(|buf| start.pack(buf));
    let mut level = Level { parts: vec![root], states: vec![(0, 0, 0)] };
    let mut stats = Stats::default();
    let mut stopped = None;
    let liveness = properties.contains(&Property::EventuallyClosed);
    let record = liveness || full_graph;
    let mut graph = Graph { pairs: full_graph, ..Graph::default() };
    let mut workers: Vec<Worker<'_>> = (0..threads).map(|_| Worker::new(model, bounds)).collect();
    level.parts.resize_with(threads, Packed::default);
    let mut next_states = Vec::new();
    while level.len() > 0 {
        if interrupt.load(Ordering::Relaxed) {
            stopped = Some(Stopped::Interrupted);
            break;
        }
        // Workers take chunks of the level in turn, so a worker slowed down (the machine is
        // shared) holds nobody up; the chunks are merged in their order, so what is found, its
        // numbering and the counterexample do not depend on the threads or their timing.
        let n = level.len();
        let chunks = n.div_ceil(CHUNK);
        let (known, this) = (&seen, &level);
        let (next, stop) = (AtomicUsize::new(0), AtomicUsize::new(usize::MAX));
        let flags = (pair_graph, record);
        let busy = threads.min(chunks);
        if busy <= 1 {
            workers[0].run(this, (&next, &stop, interrupt), known, properties, flags);
        } else {
            std::thread::scope(|scope| {
                let (next, stop) = (&next, &stop);
                let handles: Vec<_> = workers
                    .iter_mut()
                    .take(busy)
                    .map(|w| scope.spawn(move || w.run(this, (next, stop, interrupt), known, properties, flags)))
                    .collect();
                for h in handles {
                    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                }
            });
        }
        // Ctrl-C during the level: its workers stopped at their next chunk, within a second
        // however large the level; what they found is partial and is dropped.
        if interrupt.load(Ordering::Relaxed) {
            stopped = Some(Stopped::Interrupted);
            break;
        }
        let results = &mut workers[..busy.max(1)];
        // (worker, position in its chunk list), in the chunks' order; with a violation, only
        // the chunks up to the one where it was found count.
        let mut order: Vec<(usize, usize, usize)> = Vec::with_capacity(chunks);
        for (w, worker) in results.iter().enumerate() {
            order.extend(worker.out.chunks.iter().enumerate().map(|(c, chunk)| (chunk.index, w, c)));
        }
        order.sort_unstable();
        let violation =
            results.iter().filter_map(|w| w.out.violation.as_ref()).min_by_key(|(position, _, _)| *position).cloned();
        if let Some((position, _, _)) = &violation {
            order.retain(|&(index, _, _)| index <= position / CHUNK);
        }
        for &(_, w, c) in &order {
            let (out, start) = (&results[w].out, results[w].out.start(c));
            let end = out.chunks[c];
            stats.generated += end.generated;
            if let Some(all) = pairs.as_mut() {
                for edge in &out.pair_steps[start.pair_steps..end.pair_steps] {
                    *all.entry(*edge).or_default() += 1;
                }
            }
        }
        if let Some((position, violation, step)) = violation {
            if record {
                for &(_, w, c) in &order {
                    let (out, start) = (&results[w].out, results[w].out.start(c));
                    let end = out.chunks[c];
                    graph.add(&out.marks[start.marks..end.marks], &out.edges[start.edges..end.edges], &[]);
                }
            }
            let mut indices = indices_to(&seen, level.get(position).0);
            indices.extend(step);
            let steps = steps_of(model, bounds, &indices);
            stats.left = level.len() as u64;
            return Outcome {
                stats: finish(stats, &seen, &graph),
                counterexample: Some(Counterexample { violation, steps, loop_from: None }),
                stopped,
                pairs,
                full: full_graph.then(|| graph.full(seen.len())),
            };
        }
        next_states.clear();
        for &(_, w, c) in &order {
            let out = &mut results[w].out;
            let (start, end) = (out.start(c), out.chunks[c]);
            for k in start.successors..end.successors {
                let (parent, step, fp) = out.successors[k];
                let (id, new) = seen.insert(fp, parent, step);
                if new {
                    next_states.push((id, w as u32, k as u32));
                }
                out.numbered.push(id);
            }
            if record {
                graph.add(&out.marks[start.marks..end.marks], &out.edges[start.edges..end.edges], &out.numbered);
            }
        }
        // The workers' buffers become the next level; this level's go back to them.
        for (w, worker) in results.iter_mut().enumerate() {
            std::mem::swap(&mut level.parts[w], &mut worker.out.packed);
        }
        std::mem::swap(&mut level.states, &mut next_states);
        if level.len() > 0 {
            stats.depth += 1;
        }
        stats.distinct = seen.len() as u64;
        stats.left = level.len() as u64;
        progress.update(&stats);
        if limits.max_states.is_some_and(|m| stats.distinct >= m) {
            stopped = Some(Stopped::MaxStates);
            break;
        }
        let buffers = || workers.iter().map(|w| w.out.heap_bytes()).sum::<u64>();
        if limits.mem_cap.is_some_and(|cap| seen.bytes() + level.heap_bytes() + graph.bytes() + buffers() >= cap) {
            stopped = Some(Stopped::MemCap);
            break;
        }
    }
    stats.left = level.len() as u64;
    let full = full_graph.then(|| graph.full(seen.len()));
    let counterexample = if liveness && stopped.is_none() {
        graph.fair_cycle(seen.len()).map(|(entry, cycle)| {
            let mut indices = indices_to(&seen, entry);
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
    Outcome { stats: finish(stats, &seen, &graph), counterexample, stopped, pairs, full }
}

const NO_CLASS: u8 = u8::MAX;

/// The reachable graph, kept for liveness, in compressed sparse rows: states are expanded in
/// the order they are numbered, so each state's steps follow the previous state's. Per state:
/// the fairness classes enabled there (bits 0-4) and whether both endpoints are idle (bit 7),
/// the end of its steps; per step: target, step index and fairness class. 7 bytes a step.
#[derive(Default)]
struct Graph {
    /// Keep each state's pair of endpoint states too (for `--graph-full`).
    pairs: bool,
    marks: Vec<u8>,
    ends: Vec<u32>,
    state_pairs: Vec<(State, State)>,
    to: Vec<u32>,
    step: Vec<u16>,
    class: Vec<u8>,
}

const IDLE: u8 = 0x80;

impl Graph {
    /// Adds a worker's expanded states and steps; `numbered` gives the state number of each of
    /// its new-looking successors (empty when a violation ended the level: those steps are
    /// dropped, their targets were never numbered).
    fn add(&mut self, marks: &[(Mark, u32)], edges: &[(u16, Option<u8>, Target)], numbered: &[u32]) {
        let mut edges = edges.iter();
        for (m, degree) in marks {
            // States are numbered densely and expanded in order; one not expanded (an earlier
            // worker's violation) keeps no steps.
            while self.marks.len() < m.id as usize {
                self.marks.push(IDLE);
                self.ends.push(self.to.len() as u32);
                if self.pairs {
                    self.state_pairs.push((State::Closed, State::Closed));
                }
            }
            self.marks.push(m.enabled | if m.idle { IDLE } else { 0 });
            if self.pairs {
                self.state_pairs.push(m.pair);
            }
            for &(step, class, target) in edges.by_ref().take(*degree as usize) {
                let to = match target {
                    Target::Known(id) => id,
                    Target::New(k) => match numbered.get(k as usize) {
                        Some(&id) => id,
                        None => continue,
                    },
                };
                self.to.push(to);
                self.step.push(step);
                self.class.push(class.unwrap_or(NO_CLASS));
            }
            self.ends.push(self.to.len() as u32);
        }
    }

    fn bytes(&self) -> u64 {
        (self.marks.capacity()
            + self.ends.capacity() * 4
            + self.state_pairs.capacity() * 2
            + self.to.capacity() * 4
            + self.step.capacity() * 2
            + self.class.capacity()) as u64
    }

    /// The steps of state `v`, as indices into `to`, `step` and `class`.
    fn out(&self, v: usize) -> std::ops::Range<usize> {
        match self.ends.get(v) {
            None => 0..0,
            Some(&end) => (if v == 0 { 0 } else { self.ends[v - 1] as usize })..end as usize,
        }
    }

    fn enabled(&self, v: usize) -> u8 {
        self.marks.get(v).map_or(0, |m| m & !IDLE)
    }

    fn idle(&self, v: usize) -> bool {
        self.marks.get(v).is_none_or(|m| m & IDLE != 0)
    }

    fn full(&self, states: usize) -> FullGraph {
        let mut pairs = self.state_pairs.clone();
        pairs.resize(states, (State::Closed, State::Closed));
        let mut edges = Vec::with_capacity(self.to.len());
        for v in 0..self.ends.len() {
            for e in self.out(v) {
                let class = (self.class[e] != NO_CLASS).then_some(self.class[e]);
                edges.push((v as u32, self.to[e], class));
            }
        }
        FullGraph { states: pairs, edges }
    }

    /// Strongly connected components (Tarjan, iterative): each state's component number.
    fn components(&self, states: usize) -> (Vec<u32>, usize) {
        const NONE: u32 = u32::MAX;
        let mut index = vec![NONE; states];
        let mut low = vec![0u32; states];
        let mut component = vec![NONE; states];
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, usize)> = Vec::new();
        let (mut next, mut count) = (0u32, 0usize);
        for root in 0..states {
            if index[root] != NONE {
                continue;
            }
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root as u32);
            calls.push((root as u32, self.out(root).start));
            while let Some(&mut (v, ref mut e)) = calls.last_mut() {
                let v = v as usize;
                let end = self.out(v).end;
                if *e < end {
                    let w = self.to[*e] as usize;
                    *e += 1;
                    if index[w] == NONE {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w as u32);
                        calls.push((w as u32, self.out(w).start));
                    } else if component[w] == NONE {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u as usize] = low[u as usize].min(low[v]);
                }
                if low[v] == index[v] {
                    while let Some(w) = stack.pop() {
                        component[w as usize] = count as u32;
                        if w as usize == v {
                            break;
                        }
                    }
                    count += 1;
                }
            }
        }
        (component, count)
    }

    /// A reachable cycle that is fair and never idle: its entry state and the step indices
    /// that go round it. Weak fairness, judged per strongly connected component (Tarjan): a
    /// class enabled in every state of the component must be taken inside it.
    fn fair_cycle(&self, states: usize) -> Option<(u32, Vec<u16>)> {
        let (component, count) = self.components(states);
        // Per component: entry (least state), any idle state, classes always / ever enabled,
        // classes taken inside, whether it has a step inside.
        let mut entry = vec![u32::MAX; count];
        let mut idle = vec![false; count];
        let mut always = vec![0xffu8; count];
        let mut ever = vec![0u8; count];
        let mut taken = vec![0u8; count];
        let mut inside = vec![false; count];
        for v in 0..states {
            let c = component[v] as usize;
            entry[c] = entry[c].min(v as u32);
            idle[c] |= self.idle(v);
            always[c] &= self.enabled(v);
            ever[c] |= self.enabled(v);
            for e in self.out(v) {
                if component[self.to[e] as usize] as usize == c {
                    inside[c] = true;
                    if self.class[e] != NO_CLASS {
                        taken[c] |= 1 << self.class[e];
                    }
                }
            }
        }
        let mut candidates: Vec<usize> =
            (0..count).filter(|&c| inside[c] && !idle[c] && always[c] & !taken[c] == 0).collect();
        candidates.sort_by_key(|&c| entry[c]);
        candidates.into_iter().find_map(|c| {
            let tour = self.tour(entry[c], &component, taken[c], ever[c] & !taken[c])?;
            Some((entry[c], tour))
        })
    }

    /// A closed walk from `entry` inside its component that is itself fair: it takes a step of
    /// every class in `take`, and for every class in `avoid` (never taken in the component) it
    /// passes a state where that class is disabled. Shortest hops between those goals.
    fn tour(&self, entry: u32, component: &[u32], take: u8, avoid: u8) -> Option<Vec<u16>> {
        let c = component[entry as usize];
        let hop = |from: u32, goal: &dyn Fn(usize) -> bool| -> Option<(Vec<u16>, u32)> {
            // Breadth-first over the component's steps until a step satisfying `goal` is taken.
            let mut queue = std::collections::VecDeque::from([(from, Vec::new())]);
            let mut visited = FxHashSet::from_iter([from]);
            while let Some((at, path)) = queue.pop_front() {
                for e in self.out(at as usize) {
                    let to = self.to[e];
                    if component[to as usize] != c {
                        continue;
                    }
                    let mut p = path.clone();
                    p.push(self.step[e]);
                    if goal(e) {
                        return Some((p, to));
                    }
                    if visited.insert(to) {
                        queue.push_back((to, p));
                    }
                }
            }
            None
        };
        let mut at = entry;
        let mut walk = Vec::new();
        for class in (0..8).filter(|c| take & (1 << c) != 0) {
            let (p, to) = hop(at, &|e| self.class[e] == class)?;
            walk.extend(p);
            at = to;
        }
        for class in (0..8).filter(|c| avoid & (1 << c) != 0) {
            if self.enabled(at as usize) & (1 << class) != 0 {
                let (p, to) = hop(at, &|e| self.enabled(self.to[e] as usize) & (1 << class) == 0)?;
                walk.extend(p);
                at = to;
            }
        }
        let (p, _) = hop(at, &|e| self.to[e] == entry)?;
        walk.extend(p);
        Some(walk)
    }
}

fn finish(mut stats: Stats, seen: &Seen, graph: &Graph) -> Stats {
    stats.distinct = seen.len() as u64;
    stats.bytes_per_state = seen.bytes() / stats.distinct.max(1);
    stats.graph_bytes_per_state = graph.bytes() / stats.distinct.max(1);
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
