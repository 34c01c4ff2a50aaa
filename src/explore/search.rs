//! Breadth-first search over worlds: every state is reached by a shortest path, so the first
//! violation found is a shortest counterexample.
//!
//! Visited states are kept as 64-bit fingerprints with the number of their parent
//! ([`Visited`]). The states themselves live only in the frontier, packed losslessly and
//! delta-encoded ([`World::pack`], [`frontier`](super::frontier)), and are unpacked once each into a reusable world per
//! worker, which parses only the endpoints that differ from the world before ([`Unpacked`]);
//! each step is taken in place in a copy and undone ([`World::restore`]). A path is
//! rebuilt by replaying from the start, which is also how the diagram is drawn. The graph kept
//! for liveness is in compressed sparse rows ([`Graph`]).
//!
//! Every byte the search holds is counted ([`Footprint`]) and reported per state at its peak;
//! `--mem-cap` is held, chunk by chunk, against those bytes plus the process's resident bytes
//! they do not account for (program, allocator), as last measured, and against what the merge
//! of the batch under way will allocate, so the search stops before it goes over. A level is
//! expanded and merged in batches of chunks ([`BATCH`]), so what the workers hold between
//! merges does not grow with the level.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use rustc_hash::FxHashMap;

use super::bitstate::{Bitstate, Coverage};
use super::fingerprint::{combine, endpoint_hash, fingerprint, rest_hash};
use super::frontier::{Block, Level, Pool, Slice, Spill, Writer, CHUNK};
use super::graph::{Expansion, Graph, Mark, Target};
use super::memory::{self, Footprint, Memory};
use super::parallel::{fan_out, in_pool};
use super::property::{check_final, check_step, Property, Violation};
use super::visited::{Arrival, FpTable, Growth, Part, Seen, Visited, ROOT};
use super::world::{Bounds, Effects, Step, Unpacked, World};
use crate::model::{Model, State};
use crate::simulate::{Entry, Side};

/// Chunks of a level expanded before they are merged. The workers' lists (each new-looking
/// successor's fingerprint, parent and step, the steps the graph will keep) then hold a batch,
/// not a level: at `--dup 1` a whole level's took 10 bytes a state at the peak, a batch's take
/// a few megabytes. A batch is long enough that the threads' wait at its end, at most a chunk
/// each, is small beside it. States found in a batch are seen by the next, so the numbers are
/// still those of a merge one by one, in the chunks' order.
const BATCH: usize = 256;

/// Limits of a search.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Stop after this many distinct states.
    pub max_states: Option<u64>,
    /// Stop before the search would hold more than this many bytes, counted and resident.
    pub mem_cap: Option<u64>,
}

/// A step of the reachable graph collapsed to (state of A, state of B) pairs.
pub type PairEdge = ((State, State), (State, State));

/// What the search reports while it runs (states, depth, queue), for a progress bar.
pub trait Progress: Sync {
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
    /// More states than the search can number: [`Visited::MAX_STATES`], or
    /// [`Graph::MAX_STATES`] with the liveness graph.
    Full,
    /// The frontier's files could not be written or read ([`Spill::error`] says why).
    Spill,
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
    /// What the search held at its peak, counted and resident.
    pub memory: Memory,
    pub counterexample: Option<Counterexample>,
    pub stopped: Option<Stopped>,
    /// Edge counts of the pair graph, when asked for.
    pub pairs: Option<FxHashMap<PairEdge, u64>>,
    /// The whole explored graph, when asked for: each state's pair, and the steps between states
    /// with their fairness class (`None`: a loss or duplication).
    pub full: Option<FullGraph>,
    /// In bitstate mode, what the search traded: states it may have missed.
    pub coverage: Option<Coverage>,
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
    /// Keep the visited set as a bitstate array of this many bytes instead of exactly: for
    /// spaces whose exact set does not fit. States may be missed (the outcome says how many, as
    /// an estimate); liveness is not checked and the full graph is not kept.
    pub bitstate: Option<u64>,
    /// Keep the frontier in these files instead of memory (`--frontier-dir`).
    pub spill: Option<&'a Spill>,
}

impl<'a> Request<'a> {
    /// A search of `bounds` for `properties` on `threads` threads: no limits, no graph kept
    /// beyond what liveness needs, the exact visited set and the frontier in memory.
    pub fn new(bounds: Bounds, properties: &'a [Property], threads: usize) -> Self {
        Request {
            bounds,
            properties,
            limits: Limits::default(),
            pair_graph: false,
            full_graph: false,
            threads,
            bitstate: None,
            spill: None,
        }
    }
}

