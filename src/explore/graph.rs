//! The reachable graph, kept for the liveness property `eventually-closed` (and for
//! `--graph-full`): per state, the fairness classes enabled there and whether both endpoints are
//! idle; per step, its target and fairness class. Weak fairness is judged per strongly
//! connected component (Tarjan, iterative).
//!
//! Compressed sparse rows, since states are expanded in the order they are numbered: each
//! state's steps follow the previous state's. 2 bytes a state (its marks and how many steps it
//! has, with where the steps of every 64th state start: 1/16 byte a state) and 4 bytes a step
//! (the target's number, with the class in its low 3 bits). The step itself
//! is not kept: a cycle's steps are recovered by replaying it (`search::Path::step_to`), as a
//! path's are.
//!
//! For liveness alone only the steps that can lie on a cycle are kept ([`Graph::keeps`]): a
//! user's call, a loss and a duplication each spend something no step gives back, so no run
//! returns to the state before them. That is about 60 % of the steps (at `--dup 1`, 2.7 of 4.4
//! a state), so about 13 bytes a state in all, and the fair cycles found are the same: a
//! component's classes enabled are read from every step, and a step that leaves for good is
//! never inside a component.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::State;

use super::memory;
use super::world::World;

use super::parallel::{extend_with, fan_out, pieces, runs};
use super::search::FullGraph;

/// The class stored for a step of no fairness class (a loss or duplication).
const NO_CLASS: u32 = 7;
const CLASS_BITS: u32 = 3;
/// A mark's bits for the fairness classes enabled, and where its part is (see [`mark_byte`]).
const ENABLED: u8 = 0x1f;
const PART_SHIFT: u32 = 5;
/// How many parts the states are cut into for the cycle search (see [`Graph::part`]).
const PARTS: u32 = 8;
/// A state the cycle search has not reached yet.
const NONE: u32 = u32::MAX;
/// Marks a state whose component is complete (the other bits number it).
const DONE: u32 = 1 << 31;
/// A state's step count from this many on is kept in [`Graph::wide`].
const WIDE: u8 = u8::MAX;
/// Every this many states, where their steps start is kept.
const ROW_BLOCK: usize = 64;

/// Where a recorded step leads: a state numbered before this level, or the `k`th new-looking
/// successor found by the same worker (bit 31 set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target(u32);

impl Target {
    const NEW: u32 = 1 << 31;

    pub fn known(id: u32) -> Self {
        Target(id)
    }

    pub fn new(k: u32) -> Self {
        Target(k | Self::NEW)
    }

    /// The target's state number, `numbered` giving those of the worker's new-looking
    /// successors (`None`: a successor not numbered).
    fn resolve(self, numbered: &[u32]) -> Option<u32> {
        match self.0 & Self::NEW {
            0 => Some(self.0),
            _ => numbered.get((self.0 & !Self::NEW) as usize).copied(),
        }
    }
}

/// A chunk of a level's expanded states, in order: each state's marks and how many of `edges`
/// are its steps, and `numbered`, the numbers of the worker's new-looking successors.
pub struct Expansion<'a> {
    pub marks: &'a [(Mark, u32)],
    pub edges: &'a [(Option<u8>, Target)],
    pub numbered: &'a [u32],
}

/// A state's byte: the fairness classes enabled in its low 5 bits and its part in the top 3,
/// or no class at all for an idle state. The cycle search leaves out the states with none:
/// the idle ones, and those where nothing of a class is enabled, which lie on no cycle (a step
/// without a class is a loss or a duplication, which spends what no step gives back).
fn mark_byte(m: &Mark) -> u8 {
    debug_assert!(m.enabled & !ENABLED == 0 && u32::from(m.part) < PARTS, "five classes, eight parts");
    if m.idle {
        0
    } else {
        m.enabled | m.part << PART_SHIFT
    }
}