fn pair(world: &World<'_>) -> (State, State) {
    (world.ends.a.state(), world.ends.b.state())
}

/// What one worker found expanding its chunks of a batch, in the order it took them (which
/// is the chunks' order). Its buffers are kept from batch to batch.
#[derive(Default)]
struct Expanded {
    /// The chunks taken: the chunk's number and where its part of each list below ends.
    chunks: Vec<Chunk>,
    /// New-looking successors: their parents' numbers and fingerprints, packed in `blocks`…
    parents: Vec<u32>,
    fps: Vec<u64>,
    /// The number of the step that led from the parent to each.
    arrivals: Vec<u16>,
    /// …in blocks of at most [`CHUNK`], each chunk's after the chunk before's.
    blocks: Vec<Block>,
    writer: Writer,
    /// The earliest violation: position in the level (slice * CHUNK + index in the slice), the
    /// state's number, the violation, and the step that caused it (`None`: the state itself
    /// has no successor and is judged final). The worker takes no chunk after it.
    violation: Option<(usize, u32, Violation, Option<u16>)>,
    /// With `--graph-dot`: each step's pair of endpoint states before and after.
    pair_steps: Vec<PairEdge>,
    /// With liveness: every expanded state's marks, with how many of the following `edges`
    /// are its steps…
    marks: Vec<(Mark, u32)>,
    /// …and those steps (fairness class, target).
    edges: Vec<(Option<u8>, Target)>,
    /// The new-looking successors, numbered by their position in `fps`.
    local: FpTable,
    /// The state number given to each new-looking successor at the merge.
    numbered: Vec<u32>,
}

/// A chunk of a level expanded by a worker: its number, where its entries in the worker's
/// lists end, and how many steps it generated.
#[derive(Clone, Copy)]
struct Chunk {
    index: usize,
    successors: usize,
    blocks: usize,
    pair_steps: usize,
    marks: usize,
    edges: usize,
    generated: u64,
}

impl Expanded {
    fn clear(&mut self) {
        self.chunks.clear();
        self.parents.clear();
        self.fps.clear();
        self.arrivals.clear();
        debug_assert!(self.blocks.is_empty(), "the merge returns the blocks to the pool");
        self.blocks.clear();
        self.violation = None;
        self.pair_steps.clear();
        self.marks.clear();
        self.edges.clear();
        self.local.clear();
        self.numbered.clear();
    }

    /// Bytes held, roughly (the buffers are kept for the next batch).
    fn heap_bytes(&self) -> u64 {
        let lists = self.parents.capacity() * 4
            + self.fps.capacity() * 8
            + self.arrivals.capacity() * 2
            + self.pair_steps.capacity() * 4
            + self.marks.capacity() * std::mem::size_of::<(Mark, u32)>()
            + self.edges.capacity() * std::mem::size_of::<(Option<u8>, Target)>()
            + self.local.bytes() as usize
            + self.numbered.capacity() * 4;
        lists as u64
    }

    /// Where chunk `c` (an index into `chunks`) starts in each list.
    fn start(&self, c: usize) -> Chunk {
        match c.checked_sub(1) {
            Some(before) => self.chunks[before],
            None => Chunk { index: 0, successors: 0, blocks: 0, pair_steps: 0, marks: 0, edges: 0, generated: 0 },
        }
    }
}

/// What every worker of a batch reads: the level, what was found before the batch, the
/// properties, and the flags that stop the batch early.
struct Shared<'a> {
    level: &'a Level,
    visited: &'a Seen,
    /// Pages for the frontier: the level's go back here as its chunks are expanded.
    pool: &'a Pool<'a>,
    graph: &'a Graph,
    properties: &'a [Property],
    /// Count the steps between state pairs (`--graph-dot`); record the graph (liveness).
    pair_graph: bool,
    record: bool,
    /// The most worlds a block of the next level holds: [`CHUNK`], or fewer after a small
    /// level, so the next has slices enough for every thread ([`block_for`]).
    block: usize,
    /// The next chunk to take, and the end of the batch's chunks.
    next: AtomicUsize,
    end: usize,
    /// The first chunk where a violation was found.
    stop: AtomicUsize,
    interrupt: &'a AtomicBool,
    cap: Option<Cap>,
}

/// `--mem-cap` during a batch: the process's resident bytes the count does not cover (as last
/// measured), the frontier's pages (read as they grow), and what the workers add to their lists
/// as they go, summed.
struct Cap {
    limit: u64,
    /// The uncounted overhead.
    before: u64,
    /// The workers' buffers.
    scratch: AtomicU64,
    /// New-looking successors and recorded steps so far: what the merge will add.
    successors: AtomicU64,
    steps: AtomicU64,
    reached: AtomicBool,
}

impl Cap {
    /// Adds a worker's growth since its last report; whether the cap is reached, counting what
    /// the merge of everything found so far will allocate.
    fn report(&self, shared: &Shared<'_>, scratch: u64, successors: u64, steps: u64) -> bool {
        let scratch = self.scratch.fetch_add(scratch, Ordering::Relaxed) + scratch;
        let successors = self.successors.fetch_add(successors, Ordering::Relaxed) + successors;
        let steps = self.steps.fetch_add(steps, Ordering::Relaxed) + steps;
        let merge = merge_bytes(shared.visited, shared.graph, shared.record, successors as usize, steps as usize);
        let reached = self.before + shared.pool.bytes() + scratch + merge >= self.limit;
        if reached {
            self.reached.store(true, Ordering::Relaxed);
        }
        reached
    }
}

/// What the visited set and the graph will hold at the most once `successors` new states (at
/// most) and `steps` steps are merged.
fn merge_bytes(visited: &Seen, graph: &Graph, record: bool, successors: usize, steps: usize) -> u64 {
    let graph = if record { graph.bytes_while_reserving(successors, steps) } else { graph.bytes() };
    visited.bytes_while_reserving(successors) + graph
}

/// The most worlds a block of the level after one of `states` states holds. A level's slices
/// are the blocks its parent level's workers wrote, and a worker takes a slice at a time: of
/// [`CHUNK`] worlds, the levels of a few hundred states near the start were one or two
/// slices, expanded by one thread while the others waited (up to a millisecond a level at the
/// default bounds, on two threads). Cut smaller, they are a dozen or more. Larger levels keep
/// whole chunks: a block's last page is part empty. The states, their numbers and the
/// counterexamples do not depend on where the blocks are cut.
fn block_for(states: usize) -> usize {
    (states / 8).clamp(16, CHUNK)
}

/// A worker's reusable state: the unpacked state being expanded, the world its steps are taken
/// in (and undone), scratch buffers, and what it found.
struct Worker<'m> {
    base: Unpacked<'m>,
    world: World<'m>,
    fx: Effects,
    steps: Vec<Step>,
    out: Expanded,
}

impl<'m> Worker<'m> {
    fn new(model: &'m Model, bounds: Bounds) -> Self {
        let world = World::new(model, bounds);
        Worker {
            base: Unpacked::new(world.clone()),
            world,
            fx: Effects::default(),
            steps: Vec::new(),
            out: Expanded::default(),
        }
    }

    /// Takes chunks of the level in turn until none is left, or it finds a violation, or the
    /// chunk is after the first chunk where a worker found one (every chunk before that one is
    /// still expanded in full), or Ctrl-C, or the memory cap. Each chunk goes into `self.out`,
    /// every step checked; each state is unpacked once, each step taken in place and undone.
    fn run(&mut self, shared: &Shared<'_>) {
        let Worker { base, world, fx, steps, out } = self;
        out.clear();
        let n = shared.end;
        let mut reported = (out.heap_bytes(), 0, 0);
        loop {
            let index = shared.next.fetch_add(1, Ordering::Relaxed);
            if index >= n
                || index > shared.stop.load(Ordering::Relaxed)
                || shared.interrupt.load(Ordering::Relaxed)
                || shared.cap.as_ref().is_some_and(|c| c.reached.load(Ordering::Relaxed))
            {
                break;
            }
            let generated = expand((base, world, fx, steps), out, index, shared);
            out.chunks.push(Chunk {
                index,
                successors: out.fps.len(),
                blocks: out.blocks.len(),
                pair_steps: out.pair_steps.len(),
                marks: out.marks.len(),
                edges: out.edges.len(),
                generated,
            });
            if out.violation.is_some() {
                shared.stop.fetch_min(index, Ordering::Relaxed);
                break;
            }
            if let Some(cap) = &shared.cap {
                let now = (out.heap_bytes(), out.fps.len() as u64, out.edges.len() as u64);
                let grown = (now.0.saturating_sub(reported.0), now.1 - reported.1, now.2 - reported.2);
                reported = now;
                if cap.report(shared, grown.0, grown.1, grown.2) {
                    break;
                }
            }
        }
        // Room for the numbers the merge gives the successors, made here, on this worker's
        // thread, rather than by the merge while the other threads wait.
        out.numbered.resize(out.fps.len(), 0);
    }
}