fn step_word(to: u32, class: Option<u8>) -> u32 {
    to << CLASS_BITS | class.map_or(NO_CLASS, u32::from)
}

/// What the graph keeps of an expanded state: its fairness classes enabled (bit mask), whether
/// both endpoints are idle, its part ([`Graph::part`]), and their states (for `--graph-full`).
#[derive(Clone, Copy)]
pub struct Mark {
    pub id: u32,
    pub enabled: u8,
    pub idle: bool,
    pub part: u8,
    pub pair: (State, State),
}

/// What a world has spent that no step gives back: each user's position in its script, the
/// losses and the duplications.
fn spent(world: &World<'_>) -> [u8; 4] {
    [world.cursor[0], world.cursor[1], world.lost, world.duplicated]
}

/// Whether a step leaves its state for good: it advanced one of the world's counters that no
/// step ever takes back (a user's position in its script, the losses and the duplications
/// spent), so no run comes back to the state it left, and the step lies on no cycle.
fn leaves_for_good(before: &World<'_>, after: &World<'_>) -> bool {
    let (was, is) = (spent(before), spent(after));
    debug_assert!(was.iter().zip(&is).all(|(a, b)| a <= b), "no step takes back what was spent");
    was != is
}

#[derive(Default)]
pub struct Graph {
    /// Keep each state's pair of endpoint states too, and every step (for `--graph-full`).
    pairs: bool,
    marks: Vec<u8>,
    /// Each state's number of steps; [`WIDE`]: look in `wide`.
    degrees: Vec<u8>,
    wide: FxHashMap<u32, u32>,
    /// Where the steps of state `ROW_BLOCK * i` start, for every such state.
    firsts: Vec<u32>,
    state_pairs: Vec<(State, State)>,
    /// Per step: the target's number << 3 | its class.
    to: Vec<u32>,
}

impl Graph {
    /// The most states the graph can number (the class takes 3 bits of each step).
    pub const MAX_STATES: usize = 1 << (32 - CLASS_BITS);

    /// An empty graph; `pairs`: keep each state's pair of endpoint states (`--graph-full`).
    pub fn new(pairs: bool) -> Self {
        Graph { pairs, ..Graph::default() }
    }

    /// Whether the step from `before` to `after` is to be recorded: every step for
    /// `--graph-full`, only those that can lie on a cycle for liveness.
    pub fn keeps(&self, before: &World<'_>, after: &World<'_>) -> bool {
        self.pairs || !leaves_for_good(before, after)
    }

    /// The part of the graph `world`'s state is in: no step kept leads from one part to
    /// another, so the cycle search takes the parts on separate threads. For liveness alone
    /// the steps kept spend nothing ([`leaves_for_good`]), so what was spent, and any function
    /// of it, is the same along every kept step: here a hash of it (Fibonacci's, its top 3
    /// bits), which scatters the values of what was spent over the parts. A few values hold
    /// most states (one held 39 % at the default bounds): the threads take the largest part
    /// left in turn, and by the sum of what was spent, modulo 4, one thread had 55 % of the
    /// work there; by the hash, 50 %. With every step kept there is one part.
    pub fn part(&self, world: &World<'_>) -> u8 {
        if self.pairs {
            return 0;
        }
        (u32::from_le_bytes(spent(world)).wrapping_mul(0x9e37_79b9) >> (32 - PARTS.ilog2())) as u8
    }

    fn target(&self, e: usize) -> usize {
        (self.to[e] >> CLASS_BITS) as usize
    }

    fn class(&self, e: usize) -> Option<u8> {
        let class = self.to[e] & ((1 << CLASS_BITS) - 1);
        (class != NO_CLASS).then_some(class as u8)
    }

    /// The target and class of step `e`.
    pub fn step(&self, e: usize) -> (u32, Option<u8>) {
        (self.target(e) as u32, self.class(e))
    }