/// Expands chunk `index` of the level into `out` (its block's pages go back to the pool);
/// returns how many steps it took.
fn expand<'m>(
    (base, world, fx, steps): (&mut Unpacked<'m>, &mut World<'m>, &mut Effects, &mut Vec<Step>),
    out: &mut Expanded,
    index: usize,
    shared: &Shared<'_>,
) -> u64 {
    let Shared { level, visited: seen, pool, properties, pair_graph, record, .. } = *shared;
    let mut generated = 0;
    let mut slice = level.take(index);
    let mut found = Block::default();
    let (mut j, mut id) = (0, slice.first);
    let read = slice.block.each(pool, |bytes| {
        let position = index * CHUNK + j;
        j += 1;
        if !slice.is_fresh(j - 1) {
            return Ok(());
        }
        base.unpack(bytes).ok_or(())?;
        id += 1;
        let id = id - 1;
        base.steps(steps);
        let before = pair(base);
        let degree = out.edges.len();
        if record {
            let enabled = steps.iter().filter_map(|&s| base.class(s)).fold(0u8, |m, c| m | 1 << c);
            let part = shared.graph.part(base);
            out.marks.push((Mark { id, enabled, idle: base.idle(), part, pair: before }, 0));
        }
        if steps.is_empty() {
            if let Some(v) = check_final(properties, base) {
                out.violation = Some((position, id, v, None));
                return Err(());
            }
            return Ok(());
        }
        world.assign(base);
        let hashes = base.hashes();
        for (i, &step) in steps.iter().enumerate() {
            if i > 0 {
                world.restore(base, steps[i - 1]);
            }
            let touched = base.touches(step);
            let class = base.class(step);
            world.apply_into(step, None, fx);
            generated += 1;
            if pair_graph {
                out.pair_steps.push((before, pair(world)));
            }
            if let Some(v) = check_step(properties, fx, world) {
                out.violation = Some((position, id, v, Some(i as u16)));
                return Err(());
            }
            let part =
                |side: Side| if touched[side as usize] { endpoint_hash(world, side) } else { hashes[side as usize] };
            let fp = combine(part(Side::A), part(Side::B), rest_hash(world));
            // What this worker found in this batch is not in the earlier levels, which are
            // read-only while a batch is expanded: its own table is asked first, and the set
            // only about what it does not hold. The table outgrows the core's own cache and the
            // set is a miss to memory: the set's lookup is begun first, so the two misses
            // overlap. (A bitstate set does not number what it has seen; it keeps no graph.)
            let lookup = seen.begin(fp);
            let target = match out.local.get(fp, &out.fps) {
                Some(k) => Target::new(k),
                None => match seen.end(lookup) {
                    Some(known) => Target::known(known.unwrap_or(ROOT)),
                    None => {
                        let (k, _) = out.local.insert(fp, &out.fps);
                        out.parents.push(id);
                        out.fps.push(fp);
                        out.arrivals.push(i as u16);
                        if found.len() == shared.block {
                            found.spill(pool);
                            out.blocks.push(std::mem::take(&mut found));
                        }
                        let parent = base.parent_of(step);
                        out.writer.push_with(&mut found, pool, |buf| world.pack_with(parent, buf));
                        Target::new(k)
                    }
                },
            };
            if record && shared.graph.keeps(base, world) {
                out.edges.push((class, target));
                if let Some(m) = out.marks.last_mut() {
                    m.1 = (out.edges.len() - degree) as u32;
                }
            }
        }
        Ok(())
    });
    // A violation ends the chunk early; a frontier file that cannot be read back stops the
    // search (the level's end sees it); anything else that stops the read is a packing this
    // search wrote and cannot read back, which would be a bug here, not in the input.
    let unreadable = read.is_err() && pool.spill().is_some_and(|s| s.error().is_some());
    assert!(
        unreadable || (matches!(read, Ok(()) | Err(Some(()))) && (out.violation.is_some() || j == slice.block.len())),
        "a packed world unpacks into a world of the same search"
    );
    slice.block.recycle(pool);
    if !found.is_empty() {
        found.spill(pool);
        out.blocks.push(found);
    }
    generated
}

/// A path replayed from the start by state numbers: at each state, the step that leads to the
/// next state's fingerprint (the first such, in step order, as the search tried them).
struct Path<'m> {
    world: World<'m>,
    next: World<'m>,
    enabled: Vec<Step>,
    steps: Vec<Step>,
}

impl<'m> Path<'m> {
    fn new(model: &'m Model, bounds: Bounds) -> Self {
        let world = World::new(model, bounds);
        Path { next: world.clone(), world, enabled: Vec::new(), steps: Vec::new() }
    }

    /// Follows the parent links back from `at` and replays the path to it.
    fn to(model: &'m Model, bounds: Bounds, visited: &Seen, at: u32) -> Self {
        let mut arrivals = Vec::new();
        let mut id = at;
        loop {
            let (parent, arrival) = visited.parent(id);
            if parent == ROOT {
                break;
            }
            arrivals.push(arrival);
            id = parent;
        }
        let mut path = Path::new(model, bounds);
        for arrival in arrivals.into_iter().rev() {
            match arrival {
                Arrival::Fingerprint(fp) => path.step_to(fp, None),
                Arrival::Step(i) => path.take(usize::from(i)),
            }
        }
        path
    }

    /// Takes the first enabled step that leads to fingerprint `fp` (of fairness class `class`,
    /// when given). The search found that step from this world, so it is there: the world and
    /// its fingerprint are deterministic.
    fn step_to(&mut self, fp: u64, class: Option<Option<u8>>) {
        self.world.steps(&mut self.enabled);
        let found = self.enabled.iter().position(|&step| {
            if class.is_some_and(|c| c != self.world.class(step)) {
                return false;
            }
            self.next.assign(&self.world);
            self.next.apply(step, None);
            fingerprint(&self.next) == fp
        });
        self.take(found.expect("a step found by the search is found again when replayed"));
    }

    /// Takes the `i`th enabled step.
    fn take(&mut self, i: usize) {
        self.world.steps(&mut self.enabled);
        let step = self.enabled[i];
        self.world.apply(step, None);
        self.steps.push(step);
    }
}

/// The bytes the search holds, where they are: the visited set, the graph, the frontier's
/// pages (every level and every worker's successors are in them) and the workers' lists.
fn footprint(visited: &Seen, graph: &Graph, pool: &Pool<'_>, workers: &[Worker<'_>]) -> Footprint {
    Footprint {
        visited: visited.bytes(),
        frontier: pool.bytes(),
        graph: graph.bytes(),
        scratch: workers.iter().map(|w| w.out.heap_bytes()).sum(),
        cycles: 0,
    }
}

/// Explores every world reachable within the request's bounds, checking its properties.
///
/// Level by level, and a level batch by batch: workers take chunks of a batch in turn, and the
/// chunks are merged in order, so the states found, their numbering, the counterexample
/// reported and the statistics do not depend on the number of threads or their timing.
/// `interrupt` (set by Ctrl-C) stops the search cleanly within a chunk: the batch under way is
/// dropped, as it is when the memory cap would be passed.
pub fn bfs(model: &Model, request: Request<'_>, interrupt: &AtomicBool, progress: &dyn Progress) -> Outcome {
    search(model, request, interrupt, progress, BATCH)
}

/// [`bfs`], merging every `batch` chunks: what it finds does not depend on the batch either.
fn search(
    model: &Model,
    request: Request<'_>,
    interrupt: &AtomicBool,
    progress: &dyn Progress,
    batch: usize,
) -> Outcome {
    in_pool(request.threads, || levels(model, request, interrupt, progress, batch))
}