    /// Makes room for `states` more states and `steps` more steps, so that adding them
    /// allocates nothing more.
    pub fn reserve(&mut self, states: usize, steps: usize) {
        memory::grow(&mut self.marks, states);
        memory::grow(&mut self.degrees, states);
        memory::grow(&mut self.firsts, states.div_ceil(ROW_BLOCK) + 1);
        if self.pairs {
            memory::grow(&mut self.state_pairs, states);
        }
        memory::grow(&mut self.to, steps);
    }

    /// The bytes held once `states` more states and `steps` more steps are reserved.
    pub fn bytes_while_reserving(&self, states: usize, steps: usize) -> u64 {
        use memory::held_after as bytes;
        (bytes(&self.marks, states)
            + bytes(&self.degrees, states)
            + bytes(&self.firsts, states.div_ceil(ROW_BLOCK) + 1)
            + self.wide.capacity() * 8
            + if self.pairs { bytes(&self.state_pairs, states) } else { 0 }
            + bytes(&self.to, steps)) as u64
    }

    /// Adds a worker's expanded states and steps; `numbered` gives the state number of each of
    /// its new-looking successors (empty when a violation ended the level: those steps are
    /// dropped, their targets were never numbered).
    pub fn add(&mut self, marks: &[(Mark, u32)], edges: &[(Option<u8>, Target)], numbered: &[u32]) {
        let mut edges = edges.iter();
        for (m, degree) in marks {
            // States are numbered densely and expanded in order; one not expanded (an earlier
            // worker's violation) keeps no steps.
            while self.marks.len() < m.id as usize {
                self.marks.push(0);
                self.degrees.push(0);
                if self.pairs {
                    self.state_pairs.push((State::Closed, State::Closed));
                }
            }
            self.marks.push(mark_byte(m));
            if self.pairs {
                self.state_pairs.push(m.pair);
            }
            let before = self.to.len();
            for &(class, target) in edges.by_ref().take(*degree as usize) {
                if let Some(to) = target.resolve(numbered) {
                    self.to.push(step_word(to, class));
                }
            }
            let degree = self.degree_byte(m.id, self.to.len() - before);
            self.degrees.push(degree);
        }
        self.index_rows();
    }

    /// The byte kept for state `id`'s `degree` steps (a large count goes to `wide`).
    fn degree_byte(&mut self, id: u32, degree: usize) -> u8 {
        match u8::try_from(degree) {
            Ok(d) if d < WIDE => d,
            _ => {
                self.wide.insert(id, degree as u32);
                WIDE
            }
        }
    }

    /// State `v`'s number of steps.
    fn degree(&self, v: usize) -> usize {
        match self.degrees[v] {
            WIDE => self.wide[&(v as u32)] as usize,
            d => usize::from(d),
        }
    }

    /// How many steps the states `states` have in all. The bytes are summed as they are (a
    /// loop the compiler vectorizes: this runs for every state the cycle search visits), then
    /// the few wide counts are put right, where there are any: a graph without them (nearly
    /// every one) is not searched for them, which took as long as the sum.
    fn steps_of(&self, states: std::ops::Range<usize>) -> usize {
        let bytes = &self.degrees[states.clone()];
        let sum = bytes.iter().map(|&d| usize::from(d)).sum::<usize>();
        if self.wide.is_empty() || !bytes.contains(&WIDE) {
            return sum;
        }
        states.filter(|&u| self.degrees[u] == WIDE).map(|u| self.degree(u) - usize::from(WIDE)).sum::<usize>() + sum
    }

    /// Notes where the steps of every [`ROW_BLOCK`]th state added since start, from the counts.
    fn index_rows(&mut self) {
        while self.firsts.len() * ROW_BLOCK < self.degrees.len() {
            let v = self.firsts.len() * ROW_BLOCK;
            let first = match v.checked_sub(ROW_BLOCK) {
                None => 0,
                Some(u) => self.firsts[u / ROW_BLOCK] as usize + self.steps_of(u..v),
            };
            self.firsts.push(first as u32);
        }
    }

    /// Adds a whole level's expanded states, numbered next and each with every step numbered,
    /// on `threads` threads: each writes the rows of a run of consecutive chunks, so the graph
    /// is the one [`Graph::add`] chunk by chunk would build. Room must be reserved.
    pub fn add_level(&mut self, chunks: &[Expansion<'_>], threads: usize) {
        let (first, first_step) = (self.marks.len(), self.to.len());
        let runs = runs(chunks.iter().map(|c| c.marks.len() + c.edges.len()), threads);
        let runs: Vec<_> = runs.into_iter().map(|(run, _)| &chunks[run]).collect();
        // Each run's states and steps: its pieces of the lists.
        let sizes: Vec<(usize, usize)> = runs
            .iter()
            .map(|run| run.iter().fold((0, 0), |(s, e), c| (s + c.marks.len(), e + c.edges.len())))
            .collect();
        let states_of = || sizes.iter().map(|&(s, _)| s);
        let (states, steps) = (states_of().sum::<usize>(), sizes.iter().map(|&(_, e)| e).sum::<usize>());
        extend_with(&mut self.marks, states, || 0);
        extend_with(&mut self.degrees, states, || 0);
        extend_with(&mut self.to, steps, || 0);
        let pairs = if self.pairs {
            extend_with(&mut self.state_pairs, states, || (State::Closed, State::Closed));
            pieces(&mut self.state_pairs[first..], states_of())
        } else {
            runs.iter().map(|_| &mut [][..]).collect()
        };
        let marks = pieces(&mut self.marks[first..], states_of());
        let degrees = pieces(&mut self.degrees[first..], states_of());
        let to = pieces(&mut self.to[first_step..], sizes.iter().map(|&(_, e)| e));
        let starts = states_of().scan(first, |at, s| Some(std::mem::replace(at, *at + s)));
        let work: Vec<_> = runs.into_iter().zip(marks).zip(degrees).zip(to).zip(pairs).zip(starts).collect();
        // Each run's states with too many steps for their byte, to go in `wide`.
        let wide = fan_out(work, |(((((chunks, marks), degrees), to), pairs), state)| {
            let (mut i, mut e, mut wide) = (0, 0, Vec::new());
            for chunk in chunks {
                let mut edges = chunk.edges.iter();
                for (m, degree) in chunk.marks {
                    debug_assert_eq!(m.id as usize, state + i, "a level's states are expanded in order");
                    marks[i] = mark_byte(m);
                    if let Some(pair) = pairs.get_mut(i) {
                        *pair = m.pair;
                    }
                    for &(class, target) in edges.by_ref().take(*degree as usize) {
                        let target =
                            target.resolve(chunk.numbered).expect("every successor of a whole level is numbered");
                        to[e] = step_word(target, class);
                        e += 1;
                    }
                    degrees[i] = match u8::try_from(*degree) {
                        Ok(d) if d < WIDE => d,
                        _ => {
                            wide.push((m.id, *degree));
                            WIDE
                        }
                    };
                    i += 1;
                }
            }
            wide
        });
        self.wide.extend(wide.into_iter().flatten());
        self.index_rows();
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        use memory::held_by as bytes;
        (bytes(&self.marks)
            + bytes(&self.degrees)
            + self.wide.capacity() * 8
            + bytes(&self.firsts)
            + bytes(&self.state_pairs)
            + bytes(&self.to)) as u64
    }

    /// The steps of state `v`, as indices into `to`.
    fn out(&self, v: usize) -> std::ops::Range<usize> {
        if v >= self.degrees.len() {
            return 0..0;
        }
        let block = v - v % ROW_BLOCK;
        let start = self.firsts[block / ROW_BLOCK] as usize + self.steps_of(block..v);
        start..start + self.degree(v)
    }

    fn enabled(&self, v: usize) -> u8 {
        self.marks.get(v).map_or(0, |m| m & ENABLED)
    }

    fn part_of(&self, v: usize) -> u32 {
        self.marks.get(v).map_or(0, |m| u32::from(m >> PART_SHIFT))
    }

    /// Whether the cycle search leaves `v` out: idle, or nothing of a class enabled there
    /// ([`mark_byte`]).
    fn idle(&self, v: usize) -> bool {
        self.marks.get(v).is_none_or(|m| m & ENABLED == 0)
    }

    pub fn full(&self, states: usize) -> FullGraph {
        let mut pairs = self.state_pairs.clone();
        pairs.resize(states, (State::Closed, State::Closed));
        let mut edges = Vec::with_capacity(self.to.len());
        for v in 0..self.degrees.len() {
            for e in self.out(v) {
                edges.push((v as u32, self.target(e) as u32, self.class(e)));
            }
        }
        FullGraph { states: pairs, edges }
    }

    /// The states of part `part` that the cycle search does not leave out ([`Graph::idle`]), in
    /// order. Each part's search reads every state's mark for them, eight at a time (a mark a
    /// byte of a word): a state at a time took 0.3 ms a part at the default bounds, as long as
    /// searching a part of 5,000 states.
    fn roots(&self, part: u32) -> impl Iterator<Item = usize> + '_ {
        const BYTES: u64 = 0x0101_0101_0101_0101;
        let (top, low7, part) = (BYTES * 0x80, BYTES * 0x7f, BYTES * u64::from((part as u8) << PART_SHIFT));
        self.marks.chunks(8).enumerate().flat_map(move |(i, marks)| {
            let mut word = [0u8; 8];
            word[..marks.len()].copy_from_slice(marks);
            // Each byte: its classes enabled where its part is `part`, 32 or more where not.
            let classes = u64::from_le_bytes(word) ^ part;
            // The top bit of each byte: whether it is not 0, whether it is 32 or more (no
            // carry passes from byte to byte).
            let some = (((classes & low7) + low7) | classes) & top;
            let other = (((classes & low7) + BYTES * 0x60) | classes) & top;
            let mut roots = some & !other;
            std::iter::from_fn(move || {
                let j = roots.trailing_zeros() as usize / 8;
                roots &= roots.wrapping_sub(1);
                (j < 8).then_some(i * 8 + j)
            })
        })
    }