/// [`search`], on the threads of its pool.
fn levels(
    model: &Model,
    request: Request<'_>,
    interrupt: &AtomicBool,
    progress: &dyn Progress,
    batch: usize,
) -> Outcome {
    let Request { bounds, properties, limits, pair_graph, full_graph, threads, bitstate, spill } = request;
    let threads = threads.max(1);
    memory::give_back_freed_blocks();
    let mut memory = Memory { rss_start: memory::resident(), ..Memory::default() };
    let mut pairs: Option<FxHashMap<PairEdge, u64>> = pair_graph.then(FxHashMap::default);
    let start = World::new(model, bounds);
    let mut seen = match bitstate {
        None => Seen::Exact(Visited::default()),
        Some(bytes) => Seen::Bits(Bitstate::new(bytes)),
    };
    seen.insert(fingerprint(&start), ROOT, 0);
    let pool = Pool::new(spill);
    let mut root = Slice { fresh: vec![1], ..Slice::default() };
    Writer::default().push_with(&mut root.block, &pool, |buf| start.pack(buf));
    let mut level = Level::new(vec![root]);
    let mut stats = Stats::default();
    // New-looking successors per state expanded, in the last batch merged: (successors, states).
    let mut last_batch = (1, 1);
    let mut stopped = None;
    // Liveness needs every state's number from its fingerprint, which a bitstate set does not keep.
    let exact = matches!(seen, Seen::Exact(_));
    let liveness = exact && properties.contains(&Property::EventuallyClosed);
    let record = liveness || (exact && full_graph);
    let mut graph = Graph::new(full_graph);
    let mut workers: Vec<Worker<'_>> = (0..threads).map(|_| Worker::new(model, bounds)).collect();
    // The process's resident bytes that the count does not cover (the program, the model, the
    // allocator's own), as last measured: at first, everything resident.
    let mut overhead = memory.rss_start.unwrap_or(0);
    'levels: while !level.is_empty() {
        if interrupt.load(Ordering::Relaxed) {
            stopped = Some(Stopped::Interrupted);
            break;
        }
        if record && seen.len() >= Graph::MAX_STATES {
            stopped = Some(Stopped::Full);
            break;
        }
        // The states numbered before this level: what a counterexample found in it reports.
        let before = seen.len();
        let mut slices = Vec::new();
        let chunks = level.slices();
        for start in (0..chunks).step_by(batch) {
            let batch = start..chunks.min(start.saturating_add(batch));
            // Workers take chunks of the batch in turn, so a worker slowed down (the machine is
            // shared) holds nobody up; the chunks are merged in their order, so what is found,
            // its numbering and the counterexample do not depend on the threads or their timing.
            let busy = threads.min(batch.len());
            // Where the merge is expected to grow the visited set, the first worker grows it
            // before it takes chunks (see `Visited::grown`), for as many new-looking successors
            // a state as the last batch found: the merge makes room for them all. Levels grow
            // twofold near the start, and a guess of one a state fell short there: at the
            // default bounds the merge grew the lists again, on one thread, at 13 of the 29
            // merges and the table at 5; now it grows the lists at the first 3 only.
            let states = level.states_in(batch.clone());
            let ahead = seen.grows_to(states * last_batch.0 / last_batch.1);
            let cap = limits.mem_cap.map(|limit| {
                let buffers: u64 = workers.iter().map(|w| w.out.heap_bytes()).sum();
                Cap {
                    limit,
                    before: overhead,
                    scratch: AtomicU64::new(buffers + ahead.map_or(0, Growth::bytes)),
                    successors: AtomicU64::new(0),
                    steps: AtomicU64::new(0),
                    reached: AtomicBool::new(false),
                }
            });
            let shared = Shared {
                level: &level,
                visited: &seen,
                pool: &pool,
                graph: &graph,
                properties,
                pair_graph,
                record,
                block: block_for(level.len()),
                next: AtomicUsize::new(batch.start),
                end: batch.end,
                stop: AtomicUsize::new(usize::MAX),
                interrupt,
                cap,
            };
            let grown = fan_out(workers.iter_mut().take(busy.max(1)).enumerate().collect(), |(i, w)| {
                let grown = ahead.filter(|_| i == 0).and_then(|growth| seen.grown(growth));
                w.run(&shared);
                grown
            });
            // Ctrl-C or the memory cap during the batch: its workers stopped at their next
            // chunk, within a second; what they found is partial and is dropped.
            if interrupt.load(Ordering::Relaxed) {
                stopped = Some(Stopped::Interrupted);
                break 'levels;
            }
            if spill.is_some_and(|s| s.error().is_some()) {
                stopped = Some(Stopped::Spill);
                break 'levels;
            }
            let stop = shared.stop.load(Ordering::Relaxed);
            if shared.cap.as_ref().is_some_and(|c| c.reached.load(Ordering::Relaxed)) && stop == usize::MAX {
                stopped = Some(Stopped::MemCap);
                break 'levels;
            }
            let results = &mut workers[..busy.max(1)];
            // (chunk, worker, position in its chunk list), in the chunks' order; with a
            // violation, only the chunks up to the one where it was found count.
            let mut order: Vec<(usize, usize, usize)> = Vec::with_capacity(batch.len());
            for (w, worker) in results.iter().enumerate() {
                order.extend(worker.out.chunks.iter().enumerate().map(|(c, chunk)| (chunk.index, w, c)));
            }
            order.sort_unstable();
            let violation =
                results.iter().filter_map(|w| w.out.violation.as_ref()).min_by_key(|(position, ..)| *position).cloned();
            if let Some((position, ..)) = &violation {
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
            if let Some((_, id, violation, step)) = violation {
                if record {
                    for &(_, w, c) in &order {
                        let (out, start) = (&results[w].out, results[w].out.start(c));
                        let end = out.chunks[c];
                        graph.add(&out.marks[start.marks..end.marks], &out.edges[start.edges..end.edges], &[]);
                    }
                }
                let mut path = Path::to(model, bounds, &seen, id);
                if let Some(i) = step {
                    path.take(usize::from(i));
                }
                stats.left = level.len() as u64;
                stats.distinct = before as u64;
                memory.peak = max_footprint(memory.peak, footprint(&seen, &graph, &pool, &workers));
                memory.rss_peak = memory::peak_resident();
                return Outcome {
                    stats,
                    memory,
                    counterexample: Some(Counterexample { violation, steps: path.steps, loop_from: None }),
                    stopped,
                    pairs,
                    full: (record && full_graph).then(|| graph.full(seen.len())),
                    coverage: coverage(&seen),
                };
            }
            if let Some(grown) = grown.into_iter().flatten().next() {
                seen.adopt(grown);
            }
            match merge(results, &order, (&mut seen, &mut graph, record), &pool, threads, &mut slices) {
                Ok(successors) => last_batch = (successors, states.max(1)),
                Err(full) => {
                    stopped = Some(full);
                    break 'levels;
                }
            }
            let held = footprint(&seen, &graph, &pool, &workers);
            memory.peak = max_footprint(memory.peak, held);
            // Read only for the cap: it takes some 40 µs, on one thread while the others
            // wait, 1.3 ms in all at the default bounds (a search of 0.2 s on two threads).
            if let Some(cap) = limits.mem_cap {
                if let Some(rss) = memory::resident() {
                    overhead = rss.saturating_sub(held.total());
                }
                if held.total() + overhead >= cap {
                    stopped = Some(Stopped::MemCap);
                    break 'levels;
                }
            }
        }
        level.clear(&pool);
        level = Level::new(slices);
        if let Some(spill) = spill {
            memory.on_disk = memory.on_disk.max(spill.bytes());
            spill.next_level();
        }
        if !level.is_empty() {
            stats.depth += 1;
        }
        stats.distinct = seen.len() as u64;
        stats.left = level.len() as u64;
        progress.update(&stats);
        if limits.max_states.is_some_and(|m| stats.distinct >= m) {
            stopped = Some(Stopped::MaxStates);
            break;
        }
    }
    stats.distinct = seen.len() as u64;
    stats.left = level.len() as u64;
    let full = (record && full_graph).then(|| graph.full(seen.len()));
    // The workers' buffers and the table that finds states by fingerprint are not needed any
    // more: their room goes to the cycle search.
    drop(workers);
    if let Seen::Exact(visited) = &mut seen {
        visited.forget_lookup();
    }
    let counterexample = match &seen {
        Seen::Exact(visited) if liveness && stopped.is_none() => {
            let (cycle, cycles) = graph.fair_cycle(seen.len());
            let held = Footprint { cycles, ..footprint(&seen, &graph, &pool, &[]) };
            memory.peak = max_footprint(memory.peak, held);
            cycle.map(|(entry, cycle)| {
                let mut path = Path::to(model, bounds, &seen, entry);
                let loop_from = path.steps.len();
                for e in cycle {
                    let (to, class) = graph.step(e);
                    path.step_to(visited.fingerprint(to), Some(class));
                }
                let steps = path.steps;
                let violation = Violation {
                    property: Property::EventuallyClosed,
                    what: format!(
                        "a fair run repeats the last {} steps forever without both endpoints CLOSED or LISTEN",
                        steps.len() - loop_from
                    ),
                };
                Counterexample { violation, steps, loop_from: Some(loop_from) }
            })
        }
        _ => None,
    };
    memory.rss_peak = memory::peak_resident();
    Outcome { stats, memory, counterexample, stopped, pairs, full, coverage: coverage(&seen) }
}