    /// Strongly connected components (Tarjan, iterative) of part `part` of the graph without
    /// its idle states, each handed to `found` with its number and states as it is completed;
    /// `number` gets each state's component number (idle states keep [`NONE`]). Component
    /// numbers are `count * PARTS + part`, so each part numbers its own. Idle states are left
    /// out, not merely checked afterwards: a component of the whole graph that holds an idle
    /// state can still hold a cycle that avoids it, and that cycle is a livelock. One word a
    /// state: a state's depth-first index while it is on the stack, then [`DONE`] with its
    /// component's number (Pearce's space-saving variant); the low-links live on the call
    /// stack, since a state's is only read when its call returns.
    ///
    /// Returns the most bytes its two stacks held.
    fn components(&self, part: u32, number: &[AtomicU32], mut found: impl FnMut(u32, &[u32])) -> u64 {
        let get = |v: usize| number[v].load(Relaxed);
        let set = |v: usize, n: u32| number[v].store(n, Relaxed);
        let mut stack: Vec<u32> = Vec::new();
        // (state, next step to follow, end of its steps, low-link)
        let mut calls: Vec<(u32, usize, usize, u32)> = Vec::new();
        let (mut next, mut count) = (0u32, 0u32);
        let mut stacks = 0;
        for root in self.roots(part) {
            stacks =
                stacks.max(stack.capacity() * 4 + calls.capacity() * std::mem::size_of::<(u32, usize, usize, u32)>());
            if get(root) != NONE {
                continue;
            }
            set(root, next);
            stack.push(root as u32);
            let steps = self.out(root);
            calls.push((root as u32, steps.start, steps.end, next));
            next += 1;
            while let Some(&mut (v, ref mut e, end, ref mut low)) = calls.last_mut() {
                let v = v as usize;
                if *e < end {
                    let w = self.target(*e);
                    *e += 1;
                    if self.idle(w) {
                        continue;
                    }
                    debug_assert_eq!(self.part_of(w), part, "no step kept leaves its part");
                    let n = get(w);
                    if n == NONE {
                        set(w, next);
                        stack.push(w as u32);
                        let steps = self.out(w);
                        calls.push((w as u32, steps.start, steps.end, next));
                        next += 1;
                    } else if n & DONE == 0 {
                        *low = (*low).min(n);
                    }
                    continue;
                }
                let low = *low;
                calls.pop();
                if let Some(parent) = calls.last_mut() {
                    parent.3 = parent.3.min(low);
                }
                if low == get(v) {
                    let at = stack.iter().rposition(|&w| w as usize == v).expect("a root is on the stack");
                    let c = count * PARTS + part;
                    for &w in &stack[at..] {
                        set(w as usize, DONE | c);
                    }
                    found(c, &stack[at..]);
                    stack.truncate(at);
                    count += 1;
                }
            }
        }
        stacks.max(stack.capacity() * 4 + calls.capacity() * std::mem::size_of::<(u32, usize, usize, u32)>()) as u64
    }

    /// A reachable cycle that is fair and never idle: its entry state and the steps (indices
    /// into the graph's steps, see [`Graph::step`]) that go round it. Weak fairness, judged per
    /// strongly connected component (Tarjan): a class enabled in every state of the component
    /// must be taken inside it. The parts ([`Graph::part`]) are searched on the pool's threads;
    /// the cycle reported is the one of least entry, whatever the threads. Also returns the
    /// most bytes the search held besides the graph.
    pub fn fair_cycle(&self, states: usize) -> (Option<(u32, Vec<usize>)>, u64) {
        let number: Vec<AtomicU32> = (0..states).map(|_| AtomicU32::new(NONE)).collect();
        // Per part, each component with a step inside, never idle, whose classes always enabled
        // are all taken inside: its entry (least state), number, classes taken and ever
        // enabled; and the bytes its stacks held.
        // Each job takes the largest part left, so a thread that is done with a small part
        // takes the next: the parts are of unequal sizes (at `--workload reopen`, 34, 29, 11,
        // 11, 7, 3, 3 and 1 % of the states), and in a fixed order one thread took most while
        // the other waited.
        let mut marks = [0usize; 256];
        for &m in &self.marks {
            marks[usize::from(m)] += 1;
        }
        let mut sizes = [0usize; PARTS as usize];
        for (m, n) in marks.into_iter().enumerate().filter(|&(m, _)| m as u8 & ENABLED != 0) {
            sizes[m >> PART_SHIFT] += n;
        }
        let mut largest_first: Vec<u32> = (0..PARTS).collect();
        largest_first.sort_by_key(|&p| std::cmp::Reverse(sizes[p as usize]));
        let taken = AtomicUsize::new(0);
        let parts = fan_out((0..PARTS).collect(), |_| {
            let part = largest_first[taken.fetch_add(1, Relaxed)];
            let mut candidates = Vec::new();
            let stacks = self.components(part, &number, |c, members| {
                let (mut entry, mut always, mut ever, mut taken, mut inside) = (u32::MAX, 0xffu8, 0u8, 0u8, false);
                for &v in members {
                    let v = v as usize;
                    entry = entry.min(v as u32);
                    always &= self.enabled(v);
                    ever |= self.enabled(v);
                    for e in self.out(v) {
                        if number[self.target(e)].load(Relaxed) == DONE | c {
                            inside = true;
                            if let Some(class) = self.class(e) {
                                taken |= 1 << class;
                            }
                        }
                    }
                }
                if inside && always & !taken == 0 {
                    candidates.push((entry, c, taken, ever & !taken));
                }
            });
            (candidates, stacks)
        });
        let component: Vec<u32> = number.into_iter().map(AtomicU32::into_inner).collect();
        let mut held = (component.capacity() * 4) as u64 + parts.iter().map(|(_, stacks)| stacks).sum::<u64>();
        let mut candidates: Vec<_> = parts.into_iter().flat_map(|(c, _)| c).collect();
        candidates.sort_unstable();
        held += (candidates.capacity() * std::mem::size_of::<(u32, u32, u8, u8)>()) as u64;
        let cycle = candidates
            .into_iter()
            .find_map(|(entry, _, taken, avoid)| Some((entry, self.tour(entry, &component, taken, avoid)?)));
        (cycle, held)
    }