/// Merges a batch's chunks, given in order as (chunk, worker, position in its chunk list):
/// numbers their new-looking successors on all threads together, as if one by one (the numbers
/// do not depend on the threads), turns the workers' blocks into `slices` of the next level,
/// and adds the expanded states to the graph (with `record`). Everything it adds is allocated
/// first, in the sizes the cap counted. Returns how many new-looking successors it numbered;
/// `Err`: more states than the set can number.
fn merge(
    results: &mut [Worker<'_>],
    order: &[(usize, usize, usize)],
    (seen, graph, record): (&mut Seen, &mut Graph, bool),
    pool: &Pool<'_>,
    threads: usize,
    slices: &mut Vec<Slice>,
) -> Result<usize, Stopped> {
    let lens: Vec<usize> = order
        .iter()
        .map(|&(_, w, c)| {
            let out = &results[w].out;
            out.chunks[c].successors - out.start(c).successors
        })
        .collect();
    let successors: usize = lens.iter().sum();
    if matches!(seen, Seen::Exact(_)) && seen.len() + successors > Visited::MAX_STATES {
        return Err(Stopped::Full);
    }
    seen.reserve(successors, threads);
    if record {
        let expanded = order.iter().map(|&(_, w, c)| results[w].out.chunks[c].marks - results[w].out.start(c).marks);
        let steps = order.iter().map(|&(_, w, c)| results[w].out.chunks[c].edges - results[w].out.start(c).edges);
        graph.reserve(expanded.sum(), steps.sum());
    }
    let mut next = seen.len() as u32;
    {
        let mut rests: Vec<_> = results
            .iter_mut()
            .map(|w| {
                let Expanded { fps, parents, arrivals, numbered, .. } = &mut w.out;
                debug_assert_eq!(numbered.len(), fps.len(), "a worker makes room for its numbers");
                (&fps[..], &parents[..], &arrivals[..], &mut numbered[..])
            })
            .collect();
        let mut parts = Vec::with_capacity(order.len());
        for (&(_, w, _), &len) in order.iter().zip(&lens) {
            let (fps, parents, steps, ids) = std::mem::take(&mut rests[w]);
            let ((f, fr), (p, pr), (s, sr), (i, ir)) =
                (fps.split_at(len), parents.split_at(len), steps.split_at(len), ids.split_at_mut(len));
            rests[w] = (fr, pr, sr, ir);
            parts.push(Part { fps: f, parents: p, steps: s, ids: i });
        }
        seen.number(&mut parts, threads);
    }
    // The workers' blocks become the next level's slices, in the chunks' order, each with a bit
    // per world saying whether it was new here (numbered next). No world is read or copied.
    for &(_, w, c) in order {
        let out = &mut results[w].out;
        let (start, end) = (out.start(c), out.chunks[c]);
        let mut k = start.successors;
        for b in start.blocks..end.blocks {
            let block = std::mem::take(&mut out.blocks[b]);
            let mut slice = Slice { first: next, fresh: vec![0; block.len().div_ceil(64)], block };
            for j in 0..slice.block.len() {
                if out.numbered[k] == next {
                    slice.fresh[j / 64] |= 1 << (j % 64);
                    next += 1;
                }
                k += 1;
            }
            if slice.len() > 0 {
                slices.push(slice);
            } else {
                slice.block.recycle(pool);
            }
        }
        debug_assert_eq!(k, end.successors, "a chunk's blocks hold its successors");
    }
    if record {
        let chunks: Vec<Expansion<'_>> = order
            .iter()
            .map(|&(_, w, c)| {
                let (out, start) = (&results[w].out, results[w].out.start(c));
                let end = out.chunks[c];
                Expansion {
                    marks: &out.marks[start.marks..end.marks],
                    edges: &out.edges[start.edges..end.edges],
                    numbered: &out.numbered,
                }
            })
            .collect();
        graph.add_level(&chunks, threads);
    }
    for worker in results.iter_mut() {
        worker.out.blocks.clear();
    }
    Ok(successors)
}

/// What a bitstate search traded.
fn coverage(seen: &Seen) -> Option<Coverage> {
    match seen {
        Seen::Exact(_) => None,
        Seen::Bits(b) => Some(b.coverage()),
    }
}

/// The larger of two footprints, by their totals.
fn max_footprint(a: Footprint, b: Footprint) -> Footprint {
    if b.total() > a.total() {
        b
    } else {
        a
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::Workload;
    use crate::model::shipped::Shipped;

    /// The same states, numbers, statistics, counterexample and graph whatever the batch and
    /// the threads: a counterexample found in a level's later batch, and a whole search with
    /// liveness and every step kept.
    #[test]
    fn results_do_not_depend_on_the_batch_or_the_threads() {
        let cases = [
            (
                "no-time-wait",
                Bounds {
                    workload: Workload::OpenClose,
                    loss: 0,
                    dup: 1,
                    incarnations: 2,
                    data: 0,
                    ..Bounds::default()
                },
                false,
            ),
            ("rfc9293", Bounds { loss: 1, data: 0, ..Bounds::default() }, true),
        ];
        for (name, bounds, full_graph) in cases {
            let model = Shipped::find(name).unwrap().load().unwrap();
            let run = |threads, batch| {
                let request = Request { pair_graph: true, full_graph, ..Request::new(bounds, Property::ALL, threads) };
                let outcome = search(&model, request, &AtomicBool::new(false), &(), batch);
                let mut pairs: Vec<_> = outcome.pairs.unwrap().into_iter().collect();
                pairs.sort();
                let full = outcome.full.map(|f| (f.states, f.edges));
                (outcome.stats, outcome.counterexample.map(|cx| (cx.steps, cx.loop_from)), pairs, full)
            };
            let whole = run(1, usize::MAX);
            assert_eq!(whole.1.is_some(), !full_graph, "{name}");
            for (threads, batch) in [(1, 1), (2, 1), (3, 2), (2, 5), (2, BATCH)] {
                assert_eq!(run(threads, batch), whole, "{name}: {threads} threads, batches of {batch}");
            }
        }
    }
}