    /// A closed walk from `entry` inside its component that is itself fair: it takes a step of
    /// every class in `take`, and for every class in `avoid` (never taken in the component) it
    /// passes a state where that class is disabled. Shortest hops between those goals.
    fn tour(&self, entry: u32, component: &[u32], take: u8, avoid: u8) -> Option<Vec<usize>> {
        let c = component[entry as usize];
        let hop = |from: u32, goal: &dyn Fn(usize) -> bool| -> Option<(Vec<usize>, u32)> {
            // Breadth-first over the component's steps until a step satisfying `goal` is taken.
            let mut queue = std::collections::VecDeque::from([(from, Vec::new())]);
            let mut visited = FxHashSet::from_iter([from]);
            while let Some((at, path)) = queue.pop_front() {
                for e in self.out(at as usize) {
                    let to = self.target(e) as u32;
                    if component[to as usize] != c {
                        continue;
                    }
                    let mut p = path.clone();
                    p.push(e);
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
            let (p, to) = hop(at, &|e| self.class(e) == Some(class))?;
            walk.extend(p);
            at = to;
        }
        for class in (0..8).filter(|c| avoid & (1 << c) != 0) {
            if self.enabled(at as usize) & (1 << class) != 0 {
                let (p, to) = hop(at, &|e| self.enabled(self.target(e)) & (1 << class) == 0)?;
                walk.extend(p);
                at = to;
            }
        }
        let (p, _) = hop(at, &|e| self.target(e) == entry as usize)?;
        walk.extend(p);
        Some(walk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows are found from the step counts and the starts kept every [`ROW_BLOCK`] states, past
    /// block boundaries and for a state with more steps than its byte holds.
    #[test]
    fn each_state_finds_its_own_steps() {
        let mut g = Graph::new(false);
        let degree = |id: u32| if id == 70 { 300 } else { id % 5 };
        let mut at = 0;
        for id in 0..200u32 {
            let edges: Vec<(Option<u8>, Target)> = (0..degree(id)).map(|k| (Some(1), Target::known(k))).collect();
            let mark = Mark { id, enabled: 0, idle: false, part: 0, pair: (State::Closed, State::Closed) };
            g.add(&[(mark, degree(id))], &edges, &[]);
            assert_eq!(g.out(id as usize), at..at + degree(id) as usize, "state {id}");
            at += degree(id) as usize;
        }
        for id in 0..200u32 {
            let start: u32 = (0..id).map(degree).sum();
            assert_eq!(g.out(id as usize), start as usize..(start + degree(id)) as usize, "state {id}");
        }
    }

    /// A part's search starts from the states of its part not left out: found eight marks at a
    /// time, they are those found one at a time, for every value of a mark and past a last
    /// word that is not whole.
    #[test]
    fn each_part_starts_from_its_own_states() {
        let g = Graph { marks: (0..=255u8).chain((0..77u8).map(|i| i.wrapping_mul(37))).collect(), ..Graph::default() };
        for part in 0..PARTS {
            let one_at_a_time: Vec<usize> =
                (0..g.marks.len()).filter(|&v| g.part_of(v) == part && !g.idle(v)).collect();
            assert!(one_at_a_time.len() >= 31, "every value of a mark holds 31 of each part's");
            assert_eq!(g.roots(part).collect::<Vec<_>>(), one_at_a_time, "part {part}");
        }
    }

    /// A livelock inside a component that also holds an idle state: 1 and 2 pass class 0 back
    /// and forth for ever, and either may also go back to the idle state 0. The whole graph is
    /// one component; the cycle 1 -> 2 -> 1 never idles and is fair, so it is found.
    #[test]
    fn a_fair_cycle_beside_an_idle_state_in_its_component_is_found() {
        let mut g = Graph::new(false);
        let mark = |id, idle| {
            (Mark { id, enabled: 1, idle, part: 0, pair: (State::Closed, State::Closed) }, 1 + u32::from(!idle))
        };
        let step = |to| (Some(0), Target::known(to));
        g.add(&[mark(0, true)], &[step(1)], &[]);
        g.add(&[mark(1, false)], &[step(2), step(0)], &[]);
        g.add(&[mark(2, false)], &[step(1), step(0)], &[]);
        let (cycle, _) = g.fair_cycle(3);
        let (entry, steps) = cycle.expect("the cycle between 1 and 2 is a livelock");
        assert_eq!(entry, 1);
        let targets: Vec<usize> = steps.iter().map(|&e| g.target(e)).collect();
        assert_eq!(targets, [2, 1]);
    }

    /// Chunks of a level of ten states, with steps to earlier states and to new-looking
    /// successors: added whole on any number of threads, the graph is the one added chunk by
    /// chunk.
    #[test]
    fn a_level_added_on_any_threads_is_the_level_added_chunk_by_chunk() {
        let marks: Vec<(Mark, u32)> = (0..10u32)
            .map(|id| {
                let pair = (State::Closed, if id % 2 == 0 { State::Listen } else { State::Established });
                (Mark { id: id + 3, enabled: (id % 4) as u8, idle: id % 3 == 0, part: 0, pair }, id % 3)
            })
            .collect();
        let edges: Vec<(Option<u8>, Target)> = (0..marks.iter().map(|m| m.1).sum::<u32>())
            .map(|e| {
                let target = if e % 2 == 0 { Target::known(e % 3) } else { Target::new(e / 2) };
                ((e % 5 != 0).then_some((e % 4) as u8), target)
            })
            .collect();
        let numbered: Vec<u32> = (0..edges.len() as u32).map(|k| 13 + k % 4).collect();
        let cuts = [(0, 0), (0, 3), (3, 3), (3, 8), (8, 10)];
        let steps_before = |n: usize| marks[..n].iter().map(|m| m.1 as usize).sum::<usize>();
        let chunk = |&(from, to): &(usize, usize)| Expansion {
            marks: &marks[from..to],
            edges: &edges[steps_before(from)..steps_before(to)],
            numbered: &numbered,
        };
        let start = |pairs| {
            let mut g = Graph::new(pairs);
            for id in 0..3 {
                g.add(
                    &[(Mark { id, enabled: 1, idle: false, part: 0, pair: (State::Listen, State::Listen) }, 0)],
                    &[],
                    &[],
                );
            }
            g
        };
        for pairs in [false, true] {
            let mut one = start(pairs);
            for c in &cuts {
                let c = chunk(c);
                one.add(c.marks, c.edges, c.numbered);
            }
            for threads in [1, 2, 3, 7] {
                let mut level = start(pairs);
                level.add_level(&cuts.iter().map(chunk).collect::<Vec<_>>(), threads);
                let parts = |g: &Graph| {
                    let rows: Vec<_> = (0..g.degrees.len()).map(|v| g.out(v)).collect();
                    (g.marks.clone(), rows, g.firsts.clone(), g.to.clone(), g.state_pairs.clone())
                };
                assert_eq!(parts(&level), parts(&one), "{threads} threads, pairs {pairs}");
            }
        }
    }
}
